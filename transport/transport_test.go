package transport

import (
	"bytes"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/transport/transporttest"
)

func TestProxies(t *testing.T) {
	p := NewProxies([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")})
	for _, tc := range []struct {
		name, peer, xff, proto string
		tls                    bool
		client, scheme         string
	}{
		{"untrusted peer: headers ignored", "203.0.113.9:4000", "198.51.100.1", "https", false, "203.0.113.9", "http"},
		{"untrusted peer over TLS", "203.0.113.9:4000", "", "http", true, "203.0.113.9", "https"},
		{"trusted proxy", "10.1.2.3:4000", "198.51.100.1", "https", false, "198.51.100.1", "https"},
		{"chain of trusted proxies", "10.1.2.3:4000", "198.51.100.1, 10.9.9.9", "https", false, "198.51.100.1", "https"},
		{"client-written entries on the left are not believed", "10.1.2.3:4000", "1.1.1.1, 198.51.100.1", "", false, "198.51.100.1", "http"},
		{"spoofed trusted address behind an untrusted hop", "10.1.2.3:4000", "10.5.5.5, 198.51.100.1", "", false, "198.51.100.1", "http"},
		{"all hops trusted: the leftmost", "10.1.2.3:4000", "10.7.7.7,10.8.8.8", "", false, "10.7.7.7", "http"},
		{"garbage stops the walk", "10.1.2.3:4000", "198.51.100.1, unknown", "", false, "10.1.2.3", "http"},
		{"port and IPv6", "[2001:db8::5]:443", "[2001:db8:ffff::1]:80, 198.51.100.7:5123", "HTTPS", false, "198.51.100.7", "https"},
		{"nearest proxy's scheme wins", "10.1.2.3:4000", "", "https, http", false, "10.1.2.3", "http"},
		{"nonsense scheme ignored", "10.1.2.3:4000", "", "gopher", true, "10.1.2.3", "https"},
		{"no proxy headers", "10.1.2.3:4000", "", "", false, "10.1.2.3", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			r.TLS = nil
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r = p.Resolve(r)
			if got := ClientIP(r).String(); got != tc.client {
				t.Errorf("client %s, want %s", got, tc.client)
			}
			if got := Scheme(r); got != tc.scheme {
				t.Errorf("scheme %s, want %s", got, tc.scheme)
			}
		})
	}
	// Trusting nobody (the default) is the same as no proxies at all.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.1.2.3:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.TLS = nil
	r = NewProxies(nil).Resolve(r)
	if ClientIP(r).String() != "10.1.2.3" || Scheme(r) != "http" {
		t.Errorf("no trusted proxies: %s %s", ClientIP(r), Scheme(r))
	}
}

// A replaced certificate is served from the next handshake after the
// files are next looked at; a half-written pair keeps the old one.
func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := transporttest.SelfSigned(t, "a.test")
	certB, keyB := transporttest.SelfSigned(t, "b.test")
	write(t, certFile, certA)
	write(t, keyFile, keyA)
	var logs bytes.Buffer
	every := 50 * time.Millisecond
	c, err := NewCertificate(certFile, keyFile, every, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: c.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "a.test" {
		t.Fatalf("served %s", got)
	}
	// Half-written: the new certificate with the old key.
	write(t, certFile, certB)
	time.Sleep(2 * every)
	if got := served(); got != "a.test" {
		t.Fatalf("a mismatched pair was served: %s", got)
	}
	if !strings.Contains(logs.String(), "do not load") {
		t.Errorf("no warning about the pair that does not load:\n%s", logs.String())
	}
	write(t, keyFile, keyB)
	time.Sleep(2 * every)
	if got := served(); got != "b.test" {
		t.Fatalf("after the rotation %s is served", got)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no log of the reload:\n%s", logs.String())
	}
	// Files removed: the current pair stays.
	os.Remove(keyFile)
	time.Sleep(2 * every)
	if got := served(); got != "b.test" {
		t.Fatalf("after the key vanished %s is served", got)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
