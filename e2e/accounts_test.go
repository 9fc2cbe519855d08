package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

const tcUser = timecampUserURN

// accounts show reports seats in use against the total, and the owner;
// transfer-owner hands the account to another administrator.
func TestAccountSeatsAndOwnerCommands(t *testing.T) {
	s := startServer(t)
	if _, err := s.run("accounts", "set-seats", "default", "3"); err != nil {
		t.Fatalf("set-seats: %v", err)
	}
	owner := s.Client.Post(t, "/Users", scimtest.UserBody("owner@example.com", map[string]any{tcUser: map[string]any{"role": "administrator"}})).Expect(t, http.StatusCreated)
	s.Client.Post(t, "/Users", scimtest.UserBody("guest@example.com", map[string]any{tcUser: map[string]any{"role": "guest"}})).Expect(t, http.StatusCreated)
	next := s.Client.Post(t, "/Users", scimtest.UserBody("next@example.com", map[string]any{tcUser: map[string]any{"role": "administrator"}})).Expect(t, http.StatusCreated)

	out, err := s.run("accounts", "show", "default")
	if err != nil {
		t.Fatalf("accounts show: %v", err)
	}
	if !strings.Contains(out, "seats:   2 in use / 3") || !strings.Contains(out, "owner@example.com") {
		t.Fatalf("accounts show:\n%s", out)
	}
	if _, err := s.run("accounts", "transfer-owner", "default", "next@example.com"); err != nil {
		t.Fatalf("transfer-owner: %v", err)
	}
	if got := s.Client.Get(t, "/Users/"+next.Str("id")).Expect(t, http.StatusOK); got.At(tcUser+".accountOwner") != true {
		t.Fatalf("new owner: %s", got.Raw)
	}
	// The former owner can now be deactivated.
	s.Client.Patch(t, "/Users/"+owner.Str("id"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	out, _ = s.run("accounts", "show", "default")
	if !strings.Contains(out, "seats:   1 in use / 3") || !strings.Contains(out, "next@example.com") {
		t.Fatalf("accounts show after transfer:\n%s", out)
	}
	// Only an active administrator can own the account.
	if _, err := s.run("accounts", "transfer-owner", "default", "guest@example.com"); err == nil {
		t.Fatal("a guest became the owner")
	}
}
