package mongodb_test

import (
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
		most   int
		counts []int
		sent   []string
	}
	// The most each request takes now: more is a regression.
	most := map[string]int{
		"GET a user by userName, not found": 1,
		"POST a user":                       3,
		"GET a page of 100 users":           4,
		"GET a group with its members":      3,
		"PATCH a user":                      5,
		"PATCH a group: add one member":     6,
		"DELETE the group":                  8,
	}
	var steps []*step
	for k, size := range sizes {
		st, log := storetest.NewMongoLogged(t)
		for i, r := range scimtest.HotRequests(t, scimtest.NewOn(t, st).Client, size) {
			if k == 0 {
				steps = append(steps, &step{name: r.Name, most: most[r.Name]})
			}
			before := len(log.Commands())
			r.Do()
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
