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
