package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// checkMeta checks that a resource's meta is complete and consistent with
// the response headers.
func checkMeta(t *testing.T, c *scimtest.Client, r *scimtest.Response, resourceType, endpoint string) {
	t.Helper()
	id := r.Str("id")
	if id == "" {
		t.Fatalf("no id: %s", r.Raw)
	}
	if got := r.Str("meta.resourceType"); got != resourceType {
		t.Fatalf("meta.resourceType %q, want %q", got, resourceType)
	}
	if want := c.Base + endpoint + "/" + id; r.Str("meta.location") != want {
		t.Fatalf("meta.location %q, want %q", r.Str("meta.location"), want)
	}
	for _, k := range []string{"meta.created", "meta.lastModified"} {
		if _, err := time.Parse(time.RFC3339Nano, r.Str(k)); err != nil {
			t.Fatalf("%s %q: %v", k, r.Str(k), err)
		}
	}
	if r.Str("meta.lastModified") < r.Str("meta.created") {
		t.Fatalf("lastModified %s before created %s", r.Str("meta.lastModified"), r.Str("meta.created"))
	}
	v := r.Str("meta.version")
	if !strings.HasPrefix(v, `W/"`) && !strings.HasPrefix(v, `"`) {
		t.Fatalf("meta.version %q is not an entity tag", v)
	}
	if r.Header.Get("ETag") != v {
		t.Fatalf("ETag %q, meta.version %q", r.Header.Get("ETag"), v)
	}
}

