package config

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail"
)

func configWith(t *testing.T, env map[string]string, args ...string) (*Config, *flag.FlagSet) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c := Register(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c, fs
}

func TestPublicBaseURL(t *testing.T) {
	for addr, want := range map[string]string{
		":8080":          "http://localhost:8080",
		"0.0.0.0:9000":   "http://localhost:9000",
		"[::]:9000":      "http://localhost:9000",
		"127.0.0.1:8443": "http://127.0.0.1:8443",
		"scim.lan:80":    "http://scim.lan:80",
	} {
		c, _ := configWith(t, map[string]string{"SCIM_ADDR": addr})
		if got := c.PublicBaseURL(); got != want {
			t.Errorf("SCIM_ADDR %q: %q, want %q", addr, got, want)
		}
	}
	c, _ := configWith(t, map[string]string{"SCIM_BASE_URL": "https://scim.example.com/"})
	if err := c.Validate(); err != nil || c.PublicBaseURL() != "https://scim.example.com" {
		t.Fatalf("SCIM_BASE_URL: %q, %v", c.PublicBaseURL(), err)
	}
}

func TestInvitationSettings(t *testing.T) {
	c, _ := configWith(t, nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.TTL(); d != 7*24*time.Hour || c.SMTP() != nil {
		t.Fatalf("defaults: ttl %v, smtp %v", d, c.SMTP())
	}
	for ttl, want := range map[string]time.Duration{"2d": 48 * time.Hour, "90m": 90 * time.Minute, "3s": 3 * time.Second} {
		c, _ := configWith(t, map[string]string{"SCIM_INVITATION_TTL": ttl})
		if d, err := c.TTL(); err != nil || d != want {
			t.Errorf("TTL %q: %v %v", ttl, d, err)
		}
	}
	for env, wantErr := range map[string]string{
		"SCIM_INVITATION_TTL=0":                   "SCIM_INVITATION_TTL",
		"SCIM_INVITATION_TTL=soon":                "SCIM_INVITATION_TTL",
		"SCIM_SMTP_URL=http://u:sekrit@mail.test": "smtp://",
		"SCIM_SMTP_URL=smtp://u:sekrit@":          "host",
		"SCIM_MAIL_FROM=nobody":                   "SCIM_MAIL_FROM",
	} {
		k, v, _ := strings.Cut(env, "=")
		c, _ := configWith(t, map[string]string{k: v})
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), wantErr) || strings.Contains(err.Error(), "sekrit") {
			t.Errorf("%s: %v", env, err)
		}
	}
	c, _ = configWith(t, map[string]string{"SCIM_SMTP_URL": "smtps://mailer:sekrit@smtp.example.com"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if sc := c.SMTP(); sc == nil || sc.Security != mail.ImplicitTLS || sc.Port != "465" || sc.Password != "sekrit" || strings.Contains(sc.Redacted(), "sekrit") {
		t.Fatalf("smtps: %+v %s", sc, sc.Redacted())
	}
}

// Secrets given in the environment never show in -h.
func TestHelpHidesSecrets(t *testing.T) {
	_, fs := configWith(t, map[string]string{
		"SCIM_SMTP_URL":           "smtp://u:smtp-secret@mail.test",
		"SCIM_BOOTSTRAP_TOKEN":    "token-secret-0123456789abcdef0123456789",
		"SCIM_MONGODB_URI":        "mongodb://u:db-secret@db.test",
		"SCIM_OIDC_CLIENT_SECRET": "oidc-secret",
	})
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.PrintDefaults()
	for _, s := range []string{"smtp-secret", "token-secret", "db-secret", "oidc-secret"} {
		if strings.Contains(out.String(), s) {
			t.Errorf("-h shows %s:\n%s", s, out.String())
		}
	}
}

func TestOverloadAndShutdownSettings(t *testing.T) {
	c, _ := configWith(t, nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r, _ := c.RequestRate()
	n, _ := c.MaxConcurrentRequests()
	d, _ := c.ShutdownTimeout()
	if r != 2000 || n != 64 || d != 25*time.Second {
		t.Fatalf("defaults: rate %v, concurrent %d, shutdown %v", r, n, d)
	}
	c, _ = configWith(t, map[string]string{"SCIM_RATE_LIMIT": "0.5"}, "--max-concurrent-requests", "0")
	if r, _ := c.RequestRate(); r != 0.5 || c.Validate() != nil {
		t.Fatalf("rate 0.5: %v %v", r, c.Validate())
	}
	for env, wantErr := range map[string]string{
		"SCIM_RATE_LIMIT=-1":                  "SCIM_RATE_LIMIT",
		"SCIM_RATE_LIMIT=fast":                "SCIM_RATE_LIMIT",
		"SCIM_RATE_LIMIT=+Inf":                "SCIM_RATE_LIMIT",
		"SCIM_MAX_CONCURRENT_REQUESTS=1.5":    "SCIM_MAX_CONCURRENT_REQUESTS",
		"SCIM_MAX_CONCURRENT_REQUESTS=-3":     "SCIM_MAX_CONCURRENT_REQUESTS",
		"SCIM_SHUTDOWN_TIMEOUT=0s":            "SCIM_SHUTDOWN_TIMEOUT",
		"SCIM_SHUTDOWN_TIMEOUT=until it ends": "SCIM_SHUTDOWN_TIMEOUT",
	} {
		k, v, _ := strings.Cut(env, "=")
		c, _ := configWith(t, map[string]string{k: v})
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v", env, err)
		}
	}
}

// docs/configuration.md is what WriteDocs writes from Settings: a setting
// added or changed without regenerating the file fails here.
func TestConfigurationDocsUpToDate(t *testing.T) {
	committed, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatalf("%v: generate it with %s", err, DocsCommand)
	}
	var b strings.Builder
	if err := WriteDocs(&b); err != nil {
		t.Fatal(err)
	}
	if string(committed) != b.String() {
		t.Fatalf("docs/configuration.md is out of date with the settings of package config; regenerate it (from the repository's root):\n\t%s", DocsCommand)
	}
	var c Config
	for _, s := range c.Settings() {
		row := "| `" + s.Env + "` | `--" + s.Flag + "` |"
		if !strings.Contains(string(committed), row) {
			t.Errorf("docs/configuration.md has no row %q", row)
		}
	}
}

// A bootstrap token shorter than 32 characters is refused, with the way
// to make a good one.
func TestBootstrapTokenLength(t *testing.T) {
	for token, ok := range map[string]bool{
		"":                                 true,
		"change-me-to-a-long-secret":       false,
		"0123456789abcdef0123456789abcde":  false, // 31
		"0123456789abcdef0123456789abcdef": true,  // 32
		"change-me-to-a-long-random-secret-0123456789": true,
	} {
		c, _ := configWith(t, map[string]string{"SCIM_BOOTSTRAP_TOKEN": token})
		err := c.Validate()
		if ok != (err == nil) {
			t.Errorf("%q: %v", token, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "openssl rand -hex 32") || !strings.Contains(err.Error(), "SCIM_BOOTSTRAP_TOKEN") || strings.Contains(err.Error(), token)) {
			t.Errorf("%q: the message does not say how to fix it, or shows the token: %v", token, err)
		}
	}
}
