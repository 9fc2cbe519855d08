package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store/storetest"
)

// With the database gone the console answers 503 with Retry-After and a
// page that says the database is unreachable (a change: that it may not
// have been saved), rather than "something went wrong"; back, it serves.
func TestDatabaseUnreachable(t *testing.T) {
	f := storetest.StartFerretDB(t)
	e := newEnvOn(t, storetest.NewMongoAt(t, f.URI()), true)
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
	if code, body, _ := do(t, c, "GET", e.srv.URL+"/admin/users", nil); code != http.StatusOK {
		t.Fatalf("GET /admin/users: %d %s", code, body)
	}

	f.Kill()
	code, body, h := do(t, c, "GET", e.srv.URL+"/admin/users", nil)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "5" || !strings.Contains(body, "Database unreachable") || !strings.Contains(body, "Try again in 5 seconds") {
		t.Errorf("GET /admin/users with the database down: %d, Retry-After %q\n%s", code, h.Get("Retry-After"), body)
	}
	code, body, _ = do(t, c, "POST", e.srv.URL+"/admin/users/"+e.admin.ID+"/role", url.Values{"role": {"administrator"}, "csrf": {csrf}})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "may not have been saved") {
		t.Errorf("POST a change with the database down: %d\n%s", code, body)
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "selection") {
		t.Errorf("driver internals on the page:\n%s", body)
	}

	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _, _ := do(t, c, "GET", e.srv.URL+"/admin/users", nil); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the console did not recover within 30s of the database's restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
