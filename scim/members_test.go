package scim_test

import (
	"net/http"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Joining a group that grants nothing leaves a user as it was; joining a
// group whose ancestor grants a role gives it, seats included (the server
// reads the members only in the second case).
func TestMembershipGrantsThroughAncestors(t *testing.T) {
	e := scimtest.New(t)
	_, c := e.NewAccount(t, "two-seats", 2)
	newUser(t, c, "boss@two.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	g1 := newUser(t, c, "g1@two.test", map[string]any{"role": "guest"}).Expect(t, http.StatusCreated).Str("id")
	g2 := newUser(t, c, "g2@two.test", map[string]any{"role": "guest"}).Expect(t, http.StatusCreated).Str("id")
	plain := newGroup(t, c, "Plain", nil).Expect(t, http.StatusCreated).Str("id")
	top := newGroup(t, c, "Staff", map[string]any{"grantsRole": "user"}).Expect(t, http.StatusCreated).Str("id")
	team := newGroup(t, c, "Team", map[string]any{"parent": top}).Expect(t, http.StatusCreated).Str("id")

	c.Patch(t, "/Groups/"+plain, scimtest.Op("add", "members", []any{map[string]any{"value": g1}, map[string]any{"value": g2}})).Expect(t, http.StatusNoContent)
	if u := c.Get(t, "/Users/"+g1).Expect(t, http.StatusOK); tcAttr(u, "effectiveRole") != "guest" || tcAttr(u, "countsTowardSeats") != false {
		t.Fatalf("after joining a group that grants nothing: %s", u.Raw)
	}
	// Team grants nothing itself, its parent grants user: g1 takes the
	// last seat, g2 would need a third.
	c.Patch(t, "/Groups/"+team, scimtest.Op("add", "members", []any{map[string]any{"value": g1}})).Expect(t, http.StatusNoContent)
	if u := c.Get(t, "/Users/"+g1).Expect(t, http.StatusOK); tcAttr(u, "effectiveRole") != "user" || tcAttr(u, "countsTowardSeats") != true {
		t.Fatalf("after joining a group under a granting one: %s", u.Raw)
	}
	c.Patch(t, "/Groups/"+team, scimtest.Op("add", "members", []any{map[string]any{"value": g2}})).Expect(t, http.StatusForbidden)
	newGroup(t, c, "Team2", map[string]any{"parent": top}, g2).Expect(t, http.StatusForbidden)
	// Leaving gives the seat back.
	c.Patch(t, "/Groups/"+team, scimtest.Op("remove", `members[value eq "`+g1+`"]`, nil)).Expect(t, http.StatusNoContent)
	if u := c.Get(t, "/Users/"+g1).Expect(t, http.StatusOK); tcAttr(u, "effectiveRole") != "guest" {
		t.Fatalf("after leaving: %s", u.Raw)
	}
	c.Patch(t, "/Groups/"+team, scimtest.Op("add", "members", []any{map[string]any{"value": g2}})).Expect(t, http.StatusNoContent)
}

// A Bulk request looks up the members its group operations add once, for
// all of them; members it created itself it knows. Unknown members are
// still refused, and a user the request deleted is not taken for one.
func TestBulkGroupMembersChecked(t *testing.T) {
	c := scimtest.New(t).Client
	a := c.Post(t, "/Users", scimtest.UserBody("a@acme.test")).Expect(t, http.StatusCreated).Str("id")
	b := c.Post(t, "/Users", scimtest.UserBody("b@acme.test")).Expect(t, http.StatusCreated).Str("id")
	gone := c.Post(t, "/Users", scimtest.UserBody("gone@acme.test")).Expect(t, http.StatusCreated).Str("id")
	g1 := c.Post(t, "/Groups", scimtest.GroupBody("One")).Expect(t, http.StatusCreated).Str("id")
	g2 := c.Post(t, "/Groups", scimtest.GroupBody("Two")).Expect(t, http.StatusCreated).Str("id")
	members := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, map[string]any{"value": id})
		}
		return out
	}
	res := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("POST", "/Users", "new", scimtest.UserBody("new@acme.test")),
		bulkOp("PATCH", "/Groups/"+g1, "", scimtest.PatchBody(scimtest.Op("add", "members", members(a, b, "bulkId:new")))),
		// gone was looked up (with the members of every group operation)
		// before this deletes it.
		bulkOp("DELETE", "/Users/"+gone, "", nil),
		bulkOp("PATCH", "/Groups/"+g2, "", scimtest.PatchBody(scimtest.Op("add", "members", members(a, "no-such-user")))),
		bulkOp("PATCH", "/Groups/"+g2, "", scimtest.PatchBody(scimtest.Op("add", "", map[string]any{"members": members(b, gone)}))),
		bulkOp("POST", "/Groups", "g3", scimtest.GroupBody("Three", a, "bulkId:new")),
		bulkOp("PUT", "/Groups/"+g2, "", scimtest.GroupBody("Two", b)),
	)))
	want := []string{"201", "200", "204", "400", "400", "201", "200"}
	for i, r := range res {
		if r["status"] != want[i] {
			t.Errorf("operation %d: %v, want %s", i+1, r, want[i])
		}
	}
	count := func(gid string) int {
		return len(asList(c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK).At("members")))
	}
	if count(g1) != 3 || count(g2) != 1 || count(idOf(res[5]["location"])) != 2 {
		t.Fatalf("members: %d %d %d", count(g1), count(g2), count(idOf(res[5]["location"])))
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
