package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
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

// TestStatements counts the statements the embedded store runs for the
// requests an identity provider repeats most, as TestRoundTrips does for
// MongoDB: Entra ID's create (a lookup by userName that finds nothing,
// then a POST), a page of 100 users, a GET of a group with its members,
// a PATCH of a user, adding one member to a group and deleting the group.
// The counts must not depend on the group's size: they are measured with
// groups of two sizes and must be equal.
func TestStatements(t *testing.T) {
	// The most each request takes now: more is a regression.
	most := map[string]int{
		"GET a user by userName, not found":                  2,
		"POST a user":                                        7,
		"GET a page of 100 users":                            4,
		"GET a group with its members":                       5,
		"PATCH a user":                                       8,
		"PATCH a group: add one member":                      9,
		"DELETE the group":                                   9,
		"PATCH a user of a seat-limited account: deactivate": 9,
	}
	plansDB := ""
	sent := scimtest.CountHotRequests(t, "statements", most, []int{10, 400}, func(size int) ([]scimtest.HotRequest, func() []string) {
		log := &statementLog{}
		st, err := sqlite.Open(context.Background(), sqlite.Config{DataDir: t.TempDir(), Trace: log.add})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close(context.Background()) })
		plansDB = st.Path()
		env := scimtest.NewOn(t, st)
		_, limited := env.NewAccount(t, fmt.Sprintf("limited%d", size), 1000)
		seated := limited.CreateUsers(t, 1, fmt.Sprintf("l%d-", size))[0]
		requests := append(scimtest.HotRequests(t, env.Client, size), scimtest.HotRequest{
			Name: "PATCH a user of a seat-limited account: deactivate",
			Do: func() {
				limited.Patch(t, "/Users/"+seated, scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
			},
		})
		seen := 0
		return requests, func() []string {
			s := log.since(seen)
			seen += len(s)
			return s
		}
	})
	checkPlans(t, plansDB, sent...)
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
