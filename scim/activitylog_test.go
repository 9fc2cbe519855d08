package scim_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// Entries recorded from many requests at once are all stored once the
// writer closes, in batches.
func TestActivityWriter(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	acct, err := st.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	w := scim.NewActivityWriter(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const requests, each = 20, 60
	var wg sync.WaitGroup
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				w.Record(ctx, []*store.ActivityEntry{{Account: acct.ID, Actor: store.Actor{Kind: store.ActorToken, Name: "okta"},
					ResourceType: "User", Operation: "create", Outcome: store.OutcomeOK}})
			}
		}()
	}
	wg.Wait()
	w.Close()
	got, more, err := st.Activity(ctx, store.ActivityQuery{Account: acct.ID, Limit: requests * each})
	if err != nil || more || len(got) != requests*each {
		t.Fatalf("Activity: %d entries (more: %v), %v; want %d", len(got), more, err, requests*each)
	}
}
