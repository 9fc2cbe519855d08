package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/tracing/tracingtest"
	"github.com/timecamp/timecamp-scim/transport/transporttest"
)

// The built server serves HTTPS with the configured certificate, and
// serves a replaced certificate without a restart.
func TestHTTPSWithCertificateRotation(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := transporttest.SelfSigned(t, "scim-a.test")
	certB, keyB := transporttest.SelfSigned(t, "scim-b.test")
	writeAt(t, certFile, certA)
	writeAt(t, keyFile, keyA)

	addr := freeAddr(t)
	token := randomToken()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "SCIM_ADDR="+addr, "SCIM_DATA_DIR="+filepath.Join(dir, "data"), "SCIM_BOOTSTRAP_TOKEN="+token,
		"SCIM_TLS_CERT="+certFile, "SCIM_TLS_KEY="+keyFile)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { terminate(cmd) })

	// A client that trusts either certificate and says which one it got;
	// no keep-alive, so that every request makes a handshake.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certA)
	roots.AppendCertsFromPEM(certB)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "localhost"},
	}}
	served := func() (string, error) {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err != nil {
			return "", err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("readyz: %s", resp.Status)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cn, err := served()
		if err == nil {
			if cn != "scim-a.test" {
				t.Fatalf("served %s, want scim-a.test", cn)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS answer after 60s: %v\n%s", err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Plain HTTP on the TLS port gets no API.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP is answered on the HTTPS port")
		}
	}
	// The SCIM API over HTTPS: locations are https.
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/scim/v2/Users", strings.NewReader(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"tls@example.com"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
		t.Fatalf("create over HTTPS: %s %s %s", resp.Status, resp.Header.Get("Location"), body)
	}

	// Rotate: the key first (a window where the pair does not match),
	// then the certificate.
	writeAt(t, keyFile, keyB)
	time.Sleep(300 * time.Millisecond)
	if cn, err := served(); err != nil || cn != "scim-a.test" {
		t.Fatalf("mid-rotation: %s %v", cn, err)
	}
	writeAt(t, certFile, certB)
	deadline = time.Now().Add(15 * time.Second)
	for {
		cn, err := served()
		if err == nil && cn == "scim-b.test" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced certificate is not served after 15s (got %s, %v)\n%s", cn, err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("the reload is not logged:\n%s", logs)
	}
}

// A configuration mistake stops the server at once, with a message that
// names the setting. (An OIDC issuer that does not answer is no mistake of
// configuration: the server starts without it, see TestSignInProviderOutage.)
func TestBadConfigurationFailsFast(t *testing.T) {
	dir := t.TempDir()
	cert, _ := transporttest.SelfSigned(t, "localhost")
	certFile := filepath.Join(dir, "tls.crt")
	writeAt(t, certFile, cert)
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"bad MongoDB URI", []string{"SCIM_MONGODB_URI=mongodb://scim:hunter2@db.example.com:notaport/"}, "SCIM_MONGODB_URI is not a MongoDB connection string"},
		{"not MongoDB", []string{"SCIM_MONGODB_URI=postgres://scim:hunter2@db.example.com/"}, "SCIM_MONGODB_URI"},
		{"unreadable TLS key", []string{"SCIM_TLS_CERT=" + certFile, "SCIM_TLS_KEY=" + filepath.Join(dir, "missing.key")}, "SCIM_TLS_KEY: cannot read the private key"},
		{"TLS key not a key", []string{"SCIM_TLS_CERT=" + certFile, "SCIM_TLS_KEY=" + certFile}, "SCIM_TLS_CERT and SCIM_TLS_KEY"},
		{"short bootstrap token", []string{"SCIM_BOOTSTRAP_TOKEN=change-me-to-a-long-secret"}, "openssl rand -hex 32"},
		{"SMTP password in clear text", []string{"SCIM_SMTP_URL=smtp://mailer:hunter2@relay.internal:25?tls=none"}, "SCIM_SMTP_URL"},
		{"bad proxies", []string{"SCIM_TRUSTED_PROXIES=10.0.0.0/33"}, "SCIM_TRUSTED_PROXIES"},
		{"config file missing", []string{"SCIM_CONFIG=" + filepath.Join(dir, "nope.yaml")}, "SCIM_CONFIG: cannot read the config file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, "serve")
			cmd.Env = append(os.Environ(), "SCIM_ADDR="+freeAddr(t), "SCIM_DATA_DIR="+filepath.Join(t.TempDir(), "data"))
			cmd.Env = append(cmd.Env, tc.env...)
			start := time.Now()
			out, err := runWithin(cmd, 20*time.Second)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("serve started (or exited 0):\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("message %q does not say %q", out, tc.want)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the message shows a secret: %s", out)
			}
			if took > 10*time.Second {
				t.Errorf("took %v to fail", took)
			}
		})
	}
}

