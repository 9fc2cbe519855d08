package e2e

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// A fresh sign-in belongs to the browser that made it. Someone who copied
// the administrator's session cookie earlier (a stolen cookie, the
// threat step-up is for) and watches the tokens page must not be able to
// use the administrator's next fresh sign-in: after it, their copy of
// the session no longer works, and the administrator's browser makes the
// token.
func TestStepUpStaysInItsBrowser(t *testing.T) {
	t.Parallel()
	addr, dexAddr := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	const pw = "correct horse battery"
	d := startDex(t, dexAddr, base+"/admin/callback", dexUser{"ada@acme.test", pw, true})
	s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), token: randomToken(), env: []string{
		"SCIM_OIDC_ISSUER=" + d.Issuer, "SCIM_OIDC_CLIENT_ID=" + d.ClientID, "SCIM_OIDC_CLIENT_SECRET=" + d.ClientSecret,
	}}
	s.startAt(addr)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server logs (errors and warnings):\n%s", problems(s.logs.String()))
		}
	})
	s.Client.Post(t, "/Users", scimtest.UserBody("ada@acme.test", map[string]any{
		"schemas": []any{userURN, tcUser}, tcUser: map[string]any{"role": "administrator"},
	})).Expect(t, http.StatusCreated)

	ada := newHTTPBrowser(t)
	if st, body := dexSignIn(t, ada, base+"/admin/login", "ada@acme.test", pw); st != http.StatusOK || !strings.Contains(body, "ada@acme.test") {
		t.Fatalf("sign-in: %d\n%s", st, body)
	}
	// The thief's copy of the session cookie, taken now.
	thief := newHTTPBrowser(t)
	u, _ := url.Parse(base)
	thief.Jar.SetCookies(u, ada.Jar.Cookies(u))
	csrf := func(c *http.Client) string {
		_, body := consoleGet(t, c, base+"/admin/tokens")
		return html.UnescapeString(regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body + `name="csrf" value="none"`)[1])
	}
	if st, _ := consoleGet(t, thief, base+"/admin/users"); st != http.StatusOK {
		t.Fatalf("the copied cookie does not work to begin with: %d", st)
	}

	// Ada confirms it's her, to make a token.
	if st, body := dexSignIn(t, ada, base+"/admin/reauth?return=%2Fadmin%2Ftokens", "ada@acme.test", pw); st != http.StatusOK || !strings.Contains(body, `id="create-token"`) {
		t.Fatalf("fresh sign-in: %d\n%s", st, body)
	}
	// The thief, right after: no session, no token.
	if st, _ := consolePost(t, thief, base+"/admin/tokens", url.Values{"csrf": {csrf(thief)}, "name": {"stolen"}}); st == http.StatusOK {
		t.Fatal("a copy of the session cookie made a token on the administrator's fresh sign-in")
	}
	if st, _ := consoleGet(t, thief, base+"/admin/users"); st != http.StatusSeeOther {
		t.Fatalf("the copied cookie still opens the console after the fresh sign-in: %d", st)
	}
	// Ada's browser goes on, and makes the token.
	if st, body := consolePost(t, ada, base+"/admin/tokens", url.Values{"csrf": {csrf(ada)}, "name": {"okta"}}); st != http.StatusOK || !strings.Contains(body, "tcscim_") {
		t.Fatalf("token in the administrator's browser: %d\n%s", st, body)
	}
	if out, _ := s.run("tokens", "list", "--account", "default"); strings.Contains(out, "stolen") || !strings.Contains(out, "okta") {
		t.Fatalf("tokens:\n%s", out)
	}
}

// newHTTPBrowser is a client with its own cookies that does not follow
// redirects (dexSignIn follows them itself).
func newHTTPBrowser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func consoleGet(t *testing.T, c *http.Client, target string) (int, string) {
	t.Helper()
	resp, err := c.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func consolePost(t *testing.T, c *http.Client, target string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(target, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// dexSignIn starts at a console page that sends the browser to Dex, fills
// in Dex's password form, and follows the redirects back to the console
// until a page answers; it returns that page.
func dexSignIn(t *testing.T, c *http.Client, start, email, password string) (int, string) {
	t.Helper()
	next, form := start, url.Values(nil)
	for range 20 {
		var resp *http.Response
		var err error
		if form != nil {
			resp, err = c.PostForm(next, form)
			form = nil
		} else {
			resp, err = c.Get(next)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			next = loc.String()
		case strings.Contains(string(body), `name="password"`) && strings.Contains(resp.Request.URL.Path, "/dex/"):
			// Dex's password form posts back to its own address.
			form = url.Values{"login": {email}, "password": {password}}
			next = resp.Request.URL.String()
			if m := regexp.MustCompile(`<form[^>]*action="([^"]*)"`).FindSubmatch(body); m != nil && len(m[1]) > 0 {
				a, _ := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
				next = a.String()
			}
		default:
			return resp.StatusCode, string(body)
		}
	}
	t.Fatalf("sign-in from %s: too many redirects", start)
	return 0, ""
}
