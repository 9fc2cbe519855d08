package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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
		{name: "GET a page of 100 users", most: 4},
		{name: "GET a group with its members", most: 5},
		{name: "PATCH a user", most: 10},
		{name: "PATCH a group: add one member", most: 10},
		{name: "DELETE the group", most: 10},
		{name: "PATCH a user of a seat-limited account: deactivate", most: 9},
	}
	plansDB := ""
	for _, size := range sizes {
		log := &statementLog{}
		st, err := sqlite.Open(context.Background(), sqlite.Config{DataDir: t.TempDir(), Trace: log.add})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close(context.Background()) })
		env := scimtest.NewOn(t, st)
		c := env.Client
		_, limited := env.NewAccount(t, fmt.Sprintf("limited%d", size), 1000)
		seated := limited.CreateUsers(t, 1, fmt.Sprintf("l%d-", size))[0]
		plansDB = st.Path()
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
			func() {
				limited.Patch(t, "/Users/"+seated, scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
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
	checkPlans(t, plansDB, steps[0].sent, steps[1].sent, steps[2].sent, steps[3].sent, steps[4].sent, steps[5].sent, steps[6].sent, steps[7].sent)
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

// checkPlans asks SQLite how it runs each statement (EXPLAIN QUERY PLAN)
// and fails on any that reads a table or index from end to end (SCAN)
// instead of searching it: every statement of these requests must be
// answered by an index.
func checkPlans(t *testing.T, path string, lists ...[]string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seen := map[string]bool{}
	for _, list := range lists {
		for _, q := range list {
			if seen[q] || !strings.ContainsAny(q, " ") || strings.HasPrefix(q, "SAVEPOINT") || strings.HasPrefix(q, "RELEASE") || strings.HasPrefix(q, "ROLLBACK") {
				continue
			}
			seen[q] = true
			rows, err := db.Query("EXPLAIN QUERY PLAN "+q, make([]any, placeholders(q))...)
			if err != nil {
				t.Fatalf("EXPLAIN QUERY PLAN %s: %v", q, err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
				if strings.HasPrefix(detail, "SCAN ") && !strings.Contains(detail, "VIRTUAL TABLE") && detail != "SCAN CONSTANT ROW" {
					t.Errorf("%s\n\treads a whole table or index: %s", q, detail)
				}
			}
			rows.Close()
			t.Logf("plan of %.100s…: %s", q, strings.Join(plan, "; "))
		}
	}
}

// placeholders counts the parameters of a statement: "?" and "?N".
func placeholders(q string) int {
	n, most := 0, 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		if j == i+1 {
			n++
			continue
		}
		v, _ := strconv.Atoi(q[i+1 : j])
		most = max(most, v)
	}
	return max(n, most)
}
