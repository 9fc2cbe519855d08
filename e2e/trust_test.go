package e2e

// The trust findings of issue 17, replayed against the built server: a
// revoked bootstrap token after a restart, a burst of bad tokens, mail to
// an SMTP server without STARTTLS, and a sign-in provider that is down at
// start or hangs. (Tokens minted without a fresh sign-in, and the same
// email as administrator in two accounts, are steps of TestAdminConsole.)

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
	"github.com/timecamp/timecamp-scim/transport/transporttest"
)

// A revoked bootstrap token stays revoked when the server starts again with
// the same SCIM_BOOTSTRAP_TOKEN: 401, an error in the log that names the
// variable, and no new "bootstrap" token. A new secret works. On both
// stores (on FerretDB the command line revokes with the server stopped:
// its updates are read-modify-write).
func TestRevokedBootstrapTokenStaysRevoked(t *testing.T) {
	for _, kind := range []string{"embedded", "ferretdb"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			var env []string
			if kind == "ferretdb" {
				f := storetest.StartFerretDB(t)
				env = append(env, "SCIM_MONGODB_URI="+f.URI(), "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
			}
			s := startServer(t, env...)
			s.Client.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
			id := tokenID(t, s, "default", "bootstrap")
			if kind == "ferretdb" {
				s.stop()
			}
			if out, err := s.run("tokens", "revoke", "--account", "default", id); err != nil || !strings.Contains(out, "for good") {
				t.Fatalf("tokens revoke: %s %v", out, err)
			}
			if kind == "embedded" {
				s.Client.Get(t, "/Users?count=1").Expect(t, http.StatusUnauthorized) // at once
			}

			s.restart() // same database, same SCIM_BOOTSTRAP_TOKEN
			s.Client.Get(t, "/Users?count=1").Expect(t, http.StatusUnauthorized)
			logs := s.logs.String()
			if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "SCIM_BOOTSTRAP_TOKEN holds the secret of a revoked token") || strings.Contains(logs, s.token) {
				t.Fatalf("the restart does not log an error naming SCIM_BOOTSTRAP_TOKEN (or shows the secret):\n%s", problems(logs))
			}
			if id := tokenID(t, s, "default", "bootstrap"); id != "" {
				t.Fatalf("a revoked bootstrap token came back as %s", id)
			}

			s.token = randomToken() // the operator sets a new secret
			s.restart()
			s.Client.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
			if out, _ := s.run("tokens", "list", "--account", "default"); !strings.Contains(out, "bootstrap (SCIM_BOOTSTRAP_TOKEN)") {
				t.Fatalf("tokens list does not say who made the bootstrap token:\n%s", out)
			}
		})
	}
}

// tokenID is the id of an account's token with the name, from "tokens
// list" ("" when there is none).
func tokenID(t *testing.T, s *server, account, name string) string {
	t.Helper()
	out, err := s.run("tokens", "list", "--account", account)
	if err != nil {
		t.Fatalf("tokens list: %v", err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == name {
			return f[0]
		}
	}
	return ""
}

// A burst of bad tokens from one address gets 429 with Retry-After; the
// identity provider's good token, from another address or from that one
// after it worked, is served. Addresses come from X-Forwarded-For, which
// the server believes from its trusted proxy (here, loopback).
func TestBadTokenBurst(t *testing.T) {
	s := startServer(t, "SCIM_TRUSTED_PROXIES=127.0.0.1")
	idp := func(addr string) *scimtest.Response {
		return s.Client.Get(t, "/Users?count=1", "X-Forwarded-For: "+addr)
	}
	idp("203.0.113.7").Expect(t, http.StatusOK)
	bad := &scimtest.Client{Base: s.Client.Base, Token: "tcscim_" + randomToken()}
	var limited *scimtest.Response
	unauthorized := 0
	for i := 0; i < 40 && limited == nil; i++ {
		bad.Token = "tcscim_" + randomToken() // a new guess each time
		switch r := bad.Get(t, "/Users", "X-Forwarded-For: 198.51.100.9"); r.Status {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			limited = r
		default:
			t.Fatalf("a bad token: %d %s", r.Status, r.Raw)
		}
	}
	if limited == nil || unauthorized != 20 {
		t.Fatalf("%d bad tokens answered 401 before the first 429 (%v); want the default limit, 20", unauthorized, limited != nil)
	}
	if secs, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || secs < 1 || limited.Str("status") != "429" {
		t.Fatalf("429 without Retry-After or SCIM error: %v %s", limited.Header, limited.Raw)
	}
	idp("203.0.113.7").Expect(t, http.StatusOK)
	idp("198.51.100.9").Expect(t, http.StatusOK)
	other := s.newAccount(t, "Other")
	other.Get(t, "/Users?count=1", "X-Forwarded-For: 192.0.2.44").Expect(t, http.StatusOK)
}

// Invitation emails go over TLS: to an SMTP server on the network that
// does not offer STARTTLS nothing is sent (the log says why); through one
// that offers it, with a certificate of the CA the server trusts
// (SSL_CERT_FILE), the email arrives encrypted.
func TestInvitationMailNeedsTLS(t *testing.T) {
	host := mailtest.LocalAddress(t)
	ca := transporttest.NewCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeAt(t, caFile, ca.CertPEM)

	plain := mailtest.StartWith(t, mailtest.Options{Addr: host + ":0"})
	s := startServer(t, "SCIM_SMTP_URL=smtp://"+plain.Addr, "SSL_CERT_FILE="+caFile)
	createUser(t, s.Client, "dan@acme.test")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.logs.String(), "does not offer STARTTLS") {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal to send without STARTTLS in the log:\n%s", problems(s.logs.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(plain.Messages()); n != 0 {
		t.Fatalf("%d email(s) sent in clear text", n)
	}

	secure := mailtest.StartWith(t, mailtest.Options{Addr: host + ":0", TLS: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, host)}}})
	s2 := startServer(t, "SCIM_SMTP_URL=smtp://"+secure.Addr, "SSL_CERT_FILE="+caFile)
	createUser(t, s2.Client, "eve@acme.test")
	if m := secure.WaitFor(t, "eve@acme.test", 1, 20*time.Second)[0]; !m.TLS || m.Link() == "" {
		t.Fatalf("the invitation arrived without TLS (%v) or without its link", m.TLS)
	}
}

