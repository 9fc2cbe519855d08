package scim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Long chains of "or" and "and" (a client looking up a list of people by
// userName) are one flat $or/$and in the database, with the equalities of
// an "or" merged into $in: MongoDB refuses queries nested more than 100
// levels deep, and FerretDB evaluates $in far faster than many branches.
func TestFilterLongChains(t *testing.T) {
	c := scimtest.New(t).Client
	const n = 300
	ops := make([]map[string]any, n)
	for i := range ops {
		title := "engineer"
		if i%3 == 0 {
			title = "manager"
		}
		ops[i] = bulkOp("POST", "/Users", fmt.Sprint(i), scimtest.UserBody(fmt.Sprintf("chain%d@acme.test", i), map[string]any{"title": title}))
	}
	for _, r := range results(t, c.Post(t, "/Bulk", bulkBody(0, ops...))) {
		if r["status"] != "201" {
			t.Fatalf("create: %v", r)
		}
	}
	var terms []string
	for i := 0; i < 250; i++ {
		terms = append(terms, fmt.Sprintf("userName eq %q", fmt.Sprintf("CHAIN%d@acme.test", i)))
	}
	terms = append(terms, `userName eq "nobody@acme.test"`)
	or := strings.Join(terms, " or ")

	search := func(filter string) int {
		t.Helper()
		r := c.Post(t, "/Users/.search", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
			"filter":  filter, "count": 0,
		}).Expect(t, http.StatusOK)
		var got int
		fmt.Sscan(fmt.Sprint(r.At("totalResults")), &got)
		return got
	}
	for _, tc := range []struct {
		filter string
		want   int
	}{
		{or, 250},
		{"(" + or + `) and title eq "manager"`, 84},
		{`title eq "manager" and (` + or + ")", 84},
		{or + ` or title eq "manager"`, 250 + 16},    // managers among 250..299: 252, 255, … 297
		{or + ` or userName sw "chain29"`, 250 + 10}, // chain29x for x in 0..9 are beyond 250
		{"not (" + or + ")", n - 250},                // negation of the merged $in
		{strings.Repeat(`title eq "engineer" and `, 150) + `title eq "engineer"`, 200},
		{`(userName eq "chain1@acme.test" or title eq "nobody") or (userName eq "chain2@acme.test" and title eq "manager")`, 1},
	} {
		if got := search(tc.filter); got != tc.want {
			t.Errorf("filter %.80s…: %d results, want %d", tc.filter, got, tc.want)
		}
	}
}
