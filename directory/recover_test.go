package directory

import (
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
)

// What a process that died half-way through operations left in a MongoDB
// store — recorded as it would have, written straight to the store — is
// finished or undone by Recover, with no operator: a seat taken for a
// user whose insert landed stays, one for an insert that never came is
// given back, one freed by a deactivation that landed is taken off; the
// members and group of a PATCH whose version bumps never came get new
// versions. Then the account check finds nothing, the seat counter
// equal to a recount. (The embedded store runs each operation in one
// transaction and records none.)
func TestRecoverFinishesOrUndoesWhatADeadProcessLeft(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.st.(*mongodb.Store); !ok {
		t.Skip("only MongoDB records operations (SCIM_TEST_STORE=mongodb)")
	}
	owner := f.user("owner@acme.test", schemas.RoleAdministrator)
	leaving := f.user("leaving@acme.test", schemas.RoleUser)
	member := f.user("member@acme.test", schemas.RoleUser)
	group := f.group("Team", nil)
	acct, err := f.st.Account(ctx, f.acct)
	if err != nil {
		t.Fatal(err)
	}

	// A Bulk create of two users by a process that died: the seats of
	// both taken, one user written.
	created := newUser(f, "created@acme.test")
	lost := store.NewID()
	bulk := deadOperation(f.acct)
	bulk.SetSeat(created.ID, store.SeatChange{Delta: 1})
	bulk.SetSeat(lost, store.SeatChange{Delta: 1})
	if _, err := f.st.BeginOperation(ctx, acct, bulk); err != nil {
		t.Fatal(err)
	}
	store.MarkSeatOp(created, bulk.ID)
	if err := f.st.Insert(ctx, created); err != nil {
		t.Fatal(err)
	}

	// A deactivation that landed, its seat not yet taken off.
	off := deadOperation(f.acct)
	off.SetSeat(leaving.ID, store.SeatChange{Delta: -1})
	if _, err := f.st.BeginOperation(ctx, acct, off); err != nil {
		t.Fatal(err)
	}
	cur := f.get(schemas.User, leaving.ID)
	next := *cur
	next.Attributes = schemas.CopyAttributes(cur.Attributes)
	next.Attributes["active"] = false
	deriveUser(next.Attributes, nil, &tree{root: "Acme"}, false)
	store.MarkSeatOp(&next, off.ID)
	if err := f.st.Replace(ctx, &next, cur.Version); err != nil {
		t.Fatal(err)
	}

	// A member added to a group, the versions not advanced.
	patch := deadOperation(f.acct)
	patch.AddUsers(member.ID)
	patch.AddGroups(group.ID)
	if _, err := f.st.BeginOperation(ctx, acct, patch); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AddMembers(ctx, f.acct, group.ID, []string{member.ID}); err != nil {
		t.Fatal(err)
	}
	memberBefore, groupBefore := f.get(schemas.User, member.ID).Version, f.get(schemas.Group, group.ID).Version

	// Before the recovery the check accounts for the seats the operations
	// hold (the lost user's, the leaving user's).
	res := f.check()
	if slices.ContainsFunc(res.Problems, func(p Problem) bool { return p.Kind == ProblemSeats }) || res.SeatsHeld != 2 {
		t.Fatalf("before the recovery: %d seats held, problems %v", res.SeatsHeld, res.Problems)
	}

	n, err := f.dir.Recover(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("recovered %d operations, %v; want 3", n, err)
	}
	time.Sleep(3 * mongodb.EndDelay) // this process's ended operations leave their records a moment later
	after, err := f.st.Account(ctx, f.acct)
	if err != nil {
		t.Fatal(err)
	}
	inUse, err := f.st.SeatsInUse(ctx, f.acct)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Operations) != 0 || after.SeatsUsed != inUse || inUse != 3 {
		for id, op := range after.Operations {
			t.Logf("left: %s %+v", id, op)
		}
		t.Fatalf("after the recovery: %d operations recorded, counter %d, %d users use a seat (want none, 3, 3: %s, %s, %s)",
			len(after.Operations), after.SeatsUsed, inUse, owner.ID, member.ID, created.ID)
	}
	if f.get(schemas.User, member.ID).Version <= memberBefore || f.get(schemas.Group, group.ID).Version <= groupBefore {
		t.Fatal("the member's and the group's versions were not advanced")
	}
	if res := f.check(); len(res.Problems) > 0 {
		t.Fatalf("after the recovery: %v", res.Problems)
	}
	// Recovering again finds nothing.
	if n, err := f.dir.Recover(ctx, time.Now().Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("second recovery: %d, %v", n, err)
	}
}

