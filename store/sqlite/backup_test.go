package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/sqlite"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func user(account, userName string) *store.Resource {
	return &store.Resource{Type: schemas.User, ID: store.NewID(), Account: account, Attributes: map[string]any{
		"userName": userName, "active": true, "displayName": fmt.Sprintf("%s %0200d", userName, 0),
	}}
}

// A backup is the database as it was when the backup began, even when
// writes land between its steps, and a data folder a store opens as it is.
func TestBackupIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	sqlite.SetBackupStep(t, 4) // many steps, with writes between them
	src := storetest.NewSQLite(t)
	acct, err := src.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	const before = 400
	for i := range before {
		if err := src.Insert(ctx, user(acct.ID, fmt.Sprintf("u%d@acme.com", i))); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(t.TempDir(), "backup")
	steps, lastDone, lastTotal, late := 0, 0, 0, 0
	err = src.Backup(ctx, dir, func(done, total int) {
		steps++
		if done < lastDone || done > total {
			t.Errorf("progress went %d/%d after %d/%d", done, total, lastDone, lastTotal)
		}
		lastDone, lastTotal = done, total
		// Another connection writes meanwhile, as a server does.
		if err := src.Insert(ctx, user(acct.ID, fmt.Sprintf("late%d@acme.com", late))); err != nil {
			t.Fatal(err)
		}
		late++
	})
	if err != nil {
		t.Fatal(err)
	}
	if steps < 10 || lastDone != lastTotal {
		t.Fatalf("%d steps, ended at %d/%d pages", steps, lastDone, lastTotal)
	}
	if names, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".backup.backup-*")); len(names) > 0 {
		t.Errorf("temporary folders left behind: %v", names)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 1 || entries[0].Name() != sqlite.FileName {
		t.Fatalf("the backup folder holds %v (%v), want only %s", entries, err, sqlite.FileName)
	}
	copy, err := sqlite.Open(ctx, sqlite.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer copy.Close(ctx)
	counts, err := copy.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["users"] != before || counts["accounts"] != 1 {
		t.Fatalf("the backup holds %v; want the %d users written before it began and none of the %d written during it", counts, before, late)
	}
	srcCounts, _ := src.Count(ctx)
	if srcCounts["users"] != before+late {
		t.Fatalf("the source holds %d users, want %d", srcCounts["users"], before+late)
	}
	// The copy is a store like any other: it takes writes.
	if err := copy.Insert(ctx, user(acct.ID, "after@acme.com")); err != nil {
		t.Fatal(err)
	}
}

// A backup goes into a new or empty folder only, and leaves nothing
// behind when it fails.
func TestBackupRefusesNonEmptyFolder(t *testing.T) {
	ctx := context.Background()
	src := storetest.NewSQLite(t)
	if _, err := src.CreateAccount(ctx, "Acme", 0); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	if err := os.MkdirAll(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := src.Backup(ctx, full, nil); err == nil {
		t.Fatal("a backup into a folder that holds a file succeeded")
	}
	empty := filepath.Join(parent, "empty")
	if err := os.MkdirAll(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := src.Backup(ctx, empty, nil); err != nil {
		t.Fatalf("a backup into an empty folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, sqlite.FileName)); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := src.Backup(cancelled, filepath.Join(parent, "cancelled"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled backup: %v", err)
	}
	entries, _ := os.ReadDir(parent)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Fatalf("after the backups the folder holds %v, want only full and empty", names)
	}
}
