package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadme follows the README on the built binary, as a newcomer does:
// the serve command's token, the "Provision a user" block run by bash,
// then "Turning on the admin console" — Dex started on deploy/local's
// configuration, the server on the settings the README gives, its curl
// block, and a sign-in (over HTTP, without a browser) that ends on the
// console's Users page. Ports are the README's, moved to free ones.
func TestReadme(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the README's blocks call curl, which this machine lacks (apt-get install curl; .ci/run installs it)")
	}
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	blocks := shellBlocks(readme)
	block := func(with ...string) string {
		t.Helper()
		for _, b := range blocks {
			all := true
			for _, w := range with {
				all = all && strings.Contains(b, w)
			}
			if all {
				return b
			}
		}
		t.Fatalf("README.md has no sh block with %q", with)
		return ""
	}

	// The two commands.
	serveBlock := block("go run ./cmd/timecamp-scim serve")
	env := envAssignments(serveBlock)
	token := env["SCIM_BOOTSTRAP_TOKEN"]
	if len(token) < 32 {
		t.Fatalf("the README's bootstrap token %q is shorter than 32 characters", token)
	}
	block("go test ./...")

	port := portOf(t, freeAddr(t))
	local := func(s string) string { return strings.ReplaceAll(s, "localhost:8080", "localhost:"+port) }

	t.Run("provision a user", func(t *testing.T) {
		s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), token: token}
		s.startAt("localhost:" + port)
		defer s.stop()
		out := bash(t, local(block("export T=", "POST $S/Users")))
		for _, want := range []string{`"totalResults":0`, `"userName":"bjensen@example.com"`, `"invitationStatus":"pending"`, `"role":"user"`} {
			if !strings.Contains(out, want) {
				t.Errorf("the README's provisioning block printed no %s:\n%s", want, out)
			}
		}
		if !strings.Contains(s.logs.String(), "/invitations/") {
			t.Error("the invitation's link is not in the server's log, as the README says")
		}
	})

	t.Run("admin console", func(t *testing.T) {
		dexConfig, err := os.ReadFile("../deploy/local/dex.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(readme, "deploy/local/dex.yaml") {
			t.Fatal("the README does not start Dex on deploy/local/dex.yaml")
		}
		dexAddr := freeAddr(t)
		cfg := strings.ReplaceAll(local(string(dexConfig)), "127.0.0.1:5556", dexAddr)
		cfgFile := filepath.Join(t.TempDir(), "dex.yaml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		startDexProcess(t, cfgFile, "http://"+dexAddr+"/dex")

		consoleEnv := envAssignments(block("SCIM_OIDC_ISSUER=", "go run ./cmd/timecamp-scim serve"))
		var extra []string
		for k, v := range consoleEnv {
			extra = append(extra, k+"="+strings.ReplaceAll(v, "127.0.0.1:5556", dexAddr))
		}
		s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), token: consoleEnv["SCIM_BOOTSTRAP_TOKEN"], env: extra}
		s.startAt("localhost:" + port)
		defer s.stop()

		exports := regexp.MustCompile(`(?m)^export .*$`).FindAllString(block("export T="), -1)
		bash(t, local(strings.Join(exports, "\n")+"\n"+block("admin@example.com", "POST $S/Users")))

		password := regexp.MustCompile("password `([^`]+)`").FindStringSubmatch(readme)
		user := regexp.MustCompile("one user, `([^`]+)`").FindStringSubmatch(readme)
		if password == nil || user == nil {
			t.Fatal("the README does not say which user and password to sign in with")
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		page, at := getPage(t, c, local("http://localhost:8080/admin/"))
		action := regexp.MustCompile(`<form[^>]*action="([^"]+)"`).FindStringSubmatch(page)
		if action == nil || !strings.HasPrefix(at.String(), "http://"+dexAddr) {
			t.Fatalf("/admin/ did not lead to Dex's sign-in form (at %s):\n%s", at, page)
		}
		target, _ := at.Parse(strings.ReplaceAll(action[1], "&amp;", "&"))
		resp, err := c.PostForm(target.String(), url.Values{"login": {user[1]}, "password": {password[1]}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/admin/users" || !bytes.Contains(body, []byte("admin@example.com")) {
			t.Fatalf("signing in ended at %s (%d), not on the console's Users page:\n%s", resp.Request.URL, resp.StatusCode, body)
		}
	})
}

// shellBlocks returns the ```sh blocks of a Markdown text.
func shellBlocks(md string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^```sh\n(.*?)^```").FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// envAssignments reads the NAME=value words of a command (joined across
// backslash-continued lines).
func envAssignments(cmd string) map[string]string {
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`\b(SCIM_[A-Z_]+)=(\S+)`).FindAllStringSubmatch(strings.ReplaceAll(cmd, "\\\n", " "), -1) {
		env[m[1]] = m[2]
	}
	return env
}

func bash(t *testing.T, script string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash: %v\n%s\n%s\nscript:\n%s", err, out.String(), errOut.String(), script)
	}
	return out.String()
}

func getPage(t *testing.T, c *http.Client, u string) (string, *url.URL) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp.Request.URL
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
