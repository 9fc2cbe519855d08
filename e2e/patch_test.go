package e2e

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, point 6: PATCH on users.
func TestPatchUser(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	var seq atomic.Int64
	// newUser creates a user with a name, a primary work email and a home
	// email, a title and an enterprise department.
	newUser := func(t *testing.T) string {
		t.Helper()
		return createUser(t, c, fmt.Sprintf("patch%d@example.com", seq.Add(1)), obj{
			"title": "Original",
			"name":  obj{"givenName": "Pat", "familyName": "Ch"},
			"emails": arr{
				obj{"type": "work", "value": "pat@work.example", "primary": true},
				obj{"type": "home", "value": "pat@home.example"},
			},
			enterpriseURN: obj{"department": "Ops"},
		})
	}
	patch := func(t *testing.T, id string, ops ...map[string]any) *scimtest.Response {
		t.Helper()
		r := c.Patch(t, "/Users/"+id, ops...).Expect(t, http.StatusOK)
		got := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		// The PATCH response is the resource as stored.
		for _, k := range []string{"meta.version", "title", "name", "emails", enterpriseURN, "active", "displayName", "nickName"} {
			if !reflect.DeepEqual(r.At(k), got.At(k)) {
				t.Fatalf("PATCH response %s = %v, GET gives %v", k, r.At(k), got.At(k))
			}
		}
		return got
	}
	wantEmails := func(t *testing.T, r *scimtest.Response, want ...string) {
		t.Helper()
		if got := emailsOf(r.At("emails")); fmt.Sprint(got) != fmt.Sprint(sorted(want...)) {
			t.Fatalf("emails %v, want %v", got, sorted(want...))
		}
	}

	t.Run("no path: dotted keys and extension keys", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("replace", "", obj{
			"name.givenName":              "Babs",
			"title":                       "Boss",
			"active":                      "False",
			enterpriseURN + ":department": "R&D",
			enterpriseURN + ":manager":    "mgr-9",
		}))
		if r.Str("name.givenName") != "Babs" || r.Str("name.familyName") != "Ch" || r.Str("title") != "Boss" || r.At("active") != false {
			t.Fatalf("core: %s", r.Raw)
		}
		if r.Str(enterpriseURN+".department") != "R&D" || r.Str(enterpriseURN+".manager.value") != "mgr-9" {
			t.Fatalf("enterprise: %s", r.Raw)
		}
	})

	t.Run("no path: extension object", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("add", "", obj{
			enterpriseURN: obj{"employeeNumber": "42", "manager": obj{"value": "mgr-1"}},
			"nickName":    "nick",
		}))
		if r.Str(enterpriseURN+".employeeNumber") != "42" || r.Str(enterpriseURN+".department") != "Ops" ||
			r.Str(enterpriseURN+".manager.value") != "mgr-1" || r.Str("nickName") != "nick" {
			t.Fatalf("extension object: %s", r.Raw)
		}
	})

	t.Run("no path: read-only keys echoed back are ignored", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("replace", "", obj{"id": id, "meta": obj{"created": "2000-01-01T00:00:00Z"}, "title": "Echo"}))
		if r.Str("id") != id || r.Str("title") != "Echo" || strings.HasPrefix(r.Str("meta.created"), "2000") {
			t.Fatalf("echo: %s", r.Raw)
		}
	})

	t.Run("no path: multi-valued add merges", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("add", "", obj{"emails": arr{
			obj{"type": "work", "value": "PAT@work.example"},
			obj{"type": "other", "value": "pat@other.example"},
		}}))
		// The work email is the same value (emails compare without regard to
		// case): it is updated, not added.
		wantEmails(t, r, "work:PAT@work.example*", "home:pat@home.example", "other:pat@other.example")
	})

	t.Run("attribute path", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id,
			scimtest.Op("replace", "displayName", "Display"),
			scimtest.Op("add", "nickName", "Nick"),
			scimtest.Op("remove", "title", nil),
			scimtest.Op("replace", enterpriseURN+":department", "Finance"),
		)
		if r.Str("displayName") != "Display" || r.Str("nickName") != "Nick" || r.At("title") != nil || r.Str(enterpriseURN+".department") != "Finance" {
			t.Fatalf("attribute paths: %s", r.Raw)
		}
		r = patch(t, id, scimtest.Op("replace", "name", obj{"familyName": "New"}))
		if r.Str("name.familyName") != "New" || r.Str("name.givenName") != "Pat" {
			t.Fatalf("replace of a complex attribute merges its sub-attributes: %s", r.Raw)
		}
		r = patch(t, id, scimtest.Op("remove", enterpriseURN, nil))
		if r.At(enterpriseURN) != nil {
			t.Fatalf("extension not removed: %s", r.Raw)
		}
		if fmt.Sprint(r.At("schemas")) != fmt.Sprint([]any{userURN, timecampUserURN}) {
			t.Fatalf("schemas after removing the extension: %v", r.At("schemas"))
		}
		r = patch(t, id, scimtest.Op("replace", "emails", arr{obj{"type": "work", "value": "only@work.example"}}))
		wantEmails(t, r, "work:only@work.example")
		r = patch(t, id, scimtest.Op("add", "emails", arr{obj{"type": "home", "value": "h@home.example"}}))
		// remove with a value removes only the values given (Entra ID).
		r = patch(t, id, scimtest.Op("remove", "emails", arr{obj{"value": "H@HOME.example"}}))
		wantEmails(t, r, "work:only@work.example")
		r = patch(t, id, scimtest.Op("remove", "emails", nil))
		if r.At("emails") != nil {
			t.Fatalf("emails not removed: %s", r.Raw)
		}
	})

	t.Run("sub-attribute path", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id,
			scimtest.Op("replace", "name.familyName", "Smith"),
			scimtest.Op("add", "name.middleName", "M"),
			scimtest.Op("remove", "name.givenName", nil),
		)
		if r.Str("name.familyName") != "Smith" || r.Str("name.middleName") != "M" || r.At("name.givenName") != nil {
			t.Fatalf("sub-attributes: %s", r.Raw)
		}
		r = patch(t, id, scimtest.Op("replace", enterpriseURN+":manager.value", "mgr-5"))
		if r.Str(enterpriseURN+".manager.value") != "mgr-5" || r.Str(enterpriseURN+".department") != "Ops" {
			t.Fatalf("extension sub-attribute: %s", r.Raw)
		}
	})

	t.Run("value filter path", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("replace", `emails[type eq "work"]`, obj{"type": "work", "value": "new@work.example"}))
		wantEmails(t, r, "work:new@work.example", "home:pat@home.example")
		r = patch(t, id, scimtest.Op("remove", `emails[type eq "home"]`, nil))
		wantEmails(t, r, "work:new@work.example")
		r = patch(t, id, scimtest.Op("remove", `emails[value co "@WORK."]`, nil))
		if r.At("emails") != nil {
			t.Fatalf("last email not removed: %s", r.Raw)
		}
	})

	t.Run("value filter and sub-attribute path", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("replace", `emails[type eq "work"].value`, "changed@work.example"))
		wantEmails(t, r, "work:changed@work.example*", "home:pat@home.example")
		// No match: created from the filter (as Entra ID expects).
		r = patch(t, id, scimtest.Op("add", `emails[type eq "other"].value`, "pat@other.example"))
		wantEmails(t, r, "work:changed@work.example*", "home:pat@home.example", "other:pat@other.example")
		r = patch(t, id, scimtest.Op("remove", `emails[type eq "work"].primary`, nil))
		wantEmails(t, r, "work:changed@work.example", "home:pat@home.example", "other:pat@other.example")
		// A filter matching several values changes each.
		r = patch(t, id, scimtest.Op("replace", `emails[type ne "work"].display`, "personal"))
		for _, e := range r.At("emails").([]any) {
			m := e.(obj)
			if (m["type"] != "work") != (m["display"] == "personal") {
				t.Fatalf("display on %v", m)
			}
		}
	})

	t.Run("multi-valued add without duplicates", func(t *testing.T) {
		id := newUser(t)
		before := c.Get(t, "/Users/"+id).Expect(t, 200)
		r := patch(t, id, scimtest.Op("add", "emails", arr{obj{"type": "work", "value": "pat@work.example"}}))
		wantEmails(t, r, "work:pat@work.example*", "home:pat@home.example")
		r = patch(t, id, scimtest.Op("add", "emails", arr{obj{"type": "home", "value": "PAT@HOME.example"}}))
		wantEmails(t, r, "work:pat@work.example*", "home:PAT@HOME.example")
		r = patch(t, id, scimtest.Op("add", "emails", obj{"type": "other", "value": "x@other.example"}))
		wantEmails(t, r, "work:pat@work.example*", "home:PAT@HOME.example", "other:x@other.example")
		if before.Str("meta.version") == r.Str("meta.version") {
			t.Fatal("version unchanged")
		}
		r = patch(t, id, scimtest.Op("add", "phoneNumbers", arr{obj{"type": "work", "value": "+1 555"}, obj{"type": "work", "value": "+1 555"}}))
		if l, _ := r.At("phoneNumbers").([]any); len(l) != 1 {
			t.Fatalf("duplicate values in one add: %s", r.Raw)
		}
	})

	t.Run("at most one primary", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id, scimtest.Op("add", "emails", arr{obj{"type": "other", "value": "new@primary.example", "primary": true}}))
		wantEmails(t, r, "work:pat@work.example", "home:pat@home.example", "other:new@primary.example*")
		r = patch(t, id, scimtest.Op("replace", `emails[type eq "home"].primary`, true))
		wantEmails(t, r, "work:pat@work.example", "home:pat@home.example*", "other:new@primary.example")
		r = patch(t, id, scimtest.Op("replace", `emails[type eq "work"]`, obj{"type": "work", "value": "pat@work.example", "primary": true}))
		wantEmails(t, r, "work:pat@work.example*", "home:pat@home.example", "other:new@primary.example")

		twoPrimaries := arr{
			obj{"type": "work", "value": "a@example.com", "primary": true},
			obj{"type": "home", "value": "b@example.com", "primary": true},
		}
		expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("replace", "emails", twoPrimaries)), http.StatusBadRequest, "invalidValue")
		expectError(t, c.Post(t, "/Users", scimtest.UserBody("two-primaries@example.com", obj{"emails": twoPrimaries})), http.StatusBadRequest, "invalidValue")
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "two-primaries@example.com"`)))
		expectError(t, c.Put(t, "/Users/"+id, scimtest.UserBody("whatever@example.com", obj{"emails": twoPrimaries})), http.StatusBadRequest, "invalidValue")
		wantEmails(t, c.Get(t, "/Users/"+id).Expect(t, 200), "work:pat@work.example*", "home:pat@home.example", "other:new@primary.example")
	})

	t.Run("capitalized operations", func(t *testing.T) {
		id := newUser(t)
		r := patch(t, id,
			scimtest.Op("Replace", "title", "Cap"),
			scimtest.Op("Add", "nickName", "Nick"),
			scimtest.Op("REMOVE", "name.givenName", nil),
			scimtest.Op("Replace", "active", "False"),
		)
		if r.Str("title") != "Cap" || r.Str("nickName") != "Nick" || r.At("name.givenName") != nil || r.At("active") != false {
			t.Fatalf("capitalized ops: %s", r.Raw)
		}
		// Attribute names in any case too.
		r = patch(t, id, scimtest.Op("replace", "NAME.FAMILYNAME", "Upper"), scimtest.Op("replace", "Emails[Type eq \"work\"].Value", "up@work.example"))
		if r.Str("name.familyName") != "Upper" {
			t.Fatalf("attribute case: %s", r.Raw)
		}
		wantEmails(t, r, "work:up@work.example*", "home:pat@home.example")
	})

	t.Run("a failing operation changes nothing", func(t *testing.T) {
		id := newUser(t)
		before := c.Get(t, "/Users/"+id).Expect(t, 200)
		for _, tc := range []struct {
			op       map[string]any
			scimType string
		}{
			{scimtest.Op("replace", "nosuchattribute", "x"), "invalidPath"},
			{scimtest.Op("remove", "", nil), "noTarget"},
			{scimtest.Op("remove", "userName", nil), ""},
			{scimtest.Op("replace", "active", "maybe"), "invalidValue"},
			{scimtest.Op("replace", "password", "abc"), "invalidValue"},
			{scimtest.Op("replace", "id", "other"), "mutability"},
			{scimtest.Op("replace", "meta.created", "2000-01-01T00:00:00Z"), "mutability"},
			{scimtest.Op("add", "emails", arr{obj{"value": "p@x", "primary": true}, obj{"value": "q@x", "primary": true}}), "invalidValue"},
			{scimtest.Op("replace", `emails[type eq "work"`, "x"), "invalidPath"},
			{scimtest.Op("move", "title", "x"), ""},
		} {
			t.Run(fmt.Sprint(tc.op), func(t *testing.T) {
				r := c.Patch(t, "/Users/"+id,
					scimtest.Op("replace", "title", "Changed"),
					scimtest.Op("add", "emails", arr{obj{"type": "other", "value": "added@example.com"}}),
					tc.op,
				)
				expectError(t, r, http.StatusBadRequest, tc.scimType)
				after := c.Get(t, "/Users/"+id).Expect(t, 200)
				if after.Str("meta.version") != before.Str("meta.version") || after.Str("title") != "Original" ||
					!reflect.DeepEqual(after.At("emails"), before.At("emails")) {
					t.Fatalf("a failed PATCH changed the user: %s", after.Raw)
				}
			})
		}
	})

	t.Run("bad PATCH messages", func(t *testing.T) {
		id := newUser(t)
		expectError(t, c.Do(t, http.MethodPatch, "/Users/"+id, obj{"Operations": arr{scimtest.Op("replace", "title", "x")}}), http.StatusBadRequest, "")
		expectError(t, c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody()), http.StatusBadRequest, "")
		expectError(t, c.Do(t, http.MethodPatch, "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"path":"title","value":"x"}]}`), http.StatusBadRequest, "")
		if c.Get(t, "/Users/"+id).Expect(t, 200).Str("title") != "Original" {
			t.Fatal("a bad PATCH changed the user")
		}
	})

	t.Run("password", func(t *testing.T) {
		id := newUser(t)
		r := c.Patch(t, "/Users/"+id, scimtest.Op("replace", "password", "Brand-New-Pass-9")).Expect(t, http.StatusOK)
		if strings.Contains(string(r.Raw), "Brand-New-Pass-9") || r.At("password") != nil {
			t.Fatalf("password returned: %s", r.Raw)
		}
		c.Patch(t, "/Users/"+id, scimtest.Op("replace", "", obj{"password": "Other-New-Pass-9"})).Expect(t, http.StatusOK)
	})
}

