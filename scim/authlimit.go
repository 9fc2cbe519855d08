package scim

import (
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttling of failed authentication, per client address (the one
// SCIM_TRUSTED_PROXIES lets the server believe): a client whose bearer
// tokens keep failing gets 429 with Retry-After instead of another
// database lookup, whatever SCIM_RATE_LIMIT says. Each address has a
// bucket of failures (Options.AuthFailures a minute, in bursts of as
// many); a request from an address whose bucket is empty is refused before
// its token is looked up, so the 401 path costs one hash and one map
// lookup, no more.
//
// Identity providers of many tenants (Entra ID, Okta) send from shared
// addresses, so someone else's bad tokens must not hold back a good one:
// a token that authenticated recently (kept as its SHA-256, in a bounded
// set) goes through whatever its address did. It is still looked up on
// every request: a revoked token stops working at once.
//
// Memory is bounded: addresses whose bucket is full again are forgotten,
// IPv6 clients count by their /64 (one client's whole network), and past
// maxAddrs (or maxKnown good tokens) arbitrary entries make room.

const (
	maxAddrs = 50_000
	maxKnown = 10_000
	// knownFor is how long a token that authenticated stays known (Entra
	// ID provisions every 40 minutes; some clients once a day).
	knownFor = 25 * time.Hour
)

type authLimiter struct {
	limit rate.Limit
	burst int

	// mu guards the maps (each limiter has its own lock); a request that
	// authenticates only reads them.
	mu       sync.RWMutex
	byAddr   map[netip.Prefix]*rate.Limiter
	nextTidy int
	known    map[[sha256.Size]byte]time.Time // good tokens → when last seen
}

// newAuthLimiter allows perMinute failed authentications a minute per
// address, in bursts of as many; nil (no limit) when perMinute is 0.
func newAuthLimiter(perMinute int) *authLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &authLimiter{
		limit: rate.Limit(float64(perMinute) / 60), burst: perMinute,
		byAddr: map[netip.Prefix]*rate.Limiter{}, nextTidy: 1024,
		known: map[[sha256.Size]byte]time.Time{},
	}
}

// clientKey is what failures are counted by: the address, or an IPv6
// address's /64.
func clientKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := a.BitLen()
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// wait reports how long a client must wait before its next attempt with
// this token (0: it may go on).
func (l *authLimiter) wait(client netip.Addr, token [sha256.Size]byte, now time.Time) time.Duration {
	l.mu.RLock()
	seen, known := l.known[token]
	lim := l.byAddr[clientKey(client)]
	l.mu.RUnlock()
	if known && now.Sub(seen) < knownFor {
		return 0
	}
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now) // asking does not count: only failures do
	return d
}

// failed counts a failed authentication of the client (and forgets the
// token, should it have been good).
func (l *authLimiter) failed(client netip.Addr, token [sha256.Size]byte, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.known, token)
	key := clientKey(client)
	lim := l.byAddr[key]
	if lim == nil {
		if len(l.byAddr) >= l.nextTidy {
			l.tidy(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byAddr[key] = lim
	}
	lim.AllowN(now, 1)
}

// succeeded remembers a token that authenticated.
func (l *authLimiter) succeeded(token [sha256.Size]byte, now time.Time) {
	l.mu.RLock()
	seen, ok := l.known[token]
	l.mu.RUnlock()
	if ok && now.Sub(seen) < time.Minute {
		return // known, and noted lately: no write
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.known[token]; !ok && len(l.known) >= maxKnown {
		prune(l.known, maxKnown*9/10, func(seen time.Time) bool { return now.Sub(seen) >= knownFor })
	}
	l.known[token] = now
}

// tidy forgets addresses whose bucket is full again (they behave as new
// ones), and makes room past maxAddrs.
func (l *authLimiter) tidy(now time.Time) {
	prune(l.byAddr, maxAddrs*9/10, func(lim *rate.Limiter) bool { return lim.TokensAt(now) >= float64(l.burst) })
	l.nextTidy = max(1024, min(maxAddrs, 2*len(l.byAddr)))
}

// prune deletes the entries done says are done with, then arbitrary ones
// down to keep (an attack from many addresses: the next prune is a tenth
// of the map's size away, so its cost spreads over as many requests).
func prune[K comparable, V any](m map[K]V, keep int, done func(V) bool) {
	for k, v := range m {
		if done(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) <= keep {
			break
		}
		delete(m, k)
	}
}
