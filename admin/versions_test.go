package admin_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
)

// Moving a user into a group and out of it from the console changes the
// user's version (its groups show in a GET), as a SCIM change does.
func TestConsoleMembershipChangesUserVersion(t *testing.T) {
	e := newEnv(t, true)
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
	u := e.user(e.account.ID, "bob@acme.test", schemas.RoleUser)
	g, err := e.dir.Create(bg, e.account.ID, schemas.Group, map[string]any{"schemas": []any{schemas.GroupURN}, "displayName": "Team"})
	if err != nil {
		t.Fatal(err)
	}
	save := func(group string) int64 {
		t.Helper()
		form := url.Values{"csrf": {csrf}, "role": {schemas.RoleUser}, "givenName": {"Bob"}, "group": {group}}
		for _, n := range schemas.NotificationAttributes {
			form.Set(n, "on")
		}
		if st, body, _ := do(t, c, "POST", e.srv.URL+"/admin/users/"+u.ID, form); st != http.StatusSeeOther {
			t.Fatalf("save profile: %d\n%s", st, body)
		}
		got, err := e.dir.Get(bg, e.account.ID, schemas.User, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Version
	}
	v0 := save("")
	if v := save(""); v != v0 {
		t.Fatalf("saving the same profile moved the version from %d to %d", v0, v)
	}
	v1 := save(g.ID)
	if v1 == v0 {
		t.Fatalf("moved into a group from the console: version still %d", v1)
	}
	if v2 := save(""); v2 == v1 {
		t.Fatalf("taken out of its group from the console: version still %d", v2)
	}
}
