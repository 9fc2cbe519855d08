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

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
