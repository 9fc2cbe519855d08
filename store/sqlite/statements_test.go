package sqlite_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/sqlite"
)

// statementLog records the statements a store runs.
type statementLog struct {
	mu   sync.Mutex
	list []string
}

func (l *statementLog) add(q string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, strings.Join(strings.Fields(q), " "))
}

func (l *statementLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.list[n:]...)
}

func (l *statementLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list)
}

// TestStatements counts the statements the embedded store runs for the
// requests an identity provider repeats most, as TestRoundTrips does for
// MongoDB: Entra ID's create (a lookup by userName that finds nothing,
// then a POST), a page of 100 users, a GET of a group with its members,
// a PATCH of a user, adding one member to a group and deleting the group.
// The counts must not depend on the group's size: they are measured with
// groups of two sizes and must be equal.
func TestStatements(t *testing.T) {
	sizes := []int{10, 400}
	type step struct {
		name   string
		most   int // the statements it takes now: more is a regression
		counts []int
		sent   []string
	}
	steps := []*step{
		{name: "GET a user by userName, not found", most: 2},
		{name: "POST a user", most: 8},
		{name: "GET a page of 100 users", most: 5},
		{name: "GET a group with its members", most: 5},
		{name: "PATCH a user", most: 11},
		{name: "PATCH a group: add one member", most: 10},
		{name: "DELETE the group", most: 10},
	}
	for _, size := range sizes {
		log := &statementLog{}
		st, err := sqlite.Open(context.Background(), sqlite.Config{DataDir: t.TempDir(), Trace: log.add})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close(context.Background()) })
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
				c.Post(t, "/Users", scimtest.UserBody(newName, map[string]any{
					"externalId": "ext-" + newName, "active": true,
					"name":   map[string]any{"givenName": "Given", "familyName": "Family"},
					"emails": []any{map[string]any{"value": newName, "type": "work", "primary": true}},
				})).Expect(t, http.StatusCreated)
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
			before := log.len()
			do()
			sent := log.since(before)
			steps[i].counts = append(steps[i].counts, len(sent))
			steps[i].sent = sent
		}
	}
	for _, s := range steps {
		t.Logf("%s: %v statements at %v members:\n\t%s", s.name, s.counts, sizes, strings.Join(s.sent, "\n\t"))
		if s.counts[1] > s.most {
			t.Errorf("%s: %d statements, more than the %d it took when this test was written", s.name, s.counts[1], s.most)
		}
		if s.counts[0] != s.counts[1] {
			t.Errorf("%s: %d statements with %d members, %d with %d: the count must not grow with the group", s.name, s.counts[0], sizes[0], s.counts[1], sizes[1])
		}
	}
}