// The sign-in provider is optional at run time. Down (refusing
// connections) or hung (accepting them, never answering) when the server
// starts: the server starts, SCIM and /readyz answer, /admin/ says at once
// that sign-in is unavailable and why, 300 sign-ins leave no open files
// behind; when the provider (Dex) comes up on its address, sign-in works
// without a restart.
func TestSignInProviderOutage(t *testing.T) {
	for mode, why := range map[string]string{"refusing": "it refuses connections", "hanging": "answer"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			addr, dexAddr := freeAddr(t), freeAddr(t)
			var hang *hangingListener
			if mode == "hanging" {
				hang = listenAndHang(t, dexAddr)
			}
			secret := randomToken()
			s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), token: randomToken(), env: []string{
				"SCIM_OIDC_ISSUER=" + dexIssuer(dexAddr), "SCIM_OIDC_CLIENT_ID=timecamp-admin", "SCIM_OIDC_CLIENT_SECRET=" + secret,
			}}
			s.startAt(addr) // returns once /readyz answers 200
			t.Cleanup(func() {
				s.stop()
				if t.Failed() {
					t.Logf("server logs (errors and warnings):\n%s", problems(s.logs.String()))
				}
			})
			s.Client.Post(t, "/Users", scimtest.UserBody("ada@acme.test")).Expect(t, http.StatusCreated)

			base := "http://" + addr
			client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			fds := openFiles(t, s.cmd.Process.Pid)
			var wg sync.WaitGroup
			problem := make(chan string, 300)
			for range 300 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// /admin/ goes to the sign-in, which says why it cannot.
					resp, err := client.Get(base + "/admin/login")
					if err != nil {
						problem <- err.Error()
						return
					}
					var body bytes.Buffer
					_, _ = body.ReadFrom(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.String(), "Sign-in unavailable") ||
						!strings.Contains(body.String(), why) || resp.Header.Get("Retry-After") == "" {
						problem <- fmt.Sprintf("%d %s", resp.StatusCode, body.String())
					}
				}()
			}
			wg.Wait()
			close(problem)
			for p := range problem {
				t.Fatalf("GET /admin/login with the provider %s: %s", mode, p)
			}
			for _, p := range []string{"/readyz", "/admin/"} {
				resp, err := client.Get(base + p)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if p == "/readyz" && resp.StatusCode != http.StatusOK {
					t.Fatalf("/readyz with the provider %s: %d", mode, resp.StatusCode)
				}
			}
			s.Client.Get(t, "/Users?count=1").Expect(t, http.StatusOK)
			// The connections of the 300 sign-ins are closed: what stays
			// open is the server's own (its database, listeners, at most a
			// discovery attempt in flight).
			deadline := time.Now().Add(10 * time.Second)
			for after := openFiles(t, s.cmd.Process.Pid); after > fds+10; after = openFiles(t, s.cmd.Process.Pid) {
				if time.Now().After(deadline) {
					t.Fatalf("%d open files before 300 sign-ins, %d after", fds, after)
				}
				time.Sleep(100 * time.Millisecond)
			}

			// The provider comes up where it was expected.
			if hang != nil {
				hang.close()
			}
			startDexWithSecret(t, dexAddr, base+"/admin/callback", secret, dexUser{"ada@acme.test", "correct horse battery", true})
			deadline = time.Now().Add(60 * time.Second)
			for {
				resp, err := client.Get(base + "/admin/login")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), dexIssuer(dexAddr)+"/auth?") {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("sign-in does not go to the provider 60 s after it came up: %v %v", resp, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !strings.Contains(s.logs.String(), "identity provider reachable") {
				t.Errorf("the log does not say the provider is back")
			}
		})
	}
}

// openFiles counts a process's open file descriptors.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot count open files here: %v", err)
	}
	return len(fds)
}

// hangingListener accepts connections and never answers them.
type hangingListener struct {
	l    net.Listener
	mu   sync.Mutex
	held []net.Conn
}

func listenAndHang(t *testing.T, addr string) *hangingListener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingListener{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.held = append(h.held, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *hangingListener) close() {
	h.l.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.held {
		c.Close()
	}
	h.held = nil
}
