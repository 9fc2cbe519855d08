package scim_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

func TestCreateAndGetUser(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	created := c.Post(t, "/Users", scimtest.UserBody("bjensen@example.com")).Expect(t, http.StatusCreated)
	id := created.Str("id")
	if loc := created.Header.Get("Location"); loc != created.Str("meta.location") || loc == "" {
		t.Fatalf("Location %q, meta.location %q", loc, created.Str("meta.location"))
	}
	got := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
	if got.Str("userName") != "bjensen@example.com" || got.At("active") != true {
		t.Fatalf("unexpected user: %s", got.Raw)
	}
	if got.Header.Get("ETag") != got.Str("meta.version") {
		t.Fatalf("ETag %q, meta.version %q", got.Header.Get("ETag"), got.Str("meta.version"))
	}
}

// Okta pushes profile updates as a PUT of the whole user without the
// password: the password set on create is kept, and PATCH changes it.
func TestPutWithoutPasswordKeepsIt(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	id := c.Post(t, "/Users", scimtest.UserBody("okta@example.com", map[string]any{"password": "1mz050nq"})).Expect(t, http.StatusCreated).Str("id")
	c.Put(t, "/Users/"+id, scimtest.UserBody("okta@example.com", map[string]any{
		"id": id, "active": false, "name": map[string]any{"givenName": "Another"},
	})).Expect(t, http.StatusOK)
	passwordIs := func(pw string) bool {
		t.Helper()
		u, err := e.Store.Get(context.Background(), schemas.User, e.Account.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		return directory.CheckPassword(u, pw)
	}
	if !passwordIs("1mz050nq") {
		t.Fatal("a PUT without a password lost the password")
	}
	c.Patch(t, "/Users/"+id, scimtest.Op("replace", "", map[string]any{"password": "t1meCamp-2026"})).Expect(t, http.StatusOK)
	if !passwordIs("t1meCamp-2026") || passwordIs("1mz050nq") {
		t.Fatal("PATCH did not change the password")
	}
}
