package mongodb_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// TestRoundTrips counts the commands the server sends to MongoDB for the
// requests an identity provider repeats most: Entra ID's create (a lookup
// by userName that finds nothing, then a POST), a page of 100 users, a GET
// of a group with its members, a PATCH of a user, adding one member to a
// group and deleting the group (which gives each member a new version).
// The counts must not depend on the group's size (nothing is read or
// written per member or per row): they are measured with groups of two
// sizes and must be equal.
func TestRoundTrips(t *testing.T) {
	sizes := []int{10, 400}
	type step struct {
		name   string
		most   int // the round trips it takes now: more is a regression
		counts []int
		sent   []string
	}
	steps := []*step{
		{name: "GET a user by userName, not found", most: 1},
		{name: "POST a user", most: 3},
		{name: "GET a page of 100 users", most: 4},
		{name: "GET a group with its members", most: 3},
		{name: "PATCH a user", most: 5},
		{name: "PATCH a group: add one member", most: 6},
		{name: "DELETE the group", most: 8},
	}
	for _, size := range sizes {
		st, log := storetest.NewMongoLogged(t)
		c := scimtest.NewOn(t, st).Client
		users := c.CreateUsers(t, size+150, fmt.Sprintf("n%d-", size))
		members := make([]string, size)
		copy(members, users)
		group := c.Post(t, "/Groups", scimtest.GroupBody("Big", members...)).Expect(t, http.StatusCreated).Str("id")
		outsider := users[size+100]

		newName := fmt.Sprintf("new%d@example.com", size)
		requests := []func(){
			func() {
				r := c.Get(t, "/Users?filter="+url.QueryEscape(`userName eq "`+newName+`"`)).Expect(t, http.StatusOK)
				if fmt.Sprint(r.At("totalResults")) != "0" {
					t.Fatalf("lookup of a new user: %s", r.Raw)
				}
			},
			func() {
				c.Post(t, "/Users", scimtest.UserBody(newName)).Expect(t, http.StatusCreated)
			},
			func() {
				r := c.Get(t, "/Users?startIndex=1&count=100").Expect(t, http.StatusOK)
				if n := len(r.At("Resources").([]any)); n != 100 {
					t.Fatalf("page of %d users, want 100", n)
				}
			},
			func() {
				r := c.Get(t, "/Groups/"+group).Expect(t, http.StatusOK)
				if n := len(r.At("members").([]any)); n != size {
					t.Fatalf("group of %d members, want %d", n, size)
				}
			},
			func() {
				c.Patch(t, "/Users/"+outsider,
					scimtest.Op("replace", "name.givenName", "Babs"),
					scimtest.Op("replace", "active", false),
				).Expect(t, http.StatusOK)
			},
			func() {
				c.Patch(t, "/Groups/"+group, scimtest.Op("add", "members", []any{map[string]any{"value": users[size]}})).Expect(t, http.StatusNoContent)
			},
			func() {
				c.Delete(t, "/Groups/"+group).Expect(t, http.StatusNoContent)
			},
		}
		for i, do := range requests {
			before := len(log.Commands())
			do()
			var sent []string
			for _, c := range log.Commands()[before:] {
				// The record of an operation that ended is taken out a
				// moment later, with others (one update for many
				// operations), and a token is looked up once per
				// mongodb.TokenCacheTTL: neither is a round trip of the
				// request.
				if !c.Background && c.Collection != "tokens" {
					sent = append(sent, c.Name+" "+c.Collection)
				}
			}
			steps[i].counts = append(steps[i].counts, len(sent))
			steps[i].sent = sent
		}
	}
	for _, s := range steps {
		t.Logf("%s: %v round trips at %v members (%s)", s.name, s.counts, sizes, strings.Join(s.sent, ", "))
		if s.counts[1] > s.most {
			t.Errorf("%s: %d round trips, more than the %d it took when this test was written", s.name, s.counts[1], s.most)
		}
		if s.counts[0] != s.counts[1] {
			t.Errorf("%s: %d round trips with %d members, %d with %d: the count must not grow with the group", s.name, s.counts[0], sizes[0], s.counts[1], sizes[1])
		}
	}
}
