package mongodb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// Benchmarks run only with -bench; their setup (thousands of documents)
// stays out of go test ./...:
//
//	go test ./store -run '^$' -bench . -benchtime 200x

// BenchmarkAddMember adds one member to a group that already has 1,000 or
// 10,000: with one document per membership the cost must not grow with the
// group. (The group grows by one member per iteration.)
func BenchmarkAddMember(b *testing.B) {
	for _, size := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			ctx := context.Background()
			st, acc, group := benchGroup(b, size)
			for b.Loop() {
				if n, err := st.AddMembers(ctx, acc, group, []string{store.NewID()}); err != nil || len(n) != 1 {
					b.Fatalf("AddMembers = %d, %v", len(n), err)
				}
			}
		})
	}
}

// BenchmarkRemoveMember removes one member from a group of 1,000 or
// 10,000 (the member is added back outside the timer). On FerretDB 1.24 a
// delete scans the memberships collection, so this grows with the number
// of memberships; on MongoDB it is an _id lookup.
func BenchmarkRemoveMember(b *testing.B) {
	for _, size := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			ctx := context.Background()
			st, acc, group := benchGroup(b, size)
			for b.Loop() {
				b.StopTimer()
				m := store.NewID()
				if _, err := st.AddMembers(ctx, acc, group, []string{m}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if n, err := st.RemoveMembers(ctx, acc, group, []string{m}); err != nil || len(n) != 1 {
					b.Fatalf("RemoveMembers = %d, %v", len(n), err)
				}
			}
		})
	}
}

// benchGroup returns a store with a group of size members.
func benchGroup(b *testing.B, size int) (store.Store, string, string) {
	ctx := context.Background()
	st := storetest.New(b)
	acc, err := st.CreateAccount(ctx, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	group := store.NewID()
	members := make([]string, size)
	for i := range members {
		members[i] = store.NewID()
	}
	if n, err := st.AddMembers(ctx, acc.ID, group, members); err != nil || len(n) != size {
		b.Fatalf("setup: added %d of %d: %v", len(n), size, err)
	}
	return st, acc.ID, group
}

// BenchmarkFindUserName looks a user up by userName, in another letter
// case, among 1,000 (what Entra ID does before creating a user).
func BenchmarkFindUserName(b *testing.B) {
	const users = 1_000
	ctx := context.Background()
	st := storetest.New(b)
	acc, err := st.CreateAccount(ctx, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	rs := make([]*store.Resource, users)
	for i := range rs {
		rs[i] = &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{
			"userName": fmt.Sprintf("user%04d@example.com", i),
			"name":     map[string]any{"givenName": "User", "familyName": fmt.Sprint(i)},
			"emails":   []any{map[string]any{"value": fmt.Sprintf("user%04d@example.com", i), "type": "work", "primary": true}},
			"active":   true,
		}}
	}
	if errs, err := st.InsertMany(ctx, rs); err != nil || errs[0] != nil {
		b.Fatalf("setup: %v %v", err, errs[0])
	}
	i := 0
	for b.Loop() {
		name := strings.ToUpper(fmt.Sprintf("user%04d@example.com", (i*37)%users))
		i++
		e, err := scimfilter.Parse(`userName eq "` + name + `"`)
		if err != nil {
			b.Fatal(err)
		}
		p, err := st.Find(ctx, schemas.User, acc.ID, store.Query{Filter: e, Count: 100})
		if err != nil || p.Total != 1 || len(p.Resources) != 1 {
			b.Fatalf("Find %s: %+v, %v", name, p, err)
		}
	}
}

// BenchmarkOutboxDrain claims and finishes queued invitation emails, with
// 200 or 2,000 of them waiting (after a Bulk import, say): claiming the
// next one must not cost a pass over everything queued, twice.
func BenchmarkOutboxDrain(b *testing.B) {
	for _, queued := range []int{200, 2_000} {
		b.Run(fmt.Sprintf("queued=%d", queued), func(b *testing.B) {
			ctx := context.Background()
			st := storetest.New(b)
			entries := make([]*store.OutboxEntry, queued+b.N)
			for i := range entries {
				entries[i] = &store.OutboxEntry{ID: store.NewID(), Account: "a", User: store.NewID(), Token: "t"}
			}
			for start := 0; start < len(entries); start += 1000 {
				if err := st.AddOutboxMany(ctx, entries[start:min(start+1000, len(entries))]); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			// As the delivery worker does: due entries read in batches,
			// each claimed and marked sent.
			for done := 0; done < b.N; {
				due, err := st.DueOutbox(ctx, min(100, b.N-done))
				if err != nil || len(due) == 0 {
					b.Fatalf("due: %d %v", len(due), err)
				}
				for _, e := range due {
					if ok, err := st.ClaimOutbox(ctx, e, "w", time.Minute); err != nil || !ok {
						b.Fatalf("claim: %v %v", ok, err)
					}
					if err := st.MarkOutboxSent(ctx, e); err != nil {
						b.Fatal(err)
					}
					done++
				}
			}
		})
	}
}
