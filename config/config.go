// Package config reads the server's settings from flags, environment
// variables and an optional YAML file into one validated Config. A flag
// wins over its environment variable, which wins over the file, which wins
// over the default (see file.go). Validate loads the file and checks every
// setting without touching the network; CheckServe (check.go) also reads
// the TLS files and asks the OIDC issuer, for the server only.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/mail"
)

// MinBootstrapToken is the shortest SCIM_BOOTSTRAP_TOKEN accepted.
const MinBootstrapToken = 32

// Config holds every setting of the server and the management commands.
type Config struct {
	Addr           string // listen address
	BaseURL        string // public URL used in meta.location; empty: from each request
	MongoURI       string // MongoDB to use; empty: the embedded database
	Database       string // database name
	DataDir        string // the embedded database's folder
	DataSync       string // when the embedded database's writes reach the disk: interval or commit
	BootstrapToken string // ensures account "default" accepts this token
	LogLevel       string // debug, info, warn, error
	LogFormat      string // text or json
	SMTPURL        string // smtp:// or smtps:// server for invitation emails; empty: logged
	MailFrom       string // sender of invitation emails
	InvitationTTL  string // how long an accept link works, e.g. 168h or 7d

	ConfigFile     string // YAML file of settings (flag names as keys); empty: none
	MetricsAddr    string // own listener for /metrics; empty: on Addr
	TLSCert        string // PEM certificate chain; with TLSKey, serve HTTPS
	TLSKey         string // PEM private key of TLSCert
	TrustedProxies string // comma-separated CIDRs whose X-Forwarded-* headers count

	// Admin console sign-in (OpenID Connect).
	OIDCIssuer       string // issuer URL; its discovery document must answer
	OIDCClientID     string
	OIDCClientSecret string
	OIDCRedirectURL  string // e.g. https://scim.example.com/admin/callback

	ActivityRetention string // how long the activity log is kept, e.g. 90d

	RateLimit     string // SCIM requests per second per token (bursts of as many); 0: none
	MaxConcurrent string // SCIM requests served at once, a quarter per account; 0: no bound
	AuthFailures  string // failed SCIM authentications a minute per client address; 0: no limit
	ShutdownGrace string // how long in-flight requests may finish after SIGTERM

	// Filled by Register and load (file.go): where each value came from.
	fs      *flag.FlagSet
	lookup  func(string) (string, bool)
	sources map[string]string // flag name → source
	loaded  bool
}

// Setting describes one setting, for flags and docs/configuration.md.
type Setting struct {
	Flag, Env, Default, Usage string
	target                    *string
	// secret settings never show their value (help output included).
	secret bool
}