// Issue 2, point 6: PATCH on group members.
func TestPatchGroupMembers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	u := make([]string, 5)
	for i := range u {
		u[i] = createUser(t, c, fmt.Sprintf("member%d@example.com", i))
	}
	members := func(t *testing.T, gid string) []string {
		t.Helper()
		return memberIDs(c.Get(t, "/Groups/"+gid).Expect(t, 200).At("members"))
	}
	wantMembers := func(t *testing.T, gid string, want ...string) {
		t.Helper()
		if got := members(t, gid); fmt.Sprint(got) != fmt.Sprint(sorted(want...)) {
			t.Fatalf("members %v, want %v", got, sorted(want...))
		}
	}
	// patchMembers sends a PATCH that changes members: 204 No Content, as
	// the README documents, with the new version as ETag.
	patchMembers := func(t *testing.T, gid string, ops ...map[string]any) {
		t.Helper()
		before := c.Get(t, "/Groups/"+gid).Expect(t, 200).Str("meta.version")
		r := c.Patch(t, "/Groups/"+gid, ops...).Expect(t, http.StatusNoContent)
		if len(r.Raw) != 0 {
			t.Fatalf("204 with a body: %s", r.Raw)
		}
		now := c.Get(t, "/Groups/"+gid).Expect(t, 200).Str("meta.version")
		if r.Header.Get("ETag") != now {
			t.Fatalf("ETag %q, version now %q (before %q)", r.Header.Get("ETag"), now, before)
		}
	}

	t.Run("add, merge, remove by filter, remove by value", func(t *testing.T) {
		g := createGroup(t, c, "patch-members")
		patchMembers(t, g, scimtest.Op("add", "members", arr{obj{"value": u[0]}, obj{"value": u[1]}}))
		wantMembers(t, g, u[0], u[1])
		patchMembers(t, g, scimtest.Op("add", "members", arr{obj{"value": u[1]}, obj{"value": u[2]}}))
		wantMembers(t, g, u[0], u[1], u[2])
		patchMembers(t, g, scimtest.Op("remove", `members[value eq "`+u[0]+`"]`, nil))
		wantMembers(t, g, u[1], u[2])
		patchMembers(t, g, scimtest.Op("remove", "members", arr{obj{"value": u[1]}, obj{"value": u[2]}}))
		wantMembers(t, g)
		if c.Get(t, "/Groups/"+g).Expect(t, 200).At("members") != nil {
			t.Fatal("an empty group lists members")
		}
	})

	t.Run("replace and remove all", func(t *testing.T) {
		g := createGroup(t, c, "patch-replace", u[0], u[1])
		patchMembers(t, g, scimtest.Op("replace", "members", arr{obj{"value": u[1]}, obj{"value": u[3]}}))
		wantMembers(t, g, u[1], u[3])
		patchMembers(t, g, scimtest.Op("remove", `members[value eq "`+u[1]+`" or value eq "`+u[3]+`"]`, nil))
		wantMembers(t, g)
		patchMembers(t, g, scimtest.Op("add", "members", arr{obj{"value": u[2]}, obj{"value": u[4]}}))
		patchMembers(t, g, scimtest.Op("remove", "members", nil))
		wantMembers(t, g)
		patchMembers(t, g, scimtest.Op("add", "members", arr{obj{"value": u[2]}}))
		patchMembers(t, g, scimtest.Op("replace", "members", arr{}))
		wantMembers(t, g)
	})

	t.Run("Entra ID style", func(t *testing.T) {
		g := createGroup(t, c, "patch-entra")
		patchMembers(t, g, scimtest.Op("Add", "members", arr{obj{"value": u[0]}}))
		patchMembers(t, g, scimtest.Op("Add", "members", arr{obj{"value": u[1]}}), scimtest.Op("Remove", "members", arr{obj{"value": u[0]}}))
		wantMembers(t, g, u[1])
		r := c.Patch(t, "/Groups/"+g, scimtest.Op("Replace", "displayName", "patch-entra-2")).Expect(t, http.StatusOK)
		if r.Str("displayName") != "patch-entra-2" || fmt.Sprint(memberIDs(r.At("members"))) != fmt.Sprint([]string{u[1]}) {
			t.Fatalf("displayName PATCH: %s", r.Raw)
		}
		// Okta style: no path, a value object.
		patchMembers(t, g, scimtest.Op("add", "", obj{"members": arr{obj{"value": u[2]}}, "displayName": "patch-entra-3"}))
		wantMembers(t, g, u[1], u[2])
		if got := c.Get(t, "/Groups/"+g).Expect(t, 200).Str("displayName"); got != "patch-entra-3" {
			t.Fatalf("displayName %q", got)
		}
	})

	t.Run("the group back on request", func(t *testing.T) {
		g := createGroup(t, c, "patch-back")
		r := c.Do(t, http.MethodPatch, "/Groups/"+g+"?excludedAttributes=members", scimtest.PatchBody(scimtest.Op("add", "members", arr{obj{"value": u[0]}}))).Expect(t, http.StatusOK)
		if r.At("members") != nil || r.Str("displayName") != "patch-back" || r.Header.Get("ETag") != r.Str("meta.version") {
			t.Fatalf("excludedAttributes=members: %s", r.Raw)
		}
		r = c.Do(t, http.MethodPatch, "/Groups/"+g+"?attributes=members", scimtest.PatchBody(scimtest.Op("add", "members", arr{obj{"value": u[1]}}))).Expect(t, http.StatusOK)
		if fmt.Sprint(memberIDs(r.At("members"))) != fmt.Sprint(sorted(u[0], u[1])) {
			t.Fatalf("attributes=members: %s", r.Raw)
		}
	})

	t.Run("a failing operation changes nothing", func(t *testing.T) {
		g := createGroup(t, c, "patch-atomic", u[0])
		before := c.Get(t, "/Groups/"+g).Expect(t, 200)
		for _, bad := range []map[string]any{
			scimtest.Op("replace", "nosuch", "x"),
			scimtest.Op("add", "members", arr{obj{"value": "no-such-user"}}),
			scimtest.Op("add", "members", arr{obj{"display": "no value"}}),
			scimtest.Op("replace", "members[value eq \""+u[0]+"\"].display", "x"),
			scimtest.Op("remove", "displayName", nil),
		} {
			r := c.Patch(t, "/Groups/"+g,
				scimtest.Op("replace", "displayName", "renamed"),
				scimtest.Op("add", "members", arr{obj{"value": u[1]}}),
				scimtest.Op("remove", "members", arr{obj{"value": u[0]}}),
				bad,
			)
			expectError(t, r, http.StatusBadRequest, "")
			after := c.Get(t, "/Groups/"+g).Expect(t, 200)
			if after.Str("displayName") != "patch-atomic" || after.Str("meta.version") != before.Str("meta.version") {
				t.Fatalf("%v: a failed PATCH changed the group: %s", bad, after.Raw)
			}
			wantMembers(t, g, u[0])
		}
	})
}
