package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Users survive a restart on the same data folder.
func TestDataSurvivesRestart(t *testing.T) {
	s := startServer(t)
	id := s.Client.Post(t, "/Users", scimtest.UserBody("persist@example.com")).Expect(t, http.StatusCreated).Str("id")
	s.restart()
	got := s.Client.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
	if got.Str("userName") != "persist@example.com" {
		t.Fatalf("after restart: %s", got.Raw)
	}
}

// Management commands work next to a running server: they use its
// database through its socket.
func TestManagementCommandsNextToRunningServer(t *testing.T) {
	s := startServer(t)
	out, err := s.run("accounts", "create", "--name", "Globex", "--seats", "25")
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	accountID := strings.TrimSpace(out)
	token, err := s.run("tokens", "create", "--account", accountID, "--name", "okta")
	if err != nil {
		t.Fatalf("tokens create: %v", err)
	}
	token = strings.TrimSpace(token)
	c := &scimtest.Client{Base: s.Client.Base, Token: token}
	c.Post(t, "/Users", scimtest.UserBody("someone@globex.com")).Expect(t, http.StatusCreated)
	// The other account does not see it.
	if n := s.Client.Get(t, "/Users").Expect(t, http.StatusOK).At("totalResults"); n.(interface{ String() string }).String() != "0" {
		t.Fatalf("default account sees %v users of another account", n)
	}
	// An absurd expiry is refused, saying why (213504d used to overflow
	// to an expiry of today).
	if out, err := s.run("tokens", "create", "--account", accountID, "--name", "forever", "--expires", "213504d"); err == nil || !strings.Contains(err.Error(), "more than 10 years away") {
		t.Fatalf("tokens create --expires 213504d: %q %v", out, err)
	}
	list, err := s.run("tokens", "list", "--account", "Globex")
	if err != nil || !strings.Contains(list, "okta") || strings.Contains(list, "forever") {
		t.Fatalf("tokens list: %q %v", list, err)
	}
	if strings.Contains(list, token) {
		t.Fatal("tokens list shows a secret")
	}
	tokenID := strings.Fields(strings.Split(list, "\n")[1])[0]
	if _, err := s.run("tokens", "revoke", "--account", accountID, tokenID); err != nil {
		t.Fatalf("tokens revoke: %v", err)
	}
	c.Get(t, "/Users").Expect(t, http.StatusUnauthorized)
}

// With the server stopped, the commands open the embedded database
// themselves.
func TestManagementCommandsWithoutServer(t *testing.T) {
	s := startServer(t)
	s.stop()
	out, err := s.run("accounts", "create", "--name", "Initech")
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	list, err := s.run("accounts", "list")
	if err != nil || !strings.Contains(list, "Initech") || !strings.Contains(list, strings.TrimSpace(out)) {
		t.Fatalf("accounts list: %q %v", list, err)
	}
}
