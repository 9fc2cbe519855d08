package mongodb_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// A second server on the database is refused while the first renews its
// lease, within a renewal period; once the first releases it, the next
// takes it at once.
func TestServerLeaseRefusesASecondServer(t *testing.T) {
	ctx := context.Background()
	first := storetest.NewMongo(t)
	second := storetest.Reopen(t, first).(*mongodb.Store)
	lease, err := first.TakeServerLease(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	keepCtx, stop := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- lease.Keep(keepCtx) }()

	start := time.Now()
	_, err = second.TakeServerLease(ctx, nil)
	var held *mongodb.LeaseHeldError
	if !errors.As(err, &held) || held.Lease.Term != lease.Info().Term {
		t.Fatalf("a second server took the lease: %v", err)
	}
	if took := time.Since(start); took > mongodb.LeaseRenewEvery+2*time.Second {
		t.Errorf("refused after %s, want within a renewal period (%s)", took, mongodb.LeaseRenewEvery)
	}
	t.Logf("refused in %s: %v", time.Since(start).Round(time.Millisecond), err)
	if cur, err := second.CurrentServerLease(ctx); err != nil || cur == nil {
		t.Fatalf("CurrentServerLease while a server holds it: %v, %v", cur, err)
	}

	stop()
	if err := <-kept; err != nil {
		t.Fatalf("Keep: %v", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, err := second.CurrentServerLease(ctx); err != nil || cur != nil {
		t.Fatalf("CurrentServerLease after the release: %v, %v", cur, err)
	}
	start = time.Now()
	next, err := second.TakeServerLease(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second || next.Info().Term != lease.Info().Term+1 {
		t.Errorf("after the release: term %d in %s, want term %d at once", next.Info().Term, took, lease.Info().Term+1)
	}
}

// A lease nobody renews is taken when it expires, and its holder, should it
// come back, finds it lost.
func TestServerLeaseExpiresAndIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease to expire")
	}
	ctx := context.Background()
	first := storetest.NewMongo(t)
	second := storetest.Reopen(t, first).(*mongodb.Store)
	stale, err := first.TakeServerLease(ctx, nil) // never renewed: a paused process
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	lease, err := second.TakeServerLease(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < mongodb.LeaseTTL-2*time.Second || took > mongodb.LeaseTTL+2*time.Second {
		t.Errorf("took the unrenewed lease after %s, want about %s", took, mongodb.LeaseTTL)
	}
	if lease.Info().Term != stale.Info().Term+1 {
		t.Errorf("term %d, want %d", lease.Info().Term, stale.Info().Term+1)
	}
	keepCtx, cancel := context.WithTimeout(ctx, 2*mongodb.LeaseRenewEvery)
	defer cancel()
	if err := stale.Keep(keepCtx); !errors.Is(err, mongodb.ErrLeaseLost) {
		t.Fatalf("the old holder's Keep: %v, want ErrLeaseLost", err)
	}
}

// A lease whose holder ran on this machine and whose process is gone (a
// server killed and started again) is taken at once.
func TestServerLeaseOfAGoneProcess(t *testing.T) {
	ctx := context.Background()
	first := storetest.NewMongo(t)
	lease, err := first.TakeServerLease(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Make the lease another process's, one that has ended.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(first.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	if _, err := client.Database(first.DatabaseName()).Collection("leases").UpdateOne(ctx, bson.M{"_id": lease.Info().ID},
		bson.M{"$set": bson.M{"pid": gone.Process.Pid, "holder": "an-earlier-process"}}); err != nil {
		t.Fatal(err)
	}
	second := storetest.Reopen(t, first).(*mongodb.Store)
	start := time.Now()
	next, err := second.TakeServerLease(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second || next.Info().Term != lease.Info().Term+1 {
		t.Errorf("term %d after %s, want term %d at once", next.Info().Term, took, lease.Info().Term+1)
	}
}
