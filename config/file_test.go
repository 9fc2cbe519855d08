package config

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/transport/transporttest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// flag > environment > file > default, each value's source recorded.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "scim.yaml", `
addr: ":9001"
base-url: https://file.example.com
log-level: debug
log-format: json
trusted-proxies:
  - 10.0.0.0/8
  - 192.168.1.7
`)
	env := map[string]string{
		"SCIM_CONFIG":    file,
		"SCIM_ADDR":      ":9002",
		"SCIM_LOG_LEVEL": "warn",
	}
	c, _ := configWith(t, env, "--addr", ":9003")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, got, want, source string }{
		{"addr", c.Addr, ":9003", SourceFlag},           // flag beats environment and file
		{"log-level", c.LogLevel, "warn", SourceEnv},    // environment beats file
		{"log-format", c.LogFormat, "json", SourceFile}, // file beats default
		{"base-url", c.BaseURL, "https://file.example.com", SourceFile},
		{"trusted-proxies", c.TrustedProxies, "10.0.0.0/8,192.168.1.7", SourceFile},
		{"mail-from", c.MailFrom, "TimeCamp <no-reply@localhost>", SourceDefault},
		{"config", c.ConfigFile, file, SourceEnv},
	} {
		if tc.got != tc.want || c.Source(tc.flag) != tc.source {
			t.Errorf("%s = %q from %s, want %q from %s", tc.flag, tc.got, c.Source(tc.flag), tc.want, tc.source)
		}
	}
	p, err := c.Proxies()
	if err != nil || len(p) != 2 || p[1].String() != "192.168.1.7/32" {
		t.Errorf("proxies %v %v", p, err)
	}
	// The config file may come from the flag too, and an empty variable
	// still counts as given (it beats the file).
	c, _ = configWith(t, map[string]string{"SCIM_BASE_URL": ""}, "--config", file)
	if err := c.Validate(); err != nil || c.Addr != ":9001" || c.BaseURL != "" || c.Source("base-url") != SourceEnv || c.Source("config") != SourceFlag {
		t.Errorf("--config: addr %q base %q (%s), %v", c.Addr, c.BaseURL, c.Source("base-url"), err)
	}
}

func TestConfigFileMistakes(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"unknown":     {"adr: :8080\n", `scim.yaml:1: unknown setting "adr"; the settings are addr, base-url`},
		"env name":    {"log-level: info\nSCIM_ADDR: :8080\n", `scim.yaml:2: unknown setting "SCIM_ADDR": the file uses flag names (addr)`},
		"nested":      {"addr:\n  port: 8080\n", "addr must be a value"},
		"not a map":   {"- addr\n", "must be a mapping of settings"},
		"bad yaml":    {"addr: [\n", "not valid YAML"},
		"twice":       {"addr: :1\naddr: :2\n", "scim.yaml:2: addr is set twice"},
		"self":        {"config: other.yaml\n", "cannot name another config file"},
		"bad value":   {"log-format: xml\n", `SCIM_LOG_FORMAT must be text or json, got "xml"`},
		"missing URI": {"mongodb-uri: postgres://u:hunter2@db\n", "SCIM_MONGODB_URI is not a MongoDB connection string"},
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := configWith(t, map[string]string{"SCIM_CONFIG": writeFile(t, "scim.yaml", tc.content)})
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	c, _ := configWith(t, map[string]string{"SCIM_CONFIG": filepath.Join(t.TempDir(), "absent.yaml")})
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "SCIM_CONFIG: cannot read the config file") {
		t.Fatalf("absent file: %v", err)
	}
	c, _ = configWith(t, map[string]string{"SCIM_CONFIG": writeFile(t, "empty.yaml", "# nothing here\n")})
	if err := c.Validate(); err != nil || c.Addr != ":8080" {
		t.Fatalf("empty file: %v", err)
	}
}

// Each mistake is named by its variable, and no secret is repeated back.
func TestValidationMessages(t *testing.T) {
	for env, want := range map[string]string{
		"SCIM_MONGODB_URI=mongodb://u:hunter2@":                           "SCIM_MONGODB_URI is not a MongoDB connection string",
		"SCIM_MONGODB_URI=mongodb://u:hunter2@db/?w=often&journal=sure":   "SCIM_MONGODB_URI",
		"SCIM_MONGODB_URI=mysql://u:hunter2@db":                           "SCIM_MONGODB_URI",
		"SCIM_MONGODB_URI=mongodb+srv://u:hunter2@a.example.com:27017/":   "one host name, without a port",
		"SCIM_MONGODB_URI=mongodb://u:hunter2@db1,db2/?w=0":               "unacknowledged writes (w=0)",
		"SCIM_MONGODB_URI=mongodb://u:hunter2@db/?readPreference=nearest": "readPreference=nearest",
		"SCIM_METRICS_ADDR=9090":                                          "SCIM_METRICS_ADDR must be an address such as :9090",
		"SCIM_METRICS_ADDR=:8080":                                         "the same address as SCIM_ADDR",
		"SCIM_TLS_CERT=/etc/cert.pem":                                     "SCIM_TLS_CERT is set but SCIM_TLS_KEY is not",
		"SCIM_TLS_KEY=/etc/key.pem":                                       "SCIM_TLS_KEY is set but SCIM_TLS_CERT is not",
		"SCIM_TRUSTED_PROXIES=10.0.0.0/8,proxy.lan":                       `SCIM_TRUSTED_PROXIES: "proxy.lan" is neither an address nor a CIDR`,
		"SCIM_OIDC_ISSUER=login.example.com":                              "SCIM_OIDC_ISSUER must be the issuer's URL",
		"SCIM_OIDC_ISSUER=https://login.example.com":                      "SCIM_OIDC_CLIENT_ID is not",
		"SCIM_OIDC_CLIENT_SECRET=hunter2":                                 "SCIM_OIDC_CLIENT_SECRET is set but SCIM_OIDC_ISSUER is not",
	} {
		k, v, _ := strings.Cut(env, "=")
		c, _ := configWith(t, map[string]string{k: v})
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: got %v, want %q", env, err, want)
		}
	}
	for _, uri := range []string{
		"mongodb://localhost:27017",
		"mongodb://u:p%40ss@db1:27017,db2:27017/?replicaSet=rs0&w=majority",
		"mongodb+srv://u:p@cluster0.example.mongodb.net/?retryWrites=true&w=majority",
	} {
		c, _ := configWith(t, map[string]string{"SCIM_MONGODB_URI": uri})
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", uri, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://u:hunter2@db1,db2/x?replicaSet=rs0":                    "mongodb://u:REDACTED@db1,db2/x?replicaSet=rs0",
		"mongodb://u:hun/ter#2@db/":                                       "mongodb://u:REDACTED@db/",
		"mongodb://u:hun?ter2@db/":                                        "mongodb://u:REDACTED@db/",
		"mongodb://db/?authMechanismProperties=AWS_SESSION_TOKEN:hunter2": "mongodb://db/?authMechanismProperties=REDACTED",
		"smtps://mailer@smtp.example.com":                                 "smtps://mailer@smtp.example.com",
		"smtp://mailer:hunter2@smtp.example.com:587":                      "smtp://mailer:REDACTED@smtp.example.com:587",
		"https://scim.example.com/?a=b@c":                                 "https://scim.example.com/?a=b@c",
		"plain":                                                           "plain",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// config print shows every setting with its source, and no secret.
func TestPrintHidesSecrets(t *testing.T) {
	file := writeFile(t, "scim.yaml", "oidc-client-secret: file-hunter2\nsmtp-url: smtp://mailer:smtp-hunter2@smtp.example.com\n")
	c, _ := configWith(t, map[string]string{
		"SCIM_CONFIG":          file,
		"SCIM_BOOTSTRAP_TOKEN": "token-hunter2-0123456789abcdef01234567",
		"SCIM_MONGODB_URI":     "mongodb://scim:db-hunter2@db1,db2/?replicaSet=rs0",
		"SCIM_OIDC_ISSUER":     "https://login.example.com",
		"SCIM_OIDC_CLIENT_ID":  "scim-console",
	})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Print(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "hunter2") {
		t.Fatalf("config print shows a secret:\n%s", text)
	}
	for _, want := range []string{
		"bootstrap-token: REDACTED # environment SCIM_BOOTSTRAP_TOKEN (secret, redacted)",
		"mongodb-uri: mongodb://scim:REDACTED@db1,db2/?replicaSet=rs0 # environment SCIM_MONGODB_URI",
		"smtp-url: smtp://mailer:REDACTED@smtp.example.com # file " + file,
		"oidc-client-secret: REDACTED # file " + file,
		"oidc-client-id: scim-console # environment SCIM_OIDC_CLIENT_ID",
		"addr: :8080 # default",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("config print lacks %q:\n%s", want, text)
		}
	}
	for _, s := range c.Settings() {
		if !strings.Contains(text, "\n"+s.Flag+":") {
			t.Errorf("config print lacks %s", s.Flag)
		}
	}
}

// A secret that is no URL is hidden whole, even when it has "://" in it
// (only the URL settings show their host, without the password).
func TestPrintHidesSecretsThatLookLikeURLs(t *testing.T) {
	c, _ := configWith(t, map[string]string{
		"SCIM_BOOTSTRAP_TOKEN":    "tok://hunter2-0123456789abcdef0123456789",
		"SCIM_OIDC_ISSUER":        "https://login.example.com",
		"SCIM_OIDC_CLIENT_ID":     "scim-console",
		"SCIM_OIDC_CLIENT_SECRET": "a://b:c@hunter2",
	})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Print(&out); err != nil {
		t.Fatal(err)
	}
	if text := out.String(); strings.Contains(text, "hunter2") ||
		!strings.Contains(text, "bootstrap-token: REDACTED #") || !strings.Contains(text, "oidc-client-secret: REDACTED #") {
		t.Fatalf("config print shows a secret:\n%s", text)
	}
}

func TestCheckServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	_, otherKey := writeKeyPair(t, dir, "b")
	for name, tc := range map[string]struct{ cert, key, want string }{
		"missing key":    {cert, filepath.Join(dir, "nokey.pem"), "SCIM_TLS_KEY: cannot read the private key"},
		"key is a dir":   {cert, dir, "SCIM_TLS_KEY: cannot read the private key"},
		"missing cert":   {filepath.Join(dir, "nocert.pem"), key, "SCIM_TLS_CERT: cannot read the certificate"},
		"key of another": {cert, otherKey, "are not a usable certificate and key"},
		"swapped":        {key, cert, "are not a usable certificate and key"},
	} {
		c, _ := configWith(t, map[string]string{"SCIM_TLS_CERT": tc.cert, "SCIM_TLS_KEY": tc.key})
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := c.CheckServe(context.Background()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	c, _ := configWith(t, map[string]string{"SCIM_TLS_CERT": cert, "SCIM_TLS_KEY": key})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckServe(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// config check asks the issuer (serve does not: see TestServeDoesNotAskIssuer).
func TestCheckIssuer(t *testing.T) {
	oidcTimeout = 500 * time.Millisecond
	t.Cleanup(func() { oidcTimeout = 5 * time.Second })
	var issuerURL string
	mux := http.NewServeMux()
	mux.HandleFunc("/good/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer": %q}`, issuerURL+"/good")
	})
	mux.HandleFunc("/other/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"issuer": "https://elsewhere.example.com"}`)
	})
	mux.HandleFunc("/slow/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuerURL = srv.URL
	closed := closedPortURL(t)
	for issuer, want := range map[string]string{
		srv.URL + "/good":    "",
		srv.URL + "/missing": "answered 404 Not Found, not its discovery document",
		srv.URL + "/other":   `names itself "https://elsewhere.example.com"`,
		srv.URL + "/slow":    "does not answer",
		closed:               "SCIM_OIDC_ISSUER " + closed + " does not answer",
	} {
		c, _ := configWith(t, map[string]string{"SCIM_OIDC_ISSUER": issuer, "SCIM_OIDC_CLIENT_ID": "console"})
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := c.CheckServe(context.Background()); err != nil {
			t.Errorf("%s: CheckServe asked the issuer: %v", issuer, err)
		}
		start := time.Now()
		err := c.CheckIssuer(context.Background())
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: the check took %v", issuer, took)
		}
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: got %v, want %q", issuer, err, want)
		}
	}
}

// closedPortURL is an http URL on localhost where nothing listens.
func closedPortURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// writeKeyPair writes a self-signed certificate and its key.
func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := transporttest.SelfSigned(t, name)
	certFile, keyFile = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}
