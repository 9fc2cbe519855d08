package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

// testConsistencyReads: what the account check reads — every membership
// and outbox entry of one account, and a snapshot that passes on fn's
// result.
func testConsistencyReads(t *testing.T, s store.Store) {
	a, b := mustAccount(t, s, "A"), mustAccount(t, s, "B")
	g1, g2, u1, u2, u3 := "g1-"+store.NewID(), "g2-"+store.NewID(), store.NewID(), store.NewID(), store.NewID()
	for _, add := range []struct {
		account, group string
		members        []string
	}{{a.ID, g2, []string{u3, u1}}, {a.ID, g1, []string{u2}}, {b.ID, g1, []string{u1}}} {
		if _, err := s.AddMembers(bg, add.account, add.group, add.members); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.AllMemberships(bg, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Membership{{Group: g1, Member: u2}, {Group: g2, Member: min(u1, u3)}, {Group: g2, Member: max(u1, u3)}}
	if !slices.Equal(got, want) {
		t.Fatalf("AllMemberships:\n got  %v\n want %v", got, want)
	}
	if got, err := s.AllMemberships(bg, store.NewID()); err != nil || len(got) != 0 {
		t.Fatalf("memberships of an account without any: %v %v", got, err)
	}

	var es []*store.OutboxEntry
	for i, account := range []string{a.ID, b.ID, a.ID, a.ID} {
		e := &store.OutboxEntry{ID: store.NewID(), Account: account, User: store.NewID(), Token: "t"}
		if err := s.AddOutbox(bg, e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
		if i < 3 {
			time.Sleep(2 * time.Millisecond) // distinct creation times
		}
	}
	if err := s.VoidOutbox(bg, es[2].ID, "revoked"); err != nil {
		t.Fatal(err)
	}
	entries, err := s.OutboxOf(bg, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, e := range entries {
		gotIDs = append(gotIDs, e.ID)
		if e.Account != a.ID || e.User == "" || e.Created.IsZero() {
			t.Fatalf("entry %+v", e)
		}
	}
	wantIDs(t, "OutboxOf (oldest first, every state)", gotIDs, []string{es[0].ID, es[2].ID, es[3].ID})
	if entries[1].State != store.OutboxDiscarded || entries[0].State != store.OutboxPending {
		t.Fatalf("states: %s, %s", entries[0].State, entries[1].State)
	}

	// Reads inside a snapshot see what was written before; fn's error
	// comes back.
	errStop := errors.New("stop")
	err = s.Snapshot(bg, func(ctx context.Context) error {
		ms, err := s.AllMemberships(ctx, a.ID)
		if err != nil || len(ms) != 3 {
			t.Errorf("memberships in a snapshot: %v %v", ms, err)
		}
		if _, err := s.Account(ctx, a.ID); err != nil {
			t.Errorf("account in a snapshot: %v", err)
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Snapshot returned %v, want fn's error", err)
	}
}
