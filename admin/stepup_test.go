package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// A fresh sign-in makes one credential: requests that read the session
// before another spent it do not make a second one, and a session's note
// of use, written by a request that read the session before the spend,
// does not bring the spent sign-in back. (The store is real; the wrapper
// only orders the requests' reads and writes.)
func TestFreshSignInIsSpentOnce(t *testing.T) {
	newRace := func(t *testing.T) (*env, *orderedStore, *http.Client, string, func(form url.Values) int, func() int) {
		ord := &orderedStore{Store: storetest.New(t)}
		e := newEnvOn(t, ord, true)
		c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
		ord.mu.Lock()
		ord.id = store.HashSessionSecret("secret-of-" + e.admin.ID)
		ord.mu.Unlock()
		create := func(form url.Values) int {
			form.Set("csrf", csrf)
			st, _, _ := do(t, c, "POST", e.srv.URL+"/admin/tokens", form)
			return st
		}
		count := func() int {
			list, err := ord.Store.Tokens(bg, e.account.ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}
		return e, ord, c, csrf, create, count
	}
	// freshen gives the session a fresh sign-in, its last use lastSeen.
	freshen := func(t *testing.T, ord *orderedStore, lastSeen time.Time) {
		s, err := ord.Store.Session(bg, ord.id)
		if err != nil {
			t.Fatal(err)
		}
		s.ReauthAt, s.LastSeen = time.Now(), lastSeen
		if err := ord.Store.SaveSession(bg, s); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("two requests at once", func(t *testing.T) {
		_, ord, _, _, create, count := newRace(t)
		freshen(t, ord, time.Now())
		ord.mu.Lock()
		ord.readers.Add(2) // both requests read the session before either acts
		ord.barrier = true
		ord.mu.Unlock()
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Go(func() { codes[i] = create(url.Values{"name": {"okta"}}) })
		}
		wg.Wait()
		if n := count(); n != 1 || codes[0]+codes[1] != http.StatusOK+http.StatusForbidden {
			t.Fatalf("one fresh sign-in made %d tokens (answers %v; want 200 and 403)", n, codes)
		}
	})

	t.Run("a note of use after the spend", func(t *testing.T) {
		e, ord, c, _, create, count := newRace(t)
		freshen(t, ord, time.Now().Add(-2*time.Minute)) // the next request notes its use
		held := ord.holdNextWrite()
		got := make(chan int)
		go func() { // reads the session; its note of use is held
			st, _, _ := do(t, c, "GET", e.srv.URL+"/admin/tokens", nil)
			got <- st
		}()
		<-held.reached
		// The token is made meanwhile (the session was just used: no note).
		s, err := ord.Store.Session(bg, ord.id)
		if err != nil {
			t.Fatal(err)
		}
		s.LastSeen = time.Now()
		if err := ord.Store.SaveSession(bg, s); err != nil {
			t.Fatal(err)
		}
		if st := create(url.Values{"name": {"okta"}}); st != http.StatusOK || count() != 1 {
			t.Fatalf("token with a fresh sign-in: %d, %d tokens", st, count())
		}
		close(held.release)
		if st := <-got; st != http.StatusOK {
			t.Fatalf("tokens page: %d", st)
		}
		if st := create(url.Values{"name": {"entra"}}); st != http.StatusForbidden || count() != 1 {
			t.Fatalf("a second token on one fresh sign-in, after a note of use: %d, %d tokens", st, count())
		}
	})
}

// orderedStore is a real store whose reads of one session can wait for
// one another (barrier), and whose next write of that session can be
// held until released.
type orderedStore struct {
	store.Store

	mu      sync.Mutex // guards what follows
	id      string     // the session
	readers sync.WaitGroup
	barrier bool
	hold    *heldWrite
}

type heldWrite struct{ reached, release chan struct{} }

func (s *orderedStore) holdNextWrite() *heldWrite {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = &heldWrite{reached: make(chan struct{}), release: make(chan struct{})}
	return s.hold
}

func (s *orderedStore) Session(ctx context.Context, id string) (*store.Session, error) {
	sess, err := s.Store.Session(ctx, id)
	s.mu.Lock()
	wait := id == s.id && s.barrier
	s.mu.Unlock()
	if wait {
		s.readers.Done()
		s.readers.Wait()
	}
	return sess, err
}

// wait holds the session's write if one is to be held.
func (s *orderedStore) wait(id string) {
	s.mu.Lock()
	h := s.hold
	if id != s.id {
		h = nil
	}
	if h != nil {
		s.hold = nil
	}
	s.mu.Unlock()
	if h != nil {
		close(h.reached)
		<-h.release
	}
}

func (s *orderedStore) SaveSession(ctx context.Context, sess *store.Session) error {
	s.wait(sess.ID)
	return s.Store.SaveSession(ctx, sess)
}

func (s *orderedStore) TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	s.wait(id)
	return s.Store.TouchSession(ctx, id, lastSeen, expires)
}
