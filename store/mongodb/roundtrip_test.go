package mongodb_test

import (
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
	scimtest.CountHotRequests(t, "round trips", most, []int{10, 400}, func(size int) ([]scimtest.HotRequest, func() []string) {
		st, log := storetest.NewMongoLogged(t)
		requests := scimtest.HotRequests(t, scimtest.NewOn(t, st).Client, size)
		seen := 0
		return requests, func() []string {
			var sent []string
			cmds := log.Commands()
			for _, c := range cmds[seen:] {
				// The record of an operation that ended is taken out a
				// moment later, with others (one update for many
				// operations), and a token is looked up once per
				// mongodb.TokenCacheTTL: neither is a round trip of the
				// request.
				if !c.Background && c.Collection != "tokens" {
					sent = append(sent, c.Name+" "+c.Collection)
				}
			}
			seen = len(cmds)
			return sent
		}
	})
}
