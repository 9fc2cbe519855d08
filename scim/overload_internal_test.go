package scim

import (
	"context"
	"crypto/sha256"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
)

// When every slot of the process is taken, by accounts each within their
// share, a request of yet another account waits and then gets 503; it
// gets a slot as soon as one is released.
func TestConcurrencyBoundOfTheProcess(t *testing.T) {
	l := newConcurrencyLimiter(4)
	ctx := context.Background()
	var releases []func()
	for _, a := range []string{"a", "b", "c", "d"} {
		release, err := l.acquire(ctx, a)
		if err != nil {
			t.Fatalf("account %s: %v", a, err)
		}
		releases = append(releases, release)
	}
	_, err := l.acquire(ctx, "e")
	if f, ok := failure.As(err); !ok || f.Kind != failure.Unavailable || f.RetryAfter <= 0 || !strings.Contains(f.Detail, "the server is serving 4 requests") {
		t.Fatalf("fifth account: %v", err)
	}
	releases[0]()
	release, err := l.acquire(ctx, "e")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	release()
	for _, r := range releases[1:] {
		r()
	}
	if len(l.accounts) != 0 || len(l.total) != 0 {
		t.Fatalf("slots left behind: %d accounts, %d taken", len(l.accounts), len(l.total))
	}
}

// The failed-authentication state stays bounded under bad tokens from
// very many addresses (every IPv6 address of a /64 counts as one), and
// the throttle still holds the address that keeps failing.
func TestAuthLimiterMemoryBounded(t *testing.T) {
	l := newAuthLimiter(5)
	now := time.Now()
	var bad [sha256.Size]byte
	for i := range 3 * maxAddrs {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.failed(a, bad, now)
		if len(l.byAddr) > maxAddrs {
			t.Fatalf("%d addresses kept after %d failures", len(l.byAddr), i+1)
		}
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	for i := range 10 {
		b := v6.As16()
		b[15] = byte(i) // the same /64
		l.failed(netip.AddrFrom16(b), bad, now)
	}
	if d := l.wait(netip.MustParseAddr("2001:db8::ffff"), bad, now); d <= 0 {
		t.Fatal("an IPv6 client escaped the throttle by changing its address within its /64")
	}
	var good [sha256.Size]byte
	for i := range 2 * maxKnown {
		good[0], good[1], good[2] = byte(i), byte(i>>8), byte(i>>16)
		l.succeeded(good, now)
	}
	if len(l.known) > maxKnown {
		t.Fatalf("%d good tokens kept", len(l.known))
	}
}

// BenchmarkAuthLimiterGoodToken is what the failed-authentication throttle
// adds to every request with a good token: hashing the token, and reading
// (once a minute writing) the limiter's maps.
func BenchmarkAuthLimiterGoodToken(b *testing.B) {
	l := newAuthLimiter(20)
	client := netip.MustParseAddr("203.0.113.7")
	token := "tcscim_" + strings.Repeat("x", 43)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			sum := sha256.Sum256([]byte(token))
			if l.wait(client, sum, now) > 0 {
				b.Fatal("held back")
			}
			l.succeeded(sum, now)
		}
	})
}
