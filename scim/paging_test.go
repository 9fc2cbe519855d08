package scim_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// totalResults is right whether the page is full, partial, empty or
// beyond the last resource (the server counts only when the page does
// not tell).
func TestPagingTotals(t *testing.T) {
	c := scimtest.New(t).Client
	ops := make([]map[string]any, 7)
	for i := range ops {
		ops[i] = bulkOp("POST", "/Users", fmt.Sprint(i), scimtest.UserBody(fmt.Sprintf("page%d@acme.test", i), map[string]any{"title": "t"}))
	}
	results(t, c.Post(t, "/Bulk", bulkBody(0, ops...)))
	for _, tc := range []struct {
		query            string
		total, startedAt int
		items            int
	}{
		{"count=10", 7, 1, 7},
		{"count=7", 7, 1, 7},
		{"count=3", 7, 1, 3},
		{"count=3&startIndex=6", 7, 6, 2},
		{"count=3&startIndex=7", 7, 7, 1},
		{"count=3&startIndex=8", 7, 8, 0},
		{"count=3&startIndex=50", 7, 50, 0},
		{"count=0", 7, 1, 0},
		{"count=5&filter=" + escape(`title eq "t" and userName sw "page"`), 7, 1, 5},
		{"count=5&filter=" + escape(`userName eq "nobody@acme.test"`), 0, 1, 0},
		{"count=5&startIndex=3&filter=" + escape(`userName eq "nobody@acme.test"`), 0, 3, 0},
		{"count=2&filter=" + escape(`emails[type eq "work" and value sw "page"] or title eq "t"`), 7, 1, 2},
	} {
		r := c.Get(t, "/Users?"+tc.query).Expect(t, http.StatusOK)
		got := fmt.Sprintf("%v/%v/%d", r.At("totalResults"), r.At("startIndex"), len(asList(r.At("Resources"))))
		if want := fmt.Sprintf("%d/%d/%d", tc.total, tc.startedAt, tc.items); got != want {
			t.Errorf("%s: total/startIndex/items %s, want %s", tc.query, got, want)
		}
	}
}
