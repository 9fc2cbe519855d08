// Package storetest gives tests stores on real databases, and the
// conformance and equivalence suites every store must pass.
//
// MongoDB stores run on FerretDB, started as a process once per test binary
// (SQLite backend in a temporary folder; SCIM_TEST_FERRETDB_BACKEND=postgresql
// puts it on a private PostgreSQL cluster), or on the MongoDB deployment
// named by SCIM_TEST_MONGODB_URI. Every store New makes has a database of
// its own, dropped when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/sqlite"
)

var shared struct {
	once sync.Once
	f    *FerretDB
	dir  string
	uri  string
	err  error
}

// URI returns the URI of the test MongoDB server, starting FerretDB on
// first use.
func URI() (string, error) {
	if uri := os.Getenv("SCIM_TEST_MONGODB_URI"); uri != "" {
		return uri, nil
	}
	shared.once.Do(func() {
		if os.Getenv("SCIM_TEST_FERRETDB_BACKEND") == "postgresql" {
			shared.uri, shared.err = postgresURI()
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "scimtest"); shared.err != nil {
			return
		}
		if shared.f, shared.err = startFerretDB("sqlite", shared.dir); shared.err == nil {
			// FerretDB's SQLite backend answers a query by reading the
			// collection in Go: with every package's tests running at
			// once on a small machine, an operation can take longer than
			// the store's 10 s production deadline. The tests of that
			// deadline start FerretDB processes of their own.
			shared.uri = shared.f.URI() + "?timeoutMS=60000"
		}
	})
	return shared.uri, shared.err
}

// OnFerretDB tells whether the MongoDB store's tests run on FerretDB (no
// SCIM_TEST_MONGODB_URI). FerretDB uses no index and updates documents
// one by one, each found by reading the collection: a test that changes a
// thousand users at once there takes minutes, so such tests take fewer.
func OnFerretDB() bool { return os.Getenv("SCIM_TEST_MONGODB_URI") == "" }

// Main runs a package's tests and then stops the test database servers.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the test database servers URI and PostgresURI started, and
// removes their folders (Main does it; a TestMain of its own calls it
// after m.Run).
func Stop() {
	if shared.f != nil {
		shared.f.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	stopPostgresFerret()
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
// The test fails if the store sends a query of the wrong shape (see
// CheckCommand).
func NewMongo(t testing.TB) *mongodb.Store {
	t.Helper()
	st, _ := NewMongoLogged(t)
	return st
}

// NewMongoLogged is NewMongo, with the log of the commands the store sends.
func NewMongoLogged(t testing.TB) (*mongodb.Store, *CommandLog) {
	t.Helper()
	uri, err := URI()
	if err != nil {
		t.Fatalf("start test database: %v", err)
	}
	return openMongo(t, uri, DatabaseName(), true)
}

// NewMongoAt returns a MongoDB store on a fresh database of the server at
// uri: a FerretDB process of the test's own (StartFerretDB), which the test
// kills or pauses. Its queries are checked as NewMongo's are.
func NewMongoAt(t testing.TB, uri string) *mongodb.Store {
	t.Helper()
	st, _ := openMongo(t, uri, DatabaseName(), true)
	return st
}

// NewMongoPostgres returns a MongoDB store on a fresh database of FerretDB
// on PostgreSQL (see PostgresURI), for benchmarks.
func NewMongoPostgres(t testing.TB) (*mongodb.Store, *CommandLog) {
	t.Helper()
	return openMongo(t, PostgresURI(t), DatabaseName(), true)
}

func openMongo(t testing.TB, uri, database string, drop bool) (*mongodb.Store, *CommandLog) {
	t.Helper()
	log := NewCommandLog(database)
	st, err := mongodb.Open(context.Background(), mongodb.Config{URI: uri, Database: database, Monitor: log.Monitor()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if drop {
			_ = st.DropDatabase(context.Background())
		}
		_ = st.Close(context.Background())
		if p := log.Problems(); len(p) > 0 {
			t.Errorf("the MongoDB store sent %d queries of the wrong shape:\n%s", len(p), strings.Join(p, "\n"))
		}
	})
	return st, log
}

// Reopen returns a second store on the database of st, as a second server
// process (or a management command next to a server) has.
func Reopen(t testing.TB, st store.Store) store.Store {
	t.Helper()
	switch s := st.(type) {
	case *mongodb.Store:
		st, _ := openMongo(t, s.URI(), s.DatabaseName(), false)
		return st
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
