package mongodb_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// An operation claimed by the recovery names the claiming process: a
// server on the machine where the dead process ran must not find that
// process gone and claim the operation again.
func TestClaimedOperationNamesItsNewProcess(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMongo(t)
	a, err := st.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	op := store.NewOperation(a.ID)
	op.Holder = "a process that died"
	op.AddUsers(store.NewID())
	if _, err := st.BeginOperation(ctx, a, op); err != nil {
		t.Fatal(err)
	}
	acct, err := st.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	machine := acct.Operations[op.ID].Machine
	// As the dead process left it: another PID on this machine.
	if err := st.SetOperationPID(ctx, a.ID, op.ID, 1<<22+1); err != nil {
		t.Fatal(err)
	}
	ops, err := st.ExpiredOperations(ctx, time.Now().Add(time.Minute), 10)
	if err != nil || len(ops) != 1 {
		t.Fatalf("expired operations: %d, %v", len(ops), err)
	}
	if ok, err := st.ClaimOperation(ctx, ops[0], store.Holder()); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	acct, err = st.Account(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec := acct.Operations[op.ID]; rec.Machine != machine || rec.PID != os.Getpid() {
		t.Fatalf("claimed record names machine %q, PID %d; want %q, %d (this process)", rec.Machine, rec.PID, machine, os.Getpid())
	}
}
