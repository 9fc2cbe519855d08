package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// validateMongoURI parses a MongoDB connection string as the driver will.
// A mongodb+srv:// URI is parsed as mongodb:// (its one host checked by
// hand) so that validating asks no DNS server. The driver's message is
// passed on with the URI's secrets taken out.
func validateMongoURI(uri string) error {
	if uri == "" {
		return nil
	}
	const example = "mongodb://user:password@db1:27017,db2:27017/?replicaSet=rs0 or mongodb+srv://user:password@cluster.example.com/"
	parse := uri
	srv := strings.HasPrefix(uri, "mongodb+srv://")
	if srv {
		parse = "mongodb://" + strings.TrimPrefix(uri, "mongodb+srv://")
	}
	cs, err := connstring.ParseAndValidate(parse)
	if err == nil && srv && (len(cs.Hosts) != 1 || strings.Contains(cs.Hosts[0], ":")) {
		err = fmt.Errorf("a mongodb+srv:// URI names one host name, without a port")
	}
	if err != nil {
		return fmt.Errorf("SCIM_MONGODB_URI is not a MongoDB connection string such as %s: %s", example, scrub(err.Error(), uri))
	}
	// The server answers 2xx only for writes the database stored, and
	// reads what it just wrote: unacknowledged writes and reads from
	// secondaries (which lag) would break both.
	if cs.WNumberSet && cs.WNumber == 0 {
		return fmt.Errorf("SCIM_MONGODB_URI asks for unacknowledged writes (w=0): the server would answer 2xx for writes the database may never store; leave w out (the server uses w=majority) or set w=majority")
	}
	if rp := cs.ReadPreference; rp != "" && !strings.EqualFold(rp, "primary") {
		return fmt.Errorf("SCIM_MONGODB_URI asks to read from secondaries (readPreference=%s): the server reads what it has just written (versions, seats, uniqueness), which a secondary may not have yet; leave readPreference out or set it to primary", rp)
	}
	return nil
}

// validateServing checks the settings of the server's listeners: metrics,
// TLS, proxies and the admin console's OpenID Connect client.
func (c *Config) validateServing() error {
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("SCIM_METRICS_ADDR must be an address such as :9090, got %q", c.MetricsAddr)
		}
		if c.MetricsAddr == c.Addr {
			return fmt.Errorf("SCIM_METRICS_ADDR is the same address as SCIM_ADDR (%s): leave it empty to serve /metrics there, or give it a port of its own", c.Addr)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		if c.TLSCert == "" {
			return fmt.Errorf("SCIM_TLS_KEY is set but SCIM_TLS_CERT is not: give both files to serve HTTPS, or neither")
		}
		return fmt.Errorf("SCIM_TLS_CERT is set but SCIM_TLS_KEY is not: give both files to serve HTTPS, or neither")
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	return c.validateOIDC()
}

// Proxies are the addresses SCIM_TRUSTED_PROXIES lists, as prefixes (a
// single address is a /32 or /128).
func (c *Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(c.TrustedProxies, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("SCIM_TRUSTED_PROXIES: %q is neither an address nor a CIDR such as 10.0.0.0/8", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (c *Config) validateOIDC() error {
	if c.OIDCIssuer == "" {
		for _, s := range []struct{ env, v string }{
			{"SCIM_OIDC_CLIENT_ID", c.OIDCClientID},
			{"SCIM_OIDC_CLIENT_SECRET", c.OIDCClientSecret},
			{"SCIM_OIDC_REDIRECT_URL", c.OIDCRedirectURL},
		} {
			if s.v != "" {
				return fmt.Errorf("%s is set but SCIM_OIDC_ISSUER is not: the admin console needs the issuer's URL to sign in", s.env)
			}
		}
		return nil
	}
	if err := absoluteHTTPURL(c.OIDCIssuer); err != nil {
		return fmt.Errorf("SCIM_OIDC_ISSUER must be the issuer's URL, such as https://login.example.com/: %v", err)
	}
	if c.OIDCClientID == "" {
		return fmt.Errorf("SCIM_OIDC_ISSUER is set but SCIM_OIDC_CLIENT_ID is not: give the client id registered with the issuer")
	}
	if c.OIDCRedirectURL != "" {
		if err := absoluteHTTPURL(c.OIDCRedirectURL); err != nil {
			return fmt.Errorf("SCIM_OIDC_REDIRECT_URL must be an absolute URL such as https://scim.example.com/admin/callback: %v", err)
		}
	}
	return nil
}

func absoluteHTTPURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("got %q", Redact(s))
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("got %q (not http or https)", Redact(s))
	case u.Host == "":
		return fmt.Errorf("got %q (no host)", Redact(s))
	}
	return nil
}
