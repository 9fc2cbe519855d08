package mongodb_test

import (
	"context"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// A token revoked through this store stops working at once; revoked
// through another process on the database, within TokenCacheTTL.
func TestRevokedTokenStopsWorking(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMongo(t)
	other := storetest.Reopen(t, st)
	a, err := st.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	here, tokHere, err := st.CreateToken(ctx, a.ID, store.TokenSpec{Name: "here", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	there, tokThere, err := st.CreateToken(ctx, a.ID, store.TokenSpec{Name: "there", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{here, there} {
		if _, err := st.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeToken(ctx, a.ID, tokHere.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, here); err == nil {
		t.Fatal("a token revoked through this store still works")
	}
	if err := other.RevokeToken(ctx, a.ID, tokThere.ID, "test"); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		if _, err := st.Authenticate(ctx, there); err != nil {
			break
		}
		if time.Since(revoked) > mongodb.TokenCacheTTL+time.Second {
			t.Fatalf("a token revoked by another process still works after %s", time.Since(revoked))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("revoked by another process, refused after %s", time.Since(revoked).Round(time.Millisecond))
}
