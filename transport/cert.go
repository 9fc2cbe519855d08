package transport

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Certificate serves a certificate and key from files, and loads them
// again when either file changes: on a TLS handshake, the files are looked
// at (stat, no read) at most once per Every. A change that does not load —
// say the certificate is written and the key not yet — keeps the old pair
// in use and is tried again at the next look.
type Certificate struct {
	certFile, keyFile string
	every             time.Duration
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamps    [2]os.FileInfo // of the files the pair in use was read from
	checked   time.Time
	badStamps [2]os.FileInfo // of the last pair that did not load (warned once)
}

// DefaultEvery is how often a Certificate looks at its files by default.
const DefaultEvery = 2 * time.Second

// NewCertificate loads the pair; every <= 0 means DefaultEvery.
func NewCertificate(certFile, keyFile string, every time.Duration, log *slog.Logger) (*Certificate, error) {
	if every <= 0 {
		every = DefaultEvery
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Certificate{certFile: certFile, keyFile: keyFile, every: every, log: log}
	stamps, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert, c.stamps, c.checked = cert, stamps, time.Now()
	return c, nil
}

// TLSConfig is a server configuration serving this certificate (TLS 1.2
// and later; HTTP/2 is offered by net/http).
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// GetCertificate is tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= c.every {
		c.checked = time.Now()
		c.reloadIfChanged()
	}
	return c.cert, nil
}

func (c *Certificate) reloadIfChanged() {
	stamps, err := c.stat()
	if err != nil {
		c.warnOnce(stamps, "TLS certificate files not readable; still serving the previous certificate", err)
		return
	}
	if same(stamps, c.stamps) {
		return
	}
	cert, err := c.load()
	if err != nil {
		c.warnOnce(stamps, "TLS certificate files changed but do not load; still serving the previous certificate (tried again in a moment)", err)
		return
	}
	c.cert, c.stamps = cert, stamps
	c.log.Info("TLS certificate reloaded", "cert", c.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

func (c *Certificate) warnOnce(stamps [2]os.FileInfo, msg string, err error) {
	if stamps[0] != nil && stamps[1] != nil && same(stamps, c.badStamps) {
		return
	}
	c.badStamps = stamps
	c.log.Warn(msg, "cert", c.certFile, "key", c.keyFile, "error", err)
}

func (c *Certificate) stat() ([2]os.FileInfo, error) {
	var out [2]os.FileInfo
	for i, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f) // follows symbolic links (Kubernetes swaps them)
		if err != nil {
			return out, err
		}
		out[i] = fi
	}
	return out, nil
}

func (c *Certificate) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", c.certFile, err)
		}
	}
	return &cert, nil
}

// same is whether two stats show the same files unchanged (a file
// replaced by another, or rewritten, differs in identity, time or size).
func same(a, b [2]os.FileInfo) bool {
	for i := range a {
		if a[i] == nil || b[i] == nil || !os.SameFile(a[i], b[i]) || !a[i].ModTime().Equal(b[i].ModTime()) || a[i].Size() != b[i].Size() {
			return false
		}
	}
	return true
}