// Issue 2, point 5: create, read, replace, patch and delete.
func TestCRUD(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	t.Run("user", func(t *testing.T) {
		body := scimtest.UserBody("crud@example.com", obj{
			"password":    "Initial-Pass-1",
			"externalId":  "crud-ext",
			"displayName": "Crud User",
			"title":       "Original",
			"name":        obj{"givenName": "Crud", "familyName": "User"},
			"emails":      arr{obj{"type": "work", "value": "crud@example.com", "primary": true}},
			enterpriseURN: obj{"department": "Ops"},
		})
		body["id"] = "client-chosen-id"
		body["meta"] = obj{"created": "2000-01-01T00:00:00Z", "resourceType": "Group"}
		created := c.Post(t, "/Users", body).Expect(t, http.StatusCreated)
		if created.Str("id") == "client-chosen-id" || strings.HasPrefix(created.Str("meta.created"), "2000") {
			t.Fatalf("POST took read-only attributes from the body: %s", created.Raw)
		}
		id := created.Str("id")
		checkMeta(t, c, created, "User", "/Users")
		if loc := created.Header.Get("Location"); loc == "" || loc != created.Str("meta.location") {
			t.Fatalf("Location %q, meta.location %q", loc, created.Str("meta.location"))
		}
		if created.Str("meta.created") != created.Str("meta.lastModified") {
			t.Fatalf("a new resource was modified: %s", created.Raw)
		}
		// The TimeCamp extension is always there: its settings have defaults.
		if sch := fmt.Sprint(created.At("schemas")); sch != fmt.Sprint([]any{userURN, enterpriseURN, timecampUserURN}) {
			t.Fatalf("schemas %s", sch)
		}
		if created.Str("userName") != "crud@example.com" || created.Str("externalId") != "crud-ext" ||
			created.Str("name.familyName") != "User" || created.Str(enterpriseURN+".department") != "Ops" || created.At("active") != true {
			t.Fatalf("created: %s", created.Raw)
		}

		got := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		checkMeta(t, c, got, "User", "/Users")
		for _, k := range []string{"userName", "displayName", "title", "meta.version", "meta.created", "meta.location", enterpriseURN + ".department"} {
			if got.Str(k) != created.Str(k) {
				t.Fatalf("GET %s = %q, POST gave %q", k, got.Str(k), created.Str(k))
			}
		}
		gid := createGroup(t, c, "crud-group", id)

		// PUT replaces: what the body leaves out is cleared (of the
		// schemas it asserts: the enterprise extension is listed); read-only
		// attributes in the body are ignored; the password is kept.
		time.Sleep(5 * time.Millisecond)
		put := c.Put(t, "/Users/"+id, obj{
			"schemas":     arr{userURN, enterpriseURN},
			"id":          "not-the-id",
			"userName":    "Crud@Example.com",
			"displayName": "Crud Replaced",
			"meta":        obj{"created": "2000-01-01T00:00:00Z", "version": `W/"999"`, "resourceType": "Group"},
			"groups":      arr{obj{"value": "some-group"}},
		}).Expect(t, http.StatusOK)
		checkMeta(t, c, put, "User", "/Users")
		if put.Str("id") != id || put.Str("meta.created") != created.Str("meta.created") {
			t.Fatalf("PUT changed id or created: %s", put.Raw)
		}
		if put.Str("meta.version") == created.Str("meta.version") || put.Str("meta.lastModified") <= created.Str("meta.lastModified") {
			t.Fatalf("PUT kept version or lastModified: %s", put.Raw)
		}
		if put.Str("userName") != "Crud@Example.com" || put.Str("displayName") != "Crud Replaced" {
			t.Fatalf("PUT values: %s", put.Raw)
		}
		for _, k := range []string{"title", "name", "emails", "externalId", enterpriseURN} {
			if put.At(k) != nil {
				t.Fatalf("PUT kept %s: %s", k, put.Raw)
			}
		}
		if g := memberIDs(put.At("groups")); fmt.Sprint(g) != fmt.Sprint([]string{gid}) {
			t.Fatalf("PUT changed groups to %v: %s", g, put.Raw)
		}
		again := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		if again.Str("meta.version") != put.Str("meta.version") || again.At("title") != nil || again.Str("displayName") != "Crud Replaced" {
			t.Fatalf("GET after PUT: %s", again.Raw)
		}

		// A too short password is refused and changes nothing.
		r := c.Put(t, "/Users/"+id, scimtest.UserBody("crud@example.com", obj{"password": "abc", "title": "Nope"}))
		expectError(t, r, http.StatusBadRequest, "invalidValue")
		after := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		if after.Str("meta.version") != put.Str("meta.version") || after.At("title") != nil {
			t.Fatalf("a refused PUT changed the user: %s", after.Raw)
		}
		c.Put(t, "/Users/"+id, scimtest.UserBody("crud@example.com", obj{"password": "Changed-Pass-2"})).Expect(t, http.StatusOK)

		// Required attributes stay required.
		expectError(t, c.Put(t, "/Users/"+id, obj{"schemas": arr{userURN}, "displayName": "x"}), http.StatusBadRequest, "invalidValue")

		patched := c.Patch(t, "/Users/"+id, scimtest.Op("add", "title", "Patched")).Expect(t, http.StatusOK)
		checkMeta(t, c, patched, "User", "/Users")
		if patched.Str("title") != "Patched" || patched.Str("userName") != "crud@example.com" {
			t.Fatalf("PATCH: %s", patched.Raw)
		}

		del := c.Delete(t, "/Users/"+id)
		del.Expect(t, http.StatusNoContent)
		if len(del.Raw) != 0 {
			t.Fatalf("DELETE body: %q", del.Raw)
		}
		expectError(t, c.Get(t, "/Users/"+id), http.StatusNotFound, "")
		expectError(t, c.Delete(t, "/Users/"+id), http.StatusNotFound, "")
		expectError(t, c.Put(t, "/Users/"+id, scimtest.UserBody("crud@example.com")), http.StatusNotFound, "")
		expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("add", "title", "x")), http.StatusNotFound, "")
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "crud@example.com"`)))
		// The deleted user left its group.
		g := c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK)
		if g.At("members") != nil {
			t.Fatalf("deleted user still a member: %s", g.Raw)
		}
		// Its userName is free again.
		createUser(t, c, "crud@example.com")
	})

	t.Run("group", func(t *testing.T) {
		u1 := createUser(t, c, "member1@example.com")
		u2 := createUser(t, c, "member2@example.com")
		created := c.Post(t, "/Groups", obj{
			"schemas":     arr{groupURN},
			"displayName": "Crud Group",
			"externalId":  "g-ext",
			"members":     arr{obj{"value": u1}},
		}).Expect(t, http.StatusCreated)
		id := created.Str("id")
		checkMeta(t, c, created, "Group", "/Groups")
		if created.Header.Get("Location") != created.Str("meta.location") {
			t.Fatalf("Location %q", created.Header.Get("Location"))
		}
		if m := memberIDs(created.At("members")); fmt.Sprint(m) != fmt.Sprint([]string{u1}) {
			t.Fatalf("members %v", m)
		}
		got := c.Get(t, "/Groups/"+id).Expect(t, http.StatusOK)
		checkMeta(t, c, got, "Group", "/Groups")
		if got.Str("displayName") != "Crud Group" || got.Str("externalId") != "g-ext" {
			t.Fatalf("GET: %s", got.Raw)
		}

		put := c.Put(t, "/Groups/"+id, obj{
			"schemas":     arr{groupURN},
			"id":          "other",
			"displayName": "Crud Group 2",
			"members":     arr{obj{"value": u2}},
		}).Expect(t, http.StatusOK)
		checkMeta(t, c, put, "Group", "/Groups")
		if put.Str("id") != id || put.Str("displayName") != "Crud Group 2" || put.At("externalId") != nil {
			t.Fatalf("PUT: %s", put.Raw)
		}
		if m := memberIDs(put.At("members")); fmt.Sprint(m) != fmt.Sprint([]string{u2}) {
			t.Fatalf("PUT members %v", m)
		}
		if g := memberIDs(c.Get(t, "/Users/"+u1).Expect(t, 200).At("groups")); len(g) != 0 {
			t.Fatalf("u1 still in groups %v", g)
		}
		put = c.Put(t, "/Groups/"+id, obj{"schemas": arr{groupURN}, "displayName": "Crud Group 2"}).Expect(t, http.StatusOK)
		if put.At("members") != nil {
			t.Fatalf("PUT without members kept them: %s", put.Raw)
		}

		c.Patch(t, "/Groups/"+id, scimtest.Op("replace", "displayName", "Crud Group 3")).Expect(t, http.StatusOK)
		c.Patch(t, "/Groups/"+id, scimtest.Op("add", "members", arr{obj{"value": u1}})).Expect(t, http.StatusNoContent)

		c.Delete(t, "/Groups/"+id).Expect(t, http.StatusNoContent)
		expectError(t, c.Get(t, "/Groups/"+id), http.StatusNotFound, "")
		if g := c.Get(t, "/Users/"+u1).Expect(t, 200).At("groups"); g != nil {
			t.Fatalf("u1 still in the deleted group: %v", g)
		}
		expectSet(t, nil, c.Get(t, filterPath("/Groups", `members eq "`+u1+`"`)))
	})

	t.Run("base URL", func(t *testing.T) {
		// X-Forwarded-Proto from a client that is no trusted proxy is
		// not believed (TestTrustedProxy: from one, it is).
		r := c.Post(t, "/Users", scimtest.UserBody("proxied@example.com"), "X-Forwarded-Proto: https").Expect(t, http.StatusCreated)
		if !strings.HasPrefix(r.Header.Get("Location"), "http://") || r.Header.Get("Location") != r.Str("meta.location") {
			t.Fatalf("Location %q, meta.location %q", r.Header.Get("Location"), r.Str("meta.location"))
		}
	})
}

// SCIM_BASE_URL sets meta.location and Location.
func TestBaseURL(t *testing.T) {
	t.Parallel()
	s := startServer(t, "SCIM_BASE_URL=https://scim.example.com/")
	r := s.Client.Post(t, "/Users", scimtest.UserBody("based@example.com")).Expect(t, http.StatusCreated)
	want := "https://scim.example.com/scim/v2/Users/" + r.Str("id")
	if r.Header.Get("Location") != want || r.Str("meta.location") != want {
		t.Fatalf("Location %q, meta.location %q, want %q", r.Header.Get("Location"), r.Str("meta.location"), want)
	}
	g := s.Client.Post(t, "/Groups", scimtest.GroupBody("based", r.Str("id"))).Expect(t, http.StatusCreated)
	if ref, _ := scimtest.At(g.Body, "members.0.$ref").(string); ref != want {
		t.Fatalf("member $ref %q, want %q", ref, want)
	}
}
