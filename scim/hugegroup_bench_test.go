package scim_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// BenchmarkWorkloadHugeGroupChanges: the changes to a group of 100,000
// members that touch all of them — a PUT with the same members (Okta's
// way of saying the group is unchanged), a PATCH replacing the members
// (20,000 leave, 20,000 join), a rename (every member's "groups" shows the
// new name) and the DELETE — each timed once over HTTP. Every member
// whose groups change gets a new version in the same operation.
//
//	go test ./scim -run '^$' -bench WorkloadHugeGroupChanges -benchtime 1x -timeout 30m
func BenchmarkWorkloadHugeGroupChanges(b *testing.B) {
	const n, moved = 100_000, 20_000
	c := benchClient(b)
	ids := createUsers(b, c, n+moved, "huge")
	list := func(ids []string) []any {
		out := make([]any, len(ids))
		for i, id := range ids {
			out[i] = map[string]any{"value": id}
		}
		return out
	}
	for b.Loop() {
		name := fmt.Sprint("Huge ", time.Now().UnixNano())
		gid := c.Post(b, "/Groups", scimtest.GroupBody(name)).Expect(b, http.StatusCreated).Str("id")
		for start := 0; start < n; start += 10_000 {
			c.Patch(b, "/Groups/"+gid, scimtest.Op("add", "members", list(ids[start:start+10_000]))).Expect(b, http.StatusNoContent)
		}
		timed := func(metric string, do func()) {
			t := time.Now()
			do()
			b.ReportMetric(float64(time.Since(t).Milliseconds()), metric)
		}
		timed("put-same-ms", func() {
			body := scimtest.GroupBody(name)
			body["members"] = list(ids[:n])
			c.Put(b, "/Groups/"+gid+"?excludedAttributes=members", body).Expect(b, http.StatusOK)
		})
		timed("replace-members-ms", func() {
			c.Patch(b, "/Groups/"+gid, scimtest.Op("replace", "members", list(ids[moved:n+moved]))).Expect(b, http.StatusNoContent)
		})
		timed("rename-ms", func() {
			c.Patch(b, "/Groups/"+gid+"?excludedAttributes=members", scimtest.Op("replace", "displayName", name+" renamed")).Expect(b, http.StatusOK)
		})
		timed("delete-ms", func() {
			c.Delete(b, "/Groups/"+gid).Expect(b, http.StatusNoContent)
		})
	}
}
