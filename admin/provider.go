package admin

// The OpenID Connect provider, discovered in the background.
//
// The console is not on the SCIM API's critical path: a provider that is
// down, or that accepts connections and never answers, must neither stop
// the server from starting nor hold requests. So discovery runs in a
// goroutine of its own from start-up, again and again with a growing pause
// (backoff) until the provider answers; until then the sign-in pages say
// at once that sign-in is unavailable, and why. Every call to the provider
// (discovery, its keys, the code exchange) goes through one HTTP client
// with a timeout, and the exchange is also cancelled with its request. The
// lock guards the provider's state only: it is never held across a call.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Bounds of the calls to the provider and of the discovery's retries.
var (
	// providerTimeout bounds one call to the provider, answer included.
	providerTimeout = 10 * time.Second
	// firstRetry and maxRetry are the first and the longest pause
	// between two discovery attempts.
	firstRetry, maxRetry = time.Second, time.Minute
	// firstWait is how long a sign-in waits for the first discovery
	// attempt still under way (a server just started), no longer.
	firstWait = 2 * time.Second
)

// oidcClient is the discovered provider.
type oidcClient struct {
	provider  *oidc.Provider
	oauth     *oauth2.Config
	verifier  *oidc.IDTokenVerifier
	logoutURL string // end_session_endpoint, if the provider has one
}

// provider discovers the issuer in the background and hands out the
// result.
type provider struct {
	cfg  Config // Issuer, ClientID, ClientSecret, RedirectURL, HTTPClient
	log  *slog.Logger
	once sync.Once
	// first is closed when the first discovery attempt has ended.
	first chan struct{}

	mu   sync.Mutex // guards what follows; never held across network I/O
	oid  *oidcClient
	err  error     // why the last attempt failed
	next time.Time // when the next attempt starts
}

func newProvider(cfg Config, log *slog.Logger) *provider {
	return &provider{cfg: cfg, log: log, first: make(chan struct{})}
}

// start begins discovery, once, for as long as ctx lasts.
func (p *provider) start(ctx context.Context) {
	p.once.Do(func() { go p.run(ctx) })
}

func (p *provider) run(ctx context.Context) {
	pause := firstRetry
	for attempt := 1; ; attempt++ {
		oc, err := p.discover(ctx)
		p.mu.Lock()
		p.oid, p.err, p.next = oc, err, time.Now().Add(pause)
		p.mu.Unlock()
		if attempt == 1 {
			close(p.first)
		}
		if err == nil {
			if attempt > 1 {
				p.log.Info("identity provider reachable: the admin console's sign-in works again", "issuer", p.cfg.Issuer)
			}
			return
		}
		p.log.Warn("identity provider not reachable: the admin console's sign-in is unavailable until it is (SCIM is not affected)",
			"issuer", p.cfg.Issuer, "error", err, "retry_in", pause.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, maxRetry)
	}
}

// discover fetches the issuer's discovery document: one call, bounded by
// the client's timeout and by ctx.
func (p *provider) discover(ctx context.Context) (*oidcClient, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.cfg.HTTPClient), providerTimeout)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", providerTimeout)
		}
		return nil, err
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = op.Claims(&meta)
	return &oidcClient{
		provider: op,
		oauth: &oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, RedirectURL: p.cfg.RedirectURL,
			Endpoint: op.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
		},
		// The key set fetches the provider's keys with the provider's
		// client (its timeout); a request waiting for them stops
		// waiting when it is cancelled.
		verifier:  op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID}),
		logoutURL: meta.EndSession,
	}, nil
}

// errNotYet: the first discovery attempt has not ended.
var errNotYet = errors.New("it has not answered yet")

// unavailableError says why sign-in is unavailable and when discovery is
// tried again.
type unavailableError struct {
	err  error
	next time.Time
}

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// get returns the discovered provider, or at once an unavailableError. A
// sign-in that arrives while the first attempt is under way waits for it
// up to firstWait.
func (p *provider) get(ctx context.Context) (*oidcClient, error) {
	p.start(context.Background()) // when the server did not start it
	select {
	case <-p.first:
	case <-ctx.Done():
	case <-time.After(firstWait):
	}
	return p.current()
}

// current returns the discovered provider or why there is none, without
// waiting.
func (p *provider) current() (*oidcClient, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oid != nil {
		return p.oid, nil
	}
	err := p.err
	if err == nil {
		err = errNotYet
	}
	return nil, &unavailableError{err: err, next: p.next}
}

// unavailableReason says why the provider cannot be used, as anonymous
// visitors of the sign-in page may read it: the kind of failure, not the
// error itself (which may name internal addresses; the log has it).
func unavailableReason(err error) string {
	var mismatch *oidc.IssuerMismatchError
	var dns *net.DNSError
	var nerr net.Error
	switch {
	case errors.Is(err, errNotYet):
		return "it has not answered yet"
	case errors.As(err, &mismatch):
		return "its discovery document names another issuer than SCIM_OIDC_ISSUER"
	case errors.As(err, &dns):
		return "its host name does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "it refuses connections"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout(), strings.HasPrefix(err.Error(), "no answer within"):
		return fmt.Sprintf("it did not answer within %s", providerTimeout)
	}
	return "it did not serve its discovery document; the server's log says more"
}

// clientWithTimeout returns c (or a new client) with every call bounded
// by providerTimeout.
func clientWithTimeout(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	if c.Timeout > 0 && c.Timeout <= providerTimeout {
		return c
	}
	cp := *c
	cp.Timeout = providerTimeout
	return &cp
}
