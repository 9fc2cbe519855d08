package sqlite_test

import (
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func newStore(t *testing.T) store.Store { return storetest.NewSQLite(t) }

// TestConformance runs the store's contract on the embedded store.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.RunConformance(t, newStore)
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
