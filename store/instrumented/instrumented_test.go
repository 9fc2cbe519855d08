package instrumented_test

import (
	"context"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/metrics/metricstest"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/instrumented"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// The wrapper is a store like any other.
func TestConformance(t *testing.T) {
	storetest.RunConformance(t, func(t *testing.T) store.Store { return instrumented.New(storetest.NewSQLite(t)) })
}

// Operations are counted by method and outcome, a lookup of something
// missing as refused (the request's fault), never with an id.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	st := instrumented.New(storetest.NewSQLite(t))
	count := func(op, outcome string) float64 {
		return metricstest.Value(t, "timecamp_scim_store_operations_total", map[string]string{"operation": op, "outcome": outcome})
	}
	okBefore, refusedBefore := count("Get", "ok"), count("Get", "refused")
	acct, err := st.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acct.ID, Attributes: map[string]any{"userName": "a@acme.test"}}
	if err := st.Insert(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, schemas.User, acct.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, schemas.User, acct.ID, "missing"); err == nil {
		t.Fatal("Get of a missing user succeeded")
	}
	if got := count("Get", "ok") - okBefore; got != 1 {
		t.Errorf("Get ok counted %v times, want 1", got)
	}
	if got := count("Get", "refused") - refusedBefore; got != 1 {
		t.Errorf("Get refused counted %v times, want 1", got)
	}
	text := metricstest.Text(t)
	for _, secret := range []string{acct.ID, u.ID, "a@acme.test"} {
		if strings.Contains(text, secret) {
			t.Fatalf("the metrics hold %q", secret)
		}
	}
}
