package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// RunConformance runs the store's contract against stores made by
// newStore, each test on a store of its own (after Dex's storage
// conformance suite). Every database the server supports must pass it.
func RunConformance(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"EnsureAccountConcurrently", testEnsureAccountConcurrently},
		{"Tokens", testTokens},
		{"TokenExpiry", testTokenExpiry},
		{"PutToken", testPutToken},
		{"Bindings", testBindings},
		{"ResourceVersions", testResourceVersions},
		{"Uniqueness", testUniqueness},
		{"InsertMany", testInsertMany},
		{"AccountScoping", testAccountScoping},
		{"Totals", testTotals},
		{"Memberships", testMemberships},
		{"MembershipsMany", testMembershipsMany},
		{"EachMember", testEachMember},
		{"BumpMany", testBumpMany},
		{"Seats", testSeats},
		{"FindPagingSorting", testFindPagingSorting},
		{"FindErrors", testFindErrors},
		{"RoundTrip", testRoundTrip},
		{"ConcurrentReplace", testConcurrentReplace},
		{"ConcurrentAddMembers", testConcurrentAddMembers},
		{"Outbox", testOutbox},
		{"Sessions", testSessions},
		{"Activity", testActivity},
		{"TokenUsage", testTokenUsage},
		{"ConsistencyReads", testConsistencyReads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

var bg = context.Background()

// ---- helpers ----

func mustAccount(t *testing.T, s store.Store, name string) *store.Account {
	t.Helper()
	a, err := s.CreateAccount(bg, name, 0)
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a
}

func newUser(account, userName string) *store.Resource {
	return &store.Resource{Type: schemas.User, ID: store.NewID(), Account: account, Attributes: map[string]any{
		"userName": userName,
		"active":   true,
	}}
}

func newGroup(account, displayName string) *store.Resource {
	return &store.Resource{Type: schemas.Group, ID: store.NewID(), Account: account, Attributes: map[string]any{
		"displayName": displayName,
	}}
}

func mustInsert(t *testing.T, s store.Store, r *store.Resource) *store.Resource {
	t.Helper()
	if err := s.Insert(bg, r); err != nil {
		t.Fatalf("Insert %s %v: %v", r.Type.Name, r.Attributes, err)
	}
	return r
}

func mustGet(t *testing.T, s store.Store, rt *schemas.ResourceType, account, id string) *store.Resource {
	t.Helper()
	r, err := s.Get(bg, rt, account, id)
	if err != nil {
		t.Fatalf("Get %s %s: %v", rt.Name, id, err)
	}
	return r
}

// wantKind fails unless err is a failure of the kind (and SCIM type, when
// given).
func wantKind(t *testing.T, what string, err error, kind failure.Kind, scimType string) {
	t.Helper()
	f, ok := failure.As(err)
	if !ok || f.Kind != kind || (scimType != "" && f.ScimType != scimType) {
		t.Fatalf("%s: got error %v (%T), want a failure of kind %d %s", what, err, err, kind, scimType)
	}
}

func wantMismatch(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrVersionMismatch) {
		t.Fatalf("%s: got %v, want ErrVersionMismatch", what, err)
	}
}

func copyAttrs(m map[string]any) map[string]any { return schemas.CopyAttributes(m) }

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func wantIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil {
		got = []string{}
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func ids(rs []*store.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func find(t *testing.T, s store.Store, rt *schemas.ResourceType, account, f string, q store.Query) *store.Page {
	t.Helper()
	if f != "" {
		e, err := scimfilter.Parse(f)
		if err != nil {
			t.Fatalf("parse %q: %v", f, err)
		}
		q.Filter = e
	}
	p, err := s.Find(bg, rt, account, q)
	if err != nil {
		t.Fatalf("Find %q %+v: %v", f, q, err)
	}
	if len(p.Resources) > max(q.Count, 0) {
		t.Fatalf("Find %q: %d resources for count %d", f, len(p.Resources), q.Count)
	}
	return p
}

// ---- accounts and tokens ----

func testAccounts(t *testing.T, s store.Store) {
	acme, err := s.CreateAccount(bg, "Acme", 5)
	if err != nil {
		t.Fatal(err)
	}
	if acme.ID == "" || acme.Name != "Acme" || acme.Seats != 5 || acme.Created.IsZero() {
		t.Fatalf("created account %+v", acme)
	}
	for _, name := range []string{"Acme", "ACME", "  acme "} {
		_, err := s.CreateAccount(bg, name, 1)
		wantKind(t, "CreateAccount("+name+") again", err, failure.Conflict, failure.TypeUniqueness)
	}
	_, err = s.CreateAccount(bg, "   ", 0)
	wantKind(t, "CreateAccount(blank)", err, failure.Invalid, "")
	_, err = s.CreateAccount(bg, "Negative", -1)
	wantKind(t, "CreateAccount(seats -1)", err, failure.Invalid, "")

	got, err := s.Account(bg, acme.ID)
	if err != nil || got.ID != acme.ID || got.Name != "Acme" || got.Seats != 5 || !got.Created.Equal(acme.Created) {
		t.Fatalf("Account(id) = %+v, %v; want %+v", got, err, acme)
	}
	got, err = s.AccountByName(bg, " aCmE")
	if err != nil || got.ID != acme.ID {
		t.Fatalf("AccountByName(aCmE) = %+v, %v", got, err)
	}
	_, err = s.Account(bg, "no-such-id")
	wantKind(t, "Account(unknown)", err, failure.NotFound, "")
	_, err = s.AccountByName(bg, "nobody")
	wantKind(t, "AccountByName(unknown)", err, failure.NotFound, "")

	// EnsureAccount finds an existing account (any letter case) without
	// changing it, and creates a missing one exactly once.
	e1, err := store.EnsureAccount(bg, s, "acme", 99)
	if err != nil || e1.ID != acme.ID || e1.Seats != 5 {
		t.Fatalf("EnsureAccount(acme) = %+v, %v; want the existing account unchanged", e1, err)
	}
	beta1, err := store.EnsureAccount(bg, s, "Beta", 0)
	if err != nil {
		t.Fatal(err)
	}
	beta2, err := store.EnsureAccount(bg, s, "BETA", 3)
	if err != nil || beta2.ID != beta1.ID || beta2.Seats != 0 || beta2.Name != "Beta" {
		t.Fatalf("EnsureAccount(BETA) = %+v, %v; want %+v", beta2, err, beta1)
	}

	all, err := s.Accounts(bg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range all {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"Acme", "Beta"}) {
		t.Fatalf("Accounts() = %v, want [Acme Beta]", names)
	}
}

func testEnsureAccountConcurrently(t *testing.T, s store.Store) {
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := store.EnsureAccount(bg, s, "default", 0)
			if err != nil {
				t.Errorf("EnsureAccount: %v", err)
				return
			}
			got[i] = a.ID
		}()
	}
	wg.Wait()
	for _, id := range got {
		if id != got[0] {
			t.Fatalf("concurrent EnsureAccount returned different accounts: %v", got)
		}
	}
	all, err := s.Accounts(bg)
	if err != nil || len(all) != 1 {
		t.Fatalf("Accounts() = %v, %v; want exactly one", all, err)
	}
}

