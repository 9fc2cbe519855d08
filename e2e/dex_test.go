package e2e

// Dex (github.com/dexidp/dex) as the real OpenID Connect provider of the
// admin console's tests. It is built from the tools module in e2e/dex
// (its go.mod is kept out of the product's), once per version: the binary
// is cached under the user cache folder, keyed by Dex's version, so a cold
// build (about 70 s) happens once per machine; .ci/run builds it ahead.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var dexBuild struct {
	once sync.Once
	path string
	err  error
}

// dexVersion reads the Dex version the tools module pins.
func dexVersion() (string, error) {
	raw, err := os.ReadFile(filepath.Join("dex", "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/dexidp/dex (\S+)`).FindSubmatch(raw)
	if m == nil {
		return "", fmt.Errorf("e2e/dex/go.mod does not require github.com/dexidp/dex")
	}
	return string(m[1]), nil
}

// DexBinaryPath is where the Dex binary of a version is cached; .ci/run
// builds it at the same place.
func dexBinaryPath(version string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "timecamp-scim", "dex-"+version, "dex"), nil
}

// dexBinary returns the cached Dex binary, building it when missing.
func dexBinary(t *testing.T) string {
	t.Helper()
	dexBuild.once.Do(func() {
		version, err := dexVersion()
		if err != nil {
			dexBuild.err = err
			return
		}
		path, err := dexBinaryPath(version)
		if err != nil {
			dexBuild.err = err
			return
		}
		if _, err := os.Stat(path); err == nil {
			dexBuild.path = path
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			dexBuild.err = err
			return
		}
		start := time.Now()
		tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
		cmd := exec.Command("go", "build", "-o", tmp, "github.com/dexidp/dex/cmd/dex")
		cmd.Dir = "dex"
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			dexBuild.err = fmt.Errorf("build Dex %s: %v\n%s", version, err, out.String())
			return
		}
		dexBuild.path, dexBuild.err = path, os.Rename(tmp, path)
		fmt.Fprintf(os.Stderr, "built Dex %s in %s (cached at %s)\n", version, time.Since(start).Round(time.Second), path)
	})
	if dexBuild.err != nil {
		t.Fatal(dexBuild.err)
	}
	return dexBuild.path
}

// dexUser is a static password user of Dex.
type dexUser struct {
	Email, Password string
	Verified        bool
}

// dex is a running Dex.
type dex struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	logs         *bytes.Buffer
}

// startDex runs Dex on addr with a static client whose redirect URL is
// redirect, and the users (password database, no approval screen).
func startDex(t *testing.T, addr, redirect string, users ...dexUser) *dex {
	t.Helper()
	return startDexWithSecret(t, addr, redirect, randomToken(), users...)
}

// dexIssuer is the issuer URL of a Dex on addr.
func dexIssuer(addr string) string { return "http://" + addr + "/dex" }

// startDexWithSecret is startDex with the console's client secret chosen
// by the caller (a server configured before Dex runs).
func startDexWithSecret(t *testing.T, addr, redirect, secret string, users ...dexUser) *dex {
	t.Helper()
	d := &dex{Issuer: dexIssuer(addr), ClientID: "timecamp-admin", ClientSecret: secret}
	var passwords []map[string]any
	for i, u := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost) // Dex refuses less
		if err != nil {
			t.Fatal(err)
		}
		passwords = append(passwords, map[string]any{
			"email": u.Email, "username": u.Email, "userID": fmt.Sprintf("user-%d", i),
			"hash": string(hash), "emailVerified": u.Verified,
		})
	}
	config := map[string]any{
		"issuer":           d.Issuer,
		"storage":          map[string]any{"type": "memory"},
		"web":              map[string]any{"http": addr},
		"logger":           map[string]any{"level": "warn"},
		"oauth2":           map[string]any{"skipApprovalScreen": true},
		"enablePasswordDB": true,
		"staticClients": []any{map[string]any{
			"id": d.ClientID, "secret": d.ClientSecret, "name": "TimeCamp admin console", "redirectURIs": []string{redirect},
		}},
		"staticPasswords": passwords,
	}
	raw, _ := json.Marshal(config) // JSON is YAML
	file := filepath.Join(t.TempDir(), "dex.yaml")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	d.logs = startDexProcess(t, file, d.Issuer)
	return d
}

// startDexProcess runs Dex on a configuration file and waits until its
// issuer answers; it is stopped when the test ends.
func startDexProcess(t *testing.T, file, issuer string) *bytes.Buffer {
	t.Helper()
	logs := &bytes.Buffer{}
	cmd := exec.Command(dexBinary(t), "serve", file)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("Dex logs:\n%s", logs)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return logs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dex not ready after 30s: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
