package store_test

import (
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// TestConformance runs the store's contract on the test database: the
// embedded FerretDB, or the MongoDB deployment in SCIM_TEST_MONGODB_URI.
func TestConformance(t *testing.T) {
	t.Parallel() // with the equivalence test: each has databases of its own
	storetest.RunConformance(t, func(t *testing.T) *store.Store { return storetest.New(t) })
}