func testTokens(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	secretA, tokA, err := s.CreateToken(bg, a.ID, store.TokenSpec{Name: " okta ", CreatedBy: "ada@a.test", CreatorSubject: "https://idp.test sub-ada"})
	if err != nil {
		t.Fatal(err)
	}
	secretB, tokB, err := s.CreateToken(bg, b.ID, store.TokenSpec{Name: "entra", CreatedBy: store.CreatorCLI})
	if err != nil {
		t.Fatal(err)
	}
	if len(secretA) < 40 || secretA == secretB {
		t.Fatalf("secrets %q and %q: want long and distinct", secretA, secretB)
	}
	if tokA.Account != a.ID || tokA.Name != "okta" || tokA.ID == "" {
		t.Fatalf("token %+v", tokA)
	}
	// Only a hash of the secret is kept: nothing the store gives back
	// contains the secret. Who made the token is kept.
	list, err := s.Tokens(bg, a.ID)
	if err != nil || len(list) != 1 || list[0].ID != tokA.ID {
		t.Fatalf("Tokens(A) = %+v, %v", list, err)
	}
	if tk := list[0]; tk.Hash == "" || strings.Contains(fmt.Sprintf("%+v", tk), secretA) ||
		strings.Contains(fmt.Sprintf("%+v", tk), strings.TrimPrefix(secretA, "tcscim_")) {
		t.Fatalf("stored token %+v reveals the secret", tk)
	}
	if tk := list[0]; tk.CreatedBy != "ada@a.test" || tk.CreatorSubject != "https://idp.test sub-ada" || !tk.Expires.IsZero() || !tk.Revoked.IsZero() {
		t.Fatalf("stored token %+v: want its creator, no expiry, not revoked", tk)
	}

	authAs := func(secret, want string) {
		t.Helper()
		tok, err := s.Authenticate(bg, secret)
		if err != nil || tok.Account != want {
			t.Fatalf("Authenticate = %+v, %v; want account %s", tok, err, want)
		}
	}
	refused := func(what, secret string) {
		t.Helper()
		_, err := s.Authenticate(bg, secret)
		wantKind(t, "Authenticate("+what+")", err, failure.Unauthorized, "")
	}
	authAs(secretA, a.ID)
	authAs(secretB, b.ID)
	refused("empty", "")
	refused("altered", secretA+"x")
	refused("upper-cased", strings.ToUpper(secretA))
	refused("the hash", tokA.Hash)

	_, _, err = s.CreateToken(bg, "no-such-account", store.TokenSpec{Name: "x"})
	wantKind(t, "CreateToken(unknown account)", err, failure.NotFound, "")

	// An account cannot revoke another's token.
	err = s.RevokeToken(bg, b.ID, tokA.ID, "eve")
	wantKind(t, "RevokeToken(B, A's token)", err, failure.NotFound, "")
	authAs(secretA, a.ID)

	if err := s.RevokeToken(bg, a.ID, tokA.ID, "ada@a.test"); err != nil {
		t.Fatal(err)
	}
	refused("revoked", secretA)
	authAs(secretB, b.ID)
	err = s.RevokeToken(bg, a.ID, tokA.ID, "ada@a.test")
	wantKind(t, "RevokeToken twice", err, failure.NotFound, "")
	if list, _ := s.Tokens(bg, a.ID); len(list) != 0 {
		t.Fatalf("Tokens(A) after revoke = %+v", list)
	}
	if list, _ := s.Tokens(bg, b.ID); len(list) != 1 || list[0].ID != tokB.ID || list[0].CreatedBy != store.CreatorCLI {
		t.Fatalf("Tokens(B) = %+v", list)
	}
	// A revoked secret never becomes a token again, in any account.
	for _, acct := range []string{a.ID, b.ID} {
		if err := s.PutToken(bg, acct, "okta", secretA); !errors.Is(err, store.ErrTokenRevoked) {
			t.Fatalf("PutToken(a revoked secret) = %v, want ErrTokenRevoked", err)
		}
	}
	refused("revoked, after PutToken", secretA)
	if list, _ := s.Tokens(bg, a.ID); len(list) != 0 {
		t.Fatalf("Tokens(A) after refusing the revoked secret = %+v", list)
	}
}

// A token may expire: it then answers like a revoked one, but stays
// listed (with its expiry) until it is revoked.
func testTokenExpiry(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	_, _, err := s.CreateToken(bg, a.ID, store.TokenSpec{Name: "past", Expires: time.Now().Add(-time.Minute)})
	wantKind(t, "CreateToken(expired already)", err, failure.Invalid, "")

	until := time.Now().Add(300 * time.Millisecond)
	secret, tok, err := s.CreateToken(bg, a.ID, store.TokenSpec{Name: "short", Expires: until})
	if err != nil {
		t.Fatal(err)
	}
	if !tok.Expires.Equal(store.Millis(until)) {
		t.Fatalf("Expires = %v, want %v", tok.Expires, store.Millis(until))
	}
	if got, err := s.Authenticate(bg, secret); err != nil || !got.Expires.Equal(tok.Expires) {
		t.Fatalf("before its expiry: %+v, %v", got, err)
	}
	time.Sleep(time.Until(until) + 10*time.Millisecond)
	_, err = s.Authenticate(bg, secret)
	wantKind(t, "Authenticate(expired)", err, failure.Unauthorized, "")
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Authenticate(expired): %v, want it to say the token expired", err)
	}
	if list, _ := s.Tokens(bg, a.ID); len(list) != 1 || !list[0].Expires.Equal(tok.Expires) {
		t.Fatalf("Tokens after the expiry = %+v", list)
	}
}

func testPutToken(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	const s1, s2, s3 = "first-bootstrap-secret-0123456789", "second-bootstrap-secret-0123456789", "third-bootstrap-secret-0123456789"
	named := func(account, name string) []store.Token {
		t.Helper()
		list, err := s.Tokens(bg, account)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.Token
		for _, tk := range list {
			if tk.Name == name {
				out = append(out, tk)
				if strings.Contains(fmt.Sprintf("%+v", tk), "bootstrap-secret") {
					t.Fatalf("stored token %+v reveals the secret", tk)
				}
			}
		}
		return out
	}
	if err := s.PutToken(bg, a.ID, "bootstrap", s1); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(bg, a.ID, "bootstrap", s1); err != nil { // a restart with the same value
		t.Fatal(err)
	}
	first := named(a.ID, "bootstrap")
	if len(first) != 1 || first[0].CreatedBy != store.CreatorBootstrap {
		t.Fatalf("tokens named bootstrap after putting the same secret twice: %+v", first)
	}
	if acc, err := s.Authenticate(bg, s1); err != nil || acc.Account != a.ID {
		t.Fatalf("Authenticate(s1) = %v, %v", acc, err)
	}
	// A new secret replaces the old, which is revoked for good.
	if err := s.PutToken(bg, a.ID, "bootstrap", s2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(bg, s1); !failure.Is(err, failure.Unauthorized) {
		t.Fatalf("the replaced secret still authenticates: %v", err)
	}
	if acc, err := s.Authenticate(bg, s2); err != nil || acc.Account != a.ID {
		t.Fatalf("Authenticate(s2) = %v, %v", acc, err)
	}
	if now := named(a.ID, "bootstrap"); len(now) != 1 || now[0].ID == first[0].ID {
		t.Fatalf("after replacing: %+v (was %+v)", now, first)
	}
	if err := s.PutToken(bg, a.ID, "bootstrap", s1); !errors.Is(err, store.ErrTokenRevoked) {
		t.Fatalf("putting the replaced secret back: %v, want ErrTokenRevoked", err)
	}
	if _, err := s.Authenticate(bg, s1); !failure.Is(err, failure.Unauthorized) {
		t.Fatalf("the replaced secret authenticates after being put back: %v", err)
	}
	// The same name in another account is another token.
	if err := s.PutToken(bg, b.ID, "bootstrap", s3); err != nil {
		t.Fatal(err)
	}
	if acc, err := s.Authenticate(bg, s3); err != nil || acc.Account != b.ID {
		t.Fatalf("Authenticate(s3) = %v, %v", acc, err)
	}
	if acc, err := s.Authenticate(bg, s2); err != nil || acc.Account != a.ID {
		t.Fatalf("Authenticate(s2) after B's put = %v, %v", acc, err)
	}
	// Another account's secret is refused, and changes nothing.
	if err := s.PutToken(bg, a.ID, "bootstrap", s3); !errors.Is(err, store.ErrTokenReused) {
		t.Fatalf("putting another account's secret: %v, want ErrTokenReused", err)
	}
	if acc, err := s.Authenticate(bg, s2); err != nil || acc.Account != a.ID {
		t.Fatalf("Authenticate(s2) after a refused put = %v, %v", acc, err)
	}
	// Revoked by an administrator: the same secret at the next start is
	// refused, and no token named bootstrap comes back.
	cur := named(b.ID, "bootstrap")
	if err := s.RevokeToken(bg, b.ID, cur[0].ID, "admin@b.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutToken(bg, b.ID, "bootstrap", s3); !errors.Is(err, store.ErrTokenRevoked) {
		t.Fatalf("putting a revoked secret: %v, want ErrTokenRevoked", err)
	}
	if n := named(b.ID, "bootstrap"); len(n) != 0 {
		t.Fatalf("a revoked bootstrap token came back: %+v", n)
	}
	wantKind(t, "PutToken(empty)", s.PutToken(bg, a.ID, "bootstrap", ""), failure.Invalid, "")
}

// Console bindings: a user is bound once, an identity is one
// administrator per account, and a subject's bindings are found across
// accounts.
func testBindings(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	const ada, eve = "https://idp.test ada", "https://idp.test eve"
	bind := func(account, user, subject string) error {
		return s.Bind(bg, &store.Binding{Account: account, User: user, Subject: subject, Email: "ada@a.test"})
	}
	if err := bind(a.ID, "u1", ada); err != nil {
		t.Fatal(err)
	}
	if err := bind(b.ID, "u9", ada); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "Bind(a bound user)", bind(a.ID, "u1", eve), failure.Conflict, "")
	wantKind(t, "Bind(a subject bound in the account)", bind(a.ID, "u2", ada), failure.Conflict, "")
	wantKind(t, "Bind(no subject)", bind(a.ID, "u3", ""), failure.Invalid, "")
	if err := bind(a.ID, "u2", eve); err != nil {
		t.Fatal(err)
	}

	got, err := s.BindingsOf(bg, ada)
	if err != nil || len(got) != 2 {
		t.Fatalf("BindingsOf(ada) = %+v, %v", got, err)
	}
	accounts := map[string]string{}
	for _, x := range got {
		accounts[x.Account] = x.User
		if x.Subject != ada || x.Email != "ada@a.test" || x.Created.IsZero() {
			t.Fatalf("binding %+v", x)
		}
	}
	if accounts[a.ID] != "u1" || accounts[b.ID] != "u9" {
		t.Fatalf("BindingsOf(ada) by account: %v", accounts)
	}
	one, err := s.BindingOfUser(bg, a.ID, "u2")
	if err != nil || one.Subject != eve {
		t.Fatalf("BindingOfUser(A, u2) = %+v, %v", one, err)
	}
	_, err = s.BindingOfUser(bg, b.ID, "u2")
	wantKind(t, "BindingOfUser(another account's user)", err, failure.NotFound, "")
	if list, err := s.AccountBindings(bg, a.ID); err != nil || len(list) != 2 {
		t.Fatalf("AccountBindings(A) = %+v, %v", list, err)
	}

	// Unbinding frees the user and the subject in that account only.
	if err := s.Unbind(bg, a.ID, "u1"); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "Unbind twice", s.Unbind(bg, a.ID, "u1"), failure.NotFound, "")
	if got, _ := s.BindingsOf(bg, ada); len(got) != 1 || got[0].Account != b.ID {
		t.Fatalf("BindingsOf(ada) after unbinding in A = %+v", got)
	}
	if err := bind(a.ID, "u3", ada); err != nil {
		t.Fatalf("binding ada again in A after the unbind: %v", err)
	}
}

