package mongodb_test

import (
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func newStore(t *testing.T) store.Store { return storetest.NewMongo(t) }

// TestConformance runs the store's contract on the test database: the
// embedded FerretDB, or the MongoDB deployment in SCIM_TEST_MONGODB_URI.
func TestConformance(t *testing.T) {
	t.Parallel() // with the equivalence test: each has databases of its own
	storetest.RunConformance(t, newStore)
}

// TestFindEquivalence checks the filter translation against the in-memory
// evaluation.
func TestFindEquivalence(t *testing.T) {
	t.Parallel()
	storetest.RunEquivalence(t, newStore)
}

// TestCopy copies between MongoDB and the embedded store, both ways, as
// "timecamp-scim store copy" does.
func TestCopy(t *testing.T) {
	sqlite := func(t *testing.T) store.Store { return storetest.NewSQLite(t) }
	t.Run("embedded to MongoDB", func(t *testing.T) { storetest.RunCopy(t, sqlite, newStore) })
	t.Run("MongoDB to MongoDB", func(t *testing.T) { storetest.RunCopy(t, newStore, newStore) })
	t.Run("MongoDB to embedded", func(t *testing.T) { storetest.RunCopy(t, newStore, sqlite) })
}
