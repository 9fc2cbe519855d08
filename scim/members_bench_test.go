package scim_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// BenchmarkPatchAddMember measures adding one member to a group through
// PATCH as the group grows: the cost must not follow the group's size.
// The account has the same users in both runs, so that only the group's
// size differs (on the embedded database every lookup scans the users).
//
//	go test ./scim -run '^$' -bench PatchAddMember -benchtime 50x
func BenchmarkPatchAddMember(b *testing.B) {
	for _, size := range []int{100, 2000} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			c := scimtest.New(b).Client
			users := createUsers(b, c, 2000+b.N, "m")
			gid := c.Post(b, "/Groups", scimtest.GroupBody("Big")).Expect(b, http.StatusCreated).Str("id")
			for start := 0; start < size; start += 1000 {
				var members []any
				for _, id := range users[start:min(start+1000, size)] {
					members = append(members, map[string]any{"value": id})
				}
				c.Patch(b, "/Groups/"+gid, scimtest.Op("add", "members", members)).Expect(b, http.StatusNoContent)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Patch(b, "/Groups/"+gid, scimtest.Op("add", "members", []any{map[string]any{"value": users[2000+i]}})).Expect(b, http.StatusNoContent)
			}
		})
	}
}

// createUsers creates n users through Bulk and returns their ids.
func createUsers(b *testing.B, c *scimtest.Client, n int, prefix string) []string {
	b.Helper()
	var ids []string
	for start := 0; start < n; start += 1000 {
		var ops []map[string]any
		for i := start; i < min(start+1000, n); i++ {
			ops = append(ops, bulkOp("POST", "/Users", fmt.Sprint(i), scimtest.UserBody(fmt.Sprintf("%s%d@acme.test", prefix, i))))
		}
		for _, r := range results(b, c.Post(b, "/Bulk", bulkBody(0, ops...))) {
			ids = append(ids, idOf(r["location"]))
		}
	}
	return ids
}
