package mongodb_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// The database killed (SIGKILL) under the store: every operation — reads,
// writes, cursors, the ones on a connection the kill broke and the ones
// that find no server — fails within about the server selection timeout
// as failure.Unavailable with a Retry-After and a detail without driver
// internals; brought back on the same data, the same store works again.
func TestDatabaseUnreachable(t *testing.T) {
	f := storetest.StartFerretDB(t)
	ctx := context.Background()
	st := storetest.NewMongoAt(t, f.URI())
	acct, err := st.CreateAccount(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := st.CreateToken(ctx, acct.ID, store.TokenSpec{Name: "okta"})
	if err != nil {
		t.Fatal(err)
	}

	ops := map[string]func() error{
		"Account":      func() error { _, err := st.Account(ctx, acct.ID); return err },
		"Authenticate": func() error { _, err := st.Authenticate(ctx, secret); return err },
		"Accounts":     func() error { _, err := st.Accounts(ctx); return err },
		"ReserveSeats": func() error { return st.ReserveSeats(ctx, acct, 1) },
		"SetSeats":     func() error { return st.SetSeats(ctx, acct.ID, 20) },
		"CreateToken":  func() error { _, _, err := st.CreateToken(ctx, acct.ID, store.TokenSpec{Name: "entra"}); return err },
		"Ping":         func() error { return st.Ping(ctx) },
	}
	f.Kill()
	for _, name := range []string{"Account", "Authenticate", "Accounts", "ReserveSeats", "SetSeats", "CreateToken", "Ping"} {
		start := time.Now()
		err := ops[name]()
		took := time.Since(start)
		if name == "Ping" {
			if err == nil {
				t.Errorf("Ping answered with the database down")
			}
			continue
		}
		fe, ok := failure.As(err)
		if !ok || fe.Kind != failure.Unavailable || fe.RetryAfter != mongodb.RetryAfter {
			t.Errorf("%s with the database down: %v (%#v), want failure.Unavailable with Retry-After", name, err, fe)
			continue
		}
		if took > mongodb.ServerSelectionTimeout+time.Second {
			t.Errorf("%s took %s to fail, want about %s", name, took, mongodb.ServerSelectionTimeout)
		}
		for _, internal := range []string{"127.0.0.1", "connection", "selection", "topology"} {
			if strings.Contains(fe.Detail, internal) {
				t.Errorf("%s: the detail %q shows driver internals (%q)", name, fe.Detail, internal)
			}
		}
		t.Logf("%s: failed in %s: %s", name, took.Round(time.Millisecond), fe.Detail)
	}

	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		a, err := st.Account(ctx, acct.ID)
		if err == nil {
			if a.Seats != 10 || a.SeatsUsed != 0 {
				t.Errorf("after the restart: %d seats, %d used; want 10 and 0 (no write went through while the database was down)", a.Seats, a.SeatsUsed)
			}
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the store did not recover within 30s of the restart: %v", err)
		}
	}
	t.Logf("recovered %s after the restart", time.Since(start).Round(time.Millisecond))
	for name, op := range ops {
		if err := op(); err != nil {
			t.Errorf("%s after the restart: %v", name, err)
		}
	}
}

// A database server that hangs (its connections open, nothing answered)
// holds a request for at most the operation deadline, and the requests
// after it for the server selection timeout once the driver has seen it
// hang; when it answers again, so does the store.
func TestDatabaseHangs(t *testing.T) {
	f := storetest.StartFerretDB(t)
	ctx := context.Background()
	st := storetest.NewMongoAt(t, f.URI())
	acct, err := st.CreateAccount(ctx, "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	f.Pause()
	t.Cleanup(f.Resume)
	time.Sleep(100 * time.Millisecond) // the stop reaches every thread
	for i := range 3 {
		start := time.Now()
		_, err := st.Account(ctx, acct.ID)
		took := time.Since(start)
		if !failure.Is(err, failure.Unavailable) || took > mongodb.OperationTimeout+time.Second {
			t.Fatalf("read %d from a hung database: %v after %s, want failure.Unavailable within %s", i+1, err, took, mongodb.OperationTimeout)
		}
		t.Logf("read %d from a hung database failed after %s", i+1, took.Round(time.Millisecond))
	}
	f.Resume()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := st.Account(ctx, acct.ID); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no answer 30s after the database went on: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
