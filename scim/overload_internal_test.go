package scim

import (
	"context"
	"strings"
	"testing"

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
