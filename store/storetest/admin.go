package storetest

// Conformance tests of what the admin console stores: sessions, the
// activity log, and token usage.

import (
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

func testSessions(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	secret := "cookie-secret-1"
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	sess := &store.Session{
		ID: store.HashSessionSecret(secret), Account: a.ID, User: "u1", Email: "ada@a.test", Subject: "iss sub",
		CSRF: "csrf1", Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour),
	}
	if sess.ID == secret || len(sess.ID) != 64 {
		t.Fatalf("session id %q: want the secret's SHA-256, not the secret", sess.ID)
	}
	if err := s.CreateSession(bg, sess); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(bg, store.HashSessionSecret(secret))
	if err != nil || got.Account != a.ID || got.User != "u1" || got.Email != "ada@a.test" || got.CSRF != "csrf1" ||
		!got.Expires.Equal(sess.Expires) || !got.Created.Equal(t0) || !got.ReauthAt.IsZero() {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	_, err = s.Session(bg, store.HashSessionSecret("another secret"))
	wantKind(t, "Session(unknown)", err, failure.NotFound, "")

	// Switching accounts and re-authenticating are saved.
	got.Account, got.User, got.ReauthAt = b.ID, "u2", t0.Add(time.Minute)
	if err := s.SaveSession(bg, got); err != nil {
		t.Fatal(err)
	}
	again, err := s.Session(bg, sess.ID)
	if err != nil || again.Account != b.ID || again.User != "u2" || !again.ReauthAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after SaveSession: %+v, %v", again, err)
	}

	// A fresh sign-in is spent once: the swap is conditional. A note of
	// use writes the times only, and does not bring a spent one back.
	at := t0.Add(time.Minute)
	if ok, err := s.SwapReauth(bg, sess.ID, at, time.Time{}); err != nil || !ok {
		t.Fatalf("spending the fresh sign-in: %v, %v", ok, err)
	}
	if ok, err := s.SwapReauth(bg, sess.ID, at, time.Time{}); err != nil || ok {
		t.Fatalf("spending it a second time: %v, %v; want false", ok, err)
	}
	if err := s.TouchSession(bg, sess.ID, t0.Add(2*time.Minute), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	again, err = s.Session(bg, sess.ID)
	if err != nil || !again.ReauthAt.IsZero() || !again.LastSeen.Equal(t0.Add(2*time.Minute)) || !again.Expires.Equal(t0.Add(2*time.Hour)) || again.Account != b.ID {
		t.Fatalf("after TouchSession: %+v, %v", again, err)
	}
	if ok, err := s.SwapReauth(bg, sess.ID, time.Time{}, at); err != nil || !ok { // given back
		t.Fatalf("giving the fresh sign-in back: %v, %v", ok, err)
	}
	if again, err = s.Session(bg, sess.ID); err != nil || !again.ReauthAt.Equal(at) {
		t.Fatalf("after giving it back: %+v, %v", again, err)
	}
	if ok, err := s.SwapReauth(bg, store.HashSessionSecret("no such"), time.Time{}, at); err != nil || ok {
		t.Fatalf("SwapReauth of no session: %v, %v", ok, err)
	}
	if err := s.TouchSession(bg, store.HashSessionSecret("no such"), t0, t0); err != nil {
		t.Fatalf("TouchSession of no session: %v", err)
	}

	// Purging removes the account's expired sessions only.
	other := &store.Session{ID: store.HashSessionSecret("s2"), Account: b.ID, User: "u3", Created: t0, LastSeen: t0, Expires: t0.Add(-time.Minute)}
	inA := &store.Session{ID: store.HashSessionSecret("s3"), Account: a.ID, User: "u4", Created: t0, LastSeen: t0, Expires: t0.Add(-time.Minute)}
	for _, x := range []*store.Session{other, inA} {
		if err := s.CreateSession(bg, x); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.PurgeSessions(bg, b.ID, t0); err != nil || n != 1 {
		t.Fatalf("PurgeSessions(B) = %d, %v; want the expired one", n, err)
	}
	if _, err := s.Session(bg, sess.ID); err != nil {
		t.Fatalf("a live session was purged: %v", err)
	}
	if _, err := s.Session(bg, inA.ID); err != nil {
		t.Fatalf("another account's session was purged: %v", err)
	}

	// Logout deletes; saving a deleted session says so.
	if err := s.DeleteSession(bg, sess.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(bg, sess.ID); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	_, err = s.Session(bg, sess.ID)
	wantKind(t, "Session after logout", err, failure.NotFound, "")
	wantKind(t, "SaveSession after logout", s.SaveSession(bg, again), failure.NotFound, "")
}

func testActivity(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	okta := store.Actor{Kind: store.ActorToken, ID: "tok1", Name: "okta"}
	admin := store.Actor{Kind: store.ActorAdmin, ID: "u1", Name: "ada@a.test"}
	var entries []*store.ActivityEntry
	for i := 0; i < 5; i++ {
		e := &store.ActivityEntry{Account: a.ID, At: t0.Add(time.Duration(i) * time.Minute), Actor: okta, ResourceType: "User",
			ResourceID: store.NewID(), Operation: "patch", Attributes: []string{"active"}, Outcome: store.OutcomeOK, Status: 200}
		if i == 3 {
			e.Outcome, e.Status, e.Detail = store.OutcomeRefused, 400, "bad filter"
		}
		if i == 4 {
			e.Actor, e.ResourceType, e.Operation = admin, "Group", "create"
		}
		entries = append(entries, e)
	}
	if err := s.AddActivity(bg, entries...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddActivity(bg, &store.ActivityEntry{Account: b.ID, Actor: okta, ResourceType: "User", Operation: "create", Outcome: store.OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	list := func(q store.ActivityQuery) ([]*store.ActivityEntry, bool) {
		t.Helper()
		out, more, err := s.Activity(bg, q)
		if err != nil {
			t.Fatal(err)
		}
		return out, more
	}
	// Newest first, the account's only, paged.
	page, more := list(store.ActivityQuery{Account: a.ID, Limit: 3})
	if len(page) != 3 || !more || page[0].ID != entries[4].ID || page[2].ID != entries[2].ID {
		t.Fatalf("first page: %d entries, more %v", len(page), more)
	}
	if page[0].Actor != admin || page[0].Operation != "create" || page[1].Detail != "bad filter" || page[2].Attributes[0] != "active" {
		t.Fatalf("entries read back: %+v %+v %+v", page[0], page[1], page[2])
	}
	page, more = list(store.ActivityQuery{Account: a.ID, Skip: 3, Limit: 3})
	if len(page) != 2 || more || page[1].ID != entries[0].ID {
		t.Fatalf("second page: %d entries, more %v", len(page), more)
	}
	// Equality filters, alone and together.
	if page, _ = list(store.ActivityQuery{Account: a.ID, Outcome: store.OutcomeRefused}); len(page) != 1 || page[0].ID != entries[3].ID {
		t.Fatalf("refused: %d entries", len(page))
	}
	if page, _ = list(store.ActivityQuery{Account: a.ID, Actor: "okta", Outcome: store.OutcomeOK}); len(page) != 3 {
		t.Fatalf("okta's changes: %d entries, want 3", len(page))
	}
	if page, _ = list(store.ActivityQuery{Account: a.ID, ResourceType: "Group"}); len(page) != 1 || page[0].Actor != admin {
		t.Fatalf("group entries: %d", len(page))
	}
	if page, _ = list(store.ActivityQuery{Account: b.ID}); len(page) != 1 || page[0].At.IsZero() || page[0].ID == "" {
		t.Fatalf("account B: %+v", page)
	}
	// Retention: entries older than the cut-off go, in that account only.
	n, err := s.PurgeActivity(bg, a.ID, t0.Add(2*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PurgeActivity = %d, %v; want 2", n, err)
	}
	if page, _ = list(store.ActivityQuery{Account: a.ID}); len(page) != 3 || page[2].ID != entries[2].ID {
		t.Fatalf("after the purge: %d entries", len(page))
	}
	if page, _ = list(store.ActivityQuery{Account: b.ID}); len(page) != 1 {
		t.Fatalf("account B after A's purge: %d entries", len(page))
	}
}

func testTokenUsage(t *testing.T, s store.Store) {
	a := mustAccount(t, s, "A")
	b := mustAccount(t, s, "B")
	secret, tok, err := s.CreateToken(bg, a.ID, store.TokenSpec{Name: "okta"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Authenticate(bg, secret)
	if err != nil || got.Account != a.ID || got.ID != tok.ID || got.Name != "okta" || !got.LastUsed.IsZero() {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	_, err = s.Authenticate(bg, secret+"x")
	wantKind(t, "Authenticate(wrong)", err, failure.Unauthorized, "")

	at := time.Now().UTC().Truncate(time.Millisecond)
	// Another account cannot touch the token.
	if err := s.TouchToken(bg, b.ID, tok.ID, at); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Tokens(bg, a.ID); len(list) != 1 || !list[0].LastUsed.IsZero() {
		t.Fatalf("touched through another account: %+v", list)
	}
	if err := s.TouchToken(bg, a.ID, tok.ID, at); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Tokens(bg, a.ID); len(list) != 1 || !list[0].LastUsed.Equal(at) {
		t.Fatalf("Tokens after TouchToken: %+v", list)
	}
	if got, _ = s.Authenticate(bg, secret); !got.LastUsed.Equal(at) {
		t.Fatalf("AuthenticateToken after TouchToken: %+v", got)
	}
}
