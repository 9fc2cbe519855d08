package storetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// RunCopy fills a store made by newSource with records of every kind, in
// every state, copies it into an empty store made by newTarget (Export,
// Import in batches) and checks that the target holds the same records,
// field for field, and works the same: the tokens authenticate, the
// secrets and the versions are the ones the source had.
func RunCopy(t *testing.T, newSource, newTarget func(t *testing.T) store.Store) {
	ctx := context.Background()
	src, dst := newSource(t), newTarget(t)
	secrets := fill(t, src)

	before, err := src.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var batch []store.Record
	flush := func() {
		if err := dst.Import(ctx, batch); err != nil {
			t.Fatalf("Import: %v", err)
		}
		batch = nil
	}
	if err := src.Export(ctx, func(r store.Record) error {
		batch = append(batch, r)
		if len(batch) == 7 { // batches that cut kinds apart
			flush()
		}
		return nil
	}); err != nil {
		t.Fatalf("Export: %v", err)
	}
	flush()

	after, err := dst.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("counts: source %v, target %v", before, after)
	}
	for _, k := range store.CountKinds {
		if before[k] == 0 {
			t.Errorf("the source has no %s: the test data misses a kind", k)
		}
	}
	if a, b := exportAll(t, src), exportAll(t, dst); !reflect.DeepEqual(a, b) {
		for k, r := range a {
			if !reflect.DeepEqual(r, b[k]) {
				t.Errorf("%s:\n source %s\n target %s", k, describe(r), describe(b[k]))
			}
		}
		t.FailNow()
	}
	for secret, account := range secrets {
		a, err := dst.Authenticate(ctx, secret)
		if err != nil || a.Account != account {
			t.Fatalf("a copied token: %v, %v", a, err)
		}
	}
	s1, _ := src.Secret(ctx, "copy")
	s2, err := dst.Secret(ctx, "copy")
	if err != nil || string(s1) != string(s2) {
		t.Fatalf("the copied secret differs: %v", err)
	}
}

// fill stores records of every kind and returns the tokens' secrets with
// their accounts.
func fill(t *testing.T, s store.Store) map[string]string {
	ctx := context.Background()
	secrets := map[string]string{}
	acme := mustAccount(t, s, "Acme")
	other, err := s.CreateAccount(ctx, "Other", 25)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetInvitations(ctx, other.ID, false); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*store.Account{acme, other} {
		secret, tok, err := s.CreateToken(ctx, a.ID, store.TokenSpec{Name: "okta", CreatedBy: "ada@acme.test", CreatorSubject: "https://idp.test ada",
			Expires: store.Now().Add(90 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		secrets[secret] = a.ID
		if err := s.TouchToken(ctx, a.ID, tok.ID, store.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutToken(ctx, acme.ID, "bootstrap", "a-bootstrap-secret-0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	secrets["a-bootstrap-secret-0123456789abcdef"] = acme.ID
	// A revoked token goes along, so that its secret stays refused.
	_, revoked, err := s.CreateToken(ctx, acme.ID, store.TokenSpec{Name: "leaked", CreatedBy: store.CreatorCLI})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, acme.ID, revoked.ID, "ada@acme.test"); err != nil {
		t.Fatal(err)
	}
	var users []string
	for i := range 12 {
		u := newUser(acme.ID, fmt.Sprintf("user%d@acme.test", i))
		u.Attributes["emails"] = []any{map[string]any{"value": fmt.Sprintf("User%d@Acme.test", i), "type": "work", "primary": true}}
		u.Attributes[schemas.TimeCampUserURN] = map[string]any{"role": "user", store.SeatField: true}
		if i == 0 {
			u.PasswordHash = "$2a$10$abcdefghijklmnopqrstuv"
			u.Invitation = &store.Invitation{ID: store.NewID(), Hash: store.HashInvitationToken("tok"), Status: store.InvitationPending,
				InvitedAt: store.Now(), ExpiresAt: store.Now().Add(time.Hour), Resends: []time.Time{store.Now()}}
		}
		mustInsert(t, s, u)
		users = append(users, u.ID)
	}
	// A later version, and a modification time of its own.
	u := mustGet(t, s, schemas.User, acme.ID, users[1])
	u.Attributes["displayName"] = "Changed"
	if err := s.Replace(ctx, u, u.Version); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveSeats(ctx, acme, 12); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ClaimOwner(ctx, acme.ID, users[0]); err != nil || !ok {
		t.Fatalf("ClaimOwner: %v %v", ok, err)
	}
	g := mustInsert(t, s, newGroup(acme.ID, "Engineering"))
	mustInsert(t, s, newGroup(other.ID, "Sales"))
	if _, err := s.AddMembers(ctx, acme.ID, g.ID, users[:5]); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, &store.Resource{Type: schemas.Project, ID: store.NewID(), Account: acme.ID, Attributes: map[string]any{"displayName": "Apollo"}})
	for i, state := range []string{"pending", "sent", "leased"} {
		e := &store.OutboxEntry{ID: store.NewID(), Account: acme.ID, User: users[i], Token: "t" + state}
		if err := s.AddOutbox(ctx, e); err != nil {
			t.Fatal(err)
		}
		switch state {
		case "sent":
			if _, err := s.ClaimOutbox(ctx, e, "w", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkOutboxSent(ctx, e); err != nil {
				t.Fatal(err)
			}
		case "leased":
			if _, err := s.ClaimOutbox(ctx, e, "w", time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.AddActivity(ctx,
		&store.ActivityEntry{Account: acme.ID, Actor: store.Actor{Kind: store.ActorToken, ID: "t1", Name: "okta"}, ResourceType: "User", ResourceID: users[0],
			Operation: "create", Method: "POST", Path: "/scim/v2/Users", Attributes: []string{"userName", "emails"}, Outcome: store.OutcomeOK, Status: 201, RequestID: "r1"},
		&store.ActivityEntry{Account: acme.ID, Actor: store.Actor{Kind: store.ActorAdmin, Name: "admin@acme.test"}, ResourceType: "Group",
			Operation: "patch", Outcome: store.OutcomeRefused, Status: 400, Detail: "members: no such user"},
	); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(ctx, &store.Binding{Account: acme.ID, User: users[0], Subject: "https://idp.test ada", Email: "user0@acme.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Secret(ctx, "copy"); err != nil {
		t.Fatal(err)
	}
	return secrets
}

// exportAll returns a store's records by kind and id.
func exportAll(t *testing.T, s store.Store) map[string]store.Record {
	out := map[string]store.Record{}
	err := s.Export(context.Background(), func(r store.Record) error {
		out[r.Kind()+" "+recordID(r)] = r
		return nil
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return out
}

func recordID(r store.Record) string {
	switch {
	case r.Account != nil:
		return r.Account.ID
	case r.Token != nil:
		return r.Token.ID
	case r.Resource != nil:
		return r.Resource.ID
	case r.Membership != nil:
		return r.Membership.Group + "/" + r.Membership.Member
	case r.Outbox != nil:
		return r.Outbox.ID
	case r.Activity != nil:
		return r.Activity.ID
	case r.Binding != nil:
		return r.Binding.Account + "/" + r.Binding.User
	case r.Setting != nil:
		return r.Setting.Name
	}
	return ""
}

func describe(r store.Record) string {
	for _, v := range []any{r.Account, r.Token, r.Resource, r.Membership, r.Outbox, r.Activity, r.Binding, r.Setting} {
		if !reflect.ValueOf(v).IsNil() {
			return fmt.Sprintf("%+v", v)
		}
	}
	return "nothing"
}