// config print shows every setting and where it came from, no secret.
func TestConfigPrintShowsNoSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "scim.yaml")
	writeAt(t, file, []byte("smtp-url: smtps://mailer:smtp-hunter2@smtp.example.com\noidc-client-secret: oidc-hunter2\nlog-format: json\naddr: \":9443\"\n"))
	cmd := exec.Command(binary, "config", "print", "--config", file, "--log-level", "debug")
	cmd.Env = append(os.Environ(),
		"SCIM_BOOTSTRAP_TOKEN=token-hunter2-0123456789abcdef0123456789",
		"SCIM_MONGODB_URI=mongodb://scim:db-hunter2@db1:27017,db2:27017/?replicaSet=rs0&w=majority",
		"SCIM_ADDR=:9000",
		"SCIM_OIDC_ISSUER=https://login.example.com",
		"SCIM_OIDC_CLIENT_ID=console",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
		"OTEL_EXPORTER_OTLP_HEADERS=api-key=otel-hunter2",
	)
	out, err := runWithin(cmd, 20*time.Second)
	if err != nil {
		t.Fatalf("config print: %v\n%s", err, out)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("config print shows a secret:\n%s", out)
	}
	for _, want := range []string{
		"addr: :9000 # environment SCIM_ADDR",
		"log-format: json # file " + file,
		"log-level: debug # flag --log-level",
		"mail-from: TimeCamp <no-reply@localhost> # default",
		"mongodb-uri: mongodb://scim:REDACTED@db1:27017,db2:27017/?replicaSet=rs0&w=majority",
		"smtp-url: smtps://mailer:REDACTED@smtp.example.com # file",
		"bootstrap-token: REDACTED",
		"oidc-client-secret: REDACTED",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
}

// /metrics (on its own address) counts requests by route, and every
// request becomes a span at an OpenTelemetry collector.
func TestMetricsAndTraces(t *testing.T) {
	rc := tracingtest.New(t)
	metricsAddr := freeAddr(t)
	s := startServer(t, "SCIM_METRICS_ADDR="+metricsAddr,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+rc.URL, "OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_SERVICE_NAME=scim-e2e")
	id := s.Client.Post(t, "/Users", scimtest.UserBody("traced@example.com")).Expect(t, http.StatusCreated).Str("id")
	got := s.Client.Get(t, "/Users/"+id, "X-Request-Id: e2e-trace-1", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").Expect(t, http.StatusOK)
	if got.Header.Get("X-Request-Id") != "e2e-trace-1" {
		t.Errorf("X-Request-Id not kept: %q", got.Header.Get("X-Request-Id"))
	}

	span, ok := rc.WaitFor("GET /scim/v2/Users/{id}", 15*time.Second)
	if !ok {
		t.Fatalf("no span for GET /scim/v2/Users/{id}; got %d spans", len(rc.Spans()))
	}
	if span.Service != "scim-e2e" || span.Attr("timecamp.request_id") != "e2e-trace-1" || span.Attr("http.response.status_code") != "200" {
		t.Errorf("span: service %q, attributes %v", span.Service, span.GetAttributes())
	}
	if fmt.Sprintf("%x", span.GetTraceId()) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("the span did not join the caller's trace")
	}
	// The store's work is a span under the request's.
	if _, ok := rc.WaitFor("store.Get", 15*time.Second); !ok {
		t.Fatal("no span for the store's Get")
	}
	found := false
	for _, sp := range rc.Spans() {
		if sp.GetName() == "store.Get" && fmt.Sprintf("%x", sp.GetTraceId()) == "4bf92f3577b34da6a3ce929d0e0e4736" && len(sp.GetParentSpanId()) > 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no store span in the request's trace")
	}
	for _, sp := range rc.Spans() {
		if strings.Contains(sp.GetName(), id) {
			t.Errorf("a span is named with an id: %s", sp.GetName())
		}
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`timecamp_scim_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status="200"} 1`,
		`timecamp_scim_http_requests_total{method="POST",route="/scim/v2/Users",status="201"} 1`,
		`timecamp_scim_invitation_emails_total{result="sent"}`,
		`timecamp_scim_store_operations_total{operation="Insert",outcome="ok"}`,
		`timecamp_scim_store_operation_duration_seconds_bucket{operation="Get",`,
		`timecamp_scim_invitation_outbox_depth `,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(text), id) || strings.Contains(string(text), "traced@") {
		t.Error("/metrics holds an id or a user name")
	}
	// With a metrics address of its own, the main address has no /metrics.
	resp, err = http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("main address /metrics: %s", resp.Status)
	}
}

// Without SCIM_METRICS_ADDR, /metrics is on the main address.
func TestMetricsOnMainAddress(t *testing.T) {
	s := startServer(t)
	s.Client.Get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(text), `route="/scim/v2/ServiceProviderConfig"`) {
		t.Fatalf("/metrics: %s\n%s", resp.Status, text)
	}
}

// Behind a trusted proxy (SCIM_TRUSTED_PROXIES), X-Forwarded-Proto sets
// the scheme of locations and X-Forwarded-For the logged client.
func TestTrustedProxy(t *testing.T) {
	s := startServer(t, "SCIM_TRUSTED_PROXIES=127.0.0.0/8,::1")
	r := s.Client.Post(t, "/Users", scimtest.UserBody("proxied@example.com"), "X-Forwarded-Proto: https", "X-Forwarded-For: 203.0.113.50").Expect(t, http.StatusCreated)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "https://"+s.addr+"/scim/v2/Users/") || loc != r.Str("meta.location") {
		t.Fatalf("Location %q, meta.location %q", loc, r.Str("meta.location"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.logs.String(), "client=203.0.113.50") {
		if time.Now().After(deadline) {
			t.Fatalf("the forwarded client is not in the access log:\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runWithin runs a command that is expected to exit, and kills it after d.
func runWithin(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		terminate(cmd)
		<-done
		return out.String(), nil // did not exit: the caller sees "started"
	}
}

// terminate stops a server process started with Start (not Run) with
// SIGTERM, and kills it if it is still there after 20 seconds.
func terminate(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func writeAt(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
