package scim_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// activityEnv is a server that records its activity log in the store.
func activityEnv(t *testing.T) (*scim.Server, store.Store, *store.Account, *scimtest.Client, string) {
	t.Helper()
	st := storetest.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := scim.New(directory.New(st, log), scim.Options{Logger: log, Activity: func(ctx context.Context, es []*store.ActivityEntry) {
		if err := st.AddActivity(ctx, es...); err != nil {
			t.Errorf("AddActivity: %v", err)
		}
	}})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ctx := context.Background()
	acct, err := st.CreateAccount(ctx, "acme", 0)
	if err != nil {
		t.Fatal(err)
	}
	secret, tok, err := st.CreateToken(ctx, acct.ID, store.TokenSpec{Name: "okta-prod"})
	if err != nil {
		t.Fatal(err)
	}
	return srv, st, acct, &scimtest.Client{Base: hs.URL + scim.Prefix, Token: secret}, tok.ID
}

func activity(t *testing.T, st store.Store, account string) []*store.ActivityEntry {
	t.Helper()
	list, _, err := st.Activity(context.Background(), store.ActivityQuery{Account: account, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list) // oldest first
	return list
}

// Every change names its token, its resource and the attributes it set,
// never their values; refused requests carry the detail the client got;
// reads that succeed are not recorded.
func TestActivityLog(t *testing.T) {
	_, st, acct, c, tokenID := activityEnv(t)
	const password = "s3cret-Passw0rd"
	id := c.Post(t, "/Users", scimtest.UserBody("ada@acme.test", map[string]any{"password": password, "name": map[string]any{"givenName": "Ada"}})).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Users/"+id,
		scimtest.Op("replace", `emails[type eq "work"].value`, "ada.l@acme.test"),
		scimtest.Op("replace", "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User:role", "supervisor"),
	).Expect(t, http.StatusOK)
	c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
	c.Get(t, "/Users?filter="+strings.ReplaceAll(`userName eq`, " ", "%20")).Expect(t, http.StatusBadRequest)
	c.Post(t, "/Users", scimtest.UserBody("ADA@acme.test")).Expect(t, http.StatusConflict)
	c.Post(t, "/Bulk", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []any{
			map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g1", "data": map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Eng"}},
			map[string]any{"method": "PATCH", "path": "/Users/no-such-user", "data": scimtest.PatchBody(scimtest.Op("replace", "active", false))},
		},
	}).Expect(t, http.StatusOK)
	c.Delete(t, "/Users/"+id).Expect(t, http.StatusNoContent)

	got := activity(t, st, acct.ID)
	type want struct {
		op, rt, resource, outcome string
		attrs                     []string
		detail                    string
	}
	wants := []want{
		{"create", "User", "ada@acme.test", "ok", []string{"name", "password", "userName"}, ""},
		{"patch", "User", "ada@acme.test", "ok", []string{"emails.value", "role"}, ""},
		{"read", "User", "", "refused", nil, "filter"},
		{"create", "User", "ADA@acme.test", "refused", []string{"userName"}, "already taken"},
		{"bulk create", "Group", "Eng", "ok", []string{"displayName"}, ""},
		{"bulk patch", "User", "", "refused", []string{"active"}, "not found"},
		{"delete", "User", "", "ok", nil, ""},
	}
	if len(got) != len(wants) {
		for _, e := range got {
			t.Logf("%+v", *e)
		}
		t.Fatalf("%d entries, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		e := got[i]
		if e.Operation != w.op || e.ResourceType != w.rt || e.Resource != w.resource || e.Outcome != w.outcome ||
			!slices.Equal(e.Attributes, w.attrs) || !strings.Contains(e.Detail, w.detail) ||
			e.Actor != (store.Actor{Kind: store.ActorToken, ID: tokenID, Name: "okta-prod"}) || e.RequestID == "" {
			t.Errorf("entry %d: %+v; want %+v", i, *e, w)
		}
	}
	if got[0].ResourceID != id || got[1].ResourceID != id || got[6].ResourceID != id || got[4].ResourceID == "" {
		t.Errorf("resource ids: %q %q %q %q", got[0].ResourceID, got[1].ResourceID, got[6].ResourceID, got[4].ResourceID)
	}
	raw, _ := json.Marshal(got)
	for _, secret := range []string{password, c.Token, "ada.l@acme.test"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the activity log holds a value it must not: %q", secret)
		}
	}
	// The token's last use is recorded.
	toks, _ := st.Tokens(context.Background(), acct.ID)
	if len(toks) != 1 || toks[0].LastUsed.IsZero() {
		t.Errorf("token last used: %+v", toks)
	}
}

// The console's in-process client needs no token, stays in its account,
// and records its changes under the administrator.
func TestInProcessClient(t *testing.T) {
	srv, st, acct, _, _ := activityEnv(t)
	admin := store.Actor{Kind: store.ActorAdmin, ID: "u1", Name: "boss@acme.test"}
	hc := srv.InProcessClient(acct, admin)
	body := strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"grace@acme.test"}`)
	resp, err := hc.Post("http://in-process"+scim.Prefix+"/Users", "application/scim+json", body)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(raw), "grace@acme.test") {
		t.Fatalf("in-process create: %d %s", resp.StatusCode, raw)
	}
	got := activity(t, st, acct.ID)
	if len(got) != 1 || got[0].Actor != admin || got[0].Resource != "grace@acme.test" {
		t.Fatalf("activity: %+v", got)
	}
	// The account's users only: another account is another world.
	other, err := st.CreateAccount(context.Background(), "other", 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = srv.InProcessClient(other, admin).Get("http://in-process" + scim.Prefix + "/Users")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(raw), "grace@") {
		t.Fatalf("other account's list: %d %s", resp.StatusCode, raw)
	}
}