// ---- resources ----

func testResourceVersions(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	u := newUser(acc.ID, "bjensen")
	u.PasswordHash = "$2a$10$not-a-real-hash"
	before := time.Now().Add(-time.Second)
	mustInsert(t, s, u)
	if u.Version != 1 || u.Created.IsZero() || !u.Created.Equal(u.Modified) || u.Created.Before(before) {
		t.Fatalf("after Insert: version %d created %v modified %v", u.Version, u.Created, u.Modified)
	}
	got := mustGet(t, s, schemas.User, acc.ID, u.ID)
	if got.Version != 1 || !got.Created.Equal(u.Created) || !got.Modified.Equal(u.Modified) ||
		got.PasswordHash != u.PasswordHash || got.Account != acc.ID || got.Type != schemas.User ||
		!reflect.DeepEqual(got.Attributes, u.Attributes) {
		t.Fatalf("Get = %+v, want %+v", got, u)
	}
	if got.Created.Location() != time.UTC {
		t.Fatalf("times come back in %v, want UTC", got.Created.Location())
	}
	// The same id again is refused.
	if err := s.Insert(bg, &store.Resource{Type: schemas.User, ID: u.ID, Account: acc.ID, Attributes: map[string]any{"userName": "other"}}); err == nil {
		t.Fatal("inserting a second resource with the same id succeeded")
	}

	time.Sleep(2 * time.Millisecond)
	next := *got
	next.Attributes = map[string]any{"userName": "bjensen", "title": "Tour Guide", "active": false}
	if err := s.Replace(bg, &next, 1); err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 || !next.Modified.After(u.Created) || !next.Created.Equal(u.Created) {
		t.Fatalf("after Replace: version %d created %v modified %v", next.Version, next.Created, next.Modified)
	}
	got = mustGet(t, s, schemas.User, acc.ID, u.ID)
	if got.Version != 2 || !got.Modified.Equal(next.Modified) || !reflect.DeepEqual(got.Attributes, next.Attributes) {
		t.Fatalf("Get after Replace = %+v", got)
	}

	// A writer that read version 1 loses.
	stale := *got
	stale.Attributes = map[string]any{"userName": "bjensen", "title": "lost update"}
	wantMismatch(t, "Replace at a stale version", s.Replace(bg, &stale, 1))
	if stale.Version != 2 {
		t.Fatalf("a failed Replace changed the caller's version to %d", stale.Version)
	}
	if g := mustGet(t, s, schemas.User, acc.ID, u.ID); g.Version != 2 || g.Attributes["title"] != "Tour Guide" {
		t.Fatalf("a failed Replace wrote: %+v", g)
	}
	ghost := newUser(acc.ID, "ghost")
	wantKind(t, "Replace(unknown id)", s.Replace(bg, ghost, 1), failure.NotFound, "")

	// Touch advances the version and time, not the attributes.
	time.Sleep(2 * time.Millisecond)
	v, mod, err := s.Touch(bg, schemas.User, acc.ID, u.ID, 2)
	if err != nil || v != 3 || !mod.After(next.Modified) {
		t.Fatalf("Touch = %d, %v, %v", v, mod, err)
	}
	got = mustGet(t, s, schemas.User, acc.ID, u.ID)
	if got.Version != 3 || !got.Modified.Equal(mod) || !reflect.DeepEqual(got.Attributes, next.Attributes) || got.PasswordHash != u.PasswordHash {
		t.Fatalf("Get after Touch = %+v", got)
	}
	_, _, err = s.Touch(bg, schemas.User, acc.ID, u.ID, 2)
	wantMismatch(t, "Touch at a stale version", err)
	_, _, err = s.Touch(bg, schemas.User, acc.ID, "no-such-id", 1)
	wantKind(t, "Touch(unknown id)", err, failure.NotFound, "")

	// Delete with an expected version.
	wantMismatch(t, "Delete at a stale version", s.Delete(bg, schemas.User, acc.ID, u.ID, 2))
	mustGet(t, s, schemas.User, acc.ID, u.ID)
	if err := s.Delete(bg, schemas.User, acc.ID, u.ID, 3); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(bg, schemas.User, acc.ID, u.ID)
	wantKind(t, "Get after Delete", err, failure.NotFound, "")
	wantKind(t, "Delete twice", s.Delete(bg, schemas.User, acc.ID, u.ID, 0), failure.NotFound, "")
	wantKind(t, "Replace after Delete", s.Replace(bg, got, 3), failure.NotFound, "")

	// Delete without an expected version takes any version.
	w := mustInsert(t, s, newUser(acc.ID, "w"))
	if _, _, err := s.Touch(bg, schemas.User, acc.ID, w.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(bg, schemas.User, acc.ID, w.ID, 0); err != nil {
		t.Fatal(err)
	}

	// Existing and Names answer for the account's resources only.
	g1 := mustInsert(t, s, newGroup(acc.ID, "Group One"))
	g2 := mustInsert(t, s, newGroup(acc.ID, "Group Two"))
	ex, err := s.Existing(bg, schemas.Group, acc.ID, []string{g1.ID, "nope", g2.ID, w.ID})
	if err != nil || !reflect.DeepEqual(ex, map[string]bool{g1.ID: true, g2.ID: true}) {
		t.Fatalf("Existing = %v, %v", ex, err)
	}
	names, err := s.DisplayNames(bg, schemas.Group, acc.ID, []string{g1.ID, "nope"})
	if err != nil || len(names) != 1 || names[g1.ID] != "Group One" {
		t.Fatalf("DisplayNames = %v, %v", names, err)
	}
}

func testUniqueness(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	alice := mustInsert(t, s, newUser(a.ID, "Alice@Example.com"))
	err := s.Insert(bg, newUser(a.ID, "alice@example.COM"))
	wantKind(t, "userName differing in case", err, failure.Conflict, failure.TypeUniqueness)
	if f, _ := failure.As(err); !strings.Contains(f.Detail, "alice@example.COM") {
		t.Fatalf("uniqueness detail %q does not name the value", f.Detail)
	}
	// Another account may use the same userName.
	mustInsert(t, s, newUser(b.ID, "ALICE@example.com"))

	// Replace into a taken name fails and changes nothing.
	bob := mustInsert(t, s, newUser(a.ID, "bob"))
	taken := *bob
	taken.Attributes = map[string]any{"userName": "ALICE@EXAMPLE.COM"}
	wantKind(t, "Replace into a taken userName", s.Replace(bg, &taken, 1), failure.Conflict, failure.TypeUniqueness)
	if g := mustGet(t, s, schemas.User, a.ID, bob.ID); g.Version != 1 || g.Attributes["userName"] != "bob" {
		t.Fatalf("failed Replace wrote: %+v", g)
	}
	// A resource may change the case of its own name.
	recase := *alice
	recase.Attributes = map[string]any{"userName": "ALICE@EXAMPLE.COM"}
	if err := s.Replace(bg, &recase, 1); err != nil {
		t.Fatalf("changing the case of one's own userName: %v", err)
	}
	// Deleting frees the name.
	if err := s.Delete(bg, schemas.User, a.ID, alice.ID, 0); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, newUser(a.ID, "alice@example.com"))

	// Groups: displayName, the same rules.
	mustInsert(t, s, newGroup(a.ID, "Engineering"))
	err = s.Insert(bg, newGroup(a.ID, "ENGINEERING"))
	wantKind(t, "displayName differing in case", err, failure.Conflict, failure.TypeUniqueness)
	mustInsert(t, s, newGroup(b.ID, "engineering"))
	// Users and groups do not share names.
	mustInsert(t, s, newGroup(a.ID, "bob"))
	mustInsert(t, s, newUser(a.ID, "Engineering"))
}