// Settings lists the settings bound to c.
func (c *Config) Settings() []Setting {
	return []Setting{
		{"addr", "SCIM_ADDR", ":8080", "address to listen on", &c.Addr, false},
		{"base-url", "SCIM_BASE_URL", "", "public base URL of the server, e.g. https://scim.example.com (default: taken from each request)", &c.BaseURL, false},
		{"mongodb-uri", "SCIM_MONGODB_URI", "", "MongoDB connection string (default: the embedded database)", &c.MongoURI, true},
		{"mongodb-database", "SCIM_MONGODB_DATABASE", "timecamp_scim", "database name", &c.Database, false},
		{"data-dir", "SCIM_DATA_DIR", "./data", "folder of the embedded database", &c.DataDir, false},
		{"data-sync", "SCIM_DATA_SYNC", "interval", "when the embedded database's writes reach the disk: interval (within 0.1 s, in the background; a crash of the server loses nothing, a power cut the last 0.1 s) or commit (before each write is answered, about 2 ms more per write)", &c.DataSync, false},
		{"bootstrap-token", "SCIM_BOOTSTRAP_TOKEN", "", "make account \"default\" accept this SCIM token: a random secret of at least 32 characters, e.g. from openssl rand -hex 32 (prefer the environment variable: flags show in process lists). A token revoked in the console stays revoked: serve then starts without it and logs an error", &c.BootstrapToken, true},
		{"log-level", "SCIM_LOG_LEVEL", "info", "log level: debug, info, warn or error", &c.LogLevel, false},
		{"log-format", "SCIM_LOG_FORMAT", "text", "log format: text or json", &c.LogFormat, false},
		{"smtp-url", "SCIM_SMTP_URL", "", "SMTP server for invitation emails: smtps://user:password@host:465 (TLS) or smtp://user:password@host:587 (STARTTLS, required: a server that does not offer it gets no email; a certificate that fails verification is an error). Without TLS only to a loopback address (STARTTLS when offered) or with ?tls=none (a relay on a private network, no credentials; logged at start). Default: emails are written to the log", &c.SMTPURL, true},
		{"mail-from", "SCIM_MAIL_FROM", "TimeCamp <no-reply@localhost>", "sender of invitation emails, e.g. \"TimeCamp <no-reply@example.com>\"", &c.MailFrom, false},
		{"invitation-ttl", "SCIM_INVITATION_TTL", "7d", "how long an invitation link works: a duration such as 7d, 48h or 30m", &c.InvitationTTL, false},
		{"config", "SCIM_CONFIG", "", "YAML file of settings, keyed by flag name (a flag or variable wins over the file)", &c.ConfigFile, false},
		{"metrics-addr", "SCIM_METRICS_ADDR", "", "address of a listener of its own for /metrics, e.g. :9090 (default: /metrics on the main address)", &c.MetricsAddr, false},
		{"tls-cert", "SCIM_TLS_CERT", "", "PEM certificate (chain) file: serve HTTPS; the file is read again when it changes", &c.TLSCert, false},
		{"tls-key", "SCIM_TLS_KEY", "", "PEM private key file of --tls-cert", &c.TLSKey, false},
		{"trusted-proxies", "SCIM_TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (default: none)", &c.TrustedProxies, false},
		{"oidc-issuer", "SCIM_OIDC_ISSUER", "", "issuer URL of the OpenID Connect provider administrators sign in to the admin console with, e.g. https://login.microsoftonline.com/TENANT/v2.0 (default: no admin console)", &c.OIDCIssuer, false},
		{"oidc-client-id", "SCIM_OIDC_CLIENT_ID", "", "the admin console's client id at the OpenID Connect provider", &c.OIDCClientID, false},
		{"oidc-client-secret", "SCIM_OIDC_CLIENT_SECRET", "", "the admin console's client secret at the OpenID Connect provider (prefer the environment variable)", &c.OIDCClientSecret, true},
		{"oidc-redirect-url", "SCIM_OIDC_REDIRECT_URL", "", "where the provider sends administrators back (default: {SCIM_BASE_URL}/admin/callback)", &c.OIDCRedirectURL, false},
		{"activity-retention", "SCIM_ACTIVITY_RETENTION", "90d", "how long the activity log keeps changes and refused requests: a duration such as 90d or 720h", &c.ActivityRetention, false},
		{"rate-limit", "SCIM_RATE_LIMIT", "2000", "SCIM requests per second one token may send, in bursts of as many (per server instance); 0 turns the limit off", &c.RateLimit, false},
		{"max-concurrent-requests", "SCIM_MAX_CONCURRENT_REQUESTS", "64", "SCIM requests served at once (one account may hold a quarter of them); 0 turns the bound off", &c.MaxConcurrent, false},
		{"auth-failure-limit", "SCIM_AUTH_FAILURE_LIMIT", "20", "failed SCIM authentications (401) one client address may make a minute, in bursts of as many, before it gets 429 with Retry-After (per server instance, whatever SCIM_RATE_LIMIT says; the address is the one SCIM_TRUSTED_PROXIES lets the server believe, an IPv6 client counts by its /64); a token that authenticated recently is never held back. 0 turns the limit off", &c.AuthFailures, false},
		{"shutdown-timeout", "SCIM_SHUTDOWN_TIMEOUT", "25s", "how long requests in progress may run on after SIGTERM before they are cancelled", &c.ShutdownGrace, false},
	}
}

// Register adds the settings' flags to fs, with defaults taken from the
// environment (lookup is os.LookupEnv outside tests).
func Register(fs *flag.FlagSet, lookup func(string) (string, bool)) *Config {
	c := &Config{fs: fs, lookup: lookup}
	for _, s := range c.Settings() {
		def := s.Default
		if v, ok := lookup(s.Env); ok {
			def = v
		}
		fs.StringVar(s.target, s.Flag, def, s.Usage+" ($"+s.Env+")")
		if s.secret {
			fs.Lookup(s.Flag).DefValue = "" // -h must not print it
		}
	}
	return c
}

// FromEnvironment is Register with the process environment.
func FromEnvironment(fs *flag.FlagSet) *Config { return Register(fs, os.LookupEnv) }

