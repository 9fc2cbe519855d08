package sqlite_test

import (
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// FuzzFind checks the embedded store's filter translation against the
// in-memory evaluation, on any filter text (see storetest.FuzzFind):
//
//	go test ./store/sqlite -run '^$' -fuzz '^FuzzFind$' -fuzztime 10s
func FuzzFind(f *testing.F) {
	storetest.FuzzFind(f, func(t testing.TB) store.Store { return storetest.NewSQLite(t) })
}
