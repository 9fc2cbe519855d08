package sqlite_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/sqlite"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// A disk that refuses to store (here: the database capped at its size, as
// a full disk does) answers writes 503 with Retry-After and a detail that
// names no SQLite internals; reads go on.
func TestDiskFullAnswers503(t *testing.T) {
	st := storetest.NewSQLite(t)
	c := scimtest.NewOn(t, st).Client
	id := c.Post(t, "/Users", scimtest.UserBody("first@example.com")).Expect(t, http.StatusCreated).Str("id")
	if err := sqlite.LimitPages(st, 0); err != nil {
		t.Fatal(err)
	}
	var r *scimtest.Response
	for i := 0; i < 200; i++ {
		r = c.Post(t, "/Users", scimtest.UserBody(fmt.Sprintf("u%d@example.com", i), map[string]any{"displayName": strings.Repeat("x", 2000)}))
		if r.Status != http.StatusCreated {
			break
		}
	}
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "30" {
		t.Fatalf("a write to a full database: %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	detail := r.Str("detail")
	for _, internal := range []string{"SQLITE", "sqlite", "full (", "disk is full", "page"} {
		if strings.Contains(detail, internal) {
			t.Errorf("the detail %q shows internals (%q)", detail, internal)
		}
	}
	if !strings.Contains(detail, "cannot store data") {
		t.Errorf("detail %q", detail)
	}
	c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
}
