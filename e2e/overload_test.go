package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// SCIM_RATE_LIMIT, as an operator sets it: a token hammering past its
// limit gets 429 with Retry-After, while another account's token is
// unaffected.
func TestRateLimitPerToken(t *testing.T) {
	s := startServer(t, "SCIM_RATE_LIMIT=5")
	other := s.newAccount(t, "Other")
	limited := 0
	for i := 0; i < 40; i++ {
		r := s.Client.Get(t, "/Users?count=1")
		if r.Status == http.StatusTooManyRequests {
			limited++
			if r.Header.Get("Retry-After") == "" || r.Str("status") != "429" || !strings.Contains(r.Str("detail"), "at most 5 per second") {
				t.Fatalf("429 without Retry-After or SCIM error: %v %s", r.Header, r.Raw)
			}
			continue
		}
		r.Expect(t, http.StatusOK)
	}
	if limited == 0 {
		t.Fatal("40 requests in a row were never limited at 5 per second")
	}
	for i := 0; i < 5; i++ {
		other.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
	}
}
