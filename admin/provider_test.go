package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/admin"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// The sign-in provider is optional at run time. Down (refusing) or hung
// (accepting connections, never answering), the console's sign-in answers
// at once that sign-in is unavailable and why, SCIM and /readyz are
// served, and requests do not pile up goroutines; back, it is discovered
// in the background and sign-in works, without a restart.
func TestProviderDownOrHung(t *testing.T) {
	t.Cleanup(admin.SetProviderTimings(300*time.Millisecond, 50*time.Millisecond, 200*time.Millisecond, 100*time.Millisecond))
	for mode, why := range map[string]string{"refusing": "it refuses connections", "hanging": "answer"} {
		t.Run(mode, func(t *testing.T) {
			addr := freeAddr(t)
			var hung net.Listener
			if mode == "hanging" {
				hung = hangingListener(t, addr)
			}
			issuer := "http://" + addr
			st := storetest.New(t)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			dir := directory.New(st, log)
			api := scim.New(dir, scim.Options{Logger: log})
			console := admin.New(admin.Config{Directory: dir, BaseURL: "http://console.test", SCIMClient: api.InProcessClient, Logger: log,
				Issuer: issuer, ClientID: "console", ClientSecret: "secret"}, []byte("test secret"))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			console.Start(ctx)
			hs := httptest.NewServer(api.Handler(console.Routes))
			t.Cleanup(hs.Close)
			srv := hs.URL
			// A client that gives up long before a hung provider would.
			c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: noRedirects}

			before := runtime.NumGoroutine()
			var wg sync.WaitGroup
			errs := make(chan string, 100)
			for range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := c.Get(srv + "/admin/login")
					if err != nil {
						errs <- err.Error()
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
						!strings.Contains(string(body), "Sign-in unavailable") || !strings.Contains(string(body), issuer) || !strings.Contains(string(body), why) ||
						strings.Contains(string(body), "dial tcp") {
						errs <- fmt.Sprintf("%d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Fatalf("GET /admin/login with the provider %s: %s", mode, e)
			}
			for _, p := range []string{"/readyz", "/healthz"} {
				if resp, err := c.Get(srv + p); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s with the provider %s: %v %v", p, mode, resp, err)
				}
			}
			c.CloseIdleConnections()
			http.DefaultClient.CloseIdleConnections()
			time.Sleep(100 * time.Millisecond)
			if after := runtime.NumGoroutine(); after > before+10 {
				t.Errorf("goroutines %d before 100 sign-ins, %d after: requests pile up", before, after)
			}

			// The provider comes back on the same address.
			if hung != nil {
				hung.Close()
			}
			startDiscovery(t, addr)
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp, err := c.Get(srv + "/admin/login")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusFound && strings.HasPrefix(resp.Header.Get("Location"), issuer+"/auth?") {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("sign-in does not work 10 s after the provider came back: %v %v", resp, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// hangingListener accepts connections on addr and never answers.
func hangingListener(t *testing.T, addr string) net.Listener {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return l
}

// startDiscovery serves an OpenID Connect discovery document for the
// issuer http://addr.
func startDiscovery(t *testing.T, addr string) {
	var l net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + addr
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": issuer, "authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token",
			"jwks_uri": issuer + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
}