func testInsertMany(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	mustInsert(t, s, newUser(acc.ID, "taken"))
	if errs, err := s.InsertMany(bg, nil); err != nil || len(errs) != 0 {
		t.Fatalf("InsertMany(nil) = %v, %v", errs, err)
	}
	batch := []*store.Resource{
		newUser(acc.ID, "new0"),
		newUser(acc.ID, "TAKEN"), // taken by a stored user
		newUser(acc.ID, "new2"),
		newUser(acc.ID, "new3"),
		newUser(acc.ID, "NEW2"), // taken within the batch
		newUser(acc.ID, "new5"),
	}
	errs, err := s.InsertMany(bg, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(batch) {
		t.Fatalf("InsertMany returned %d results for %d resources", len(errs), len(batch))
	}
	for i, e := range errs {
		if i == 1 || i == 2 || i == 4 {
			continue
		}
		if e != nil {
			t.Fatalf("resource %d: %v", i, e)
		}
	}
	wantKind(t, "resource 1 (taken by a stored user)", errs[1], failure.Conflict, failure.TypeUniqueness)
	// Of two resources in one batch with the same name exactly one is
	// stored, and the other is the one reported.
	if (errs[2] == nil) == (errs[4] == nil) {
		t.Fatalf("resources 2 and 4 share a userName; results %v and %v, want exactly one failure", errs[2], errs[4])
	}
	failed := 4
	if errs[2] != nil {
		failed = 2
	}
	wantKind(t, fmt.Sprintf("resource %d", failed), errs[failed], failure.Conflict, failure.TypeUniqueness)
	for i, r := range batch {
		_, err := s.Get(bg, schemas.User, acc.ID, r.ID)
		switch {
		case errs[i] == nil && err != nil:
			t.Fatalf("resource %d reported stored, Get: %v", i, err)
		case errs[i] != nil && !failure.Is(err, failure.NotFound):
			t.Fatalf("resource %d reported refused, Get: %v", i, err)
		}
		if errs[i] == nil && (r.Version != 1 || r.Created.IsZero()) {
			t.Fatalf("resource %d: version %d created %v", i, r.Version, r.Created)
		}
	}
	if p := find(t, s, schemas.User, acc.ID, "", store.Query{Count: 0}); p.Total != 5 {
		t.Fatalf("%d users stored, want 5", p.Total)
	}
}

// The total of an unfiltered list follows creates and deletes, per
// account and per type, on every page and with count=0.
func testTotals(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	var users []*store.Resource
	for i := range 5 {
		users = append(users, mustInsert(t, s, newUser(a.ID, fmt.Sprint("total", i))))
	}
	mustInsert(t, s, newGroup(a.ID, "g1"))
	mustInsert(t, s, newGroup(a.ID, "g2"))
	mustInsert(t, s, newUser(b.ID, "total-b"))
	// total0 is taken: left out, and not counted.
	if _, err := s.InsertMany(bg, []*store.Resource{newUser(a.ID, "total5"), newUser(a.ID, "total0"), newUser(a.ID, "total6")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{users[1].ID, users[3].ID} {
		if err := s.Delete(bg, schemas.User, a.ID, id, 0); err != nil {
			t.Fatal(err)
		}
	}
	wants := []struct {
		rt      *schemas.ResourceType
		account string
		want    int
	}{{schemas.User, a.ID, 5}, {schemas.Group, a.ID, 2}, {schemas.User, b.ID, 1}, {schemas.Group, b.ID, 0}, {schemas.Project, a.ID, 0}}
	for _, w := range wants {
		for _, q := range []store.Query{{Count: 0}, {Count: 1}, {Count: 2, StartIndex: 2}, {Count: 100}, {Count: 10, StartIndex: 50}} {
			if p := find(t, s, w.rt, w.account, "", q); p.Total != w.want {
				t.Errorf("%s of account %s, %+v: total %d, want %d", w.rt.Name, w.account, q, p.Total, w.want)
			}
		}
	}
}

func testAccountScoping(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	u := mustInsert(t, s, newUser(a.ID, "only-in-a"))
	g := mustInsert(t, s, newGroup(a.ID, "group-in-a"))
	if _, err := s.AddMembers(bg, a.ID, g.ID, []string{u.ID}); err != nil {
		t.Fatal(err)
	}
	mustInsert(t, s, newUser(b.ID, "in-b"))

	_, err := s.Get(bg, schemas.User, b.ID, u.ID)
	wantKind(t, "Get from another account", err, failure.NotFound, "")
	hijack := *u
	hijack.Account = b.ID
	hijack.Attributes = map[string]any{"userName": "hijacked"}
	wantKind(t, "Replace from another account", s.Replace(bg, &hijack, 1), failure.NotFound, "")
	_, _, err = s.Touch(bg, schemas.User, b.ID, u.ID, 1)
	wantKind(t, "Touch from another account", err, failure.NotFound, "")
	wantKind(t, "Delete from another account", s.Delete(bg, schemas.User, b.ID, u.ID, 0), failure.NotFound, "")
	wantKind(t, "Delete group from another account", s.Delete(bg, schemas.Group, b.ID, g.ID, 0), failure.NotFound, "")
	for _, f := range []string{"", `id eq "` + u.ID + `"`, `userName eq "only-in-a"`, `userName pr`, `groups eq "` + g.ID + `"`} {
		p := find(t, s, schemas.User, b.ID, f, store.Query{Count: 100})
		for _, r := range p.Resources {
			if r.Account != b.ID || r.ID == u.ID {
				t.Fatalf("Find(%q) in B returned %+v", f, r)
			}
		}
	}
	if p := find(t, s, schemas.Group, b.ID, "", store.Query{Count: 100}); p.Total != 0 {
		t.Fatalf("B sees %d groups", p.Total)
	}
	if ex, _ := s.Existing(bg, schemas.User, b.ID, []string{u.ID}); len(ex) != 0 {
		t.Fatalf("Existing in B = %v", ex)
	}
	if n, _ := s.DisplayNames(bg, schemas.User, b.ID, []string{u.ID}); len(n) != 0 {
		t.Fatalf("DisplayNames in B = %v", n)
	}
	// Memberships are scoped as well.
	if m, _ := s.Members(bg, b.ID, g.ID); len(m) != 0 {
		t.Fatalf("Members in B = %v", m)
	}
	if m, _ := s.GroupsOf(bg, b.ID, u.ID); len(m) != 0 {
		t.Fatalf("GroupsOf in B = %v", m)
	}
	if m, _ := s.MembershipsOf(bg, b.ID, store.GroupSide, []string{g.ID}); len(m) != 0 {
		t.Fatalf("MembershipsOf in B = %v", m)
	}
	if n, err := s.RemoveMembers(bg, b.ID, g.ID, []string{u.ID}); err != nil || len(n) != 0 {
		t.Fatalf("RemoveMembers in B = %v, %v", n, err)
	}
	if n, err := s.ClearMembers(bg, b.ID, g.ID); err != nil || len(n) != 0 {
		t.Fatalf("ClearMembers in B = %v, %v", n, err)
	}
	if n, err := s.LeaveAllGroups(bg, b.ID, u.ID); err != nil || len(n) != 0 {
		t.Fatalf("LeaveAllGroups in B = %v, %v", n, err)
	}
	if err := s.BumpMany(bg, schemas.User, b.ID, []string{u.ID}); err != nil {
		t.Fatal(err)
	}
	// Nothing of A changed.
	if got := mustGet(t, s, schemas.User, a.ID, u.ID); got.Version != 1 || got.Attributes["userName"] != "only-in-a" {
		t.Fatalf("A's user after B's attempts: %+v", got)
	}
	mustGet(t, s, schemas.Group, a.ID, g.ID)
	if m, _ := s.Members(bg, a.ID, g.ID); !slices.Equal(m, []string{u.ID}) {
		t.Fatalf("A's group members after B's attempts: %v", m)
	}
}

// ---- memberships ----

func testMemberships(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	g1, g2, empty := store.NewID(), store.NewID(), store.NewID()
	u := make([]string, 6)
	for i := range u {
		u[i] = store.NewID()
	}
	// add and remove check the ids reported added or removed: exactly
	// those whose groups changed.
	add := func(group string, want []string, members ...string) {
		t.Helper()
		got, err := s.AddMembers(bg, acc.ID, group, members)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, fmt.Sprintf("AddMembers(%v)", members), sorted(got...), sorted(want...))
	}
	remove := func(group string, want []string, members ...string) {
		t.Helper()
		got, err := s.RemoveMembers(bg, acc.ID, group, members)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, fmt.Sprintf("RemoveMembers(%v)", members), sorted(got...), sorted(want...))
	}
	members := func(group string) []string {
		t.Helper()
		m, err := s.Members(bg, acc.ID, group)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	groupsOf := func(member string) []string {
		t.Helper()
		m, err := s.GroupsOf(bg, acc.ID, member)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	add(g1, nil)
	add(g1, u[:3], u[0], u[1], u[2])
	add(g1, u[3:4], u[1], u[2], u[3]) // idempotent for members already in
	add(g1, nil, u[3])
	add(g1, u[4:5], u[4], u[4]) // the same id twice in one call
	wantIDs(t, "Members(g1)", members(g1), sorted(u[0], u[1], u[2], u[3], u[4]))
	add(g2, []string{u[0], u[5]}, u[0], u[5])
	wantIDs(t, "GroupsOf(u0)", groupsOf(u[0]), sorted(g1, g2))
	wantIDs(t, "GroupsOf(u5)", groupsOf(u[5]), []string{g2})
	wantIDs(t, "Members(empty)", members(empty), nil)
	wantIDs(t, "GroupsOf(unknown)", groupsOf("nobody"), nil)

	remove(g1, u[:1], u[0], "not-a-member")
	remove(g1, nil, u[0])
	remove(g1, nil)
	remove(g1, u[1:3], u[1], u[2], "not-a-member", u[0])
	add(g1, u[1:3], u[1], u[2])
	wantIDs(t, "Members(g1) after remove", members(g1), sorted(u[1], u[2], u[3], u[4]))
	wantIDs(t, "GroupsOf(u0) after remove", groupsOf(u[0]), []string{g2})

	byGroup, err := s.MembershipsOf(bg, acc.ID, store.GroupSide, []string{g1, g2, empty, "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{g1: sorted(u[1], u[2], u[3], u[4]), g2: sorted(u[0], u[5])}
	if !reflect.DeepEqual(byGroup, want) {
		t.Fatalf("MembershipsOf(GroupSide) =\n %v\nwant\n %v", byGroup, want)
	}
	add(g2, u[1:2], u[1])
	byMember, err := s.MembershipsOf(bg, acc.ID, store.MemberSide, []string{u[0], u[1], u[5], "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{u[0]: {g2}, u[1]: sorted(g1, g2), u[5]: {g2}}
	if !reflect.DeepEqual(byMember, want) {
		t.Fatalf("MembershipsOf(MemberSide) =\n %v\nwant\n %v", byMember, want)
	}

	// A deleted user leaves every group, and says which.
	left, err := s.LeaveAllGroups(bg, acc.ID, u[1])
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "LeaveAllGroups(u1)", sorted(left...), sorted(g1, g2))
	if left, err := s.LeaveAllGroups(bg, acc.ID, u[1]); err != nil || len(left) != 0 {
		t.Fatalf("LeaveAllGroups(u1) again = %v, %v", left, err)
	}
	wantIDs(t, "GroupsOf(u1) after LeaveAllGroups", groupsOf(u[1]), nil)
	wantIDs(t, "Members(g1) after LeaveAllGroups", members(g1), sorted(u[2], u[3], u[4]))
	wantIDs(t, "Members(g2) after LeaveAllGroups", members(g2), sorted(u[0], u[5]))

	// A deleted group loses its members, and says which; other groups
	// keep theirs.
	cleared, err := s.ClearMembers(bg, acc.ID, g1)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ClearMembers(g1)", sorted(cleared...), sorted(u[2], u[3], u[4]))
	if cleared, err := s.ClearMembers(bg, acc.ID, g1); err != nil || len(cleared) != 0 {
		t.Fatalf("ClearMembers(g1) again = %v, %v", cleared, err)
	}
	wantIDs(t, "Members(g1) after ClearMembers", members(g1), nil)
	wantIDs(t, "Members(g2) after ClearMembers(g1)", members(g2), sorted(u[0], u[5]))
	wantIDs(t, "GroupsOf(u2) after ClearMembers", groupsOf(u[2]), nil)
	add(g1, u[2:3], u[2]) // and can be filled again
}

// testMembershipsMany crosses the store's 1,000-id batches.
func testMembershipsMany(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	const n = 1234
	big, small := store.NewID(), store.NewID()
	users := make([]string, n)
	for i := range users {
		users[i] = store.NewID()
	}
	if added, err := s.AddMembers(bg, acc.ID, big, users); err != nil || !slices.Equal(sorted(added...), sorted(users...)) {
		t.Fatalf("AddMembers(%d) added %d, %v", n, len(added), err)
	}
	// Again, with some new ones at the end: only those are added.
	more := append(slices.Clone(users), store.NewID(), store.NewID())
	if added, err := s.AddMembers(bg, acc.ID, big, more); err != nil || !slices.Equal(sorted(added...), sorted(more[n:]...)) {
		t.Fatalf("AddMembers(again + 2 new) added %v, %v; want %v", added, err, more[n:])
	}
	if _, err := s.AddMembers(bg, acc.ID, small, users[:3]); err != nil {
		t.Fatal(err)
	}
	m, err := s.Members(bg, acc.ID, big)
	if err != nil || len(m) != n+2 || !slices.IsSorted(m) {
		t.Fatalf("Members(big): %d ids (sorted %v), %v", len(m), slices.IsSorted(m), err)
	}
	byMember, err := s.MembershipsOf(bg, acc.ID, store.MemberSide, users)
	if err != nil {
		t.Fatal(err)
	}
	if len(byMember) != n {
		t.Fatalf("MembershipsOf(%d users) has %d entries", n, len(byMember))
	}
	for i, u := range users {
		want := []string{big}
		if i < 3 {
			want = sorted(big, small)
		}
		if !slices.Equal(byMember[u], want) {
			t.Fatalf("groups of user %d: %v, want %v", i, byMember[u], want)
		}
	}
	// Removing across batches, with ids that are not members among them.
	some := append([]string{store.NewID()}, more[1000:1100]...)
	if removed, err := s.RemoveMembers(bg, acc.ID, big, some); err != nil || !slices.Equal(sorted(removed...), sorted(more[1000:1100]...)) {
		t.Fatalf("RemoveMembers(100 of them and a stranger) removed %d, %v", len(removed), err)
	}
	if removed, err := s.RemoveMembers(bg, acc.ID, big, more); err != nil || len(removed) != n+2-100 {
		t.Fatalf("RemoveMembers(all) removed %d, %v; want %d", len(removed), err, n+2-100)
	}
	if cleared, err := s.ClearMembers(bg, acc.ID, small); err != nil || !slices.Equal(sorted(cleared...), sorted(users[:3]...)) {
		t.Fatalf("ClearMembers(small) = %v, %v", cleared, err)
	}
	if _, err := s.AddMembers(bg, acc.ID, small, users[:3]); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "Members(small)", must(s.Members(bg, acc.ID, small)), sorted(users[:3]...))
}

// testEachMember: a group's members come in the order of their ids, each
// with its user's display name, across the store's batches; a membership
// whose user is gone comes with no name; fn's error stops the reading.
// Changes show once the group's version advanced, as the contract asks of
// whoever makes them (a store may answer from memory until then).
func testEachMember(t *testing.T, s store.Store) {
	a, b := mustAccount(t, s, "A"), mustAccount(t, s, "B")
	const n = 1234
	var users []*store.Resource
	for i := range n {
		users = append(users, newUser(a.ID, fmt.Sprintf("member%d@example.com", i)))
	}
	if errs, err := s.InsertMany(bg, users); err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		t.Fatalf("InsertMany: %v %v", err, errs)
	}
	group := mustInsert(t, s, newGroup(a.ID, "Everyone")).ID
	other := mustInsert(t, s, newGroup(a.ID, "Two")).ID
	empty := mustInsert(t, s, newGroup(a.ID, "Nobody")).ID
	gone := store.NewID() // a membership whose user does not exist
	ids := []string{gone}
	for _, u := range users[:n-1] {
		ids = append(ids, u.ID)
	}
	if _, err := s.AddMembers(bg, a.ID, group, ids); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddMembers(bg, a.ID, other, ids[:2]); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{gone: ""}
	for _, u := range users {
		names[u.ID] = store.DisplayName(u.Attributes)
	}
	each := func(account, group string) (got []string, err error) {
		t.Helper()
		err = s.EachMember(bg, account, group, func(id, display string) error {
			if display != names[id] {
				t.Errorf("EachMember: member %s named %q, want %q", id, display, names[id])
			}
			got = append(got, id)
			return nil
		})
		return got, err
	}
	wantIDs(t, "EachMember(group)", must(each(a.ID, group)), sorted(ids...))
	wantIDs(t, "EachMember(other group)", must(each(a.ID, other)), sorted(ids[:2]...))
	wantIDs(t, "EachMember(empty group)", must(each(a.ID, empty)), nil)
	wantIDs(t, "EachMember(group, from another account)", must(each(b.ID, group)), nil)
	wantIDs(t, "EachMember(no such group)", must(each(a.ID, store.NewID())), nil)

	// One more member, and a user's new name, with the group's version
	// advanced as they are.
	ids = append(ids, users[n-1].ID)
	if _, err := s.AddMembers(bg, a.ID, group, ids[len(ids)-1:]); err != nil {
		t.Fatal(err)
	}
	renamed := users[n/2]
	renamed.Attributes["displayName"] = "Renamed Member"
	names[renamed.ID] = "Renamed Member"
	if err := s.Replace(bg, renamed, renamed.Version); err != nil {
		t.Fatal(err)
	}
	if err := s.BumpMany(bg, schemas.Group, a.ID, []string{group, other}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "EachMember(group) after a member joined", must(each(a.ID, group)), sorted(ids...))

	stop := errors.New("stop")
	calls := 0
	if err := s.EachMember(bg, a.ID, group, func(string, string) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("EachMember with fn failing: %v after %d calls; want fn's error after 1", err, calls)
	}
}

// testBumpMany: BumpMany advances the version and modification time of
// exactly the resources named that are of the account and type, across
// the store's batches, and nothing else about them.
func testBumpMany(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	other := mustAccount(t, s, "B")
	const n = 1234
	var users []*store.Resource
	for i := range n {
		users = append(users, newUser(acc.ID, fmt.Sprintf("user%d", i)))
	}
	if errs, err := s.InsertMany(bg, users); err != nil || slices.ContainsFunc(errs, func(e error) bool { return e != nil }) {
		t.Fatal(err, errs)
	}
	// One user already at a later version: bumps add one to any version.
	moved := users[1]
	if _, _, err := s.Touch(bg, schemas.User, acc.ID, moved.ID, 1); err != nil {
		t.Fatal(err)
	}
	stranger := mustInsert(t, s, newUser(other.ID, "stranger"))
	group := mustInsert(t, s, newGroup(acc.ID, "group"))

	if err := s.BumpMany(bg, schemas.User, acc.ID, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	// Every other user, the other account's user and the group (named
	// under the wrong type), and ids of nothing.
	var ids []string
	bumped := map[string]bool{}
	for i, u := range users {
		if i%2 == 1 {
			ids = append(ids, u.ID)
			bumped[u.ID] = true
		}
	}
	ids = append(ids, stranger.ID, group.ID, "no-such-id", ids[0])
	if err := s.BumpMany(bg, schemas.User, acc.ID, ids); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMany(bg, schemas.User, acc.ID, idsOf(users))
	if err != nil || len(got) != n {
		t.Fatalf("GetMany: %d users, %v", len(got), err)
	}
	byID := map[string]*store.Resource{}
	for _, u := range users {
		byID[u.ID] = u
	}
	for _, g := range got {
		was := byID[g.ID]
		want := was.Version
		if g.ID == moved.ID {
			want++
		}
		if bumped[g.ID] {
			want++
			if !g.Modified.After(was.Modified) {
				t.Fatalf("user %s bumped, modified %v, was %v", g.ID, g.Modified, was.Modified)
			}
		} else if g.ID != moved.ID && !g.Modified.Equal(was.Modified) {
			t.Fatalf("user %s not named, modified changed from %v to %v", g.ID, was.Modified, g.Modified)
		}
		if g.Version != want || !reflect.DeepEqual(g.Attributes, was.Attributes) || !g.Created.Equal(was.Created) {
			t.Fatalf("user %s after BumpMany: version %d (want %d), attributes %v, created %v", g.ID, g.Version, want, g.Attributes, g.Created)
		}
	}
	if g := mustGet(t, s, schemas.User, other.ID, stranger.ID); g.Version != 1 {
		t.Fatalf("another account's user bumped to version %d", g.Version)
	}
	if g := mustGet(t, s, schemas.Group, acc.ID, group.ID); g.Version != 1 {
		t.Fatalf("a group named as a user bumped to version %d", g.Version)
	}
	// Groups are bumped as groups.
	if err := s.BumpMany(bg, schemas.Group, acc.ID, []string{group.ID}); err != nil {
		t.Fatal(err)
	}
	if g := mustGet(t, s, schemas.Group, acc.ID, group.ID); g.Version != 2 {
		t.Fatalf("group after BumpMany: version %d, want 2", g.Version)
	}
}

// testSeats: ReserveSeats takes seats up to the account's limit and no
// further, also when the account the caller read is out of date (its
// seats changed since), and concurrent reservations never exceed it.
func testSeats(t *testing.T, s store.Store) {
	used := func(id string) int {
		t.Helper()
		a, err := s.Account(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.SeatsUsed
	}
	a := mustAccount(t, s, "Limited")
	if err := s.SetSeats(bg, a.ID, 2); err != nil {
		t.Fatal(err)
	}
	a, _ = s.Account(bg, a.ID)
	for i := range 2 {
		if err := s.ReserveSeats(bg, a, 1); err != nil {
			t.Fatalf("seat %d of 2: %v", i+1, err)
		}
	}
	refused := func(what string, err error, inUse string) {
		t.Helper()
		wantKind(t, what, err, failure.Forbidden, "")
		if f, _ := failure.As(err); !strings.Contains(f.Detail, inUse+" seats in use") {
			t.Fatalf("%s: %q does not say %s seats are in use", what, f.Detail, inUse)
		}
	}
	refused("a third seat of 2", s.ReserveSeats(bg, a, 1), "2 of 2")
	if err := s.ReserveSeats(bg, a, 0); err != nil {
		t.Fatal(err)
	}
	// a still says 2 seats: the store goes by what the account has now.
	if err := s.SetSeats(bg, a.ID, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveSeats(bg, a, 2); err != nil {
		t.Fatalf("2 more after the account got 4 seats (caller read 2): %v", err)
	}
	refused("a fifth seat of 4", s.ReserveSeats(bg, a, 1), "4 of 4")
	if err := s.SetSeats(bg, a.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveSeats(bg, a, 10); err != nil {
		t.Fatalf("10 more once unlimited (caller read 2): %v", err)
	}
	if n := used(a.ID); n != 14 {
		t.Fatalf("%d seats in use, want 14", n)
	}
	// Read as unlimited, limited since. An unlimited account's counter
	// is not kept (the directory takes no seat there): limiting it sets
	// the counter from its users (none here).
	b := mustAccount(t, s, "Unlimited")
	if err := s.ReserveSeats(bg, b, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSeats(bg, b.ID, 3); err != nil {
		t.Fatal(err)
	}
	if n := used(b.ID); n != 0 {
		t.Fatalf("an unlimited account limited: counter %d, want 0 (its users)", n)
	}
	if err := s.ReserveSeats(bg, b, 3); err != nil {
		t.Fatalf("3 seats of an account limited since it was read: %v", err)
	}
	refused("a fourth seat of an account limited since it was read", s.ReserveSeats(bg, b, 1), "3 of 3")
	if err := s.AdjustSeats(bg, b.ID, -1); err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveSeats(bg, b, 1); err != nil {
		t.Fatalf("the seat given back: %v", err)
	}

	// Concurrent reservations take exactly the free seats.
	c := mustAccount(t, s, "Race")
	if err := s.SetSeats(bg, c.ID, 7); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Account(bg, c.ID)
	var got atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := s.ReserveSeats(bg, c, 1); {
			case err == nil:
				got.Add(1)
			case !failure.Is(err, failure.Forbidden):
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got.Load() != 7 || used(c.ID) != 7 {
		t.Fatalf("%d of 20 concurrent reservations took a seat of 7, %d in use", got.Load(), used(c.ID))
	}
}

func idsOf(rs []*store.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ---- queries ----

func testFindPagingSorting(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	other := mustAccount(t, s, "B")
	mustInsert(t, s, newUser(other.ID, "user-00"))
	families := []string{"Zimmer", "adams", "Baker", "", "baker", "Örn", "young", "Xu", "", "Moreno"}
	const n = 23
	var users []*store.Resource
	for i := range n {
		name := fmt.Sprintf("user-%02d", (i*7)%n) // not in insertion order
		if i%3 == 0 {
			name = strings.ToUpper(name)
		}
		u := newUser(acc.ID, name)
		if f := families[i%len(families)]; f != "" {
			u.Attributes["name"] = map[string]any{"familyName": f}
		}
		mustInsert(t, s, u)
		users = append(users, u)
	}
	// Touch a few so that lastModified order differs from creation order.
	for _, i := range []int{5, 0, 17} {
		time.Sleep(2 * time.Millisecond)
		v, mod, err := s.Touch(bg, schemas.User, acc.ID, users[i].ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		users[i].Version, users[i].Modified = v, mod
	}

	byKey := func(key func(r *store.Resource) string, desc bool) []string {
		rs := slices.Clone(users)
		sort.SliceStable(rs, func(i, j int) bool {
			ki, kj := key(rs[i]), key(rs[j])
			if ki == kj {
				ki, kj = rs[i].ID, rs[j].ID
			}
			if desc {
				return ki > kj
			}
			return ki < kj
		})
		return ids(rs)
	}
	created := func(r *store.Resource) string { return fmt.Sprintf("%020d", r.Created.UnixMilli()) }
	userName := func(r *store.Resource) string { return strings.ToLower(r.Attributes["userName"].(string)) }
	modified := func(r *store.Resource) string { return fmt.Sprintf("%020d", r.Modified.UnixMilli()) }

	cases := []struct {
		sortBy string
		desc   bool
		want   []string
	}{
		{"", false, byKey(created, false)},
		{"", true, byKey(created, true)},
		{"userName", false, byKey(userName, false)},
		{"USERNAME", true, byKey(userName, true)},
		{"meta.lastModified", true, byKey(modified, true)},
		{"meta.created", false, byKey(created, false)},
		{"id", false, sorted(ids(users)...)},
	}
	for _, c := range cases {
		full := find(t, s, schemas.User, acc.ID, "", store.Query{SortBy: c.sortBy, Descending: c.desc, Count: 1000})
		if full.Total != n {
			t.Fatalf("sortBy %q: total %d, want %d", c.sortBy, full.Total, n)
		}
		wantIDs(t, fmt.Sprintf("sortBy %q desc %v", c.sortBy, c.desc), ids(full.Resources), c.want)
		checkPages(t, s, acc.ID, "", store.Query{SortBy: c.sortBy, Descending: c.desc}, c.want)
	}

	// name.familyName: case-insensitive order among those that have one;
	// those without come last in ascending order and first in descending
	// order (RFC 7644 §3.4.2.3), by id among themselves.
	family := func(r *store.Resource) string {
		if m, ok := r.Attributes["name"].(map[string]any); ok {
			return strings.ToLower(m["familyName"].(string))
		}
		return ""
	}
	var withName, without []*store.Resource
	for _, u := range users {
		if family(u) == "" {
			without = append(without, u)
		} else {
			withName = append(withName, u)
		}
	}
	for _, desc := range []bool{false, true} {
		byFamily := func(rs []*store.Resource) []string {
			rs = slices.Clone(rs)
			sort.Slice(rs, func(i, j int) bool {
				ki, kj := family(rs[i])+"\x00"+rs[i].ID, family(rs[j])+"\x00"+rs[j].ID
				if desc {
					return ki > kj
				}
				return ki < kj
			})
			return ids(rs)
		}
		want := append(byFamily(withName), byFamily(without)...)
		if desc {
			want = append(byFamily(without), byFamily(withName)...)
		}
		full := find(t, s, schemas.User, acc.ID, "", store.Query{SortBy: "name.familyName", Descending: desc, Count: 1000})
		wantIDs(t, fmt.Sprintf("sortBy name.familyName desc %v (without one: last ascending, first descending)", desc), ids(full.Resources), want)
		checkPages(t, s, acc.ID, "", store.Query{SortBy: "name.familyName", Descending: desc}, want)
	}
	if len(without) == 0 || len(withName) == 0 {
		t.Fatal("the test data needs users with and without a familyName")
	}

	// Under a filter the database answers exactly.
	var under []string
	for _, id := range byKey(userName, false) {
		for _, u := range users {
			if u.ID == id && strings.HasPrefix(userName(u), "user-1") {
				under = append(under, id)
			}
		}
	}
	checkPages(t, s, acc.ID, `userName sw "USER-1"`, store.Query{SortBy: "userName"}, under)

	// count=0 gives only the total; a start beyond the end gives no
	// resources and the total; a start below 1 counts as 1.
	for _, q := range []store.Query{{Count: 0}, {Count: -1}, {StartIndex: n + 1, Count: 10}, {StartIndex: 1000, Count: 10}} {
		p := find(t, s, schemas.User, acc.ID, "", q)
		if p.Total != n || len(p.Resources) != 0 || p.Resources == nil {
			t.Fatalf("Find %+v: total %d, %d resources (nil %v)", q, p.Total, len(p.Resources), p.Resources == nil)
		}
	}
	for _, start := range []int{0, -5} {
		p := find(t, s, schemas.User, acc.ID, "", store.Query{StartIndex: start, Count: 2})
		wantIDs(t, fmt.Sprintf("startIndex %d", start), ids(p.Resources), byKey(created, false)[:2])
	}
	p := find(t, s, schemas.User, acc.ID, "", store.Query{StartIndex: n, Count: 10})
	wantIDs(t, "last page", ids(p.Resources), byKey(created, false)[n-1:])
}

// pageSize1 is a page of one resource.
const pageSize1 = 1

// checkPages reads every page of a query for several page sizes and checks
// that they are the slices of want, with the full total on each.
func checkPages(t *testing.T, s store.Store, account, f string, q store.Query, want []string) {
	t.Helper()
	for _, size := range []int{pageSize1, 5, len(want) + 3} {
		if size < 1 || (size == pageSize1 && q.SortBy != "") {
			continue // one page per resource: for the default order only
		}
		var got []string
		for start := 1; start <= len(want)+size; start += size {
			q.StartIndex, q.Count = start, size
			p := find(t, s, schemas.User, account, f, q)
			if p.Total != len(want) {
				t.Fatalf("filter %q sortBy %q page %d+%d: total %d, want %d", f, q.SortBy, start, size, p.Total, len(want))
			}
			lo, hi := min(start-1, len(want)), min(start-1+size, len(want))
			wantIDs(t, fmt.Sprintf("filter %q sortBy %q desc %v page %d+%d", f, q.SortBy, q.Descending, start, size), ids(p.Resources), want[lo:hi])
			got = append(got, ids(p.Resources)...)
		}
		wantIDs(t, fmt.Sprintf("filter %q sortBy %q pages of %d", f, q.SortBy, size), got, want)
	}
}

func testFindErrors(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	mustInsert(t, s, newUser(acc.ID, "someone"))
	for _, sortBy := range []string{"emails", "name", "password", "nope", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "emails.value"} {
		_, err := s.Find(bg, schemas.User, acc.ID, store.Query{SortBy: sortBy, Count: 10})
		wantKind(t, "sortBy "+sortBy, err, failure.Invalid, failure.TypeInvalidValue)
	}
	for _, f := range []string{
		`nope eq "x"`, `password eq "x"`, `name eq "x"`, `active gt true`, `title eq 5`,
		`meta.created gt "yesterday"`, `emails[nope eq "x"]`, `meta.version eq "1"`,
		`groups co "x"`, `members eq "x"`, `userName eq null`,
	} {
		e, err := scimfilter.Parse(f)
		if err != nil {
			t.Fatalf("parse %q: %v", f, err)
		}
		_, err = s.Find(bg, schemas.User, acc.ID, store.Query{Filter: e, Count: 10})
		wantKind(t, "filter "+f, err, failure.Invalid, failure.TypeInvalidFilter)
	}
}

// testRoundTrip stores values of every shape the attributes may hold and
// reads back the same Go values: extension URNs (which hold dots), "$ref"
// keys at any depth, arrays nested in objects in arrays, int64, float64 and
// bool.
func testRoundTrip(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	attrs := map[string]any{
		"userName":    "Round.Trip@Example.com",
		"displayName": "Zoë “quoted” ✓ $dollar .dot",
		"active":      false,
		"name":        map[string]any{"givenName": "Zoë", "familyName": ""},
		"emails": []any{
			map[string]any{"value": "a@example.com", "type": "work", "primary": true},
			map[string]any{"value": "B@example.com", "primary": false},
		},
		"groups": []any{map[string]any{"value": "g1", "$ref": "https://example.com/scim/v2/Groups/g1", "display": "G"}},
		schemas.EnterpriseUserURN: map[string]any{
			"department": "R&D",
			"manager":    map[string]any{"value": "m1", "$ref": "../Users/m1", "displayName": "Boss"},
		},
		// Arrays in objects in arrays. (An array directly inside an array
		// is refused by FerretDB 1.24; no SCIM schema produces one.)
		"nested": []any{
			map[string]any{"list": []any{int64(1), "two", true, nil, 2.5}},
			map[string]any{"$ref": "deep", "list": []any{map[string]any{"$ref": "deeper", "n": int64(-7), "l": []any{"x"}}}},
			map[string]any{"empty": []any{}, "obj": map[string]any{}},
		},
		"big":        int64(1<<53 + 1),
		"small":      int64(7),
		"negative":   int64(-42),
		"float":      2.5,
		"wholeFloat": float64(3),
		"tiny":       1e-9,
		"yes":        true,
		"empty":      "",
	}
	orig := copyAttrs(attrs)
	u := &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acc.ID, Attributes: attrs}
	mustInsert(t, s, u)
	if !reflect.DeepEqual(attrs, orig) {
		t.Fatalf("Insert changed the caller's attributes:\n%#v", attrs)
	}
	same := func(what string, got map[string]any) {
		t.Helper()
		if !reflect.DeepEqual(got, orig) {
			for k, v := range orig {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s: %q = %#v, want %#v", what, k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := orig[k]; !ok {
					t.Errorf("%s: extra %q = %#v", what, k, v)
				}
			}
			t.FailNow()
		}
	}
	same("Get", mustGet(t, s, schemas.User, acc.ID, u.ID).Attributes)
	p := find(t, s, schemas.User, acc.ID, `userName eq "round.trip@example.com"`, store.Query{Count: 10})
	if len(p.Resources) != 1 {
		t.Fatalf("Find by userName: %d resources", len(p.Resources))
	}
	same("Find", p.Resources[0].Attributes)
	// Extension attributes and $ref sub-attributes can be filtered on.
	for _, f := range []string{
		schemas.EnterpriseUserURN + `:department eq "r&d"`,
		schemas.EnterpriseUserURN + `:manager.value eq "M1"`,
		schemas.EnterpriseUserURN + `:manager.$ref ew "/m1"`,
	} {
		e, err := scimfilter.Parse(f)
		if err != nil {
			t.Logf("parse %q: %v (skipped)", f, err)
			continue
		}
		p, err := s.Find(bg, schemas.User, acc.ID, store.Query{Filter: e, Count: 10})
		if err != nil {
			t.Fatalf("Find %q: %v", f, err)
		}
		if p.Total != 1 {
			t.Fatalf("Find %q: total %d, want 1", f, p.Total)
		}
	}

	next := *u
	next.Attributes = copyAttrs(orig)
	if err := s.Replace(bg, &next, 1); err != nil {
		t.Fatal(err)
	}
	same("Get after Replace", mustGet(t, s, schemas.User, acc.ID, u.ID).Attributes)

	many := &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acc.ID, Attributes: copyAttrs(orig)}
	many.Attributes["userName"] = "second"
	errs, err := s.InsertMany(bg, []*store.Resource{many})
	if err != nil || errs[0] != nil {
		t.Fatalf("InsertMany: %v %v", err, errs)
	}
	got := mustGet(t, s, schemas.User, acc.ID, many.ID).Attributes
	got["userName"] = orig["userName"]
	same("Get after InsertMany", got)

	names, err := s.DisplayNames(bg, schemas.User, acc.ID, []string{u.ID, many.ID})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{u.ID: orig["displayName"].(string), many.ID: orig["displayName"].(string)}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("DisplayNames = %#v, want %#v", names, want)
	}
	// Without a displayName, the userName names a user.
	next = *mustGet(t, s, schemas.User, acc.ID, many.ID)
	delete(next.Attributes, "displayName")
	if err := s.Replace(bg, &next, next.Version); err != nil {
		t.Fatal(err)
	}
	if names, err := s.DisplayNames(bg, schemas.User, acc.ID, []string{many.ID}); err != nil || names[many.ID] != "second" {
		t.Fatalf("DisplayNames without a displayName = %v, %v; want the userName", names, err)
	}
}

// ---- concurrency ----

// testConcurrentReplace: writers that read, change and conditionally write
// one resource, retrying when another got there first, never lose an
// update: the counter ends at the number of successful writes.
func testConcurrentReplace(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	r := newUser(acc.ID, "contended")
	r.Attributes["counter"] = int64(0)
	mustInsert(t, s, r)
	const writers, each = 30, 2
	var wrote, conflicts atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done := 0; done < each; {
				cur, err := s.Get(bg, schemas.User, acc.ID, r.ID)
				if err != nil {
					t.Error(err)
					return
				}
				next := *cur
				next.Attributes = copyAttrs(cur.Attributes)
				next.Attributes["counter"] = cur.Attributes["counter"].(int64) + 1
				err = s.Replace(bg, &next, cur.Version)
				switch {
				case errors.Is(err, store.ErrVersionMismatch):
					conflicts.Add(1)
					continue
				case err != nil:
					t.Error(err)
					return
				}
				if next.Version != cur.Version+1 {
					t.Errorf("Replace from version %d gave version %d", cur.Version, next.Version)
				}
				wrote.Add(1)
				done++
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := mustGet(t, s, schemas.User, acc.ID, r.ID)
	if c := got.Attributes["counter"]; c != wrote.Load() || wrote.Load() != writers*each {
		t.Fatalf("counter %v after %d successful writes (want %d); %d conflicts", c, wrote.Load(), writers*each, conflicts.Load())
	}
	if got.Version != 1+wrote.Load() {
		t.Fatalf("version %d after %d writes", got.Version, wrote.Load())
	}
	t.Logf("%d writes, %d version conflicts retried", wrote.Load(), conflicts.Load())
}

// testConcurrentAddMembers: members added at the same time by many
// callers are all there, and overlapping adds count each member once.
func testConcurrentAddMembers(t *testing.T, s store.Store) {
	acc := mustAccount(t, s, "A")
	group := store.NewID()
	const callers, each = 30, 10
	all := make([]string, callers*each)
	for i := range all {
		all[i] = store.NewID()
	}
	var added atomic.Int64
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each caller adds its own ten and, one by one, overlaps with
			// the next caller's first member.
			mine := all[c*each : (c+1)*each]
			n, err := s.AddMembers(bg, acc.ID, group, mine)
			if err != nil {
				t.Error(err)
				return
			}
			added.Add(int64(len(n)))
			n, err = s.AddMembers(bg, acc.ID, group, []string{all[((c+1)%callers)*each]})
			if err != nil {
				t.Error(err)
				return
			}
			added.Add(int64(len(n)))
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if added.Load() != int64(len(all)) {
		t.Fatalf("AddMembers reported %d added in total, want %d", added.Load(), len(all))
	}
	wantIDs(t, "Members after concurrent adds", must(s.Members(bg, acc.ID, group)), sorted(all...))
}

// testOutbox: entries come due in order, one worker at a time holds one,
// a lease that runs out frees it, voided and finished entries leave the
// queue, and purging deletes only finished ones.
func testOutbox(t *testing.T, st store.Store) {
	ctx := context.Background()
	var es []*store.OutboxEntry
	for i := 0; i < 4; i++ {
		e := &store.OutboxEntry{ID: store.NewID(), Account: "a", User: store.NewID(), Token: "t"}
		if err := st.AddOutbox(ctx, e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
		time.Sleep(2 * time.Millisecond) // distinct due times
	}
	due, err := st.DueOutbox(ctx, 10)
	if err != nil || len(due) != 4 || due[0].ID != es[0].ID || due[3].ID != es[3].ID {
		t.Fatalf("due: %d entries, %v", len(due), err)
	}
	// Two workers race for the first entry: one gets it.
	a, b := *due[0], *due[0]
	okA, errA := st.ClaimOutbox(ctx, &a, "A", time.Minute)
	okB, errB := st.ClaimOutbox(ctx, &b, "B", time.Minute)
	if errA != nil || errB != nil || okA == okB {
		t.Fatalf("claims: A %v %v, B %v %v", okA, errA, okB, errB)
	}
	if due, _ = st.DueOutbox(ctx, 10); len(due) != 3 {
		t.Fatalf("a leased entry is still due: %d", len(due))
	}
	// Only the holder finishes it.
	if err := st.MarkOutboxSent(ctx, &b); !errors.Is(err, store.ErrNotClaimed) {
		t.Fatalf("non-holder marked it sent: %v", err)
	}
	if err := st.MarkOutboxSent(ctx, &a); err != nil {
		t.Fatal(err)
	}
	// A lease that ran out frees the entry for another worker.
	c := *es[1]
	if ok, err := st.ClaimOutbox(ctx, &c, "C", time.Millisecond); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	time.Sleep(5 * time.Millisecond)
	d := c
	if ok, err := st.ClaimOutbox(ctx, &d, "D", time.Minute); err != nil || !ok {
		t.Fatalf("claim after the lease ran out: %v %v", ok, err)
	}
	if err := st.DiscardOutbox(ctx, &c, "late"); !errors.Is(err, store.ErrNotClaimed) {
		t.Fatalf("the worker whose lease ran out finished the entry: %v", err)
	}
	// Voiding discards a pending entry nobody holds.
	if err := st.VoidOutbox(ctx, es[2].ID, "revoked"); err != nil {
		t.Fatal(err)
	}
	if e, _ := st.OutboxEntryByID(ctx, es[2].ID); e.State != store.OutboxDiscarded || e.Token != "" {
		t.Fatalf("voided entry: %+v", e)
	}
	// Purging deletes the finished entries only.
	n, err := st.PurgeOutbox(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("purged %d, %v; want the sent and the voided entry", n, err)
	}
	for _, e := range []*store.OutboxEntry{es[1], es[3]} {
		if _, err := st.OutboxEntryByID(ctx, e.ID); err != nil {
			t.Fatalf("pending entry purged: %v", err)
		}
	}
}
