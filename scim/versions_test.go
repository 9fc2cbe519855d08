package scim_test

import (
	"net/http"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// versions follows the ETags of resources as a caching client would: it
// remembers the last ETag it saw of each and asks with If-None-Match.
type versions struct {
	t    *testing.T
	c    *scimtest.Client
	seen map[string]string // path → ETag
}

func newVersions(t *testing.T, c *scimtest.Client) *versions {
	return &versions{t: t, c: c, seen: map[string]string{}}
}

// see reads a resource and remembers its ETag.
func (v *versions) see(paths ...string) {
	v.t.Helper()
	for _, p := range paths {
		r := v.c.Get(v.t, p).Expect(v.t, http.StatusOK)
		etag := r.Header.Get("ETag")
		if etag == "" || etag != r.Str("meta.version") {
			v.t.Fatalf("GET %s: ETag %q, meta.version %q", p, etag, r.Str("meta.version"))
		}
		v.seen[p] = etag
	}
}

// changed checks that each resource changed since it was last seen: a GET
// with the ETag seen answers 200 with a new ETag (not a stale 304).
func (v *versions) changed(why string, paths ...string) {
	v.t.Helper()
	for _, p := range paths {
		old := v.seen[p]
		r := v.c.Get(v.t, p, "If-None-Match: "+old)
		if r.Status != http.StatusOK {
			v.t.Fatalf("%s: GET %s with If-None-Match %s answered %d: its version did not change", why, p, old, r.Status)
		}
		if etag := r.Header.Get("ETag"); etag == old || etag != r.Str("meta.version") {
			v.t.Fatalf("%s: GET %s: ETag %q (before %s), meta.version %q", why, p, etag, old, r.Str("meta.version"))
		}
		v.see(p)
		v.same(why+" (read again)", p)
	}
}

// same checks that each resource is unchanged since it was last seen.
func (v *versions) same(why string, paths ...string) {
	v.t.Helper()
	for _, p := range paths {
		if r := v.c.Get(v.t, p, "If-None-Match: "+v.seen[p]); r.Status != http.StatusNotModified {
			v.t.Fatalf("%s: GET %s with If-None-Match %s answered %d, want 304: its version changed", why, p, v.seen[p], r.Status)
		}
	}
}

func members(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// A user's version (and ETag) changes whenever what a GET of it returns
// changes, its groups included, by every way of changing a group's
// members; and only the users whose groups changed get a new version. A
// group's version changes when its members' names do, and a user's when
// its groups' or projects' names do.
func TestVersionsFollowMemberships(t *testing.T) {
	c := scimtest.New(t).Client
	user := func(name string) string {
		return "/Users/" + c.Post(t, "/Users", scimtest.UserBody(name)).Expect(t, http.StatusCreated).Str("id")
	}
	id := func(path string) string { return path[len("/Users/"):] }
	a, b, d := user("a@acme.test"), user("b@acme.test"), user("d@acme.test")
	v := newVersions(t, c)
	v.see(a, b, d)

	// POST a group with members.
	g := "/Groups/" + c.Post(t, "/Groups", scimtest.GroupBody("Team", id(a))).Expect(t, http.StatusCreated).Str("id")
	v.changed("POST a group with a as member", a)
	v.same("POST a group without b", b, d)
	if r := c.Get(t, a).Expect(t, http.StatusOK); r.Str("groups.0.display") != "Team" {
		t.Fatalf("a's groups: %s", r.Raw)
	}
	v.see(g)

	// PATCH add: only the members not in the group already.
	c.Patch(t, g, scimtest.Op("add", "members", members(id(a), id(b)))).Expect(t, http.StatusNoContent)
	v.changed("PATCH add b", b, g)
	v.same("PATCH add a, already a member", a, d)
	c.Patch(t, g, scimtest.Op("add", "members", members(id(a)))).Expect(t, http.StatusNoContent)
	v.same("PATCH add of a member only", a, b, g)

	// PATCH remove, by value filter.
	c.Patch(t, g, scimtest.Op("remove", `members[value eq "`+id(a)+`"]`, nil)).Expect(t, http.StatusNoContent)
	v.changed("PATCH remove a", a, g)
	v.same("PATCH remove a", b, d)
	if r := c.Get(t, a).Expect(t, http.StatusOK); r.At("groups") != nil {
		t.Fatalf("a still shows groups: %s", r.Raw)
	}

	// PATCH replace members: b stays, d joins.
	c.Patch(t, g, scimtest.Op("replace", "members", members(id(b), id(d)))).Expect(t, http.StatusNoContent)
	v.changed("PATCH replace members with b and d", d, g)
	v.same("PATCH replace members keeping b", a, b)

	// PUT with the same name: a joins, d leaves, b stays.
	body := scimtest.GroupBody("Team", id(a), id(b))
	c.Put(t, g, body).Expect(t, http.StatusOK)
	v.changed("PUT with a and b", a, d, g)
	v.same("PUT keeping b", b)
	c.Put(t, g, body).Expect(t, http.StatusOK)
	v.same("PUT of the same group", a, b, d, g)

	// PATCH with If-Match (the group's version is claimed first).
	etag := c.Get(t, g).Expect(t, http.StatusOK).Header.Get("ETag")
	r := c.Do(t, http.MethodPatch, g, scimtest.PatchBody(scimtest.Op("add", "members", members(id(d)))), "If-Match: "+etag)
	r.Expect(t, http.StatusNoContent)
	v.changed("PATCH add d with If-Match", d, g)
	v.same("PATCH add d with If-Match", a, b)

	// Renaming the group: every member shows the new name.
	c.Patch(t, g+"?excludedAttributes=members", scimtest.Op("replace", "displayName", "Crew")).Expect(t, http.StatusOK)
	v.changed("group renamed", a, b, d, g)
	if r := c.Get(t, b).Expect(t, http.StatusOK); r.Str("groups.0.display") != "Crew" {
		t.Fatalf("b's groups after the rename: %s", r.Raw)
	}
	// Renaming a member: the group shows the new name.
	c.Patch(t, b, scimtest.Op("replace", "displayName", "Bea")).Expect(t, http.StatusOK)
	v.changed("member renamed", b, g)
	v.same("member renamed", a, d)

	// Bulk.
	e := user("e@acme.test")
	v.see(e)
	res := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("PATCH", g, "", scimtest.PatchBody(scimtest.Op("add", "members", members(id(e))))),
		bulkOp("POST", "/Groups", "g2", scimtest.GroupBody("Second", id(a))),
	)))
	if res[0]["status"] != "204" && res[0]["status"] != "200" || res[1]["status"] != "201" {
		t.Fatalf("bulk: %v", res)
	}
	v.changed("Bulk adds e and puts a in a new group", e, a, g)
	v.same("Bulk", b, d)

	// Deleting a member changes the group; deleting the group its members.
	c.Delete(t, e).Expect(t, http.StatusNoContent)
	v.changed("member deleted", g)
	c.Delete(t, g).Expect(t, http.StatusNoContent)
	v.changed("group deleted", a, b, d)

	// A project's name shows in the projects of the users with access.
	p := newProject(t, c, "Apollo")
	c.Patch(t, d, scimtest.Op("add", tcUser+":projects", []any{map[string]any{"value": p}})).Expect(t, http.StatusOK)
	v.changed("project given", d)
	v.see(a)
	c.Patch(t, "/Projects/"+p, scimtest.Op("replace", "displayName", "Artemis")).Expect(t, http.StatusOK)
	v.changed("project renamed", d)
	v.same("project renamed", a)
	if r := c.Get(t, d).Expect(t, http.StatusOK); r.Str(tcUser+".projects.0.display") != "Artemis" {
		t.Fatalf("d's projects after the rename: %s", r.Raw)
	}
}