// Validate completes the settings from the config file (those neither a
// flag nor the environment gave) and checks them all, saying what to fix.
// It reads no other file and asks no server: see CheckServe.
func (c *Config) Validate() error {
	if err := c.load(); err != nil {
		return err
	}
	c.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("SCIM_BASE_URL must be an absolute http(s) URL such as https://scim.example.com, got %q", c.BaseURL)
		}
	}
	if strings.TrimSpace(c.Addr) == "" {
		return fmt.Errorf("SCIM_ADDR must not be empty (e.g. :8080)")
	}
	if c.Database == "" || strings.ContainsAny(c.Database, "/\\. \"$") {
		return fmt.Errorf("SCIM_MONGODB_DATABASE must be a MongoDB database name without /\\. \"$, got %q", c.Database)
	}
	if c.MongoURI == "" && c.DataDir == "" {
		return fmt.Errorf("SCIM_DATA_DIR must not be empty when no SCIM_MONGODB_URI is set")
	}
	if c.DataSync != "interval" && c.DataSync != "commit" {
		return fmt.Errorf("SCIM_DATA_SYNC must be interval or commit, got %q", c.DataSync)
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("SCIM_LOG_FORMAT must be text or json, got %q", c.LogFormat)
	}
	if n := len(c.BootstrapToken); n > 0 && n < MinBootstrapToken {
		return fmt.Errorf("SCIM_BOOTSTRAP_TOKEN is %d characters long; it must be a random secret of at least %d characters (anyone who guesses it provisions account \"default\"): generate one with  openssl rand -hex 32", n, MinBootstrapToken)
	}
	if c.SMTPURL != "" {
		if _, err := mail.ParseSMTPURL(c.SMTPURL); err != nil {
			return err
		}
	}
	if a, err := netmail.ParseAddress(c.MailFrom); err != nil || !strings.Contains(a.Address, "@") {
		return fmt.Errorf("SCIM_MAIL_FROM must be an email address such as \"TimeCamp <no-reply@example.com>\", got %q", c.MailFrom)
	}
	if _, err := c.TTL(); err != nil {
		return err
	}
	if err := validateMongoURI(c.MongoURI); err != nil {
		return err
	}
	if err := c.validateServing(); err != nil {
		return err
	}
	if _, err := c.Retention(); err != nil {
		return err
	}
	if _, err := c.RequestRate(); err != nil {
		return err
	}
	if _, err := c.MaxConcurrentRequests(); err != nil {
		return err
	}
	if _, err := c.AuthFailureLimit(); err != nil {
		return err
	}
	if _, err := c.ShutdownTimeout(); err != nil {
		return err
	}
	return nil
}

// RequestRate is SCIM_RATE_LIMIT: requests per second per token, 0 for no
// limit.
func (c *Config) RequestRate() (float64, error) {
	r, err := strconv.ParseFloat(strings.TrimSpace(c.RateLimit), 64)
	if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, fmt.Errorf("SCIM_RATE_LIMIT must be a number of requests per second such as 100 (0 turns the limit off), got %q", c.RateLimit)
	}
	return r, nil
}

// MaxConcurrentRequests is SCIM_MAX_CONCURRENT_REQUESTS, 0 for no bound.
func (c *Config) MaxConcurrentRequests() (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(c.MaxConcurrent))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("SCIM_MAX_CONCURRENT_REQUESTS must be a whole number such as 64 (0 turns the bound off), got %q", c.MaxConcurrent)
	}
	return n, nil
}

// AuthFailureLimit is SCIM_AUTH_FAILURE_LIMIT, 0 for no limit.
func (c *Config) AuthFailureLimit() (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(c.AuthFailures))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("SCIM_AUTH_FAILURE_LIMIT must be a whole number of failed authentications a minute such as 20 (0 turns the limit off), got %q", c.AuthFailures)
	}
	return n, nil
}

// ShutdownTimeout is SCIM_SHUTDOWN_TIMEOUT.
func (c *Config) ShutdownTimeout() (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(c.ShutdownGrace))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("SCIM_SHUTDOWN_TIMEOUT must be a positive duration such as 25s or 2m, got %q", c.ShutdownGrace)
	}
	return d, nil
}

// TTL is how long an invitation link works.
func (c *Config) TTL() (time.Duration, error) {
	s := strings.TrimSpace(c.InvitationTTL)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("SCIM_INVITATION_TTL must be a positive duration such as 7d, 48h or 30m, got %q", c.InvitationTTL)
	}
	return d, nil
}

// SMTP is the configured SMTP server, or nil when invitation emails are
// logged instead.
func (c *Config) SMTP() *mail.SMTPConfig {
	if c.SMTPURL == "" {
		return nil
	}
	sc, _ := mail.ParseSMTPURL(c.SMTPURL)
	return sc
}

// PublicBaseURL is the URL invitation links start with: SCIM_BASE_URL, or
// else http://HOST:PORT from SCIM_ADDR, with localhost for an address that
// listens on every interface (":8080" gives http://localhost:8080).
func (c *Config) PublicBaseURL() string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	host, port, err := net.SplitHostPort(strings.TrimSpace(c.Addr))
	if err != nil {
		return "http://localhost:8080"
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Level is the configured log level.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("SCIM_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return l, nil
}

// Logger returns a logger writing to stderr as configured.
func (c *Config) Logger() *slog.Logger {
	l, _ := c.Level()
	opts := &slog.HandlerOptions{Level: l}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
