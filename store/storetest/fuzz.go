package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// fuzzUsers is the size of the fuzz targets' data set: the anchors and
// random users, small enough for thousands of queries a second.
const fuzzUsers = 40

// FindTimeLimit bounds one Find of the fuzz targets over their small data
// set: a filter that keeps the database busy longer is a bug.
const FindTimeLimit = 5 * time.Second

// FuzzFind is a fuzz target for a store's filter translation: each input
// is a filter text, run through Find over a small fixed data set (the
// equivalence test's, with the same seed every run). Whatever the text,
// the store must not panic, must not fail but with a client error (a
// failure of kind Invalid with a detail), must select exactly the users
// scimfilter.Match selects in memory, and must answer within
// FindTimeLimit. The seed corpus is the equivalence test's hand-written
// filters and filters generated from the grammar the equivalence test
// uses; it runs in plain go test. Call it from a FuzzXxx function of the
// store's package:
//
//	func FuzzFind(f *testing.F) { storetest.FuzzFind(f, newStore) }
func FuzzFind(f *testing.F, newStore func(t testing.TB) store.Store) {
	seed := uint64(20261130)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := rand.New(rand.NewPCG(seed+1, seed))
	st := newStore(f)
	ds := buildDataset(f, st, r, fuzzUsers, func() string {
		// Ids as the store makes them (UUIDs), the same every run, so
		// that a corpus entry naming one finds it again.
		return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", ids.Uint32(), ids.Uint32()&0xffff, ids.Uint32()&0xfff, ids.Uint32()&0xfff, ids.Uint64()&0xffffffffffff)
	})
	for _, s := range handWritten(ds) {
		f.Add(s)
	}
	g := &gen{r: r, ds: ds}
	for range 60 {
		f.Add(g.expr(0))
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkFind(t, st, ds, s)
	})
}

// checkFind runs one filter through Find and scimfilter.Match and
// compares.
func checkFind(t *testing.T, st store.Store, ds *dataset, s string) {
	e, err := scimfilter.Parse(s)
	if err != nil {
		wantClientError(t, s, "Parse", err)
		return
	}
	want, wantErr := matchAll(ds, e)
	start := time.Now()
	page, err := st.Find(context.Background(), schemas.User, ds.account, store.Query{Filter: e, Count: 1 << 30})
	if took := time.Since(start); took > FindTimeLimit {
		t.Fatalf("%q: Find took %v", s, took)
	}
	if err != nil {
		wantClientError(t, s, "Find", err)
		if wantErr == nil && !unsupportedMembership(e) {
			t.Fatalf("%q: Find refused it (%v), Match selects %d users", s, err, len(want))
		}
		return
	}
	if wantErr != nil {
		t.Fatalf("%q: Find selects %d users, Match refuses it: %v", s, len(page.Resources), wantErr)
	}
	got := ids(page.Resources)
	sort.Strings(got)
	if page.Total != len(got) || !slices.Equal(got, want) {
		t.Fatalf("%q: Find total %d, %d ids; Match %d ids\n%s", s, page.Total, len(got), len(want), diff(ds, got, want))
	}
}

// wantClientError fails unless err is a client's mistake: a failure of
// kind Invalid that says what is wrong.
func wantClientError(t *testing.T, s, what string, err error) {
	t.Helper()
	if f, ok := failure.As(err); !ok || f.Kind != failure.Invalid || f.Detail == "" {
		t.Fatalf("%q: %s failed with %v (%T), not a client error with a detail", s, what, err, err)
	}
}

// unsupportedMembership reports whether a filter asks of a membership
// attribute (User.groups) what the stores refuse, though Match would
// answer it from the attributes: only eq, ne and pr on its value, and
// value filters of one value eq, are supported (memberships live apart
// from the user documents).
func unsupportedMembership(e filter.Expression) bool {
	isGroups := func(p filter.AttributePath) bool {
		return strings.EqualFold(p.AttributeName, "groups") && (p.URIPrefix == nil || strings.EqualFold(*p.URIPrefix, schemas.UserURN))
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return unsupportedMembership(x.Left) || unsupportedMembership(x.Right)
	case *filter.NotExpression:
		return unsupportedMembership(x.Expression)
	case *filter.AttributeExpression:
		if !isGroups(x.AttributePath) {
			return false
		}
		if sub := x.AttributePath.SubAttribute; sub != nil && !strings.EqualFold(*sub, "value") {
			return true
		}
		if _, isString := x.CompareValue.(string); !isString && x.Operator != filter.PR {
			return true // compared with an id, in double quotes
		}
		return x.Operator != filter.EQ && x.Operator != filter.NE && x.Operator != filter.PR
	case *filter.ValuePath:
		if !isGroups(x.AttributePath) {
			return false
		}
		inner, ok := x.ValueFilter.(*filter.AttributeExpression)
		return !ok || inner.Operator != filter.EQ || inner.AttributePath.URIPrefix != nil || inner.AttributePath.SubAttribute != nil ||
			!strings.EqualFold(inner.AttributePath.AttributeName, "value")
	}
	return false
}
