package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/sqlite"
)

// accounts check, as an operator runs it: nothing to report next to a
// running server; then, with what a crash of a store without
// transactions leaves planted in the database, one line per problem and
// exit status 1; --repair fixes it all (exit 3), and the user whose
// invitation email was lost gets a fresh one.
func TestAccountsCheckCommand(t *testing.T) {
	smtp := mailtest.Start(t)
	s := startServer(t, "SCIM_SMTP_URL=smtp://"+smtp.Addr)
	// Limited: only such an account keeps a seat counter.
	if out, err := s.run("accounts", "set-seats", "default", "100"); err != nil {
		t.Fatalf("set-seats: %v\n%s", err, out)
	}
	c := s.Client
	owner := c.Post(t, "/Users", scimtest.UserBody("owner@acme.test", obj{tcUser: obj{"role": "administrator"}, "emails": arr{obj{"value": "owner@acme.test"}}})).Expect(t, http.StatusCreated).Str("id")
	lost := c.Post(t, "/Users", invitee("lost@acme.test")).Expect(t, http.StatusCreated).Str("id")
	group := createGroup(t, c, "Sales", owner)
	smtp.WaitFor(t, "lost@acme.test", 1, 20*time.Second)

	crun := &crashRun{t: t, s: s}
	out, code := crun.runCode("accounts", "check", "default")
	if code != 0 || !strings.Contains(out, "default: 2 users (2 use a seat, of 100), 1 group, 1 membership") || !strings.Contains(out, "no problems found") {
		t.Fatalf("check of a consistent account: exit %d\n%s", code, out)
	}

	// What a crash half-way leaves: seats reserved for a user never
	// written, a membership of a user deleted half-way, a pending
	// invitation whose email is gone.
	s.stop()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{DataDir: s.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.AccountByName(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	ghost := store.NewID()
	u, err := st.Get(ctx, schemas.User, acct.ID, lost)
	if err != nil {
		t.Fatal(err)
	}
	u.Invitation.ID = store.NewID() // the email of this invitation was never queued
	err = st.Replace(ctx, u, u.Version)
	if err == nil {
		err = st.AdjustSeats(ctx, acct.ID, 3)
	}
	if err == nil {
		_, err = st.AddMembers(ctx, acct.ID, group, []string{ghost})
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close(ctx)

	out, code = crun.runCode("accounts", "check", "default")
	for _, want := range []string{
		"seats: the seat counter says 5 seats in use; 2 users use a seat",
		"membership: group Sales (" + group + ") has member " + ghost + ", which is no user of the account",
		"invitation: user lost@acme.test (" + lost + ") has a pending invitation",
		"3 problems found",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("check: exit %d, want 1 and %q in\n%s", code, want, out)
		}
	}
	t.Logf("accounts check:\n%s", out)
	out, code = crun.runCode("accounts", "check", "default", "--repair")
	if code != 3 || !strings.Contains(out, "repaired; checked again: no problems (2 seats in use)") {
		t.Fatalf("check --repair: exit %d, want 3\n%s", code, out)
	}
	if out, code = crun.runCode("accounts", "check", "default"); code != 0 {
		t.Fatalf("check after repair: exit %d\n%s", code, out)
	}

	// The fresh invitation is delivered once the server runs.
	s.start()
	if link := smtp.WaitFor(t, "lost@acme.test", 2, 20*time.Second)[1].Link(); acceptLink(t, link).status != http.StatusOK {
		t.Fatalf("the fresh invitation's link does not accept")
	}
	if got := s.Client.Get(t, "/Groups/"+group).Expect(t, http.StatusOK); len(memberIDs(got.At("members"))) != 1 {
		t.Fatalf("members after repair: %s", got.Raw)
	}
	if _, code = crun.runCode("accounts", "check", "nosuchaccount"); code != 1 {
		t.Fatalf("check of an unknown account: exit %d, want 1", code)
	}
	if _, code = crun.runCode("accounts", "check"); code != 2 {
		t.Fatalf("check without an account: exit %d, want 2", code)
	}
}
