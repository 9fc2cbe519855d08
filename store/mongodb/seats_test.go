package mongodb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// A seat taken between the recount's count and its update (another
// request reserving it for a user it is about to store) is not wiped by
// the recount: it refuses (store.ErrSeatsBusy, to be tried again later)
// rather than set the counter from a count that missed it.
func TestRecountKeepsASeatTakenMeanwhile(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMongo(t)
	a, err := st.CreateAccount(ctx, "Acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	mongodb.SetAfterSeatCount(func() {
		mongodb.SetAfterSeatCount(nil)
		op := store.NewOperation(a.ID)
		op.SetSeat(store.NewID(), store.SeatChange{Delta: 1})
		if _, err := st.BeginOperation(ctx, a, op); err != nil {
			t.Error(err)
		}
	})
	defer mongodb.SetAfterSeatCount(nil)
	if _, err := st.RecountSeats(ctx, a.ID); err != nil && !errors.Is(err, store.ErrSeatsBusy) {
		t.Fatal(err)
	}
	after, err := st.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.SeatsUsed != 1 {
		t.Fatalf("seat counter %d after the recount; want 1 (the seat reserved meanwhile)", after.SeatsUsed)
	}
	// Once no operation is recorded, the recount applies.
	for id := range after.Operations {
		if err := st.EndOperation(ctx, &store.Operation{ID: id, Account: a.ID, Holder: store.Holder(), Recorded: after.Operations[id].Seats, Landed: map[string]bool{}, EndNow: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.RecountSeats(ctx, a.ID); err != nil || n != 0 {
		t.Fatalf("recount on a quiet account: %d, %v; want 0, nil", n, err)
	}
}
