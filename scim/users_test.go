package scim_test

import (
	"net/http"
	"testing"

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
