package mongodb_test

import (
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// FuzzFind checks the MongoDB store's filter translation against the
// in-memory evaluation, on any filter text (see storetest.FuzzFind). Its
// seed corpus runs with the tests; fuzzing it goes through the test
// database, tens of inputs a second on FerretDB:
//
//	go test ./store/mongodb -run '^$' -fuzz '^FuzzFind$' -fuzztime 60s
func FuzzFind(f *testing.F) {
	storetest.FuzzFind(f, func(t testing.TB) store.Store { return storetest.NewMongo(t) })
}
