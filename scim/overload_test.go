package scim_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/metrics/metricstest"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/instrumented"
	"github.com/timecamp/timecamp-scim/store/storetest"
	"github.com/timecamp/timecamp-scim/transport"
)

// A token hammering past its limit gets 429 with Retry-After and a SCIM
// error; another account's token, and another token of the same account,
// are unaffected; health checks are never limited.
func TestRateLimitPerToken(t *testing.T) {
	env := scimtest.New(t, func(o *scim.Options) { o.RateLimit = 5 })
	hammer := env.Client
	_, other := env.NewAccount(t, "other", 0)

	var limited *scimtest.Response
	ok := 0
	for i := 0; i < 30 && limited == nil; i++ {
		r := hammer.Get(t, "/Users?count=1")
		switch r.Status {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited = r
		default:
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
	}
	if limited == nil {
		t.Fatal("30 requests in a row were never limited at 5 per second")
	}
	if ok < 5 {
		t.Errorf("only %d requests passed before the limit; the burst is 5", ok)
	}
	if secs, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After %q, want whole seconds", limited.Header.Get("Retry-After"))
	}
	if limited.Str("status") != "429" || limited.At("scimType") != nil || !strings.Contains(limited.Str("detail"), "at most 5 per second") ||
		!strings.Contains(limited.Str("detail"), "retry after 1 second") {
		t.Errorf("429 body: %s", limited.Raw)
	}
	if ct := limited.Header.Get("Content-Type"); ct != "application/scim+json" {
		t.Errorf("Content-Type %q", ct)
	}
	// Unknown paths count too.
	hammer.Get(t, "/Nothing").Expect(t, http.StatusTooManyRequests)

	// Another account, and a second token of the same account: not limited.
	for i := 0; i < 5; i++ {
		other.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
	}
	token, _, err := env.Store.CreateToken(t.Context(), env.Account.ID, store.TokenSpec{Name: "second"})
	if err != nil {
		t.Fatal(err)
	}
	second := &scimtest.Client{Base: hammer.Base, Token: token}
	second.Get(t, "/Users?count=1").Expect(t, http.StatusOK)

	for i := 0; i < 20; i++ {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(env.Server.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
		}
	}

	// The bucket refills: after Retry-After the token works again.
	time.Sleep(time.Second)
	hammer.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
}

// One account holding all its slots waits, then gets 503, while another
// account is served.
func TestConcurrencyShareOfOneAccount(t *testing.T) {
	env := scimtest.New(t, func(o *scim.Options) { o.MaxConcurrent = 4 }) // one slot per account
	busy := env.Client
	_, other := env.NewAccount(t, "other", 0)

	// A request whose body arrives slowly holds the account's one slot.
	body, feed := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, busy.Base+"/Users", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+busy.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	var wg sync.WaitGroup
	wg.Add(1)
	var slowStatus int
	go func() {
		defer wg.Done()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		slowStatus = resp.StatusCode
	}()
	_, _ = feed.Write([]byte(`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], `))
	time.Sleep(200 * time.Millisecond) // let it take its slot

	start := time.Now()
	r := busy.Get(t, "/Users?count=1")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" || !strings.Contains(r.Str("detail"), "this account already has 1 request in progress") {
		t.Fatalf("second request of the busy account: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("answered 503 after %v; a request waits about a second for a slot", waited)
	}
	other.Get(t, "/Users?count=1").Expect(t, http.StatusOK)

	_, _ = feed.Write([]byte(`"userName": "slow@acme.test"}`))
	feed.Close()
	wg.Wait()
	if slowStatus != http.StatusCreated {
		t.Fatalf("slow request: %d", slowStatus)
	}
	busy.Get(t, "/Users?count=1").Expect(t, http.StatusOK) // the slot is free again
}

