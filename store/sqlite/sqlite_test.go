package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/sqlite"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func newStore(t *testing.T) store.Store { return storetest.NewSQLite(t) }

// TestConformance runs the store's contract on the embedded store.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.RunConformance(t, newStore)
}

// TestConformanceSyncCommit runs the contract with every write flushed to
// disk before it returns.
func TestConformanceSyncCommit(t *testing.T) {
	t.Parallel()
	storetest.RunConformance(t, func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), sqlite.Config{DataDir: t.TempDir(), Sync: sqlite.SyncCommit})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close(context.Background()) })
		return st
	})
}

// TestFindEquivalence checks Find against the in-memory evaluation.
func TestFindEquivalence(t *testing.T) {
	t.Parallel()
	storetest.RunEquivalence(t, newStore)
}

// TestCopy copies an embedded store into another.
func TestCopy(t *testing.T) {
	storetest.RunCopy(t, newStore, newStore)
}

// A data folder of the versions that ran FerretDB in-process is refused
// with a message that says what it is, rather than started empty.
func TestRefusesFerretDBFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "timecamp_scim.sqlite"), []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), sqlite.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "FerretDB") || !strings.Contains(err.Error(), "timecamp_scim.sqlite") {
		t.Fatalf("Open = %v; want a refusal naming the old format", err)
	}
	if _, err := os.Stat(filepath.Join(dir, sqlite.FileName)); !os.IsNotExist(err) {
		t.Fatalf("a new database was created beside the old one: %v", err)
	}
}

// Two stores on one folder (a server and a management command) see each
// other's writes.
func TestTwoProcessesShareAFolder(t *testing.T) {
	ctx := context.Background()
	a := storetest.NewSQLite(t)
	b := storetest.Reopen(t, a)
	acct, err := a.CreateAccount(ctx, "Shared", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetSeats(ctx, acct.ID, 7); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Account(ctx, acct.ID); err != nil || got.Seats != 7 {
		t.Fatalf("Account after the other store's write: %+v, %v", got, err)
	}
}
