package directory

import (
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// An unlimited account keeps no seat counter (its writes leave the
// account's document alone); its seats in use are counted. Limited, it
// gets a counter from a count at once, which holds writes to its seats;
// on MongoDB a second recount, a moment later, is recorded for the
// recovery (writes that read the account unlimited may land meanwhile).
func TestUnlimitedAccountKeepsNoSeatCounter(t *testing.T) {
	st := storetest.New(t)
	a, err := st.CreateAccount(ctx, "Free", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, dir: New(st, nil), acct: a.ID}
	f.user("one@free.test", schemas.RoleAdministrator)
	f.user("two@free.test", schemas.RoleUser)
	f.user("guest@free.test", schemas.RoleGuest)
	acct, _ := st.Account(ctx, a.ID)
	if acct.SeatsUsed != 0 {
		t.Fatalf("an unlimited account's counter moved: %d", acct.SeatsUsed)
	}
	if n, err := f.dir.SeatsInUse(ctx, acct); err != nil || n != 2 {
		t.Fatalf("seats in use: %d, %v; want 2", n, err)
	}
	if res := f.check(); len(res.Problems) > 0 {
		t.Fatalf("check of an unlimited account: %v", res.Problems)
	}

	if err := f.dir.SetSeats(ctx, a.ID, 3); err != nil {
		t.Fatal(err)
	}
	if acct, _ = st.Account(ctx, a.ID); acct.SeatsUsed != 2 {
		t.Fatalf("limited: counter %d, want 2 (its users)", acct.SeatsUsed)
	}
	f.user("three@free.test", schemas.RoleUser)
	_, err = f.dir.Create(ctx, a.ID, schemas.User, map[string]any{"schemas": []any{schemas.UserURN}, "userName": "four@free.test"})
	if !failure.Is(err, failure.Forbidden) {
		t.Fatalf("a fourth seat of 3: %v", err)
	}
	if res := f.check(); len(res.Problems) > 0 {
		t.Fatalf("check after the account was limited: %v", res.Problems)
	}
	// The recount recorded for a moment later (MongoDB), recovered once
	// no other operation is recorded (those that ended leave a moment
	// after them).
	time.Sleep(300 * time.Millisecond)
	if _, err := f.dir.Recover(ctx, time.Now().Add(store.SeatsSettle+time.Minute)); err != nil {
		t.Fatal(err)
	}
	acct, _ = st.Account(ctx, a.ID)
	if len(acct.Operations) != 0 || acct.SeatsUsed != 3 {
		t.Fatalf("after the recount: %d operations recorded, counter %d; want none and 3", len(acct.Operations), acct.SeatsUsed)
	}
}
