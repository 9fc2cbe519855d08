package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// TestFerretDBKillAndRestart checks the test database process as the
// reliability tests use it: killed with SIGKILL it stops answering, and
// restarted it answers again on the same address with the data it had.
func TestFerretDBKillAndRestart(t *testing.T) {
	f := storetest.StartFerretDB(t)
	ctx := context.Background()
	st, err := mongodb.Open(ctx, mongodb.Config{URI: f.URI(), Database: "killtest"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	acct, err := st.CreateAccount(ctx, "acme", 3)
	if err != nil {
		t.Fatal(err)
	}

	f.Kill()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := st.Account(short, acct.ID); err == nil {
		t.Fatal("the database answered after SIGKILL")
	}

	uri := f.URI()
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	if f.URI() != uri {
		t.Fatalf("restarted on %s, want %s", f.URI(), uri)
	}
	got, err := st.Account(ctx, acct.ID)
	if err != nil || got.Seats != 3 {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
}