// An operation that changed a user's groups, or a group's members, names
// them by whose side changed (GroupsOf, MembersOf): its recovery advances
// the versions of the user's groups and of the group's members.
func TestRecoverAdvancesVersionsOfGroupsAndMembers(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.st.(*mongodb.Store); !ok {
		t.Skip("only MongoDB records operations (SCIM_TEST_STORE=mongodb)")
	}
	moved := f.user("moved@acme.test", schemas.RoleUser)
	member := f.user("member@acme.test", schemas.RoleUser)
	ofMoved := f.group("Moved's", nil, moved.ID)
	renamed := f.group("Renamed", nil, member.ID)
	acct, err := f.st.Account(ctx, f.acct)
	if err != nil {
		t.Fatal(err)
	}
	op := deadOperation(f.acct)
	op.GroupsOf = []string{moved.ID}
	op.MembersOf = []string{renamed.ID}
	if _, err := f.st.BeginOperation(ctx, acct, op); err != nil {
		t.Fatal(err)
	}
	groupBefore, memberBefore := f.get(schemas.Group, ofMoved.ID).Version, f.get(schemas.User, member.ID).Version
	if n, err := f.dir.Recover(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("recovered %d operations, %v; want 1", n, err)
	}
	if v := f.get(schemas.Group, ofMoved.ID).Version; v <= groupBefore {
		t.Errorf("the moved user's group: version %d, was %d", v, groupBefore)
	}
	if v := f.get(schemas.User, member.ID).Version; v <= memberBefore {
		t.Errorf("the renamed group's member: version %d, was %d", v, memberBefore)
	}
}

