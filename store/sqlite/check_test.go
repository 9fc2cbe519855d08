package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store/storetest"
)

// A snapshot sees the database as it was when it began reading, does not
// hold up a writer meanwhile (a second process on the same folder
// included), and refuses writes.
func TestSnapshotIsolation(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewSQLite(t)
	other := storetest.Reopen(t, st) // a server next to the check
	a, err := st.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	err = st.Snapshot(ctx, func(ctx context.Context) error {
		if _, err := st.SeatsInUse(ctx, a.ID); err != nil { // the snapshot starts here
			return err
		}
		done := make(chan error, 1)
		go func() { done <- other.AdjustSeats(context.Background(), a.ID, 5) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("write next to a snapshot: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("a write waited for the snapshot")
		}
		if got, err := st.Account(ctx, a.ID); err != nil || got.SeatsUsed != 0 {
			t.Errorf("inside the snapshot: %+v %v; want the counter as it was (0)", got, err)
		}
		if err := st.AdjustSeats(ctx, a.ID, 1); err == nil {
			t.Error("a write through the snapshot succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Account(ctx, a.ID); got.SeatsUsed != 5 {
		t.Fatalf("after the snapshot: %d seats used, want 5", got.SeatsUsed)
	}
}
