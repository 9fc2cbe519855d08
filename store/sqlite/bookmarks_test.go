package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Pages of a list in creation order start from bookmarks taken by earlier
// pages: they must be the pages OFFSET would give, also after resources
// were inserted and deleted between the reads (which moves every place
// after them).
func TestBookmarkedPages(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	acct, err := s.CreateAccount(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	insert := func(k int) {
		var rs []*store.Resource
		for range k {
			rs = append(rs, &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acct.ID, Attributes: map[string]any{"userName": fmt.Sprintf("u%d", n)}})
			n++
		}
		if _, err := s.InsertMany(ctx, rs); err != nil {
			t.Fatal(err)
		}
	}
	want := func() []string {
		all, err := s.All(ctx, schemas.User, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range all {
			ids = append(ids, r.ID)
		}
		return ids
	}
	check := func(what string, start, count int) {
		t.Helper()
		all := want()
		p, err := s.Find(ctx, schemas.User, acct.ID, store.Query{StartIndex: start, Count: count})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range p.Resources {
			got = append(got, r.ID)
		}
		exp := all[min(start-1, len(all)):min(start-1+count, len(all))]
		if !slices.Equal(got, exp) || p.Total != len(all) {
			t.Fatalf("%s: page at %d of %d: %d resources (total %d), want %d of %d", what, start, count, len(got), p.Total, len(exp), len(all))
		}
	}
	insert(1000)
	for start := 1; start <= 1001; start += 100 { // sequentially, each page marking the next
		check("sequential", start, 100)
	}
	if l := s.bookmarks.lists[[2]string{acct.ID, "User"}]; l == nil || len(l.at) < 10 {
		t.Fatalf("no bookmarks taken: %+v", l)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		for range 5 {
			check(fmt.Sprint("round ", round), 1+rng.IntN(1100), 1+rng.IntN(150))
		}
		switch round % 3 {
		case 0:
			insert(1 + rng.IntN(5))
		case 1:
			all := want()
			victim := all[rng.IntN(len(all)/2)] // early in the list: every place after it moves
			if err := s.Delete(ctx, schemas.User, acct.ID, victim, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
}
