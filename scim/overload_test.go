package scim_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
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
