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

// A token revoked through this store while a request's lookup of it is in
// flight (read before the revocation, answered after) stops working at
// once all the same: the copy that lookup read is not remembered.
func TestTokenRevokedDuringItsLookupStopsWorking(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewMongo(t)
	a, err := st.CreateAccount(ctx, "Acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := st.CreateToken(ctx, a.ID, store.TokenSpec{Name: "idp", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mongodb.SetAfterTokenLookup(func() {
		mongodb.SetAfterTokenLookup(nil)
		if err := st.RevokeToken(ctx, a.ID, tok.ID, "test"); err != nil {
			t.Error(err)
		}
	})
	defer mongodb.SetAfterTokenLookup(nil)
	if _, err := st.Authenticate(ctx, secret); err != nil {
		t.Fatal(err) // read before the revocation: this request passes
	}
	if _, err := st.Authenticate(ctx, secret); err == nil {
		t.Fatal("a token revoked through this store still works (the copy read before the revocation was remembered)")
	}
}