// A client address that keeps sending bad tokens gets 429 with
// Retry-After, before any database lookup, whatever the rate limit; a good
// token from another address is never held back, nor is a token that
// authenticated before, even from the throttled address (identity
// providers of many tenants share addresses). The address is the one the
// trusted proxy reports; a client that is not a trusted proxy cannot
// choose its own with X-Forwarded-For.
func TestFailedAuthenticationThrottledPerAddress(t *testing.T) {
	proxies := transport.NewProxies([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
	env := scimtest.NewOn(t, instrumented.New(storetest.New(t)), func(o *scim.Options) {
		o.AuthFailures, o.RateLimit, o.Proxies = 5, 0, proxies
	})
	from := func(c *scimtest.Client, addr, path string) *scimtest.Response {
		return c.Get(t, path, "X-Forwarded-For: "+addr)
	}
	attacker := &scimtest.Client{Base: env.Client.Base, Token: "tcscim_guessed-0123456789"}
	lookups := func() float64 {
		return metricstest.Value(t, "timecamp_scim_store_operations_total", map[string]string{"operation": "Authenticate", "outcome": "refused"})
	}
	// The account's own token has worked from the identity provider's
	// address before.
	from(env.Client, "203.0.113.7", "/Users?count=1").Expect(t, http.StatusOK)

	before := lookups()
	for i := 0; i < 5; i++ {
		from(attacker, "198.51.100.9", "/Users").Expect(t, http.StatusUnauthorized)
	}
	limited := from(attacker, "198.51.100.9", "/Users")
	if limited.Status != http.StatusTooManyRequests || !strings.Contains(limited.Str("detail"), "too many failed authentications") {
		t.Fatalf("the 6th bad token: %d %s", limited.Status, limited.Raw)
	}
	if secs, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 12 {
		t.Errorf("Retry-After %q, want the seconds until the next failure is allowed (12 at 5 a minute)", limited.Header.Get("Retry-After"))
	}
	for i := 0; i < 20; i++ {
		from(attacker, "198.51.100.9", "/Groups").Expect(t, http.StatusTooManyRequests)
	}
	// No token at all counts as a failure too, and is held back the same.
	(&scimtest.Client{Base: env.Client.Base}).Get(t, "/Users", "X-Forwarded-For: 198.51.100.9").Expect(t, http.StatusTooManyRequests)
	if n := lookups() - before; n != 5 {
		t.Errorf("%v refused token lookups; want 5 (the held-back requests must not reach the database)", n)
	}

	// A good token from another address, and from the same one after it
	// worked elsewhere, is served; a new bad token elsewhere gets its 401.
	from(env.Client, "203.0.113.7", "/Users?count=1").Expect(t, http.StatusOK)
	from(env.Client, "198.51.100.9", "/Users?count=1").Expect(t, http.StatusOK)
	from(attacker, "192.0.2.1", "/Users").Expect(t, http.StatusUnauthorized)
	// A token never seen from the throttled address waits too (it could
	// be another guess).
	_, other := env.NewAccount(t, "other", 0)
	from(other, "198.51.100.9", "/Users").Expect(t, http.StatusTooManyRequests)
	from(other, "192.0.2.1", "/Users").Expect(t, http.StatusOK)
	// A token revoked after it worked is refused at once, known or not.
	toks, err := env.Store.Tokens(t.Context(), env.Account.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %v", toks, err)
	}
	if err := env.Store.RevokeToken(t.Context(), env.Account.ID, toks[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
	from(env.Client, "198.51.100.9", "/Users").Expect(t, http.StatusUnauthorized)
	from(env.Client, "198.51.100.9", "/Users").Expect(t, http.StatusTooManyRequests)

	// Without a trusted proxy, X-Forwarded-For is not believed: the
	// peer's address counts, whatever the header says.
	direct := scimtest.New(t, func(o *scim.Options) { o.AuthFailures = 3 })
	direct.Client.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
	bad := &scimtest.Client{Base: direct.Client.Base, Token: "tcscim_guessed-0123456789"}
	for i := 0; i < 3; i++ {
		bad.Get(t, "/Users", fmt.Sprintf("X-Forwarded-For: 10.0.0.%d", i)).Expect(t, http.StatusUnauthorized)
	}
	bad.Get(t, "/Users", "X-Forwarded-For: 10.0.0.99").Expect(t, http.StatusTooManyRequests)
	direct.Client.Get(t, "/Users?count=1").Expect(t, http.StatusOK) // known: not held back
}

// BenchmarkAuthentication measures a request that only authenticates
// (GET /ServiceProviderConfig) with and without the failed-authentication
// throttle: a good token (the throttle's cost on every request), a bad one
// (401: a token lookup that finds nothing), and a bad one from an address
// over its limit (429: no lookup at all; a limit of 1 a minute keeps it
// there for the whole run).
func BenchmarkAuthentication(b *testing.B) {
	for _, limit := range []int{0, 1} {
		env := scimtest.New(b, func(o *scim.Options) { o.AuthFailures, o.RateLimit = limit, 0 })
		h := env.Server.Config.Handler
		get := func(token string) int {
			r := httptest.NewRequest(http.MethodGet, "/scim/v2/ServiceProviderConfig", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		b.Run(fmt.Sprintf("limit=%d/good", limit), func(b *testing.B) {
			for b.Loop() {
				if code := get(env.Client.Token); code != http.StatusOK {
					b.Fatal(code)
				}
			}
		})
		b.Run(fmt.Sprintf("limit=%d/bad", limit), func(b *testing.B) {
			want := http.StatusUnauthorized
			if limit > 0 {
				for get("tcscim_bad-0123456789") != http.StatusTooManyRequests {
				}
				want = http.StatusTooManyRequests
			}
			for b.Loop() {
				if code := get("tcscim_bad-0123456789"); code != want {
					b.Fatal(code)
				}
			}
		})
	}
}
