// Package storetest gives tests a store on a real database: the embedded
// FerretDB, started once per test binary, or the MongoDB deployment named by
// SCIM_TEST_MONGODB_URI. Every New gets a database of its own, dropped when
// the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/store"
)

var shared struct {
	once sync.Once
	uri  string
	dir  string
	stop func()
	err  error
}

// URI returns the URI of the test database server, starting the embedded
// one on first use.
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
		shared.uri, shared.stop, shared.err = store.StartEmbedded(shared.dir, log)
	})
	return shared.uri, shared.err
}

// Main runs a package's tests and then stops the shared embedded database.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// New returns a store on a fresh database.
func New(t testing.TB) *store.Store {
	t.Helper()
	uri, err := URI()
	if err != nil {
		t.Fatalf("start test database: %v", err)
	}
	st, err := store.Open(context.Background(), store.Config{URI: uri, Database: DatabaseName()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		_ = st.DropDatabase(context.Background())
		st.Close(context.Background())
	})
	return st
}

// DatabaseName returns a new random database name.
func DatabaseName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("test_%s", hex.EncodeToString(b))
}