// A user deleted while an operation that changed its seat is still
// recorded settles that operation's entry first: the recovery could no
// longer tell that its write landed.
func TestDeleteSettlesRecordedSeatChanges(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.st.(*mongodb.Store); !ok {
		t.Skip("only MongoDB records operations (SCIM_TEST_STORE=mongodb)")
	}
	f.user("owner@acme.test", schemas.RoleAdministrator)
	acct, err := f.st.Account(ctx, f.acct)
	if err != nil {
		t.Fatal(err)
	}
	u := newUser(f, "new@acme.test")
	op := deadOperation(f.acct)
	op.SetSeat(u.ID, store.SeatChange{Delta: 1})
	if _, err := f.st.BeginOperation(ctx, acct, op); err != nil {
		t.Fatal(err)
	}
	store.MarkSeatOp(u, op.ID)
	if err := f.st.Insert(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.Delete(ctx, f.acct, schemas.User, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.Recover(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	after, _ := f.st.Account(ctx, f.acct)
	inUse, _ := f.st.SeatsInUse(ctx, f.acct)
	if after.SeatsUsed != inUse || inUse != 1 {
		t.Fatalf("counter %d, %d users use a seat; want 1, 1", after.SeatsUsed, inUse)
	}
}

// deadOperation is an operation of another process that stopped.
func deadOperation(account string) *store.Operation {
	op := store.NewOperation(account)
	op.Holder = "a process that died"
	return op
}

// newUser is a user as the directory would create it (derived
// attributes: it uses a seat), not stored yet.
func newUser(f *fixture, name string) *store.Resource {
	attrs, err := schemas.User.Normalize(map[string]any{"schemas": []any{schemas.UserURN}, "userName": name})
	if err != nil {
		f.t.Fatal(err)
	}
	deriveUser(attrs, nil, &tree{root: "Acme"}, false)
	return &store.Resource{Type: schemas.User, ID: store.NewID(), Account: f.acct, Attributes: attrs}
}

// A user DELETE retried after the first attempt's process died before its
// delete landed: the retry deletes the user and frees its seat; the
// recovery of the first attempt finds the user gone, but must not free the
// seat again (the counter would fall below the users that use one, and a
// limited account could exceed its limit).
func TestRetriedDeleteFreesTheSeatOnce(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.st.(*mongodb.Store); !ok {
		t.Skip("only MongoDB records operations (SCIM_TEST_STORE=mongodb)")
	}
	f.user("owner@acme.test", schemas.RoleAdministrator)
	u := f.user("leaving@acme.test", schemas.RoleUser)
	acct, err := f.st.Account(ctx, f.acct)
	if err != nil {
		t.Fatal(err)
	}
	first := deadOperation(f.acct)
	first.SetSeat(u.ID, store.SeatChange{Delta: -1, Delete: true})
	if _, err := f.st.BeginOperation(ctx, acct, first); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.Delete(ctx, f.acct, schemas.User, u.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.Recover(ctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * mongodb.EndDelay)
	after, _ := f.st.Account(ctx, f.acct)
	inUse, _ := f.st.SeatsInUse(ctx, f.acct)
	if after.SeatsUsed != inUse || inUse != 1 || len(after.Operations) != 0 {
		t.Fatalf("counter %d, %d users use a seat, %d operations recorded; want 1, 1, 0", after.SeatsUsed, inUse, len(after.Operations))
	}
}

// Two attempts at deleting a user both died, one after its delete landed:
// recovering both frees the user's seat once.
func TestTwoDeadDeletesFreeTheSeatOnce(t *testing.T) {
	f := newFixture(t)
	if _, ok := f.st.(*mongodb.Store); !ok {
		t.Skip("only MongoDB records operations (SCIM_TEST_STORE=mongodb)")
	}
	f.user("owner@acme.test", schemas.RoleAdministrator)
	u := f.user("leaving@acme.test", schemas.RoleUser)
	for range 2 {
		acct, err := f.st.Account(ctx, f.acct)
		if err != nil {
			t.Fatal(err)
		}
		op := deadOperation(f.acct)
		op.SetSeat(u.ID, store.SeatChange{Delta: -1, Delete: true})
		if _, err := f.st.BeginOperation(ctx, acct, op); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.Delete(ctx, schemas.User, f.acct, u.ID, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := f.dir.Recover(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("recovered %d, %v; want 2", n, err)
	}
	time.Sleep(3 * mongodb.EndDelay)
	after, _ := f.st.Account(ctx, f.acct)
	inUse, _ := f.st.SeatsInUse(ctx, f.acct)
	if after.SeatsUsed != inUse || inUse != 1 || len(after.Operations) != 0 {
		t.Fatalf("counter %d, %d users use a seat, %d operations recorded; want 1, 1, 0", after.SeatsUsed, inUse, len(after.Operations))
	}
}

// An account whose recovery fails (here a user document it must read is
// corrupt) does not keep the operations of other accounts from being
// recovered: the failure is reported, the others are recovered.
func TestRecoverGoesOnPastAFailingAccount(t *testing.T) {
	f := newFixture(t)
	st, ok := f.st.(*mongodb.Store)
	if !ok {
		t.Skip("only MongoDB records operations (SCIM_TEST_STORE=mongodb)")
	}
	// The failing account before the healthy one: its operations are
	// found first.
	bad, err := f.st.CreateAccount(ctx, "Broken", 10)
	if err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(options.Client().ApplyURI(st.URI()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	corrupt := store.NewID()
	if _, err := client.Database(st.DatabaseName()).Collection("users").InsertOne(ctx, bson.M{"_id": corrupt, "account": bad.ID, "version": 1, "a": "not a document"}); err != nil {
		t.Fatal(err)
	}
	badOp := deadOperation(bad.ID)
	badOp.SetSeat(corrupt, store.SeatChange{Delta: 1})
	if _, err := f.st.BeginOperation(ctx, bad, badOp); err != nil {
		t.Fatal(err)
	}
	good, err := f.st.CreateAccount(ctx, "Healthy", 10)
	if err != nil {
		t.Fatal(err)
	}
	lost := deadOperation(good.ID)
	lost.SetSeat(store.NewID(), store.SeatChange{Delta: 1}) // an insert that never came
	if _, err := f.st.BeginOperation(ctx, good, lost); err != nil {
		t.Fatal(err)
	}
	n, err := f.dir.Recover(ctx, time.Now().Add(time.Minute))
	if err == nil || n != 1 {
		t.Fatalf("recovered %d operations, %v; want 1 and the other account's failure", n, err)
	}
	after, _ := f.st.Account(ctx, good.ID)
	if after.Operations[lost.ID] != nil || after.SeatsUsed != 0 {
		t.Fatalf("the healthy account's operation: still recorded %v, counter %d (want gone, 0)", after.Operations[lost.ID] != nil, after.SeatsUsed)
	}
}
