package scim

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/timecamp/timecamp-scim/failure"
)

// Overload protection of the SCIM API, per server process (state is in
// memory: with several instances behind a load balancer, each applies the
// limits to the requests it receives).
//
//   - A rate limit per token (Options.RateLimit requests per second, with
//     bursts of as many): a client over it gets 429 with Retry-After.
//   - A bound on the requests served at once (Options.MaxConcurrent), of
//     which one account may hold at most a quarter: one tenant's import
//     cannot take every slot and starve another's provisioning. A request
//     waits up to concurrencyWait for a slot, then gets 503 with
//     Retry-After.
//
// Health checks (/healthz, /readyz) are outside the SCIM API and never
// limited.

// concurrencyWait is how long a request waits for a slot before 503.
const concurrencyWait = time.Second

// rateLimiter keeps a token bucket per bearer token, keyed by the token's
// SHA-256 (the token itself is not kept).
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu       sync.Mutex
	byToken  map[[sha256.Size]byte]*rate.Limiter
	nextTidy int // tidy the map when it grows past this
}

func newRateLimiter(perSecond float64) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{
		limit:    rate.Limit(perSecond),
		burst:    max(1, int(math.Ceil(perSecond))),
		byToken:  map[[sha256.Size]byte]*rate.Limiter{},
		nextTidy: 1024,
	}
}

// wait reports how long the token must wait before its next request (0:
// it may go now, and the request is counted).
func (l *rateLimiter) wait(token string, now time.Time) time.Duration {
	key := sha256.Sum256([]byte(token))
	l.mu.Lock()
	lim, ok := l.byToken[key]
	if !ok {
		if len(l.byToken) >= l.nextTidy {
			l.tidy(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byToken[key] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request does not count
		return d
	}
	return 0
}

// tidy forgets tokens whose bucket is full again: they behave as new ones.
// The map stays as large as the tokens seen within about a second.
func (l *rateLimiter) tidy(now time.Time) {
	for k, lim := range l.byToken {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.byToken, k)
		}
	}
	l.nextTidy = max(1024, 2*len(l.byToken))
}

// limitRate answers 429 to a token over its rate. It runs before
// authentication, so that a client over its limit costs no database
// lookup; requests without a token go on to be refused by authenticate.
func (s *Server) limitRate(next http.Handler) http.Handler {
	if s.rate == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if ok {
			if d := s.rate.wait(token, time.Now()); d > 0 {
				secs := int(math.Ceil(d.Seconds()))
				s.writeError(w, r, failure.TooManyRequestsf(time.Duration(secs)*time.Second,
					"too many requests with this token: at most %s per second (in bursts of up to %d); retry after %d %s",
					formatRate(float64(s.rate.limit)), s.rate.burst, secs, plural(secs, "second")))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func formatRate(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%g", r)
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// concurrencyLimiter bounds the requests served at once, and each
// account's share of them.
type concurrencyLimiter struct {
	total      chan struct{}
	perAccount int

	mu       sync.Mutex
	accounts map[string]*accountSlots
}

// accountSlots are one account's slots; users counts the requests holding
// or waiting for one, so that the entry lives as long as they do.
type accountSlots struct {
	held  chan struct{}
	users int
}

func newConcurrencyLimiter(n int) *concurrencyLimiter {
	if n <= 0 {
		return nil
	}
	return &concurrencyLimiter{
		total:      make(chan struct{}, n),
		perAccount: max(1, n/4),
		accounts:   map[string]*accountSlots{},
	}
}

func (l *concurrencyLimiter) join(account string) *accountSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.accounts[account]
	if a == nil {
		a = &accountSlots{held: make(chan struct{}, l.perAccount)}
		l.accounts[account] = a
	}
	a.users++
	return a
}

func (l *concurrencyLimiter) leave(account string, a *accountSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.users--; a.users == 0 {
		delete(l.accounts, account)
	}
}

// acquire takes one of the account's slots and one of the process's,
// waiting up to concurrencyWait. It returns the release function, or the
// error to answer.
func (l *concurrencyLimiter) acquire(ctx context.Context, account string) (func(), error) {
	a := l.join(account)
	timer := time.NewTimer(concurrencyWait)
	defer timer.Stop()
	busy := func(what string) error {
		l.leave(account, a)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &failure.Error{Kind: failure.Unavailable, RetryAfter: time.Second, Detail: what + "; retry after 1 second"}
	}
	select {
	case a.held <- struct{}{}:
	case <-timer.C:
		return nil, busy(fmt.Sprintf("this account already has %d %s in progress, the most one account may have at once on this server", l.perAccount, plural(l.perAccount, "request")))
	case <-ctx.Done():
		return nil, busy("")
	}
	select {
	case l.total <- struct{}{}:
	case <-timer.C:
		<-a.held
		return nil, busy(fmt.Sprintf("the server is serving %d requests, the most it serves at once", cap(l.total)))
	case <-ctx.Done():
		<-a.held
		return nil, busy("")
	}
	return func() {
		<-l.total
		<-a.held
		l.leave(account, a)
	}, nil
}

// limitConcurrency holds a slot while an authenticated request is served.
func (s *Server) limitConcurrency(next http.Handler) http.Handler {
	if s.slots == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account := accountID(r.Context())
		if account == "" {
			next.ServeHTTP(w, r)
			return
		}
		release, err := s.slots.acquire(r.Context(), account)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}
