package transport

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies whose X-Forwarded-For and
// X-Forwarded-Proto headers the server believes. A request from any other
// address is taken at face value: its peer is the client, its scheme is
// the connection's, whatever headers it sends.
type Proxies struct {
	trusted []netip.Prefix
}

// NewProxies trusts the given prefixes (none: trust nobody).
func NewProxies(trusted []netip.Prefix) *Proxies { return &Proxies{trusted: trusted} }

func (p *Proxies) trusts(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, pr := range p.trusted {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

type originKey struct{}

// origin is who sent a request and how, as the proxies tell it.
type origin struct {
	client netip.Addr
	scheme string
}

// Resolve works out the request's client address and scheme and keeps
// them in its context, for ClientIP and Scheme. Only when the peer is a
// trusted proxy are the headers read: X-Forwarded-For from the right,
// skipping trusted proxies, to the first address that is not one (what a
// client writes on the left is never believed past that); and the last
// X-Forwarded-Proto, the one the nearest proxy wrote.
func (p *Proxies) Resolve(r *http.Request) *http.Request {
	o := origin{client: peer(r), scheme: "http"}
	if r.TLS != nil {
		o.scheme = "https"
	}
	if p.trusts(o.client) {
		o.client = p.forwardedFor(r, o.client)
		if proto := lastValue(r.Header.Values("X-Forwarded-Proto")); proto == "https" || proto == "http" {
			o.scheme = proto
		}
	}
	return r.WithContext(context.WithValue(r.Context(), originKey{}, o))
}

// forwardedFor walks X-Forwarded-For from the right.
func (p *Proxies) forwardedFor(r *http.Request, peer netip.Addr) netip.Addr {
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break // garbage: believe nothing further left
		}
		client = a
		if !p.trusts(a) {
			break
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, maybe with a
// port ("203.0.113.7:5123", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func lastValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	parts := strings.Split(values[len(values)-1], ",")
	return strings.ToLower(strings.TrimSpace(parts[len(parts)-1]))
}

func peer(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientIP is the request's client address: the one Resolve worked out,
// or else the connection's peer. Invalid when neither is known.
func ClientIP(r *http.Request) netip.Addr {
	if o, ok := r.Context().Value(originKey{}).(origin); ok {
		return o.client
	}
	return peer(r)
}

// Scheme is "https" or "http": what Resolve worked out, or else the
// connection's own.
func Scheme(r *http.Request) string {
	if o, ok := r.Context().Value(originKey{}).(origin); ok {
		return o.scheme
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}
