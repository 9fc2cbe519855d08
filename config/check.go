package config

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// oidcTimeout bounds the start-up check of the OIDC issuer.
var oidcTimeout = 5 * time.Second

// CheckServe checks what the server needs beyond well-formed settings,
// so that a mistake stops it at start with a message that names it: the
// TLS files are read and must hold a matching certificate and key.
// Validate must have succeeded first. The OIDC issuer is not asked: the
// server starts, and serves SCIM, while the sign-in provider is down (the
// console discovers it in the background); see CheckIssuer.
func (c *Config) CheckServe(ctx context.Context) error {
	if c.TLSCert != "" {
		if _, err := LoadKeyPair(c.TLSCert, c.TLSKey); err != nil {
			return err
		}
	}
	return nil
}

// CheckIssuer asks the OIDC issuer, if one is set, for its discovery
// document, which must answer within oidcTimeout and name the issuer as
// configured ("timecamp-scim config check").
func (c *Config) CheckIssuer(ctx context.Context) error {
	if c.OIDCIssuer == "" {
		return nil
	}
	return checkIssuer(ctx, c.OIDCIssuer)
}

// LoadKeyPair reads a certificate and its key, naming the file at fault.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("SCIM_TLS_CERT: cannot read the certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("SCIM_TLS_KEY: cannot read the private key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The standard library's message says which part is wrong
		// (no PEM data, a key that does not match the certificate...).
		return tls.Certificate{}, fmt.Errorf("SCIM_TLS_CERT and SCIM_TLS_KEY (%s, %s) are not a usable certificate and key: %v", certFile, keyFile, err)
	}
	return cert, nil
}

// checkIssuer fetches the issuer's OpenID Connect discovery document and
// checks that it names the issuer as configured (the sign-in library
// refuses a mismatch later, with less context).
func checkIssuer(ctx context.Context, issuer string) error {
	ctx, cancel := context.WithTimeout(ctx, oidcTimeout)
	defer cancel()
	shown := Redact(issuer)
	doc := strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, doc, nil)
	if err != nil {
		return fmt.Errorf("SCIM_OIDC_ISSUER %s: %v", shown, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %s", oidcTimeout)
		}
		return fmt.Errorf("SCIM_OIDC_ISSUER %s does not answer: %s: %v", shown, Redact(doc), scrub(unwrapURLError(err).Error(), issuer))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("SCIM_OIDC_ISSUER %s: %s answered %s, not its discovery document; is the issuer URL right?", shown, Redact(doc), resp.Status)
	}
	var d struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return fmt.Errorf("SCIM_OIDC_ISSUER %s: %s is not a discovery document (JSON): %v", shown, Redact(doc), err)
	}
	if d.Issuer != issuer {
		return fmt.Errorf("SCIM_OIDC_ISSUER is %q but the issuer's discovery document names itself %q: set SCIM_OIDC_ISSUER to exactly that", shown, Redact(d.Issuer))
	}
	return nil
}

// unwrapURLError drops net/http's "Get URL:" prefix, which repeats the URL.
func unwrapURLError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && strings.HasPrefix(err.Error(), "Get ") {
		if inner := u.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}
