// Package storetest gives tests stores on real databases, and the
// conformance and equivalence suites every store must pass.
//
// MongoDB stores run on the embedded FerretDB, started once per test
// binary, or on the MongoDB deployment named by SCIM_TEST_MONGODB_URI.
// Every store New makes has a database of its own, dropped when the test
// ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/sqlite"
)

var shared struct {
	once sync.Once
	uri  string
	dir  string
	stop func()
	err  error
}

// URI returns the URI of the test MongoDB server, starting the embedded
// FerretDB on first use.
func URI() (string, error) {
	if uri := os.Getenv("SCIM_TEST_MONGODB_URI"); uri != "" {
		return uri, nil
	}
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "scimtest")
		if shared.err != nil {
			return
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		shared.uri, shared.stop, shared.err = mongodb.StartEmbedded(shared.dir, log)
	})
	return shared.uri, shared.err
}

// Main runs a package's tests and then stops the shared test database
// server. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// Kind is the store the tests of the server run on: SCIM_TEST_STORE,
// "sqlite" (the embedded store, the default) or "mongodb".
func Kind() string {
	if k := os.Getenv("SCIM_TEST_STORE"); k != "" {
		return k
	}
	return "sqlite"
}

// New returns a store on a fresh database, of the kind the tests run on.
func New(t testing.TB) store.Store {
	t.Helper()
	switch Kind() {
	case "sqlite":
		return NewSQLite(t)
	case "mongodb":
		return NewMongo(t)
	}
	t.Fatalf("SCIM_TEST_STORE=%q: want sqlite or mongodb", Kind())
	return nil
}

// NewSQLite returns an embedded store in a fresh data folder.
func NewSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	return openSQLite(t, t.TempDir())
}

func openSQLite(t testing.TB, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{DataDir: dir})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// NewMongo returns a MongoDB store on a fresh database of the test server.
func NewMongo(t testing.TB) *mongodb.Store {
	t.Helper()
	return openMongo(t, DatabaseName(), true)
}

func openMongo(t testing.TB, database string, drop bool) *mongodb.Store {
	t.Helper()
	uri, err := URI()
	if err != nil {
		t.Fatalf("start test database: %v", err)
	}
	st, err := mongodb.Open(context.Background(), mongodb.Config{URI: uri, Database: database})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if drop {
			_ = st.DropDatabase(context.Background())
		}
		_ = st.Close(context.Background())
	})
	return st
}

// Reopen returns a second store on the database of st, as a second server
// process (or a management command next to a server) has.
func Reopen(t testing.TB, st store.Store) store.Store {
	t.Helper()
	switch s := st.(type) {
	case *mongodb.Store:
		return openMongo(t, s.DatabaseName(), false)
	case *sqlite.Store:
		return openSQLite(t, filepath.Dir(s.Path()))
	}
	t.Fatalf("storetest: cannot reopen a %T", st)
	return nil
}

// DatabaseName returns a new random database name.
func DatabaseName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("test_%s", hex.EncodeToString(b))
}
