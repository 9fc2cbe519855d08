package admin_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/admin"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var bg = context.Background()

// env is the console over a real store, without a provider: sessions are
// made in the store directly, as a sign-in would (the sign-in itself is
// tested end to end against Dex, in package e2e).
type env struct {
	t       *testing.T
	st      store.Store
	dir     *directory.Service
	srv     *httptest.Server
	account *store.Account
	admin   *store.Resource
}

func newEnv(t *testing.T, configured bool) *env { return newEnvOn(t, storetest.New(t), configured) }

func newEnvOn(t *testing.T, st store.Store, configured bool) *env {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := directory.New(st, log)
	api := scim.New(dir, scim.Options{Logger: log})
	cfg := admin.Config{Directory: dir, BaseURL: "http://console.test", SCIMClient: api.InProcessClient, Logger: log}
	if configured {
		// Never contacted by the pages tested here.
		cfg.Issuer, cfg.ClientID, cfg.ClientSecret = "http://127.0.0.1:1/never", "client", "secret"
	}
	srv := httptest.NewServer(api.Handler(admin.New(cfg, []byte("test secret")).Routes))
	t.Cleanup(srv.Close)
	e := &env{t: t, st: st, dir: dir, srv: srv}
	var err error
	if e.account, err = st.CreateAccount(bg, "Acme", 0); err != nil {
		t.Fatal(err)
	}
	e.admin = e.user(e.account.ID, "ada@acme.test", schemas.RoleAdministrator)
	return e
}

func (e *env) user(account, email, role string) *store.Resource {
	e.t.Helper()
	u, err := e.dir.Create(bg, account, schemas.User, map[string]any{
		"schemas": []any{schemas.UserURN, schemas.TimeCampUserURN}, "userName": email,
		schemas.TimeCampUserURN: map[string]any{"role": role},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// signIn stores a session for the user (and binds the user to the
// session's identity), as a sign-in does, and returns a client holding its
// cookie, and the session's CSRF token.
func (e *env) signIn(u *store.Resource, email string, expires time.Time) (*http.Client, string) {
	e.t.Helper()
	secret, csrf := "secret-of-"+u.ID, "csrf-"+u.ID
	now := time.Now()
	if err := e.st.Bind(bg, &store.Binding{Account: u.Account, User: u.ID, Subject: "iss " + email, Email: email}); err != nil && !failure.Is(err, failure.Conflict) {
		e.t.Fatal(err)
	}
	if err := e.st.CreateSession(bg, &store.Session{
		ID: store.HashSessionSecret(secret), Account: u.Account, User: u.ID, Email: email, Subject: "iss " + email,
		CSRF: csrf, Created: now, LastSeen: now, Expires: expires,
	}); err != nil {
		e.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(e.srv.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: "tcscim_admin", Value: secret, Path: "/"}})
	return &http.Client{Jar: jar, CheckRedirect: noRedirects}, csrf
}

func do(t *testing.T, c *http.Client, method, target string, form url.Values, headers ...string) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), resp.Header
}

func TestNotConfigured(t *testing.T) {
	e := newEnv(t, false)
	for _, p := range []string{"/admin", "/admin/", "/admin/users"} {
		st, body, _ := do(t, http.DefaultClient, "GET", e.srv.URL+p, nil)
		if st != http.StatusServiceUnavailable || !strings.Contains(body, "SCIM_OIDC_ISSUER") || !strings.Contains(body, "SCIM_OIDC_CLIENT_SECRET") {
			t.Fatalf("GET %s: %d %s", p, st, body)
		}
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t, true)
	carol := e.user(e.account.ID, "carol@acme.test", schemas.RoleUser)
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))

	// An anonymous visitor goes to the provider's sign-in.
	st, _, h := do(t, &http.Client{CheckRedirect: noRedirects}, "GET", e.srv.URL+"/admin/users", nil)
	if st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/admin/login") {
		t.Fatalf("anonymous: %d %s", st, h.Get("Location"))
	}
	// The administrator's pages, with the security headers.
	st, body, h := do(t, c, "GET", e.srv.URL+"/admin/users", nil)
	if st != http.StatusOK || !strings.Contains(body, "carol@acme.test") ||
		!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("users: %d %v", st, h)
	}
	role := func() any {
		u, err := e.dir.Get(bg, e.account.ID, schemas.User, carol.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.Attributes[schemas.TimeCampUserURN].(map[string]any)["role"]
	}
	post := func(form url.Values, headers ...string) int {
		st, _, _ := do(t, c, "POST", e.srv.URL+"/admin/users/"+carol.ID+"/role", form, headers...)
		return st
	}
	if st := post(url.Values{"role": {"guest"}}); st != http.StatusForbidden || role() != "user" {
		t.Fatalf("POST without CSRF token: %d, role %v", st, role())
	}
	if st := post(url.Values{"role": {"guest"}, "csrf": {csrf}}, "Origin", "https://evil.test"); st != http.StatusForbidden || role() != "user" {
		t.Fatalf("cross-site POST: %d, role %v", st, role())
	}
	if st := post(url.Values{"role": {"guest"}, "csrf": {csrf}}, "Sec-Fetch-Site", "cross-site"); st != http.StatusForbidden || role() != "user" {
		t.Fatalf("cross-site POST (Sec-Fetch-Site): %d, role %v", st, role())
	}
	if st := post(url.Values{"role": {"guest"}, "csrf": {csrf}}, "Origin", e.srv.URL); st != http.StatusSeeOther || role() != "guest" {
		t.Fatalf("POST with the token: %d, role %v", st, role())
	}
	// The change is in the activity log, under the administrator.
	log, _, _ := e.st.Activity(bg, store.ActivityQuery{Account: e.account.ID})
	if len(log) != 1 || log[0].Actor.Name != "ada@acme.test" || log[0].Operation != "change role" || log[0].ResourceID != carol.ID {
		t.Fatalf("activity: %+v", log)
	}

	// Another account's user is not found, read or written.
	other, err := e.st.CreateAccount(bg, "Globex", 0)
	if err != nil {
		t.Fatal(err)
	}
	yan := e.user(other.ID, "yan@globex.test", schemas.RoleUser)
	if st, _, _ := do(t, c, "GET", e.srv.URL+"/admin/users/"+yan.ID, nil); st != http.StatusNotFound {
		t.Fatalf("another account's user: %d", st)
	}
	if st, _, _ := do(t, c, "POST", e.srv.URL+"/admin/users/"+yan.ID+"/role", url.Values{"role": {"administrator"}, "csrf": {csrf}}); st != http.StatusNotFound {
		t.Fatalf("POST to another account's user: %d", st)
	}

	// Setting a password needs a fresh re-authentication.
	st, body, _ = do(t, c, "POST", e.srv.URL+"/admin/users/"+carol.ID+"/password", url.Values{"csrf": {csrf}, "password": {"12345678x"}, "confirm": {"12345678x"}})
	if st != http.StatusForbidden || !strings.Contains(body, "fresh sign-in") {
		t.Fatalf("password without re-authentication: %d", st)
	}

	// An expired session is gone.
	old, _ := e.signIn(e.user(e.account.ID, "eve@acme.test", schemas.RoleAdministrator), "eve@acme.test", time.Now().Add(-time.Second))
	if st, _, h := do(t, old, "GET", e.srv.URL+"/admin/users", nil); st != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/admin/login") {
		t.Fatalf("expired session: %d %s", st, h.Get("Location"))
	}

	// A session ends when its user is no longer an administrator.
	bob := e.user(e.account.ID, "bob@acme.test", schemas.RoleAdministrator)
	bc, _ := e.signIn(bob, "bob@acme.test", time.Now().Add(time.Hour))
	if st, _, _ := do(t, bc, "GET", e.srv.URL+"/admin/users", nil); st != http.StatusOK {
		t.Fatalf("bob: %d", st)
	}
	if _, err := e.dir.Patch(bg, e.account.ID, schemas.User, bob.ID, []directory.PatchOp{{Op: "replace", Path: schemas.TimeCampUserURN + ":role", Value: "user"}}, ""); err != nil {
		t.Fatal(err)
	}
	if st, body, _ := do(t, bc, "GET", e.srv.URL+"/admin/users", nil); st != http.StatusForbidden || !strings.Contains(body, "no longer an active administrator") {
		t.Fatalf("demoted administrator: %d", st)
	}
	if _, err := e.st.Session(bg, store.HashSessionSecret("secret-of-"+bob.ID)); err == nil {
		t.Fatal("the demoted administrator's session is still stored")
	}
}

// Invitations from the console check every address and the seats first:
// when the seats do not suffice, nobody is invited.
func TestInviteChecksFirst(t *testing.T) {
	e := newEnv(t, true)
	if err := e.st.SetSeats(bg, e.account.ID, 2); err != nil {
		t.Fatal(err)
	}
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
	invite := func(addresses string) (int, string) {
		st, body, _ := do(t, c, "POST", e.srv.URL+"/admin/invite", url.Values{"csrf": {csrf}, "addresses": {addresses}, "role": {"user"}, "access": {"none"}})
		return st, body
	}
	count := func() int {
		p, err := e.dir.List(bg, e.account.ID, schemas.User, store.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Total
	}
	if st, body := invite("a@acme.test, b@acme.test"); st != http.StatusUnprocessableEntity || !strings.Contains(body, "only 1 seat is free") || count() != 1 {
		t.Fatalf("over the seats: %d, %d users\n%s", st, count(), body)
	}
	if st, body := invite("a@acme.test\nnot-an-address"); st != http.StatusUnprocessableEntity || !strings.Contains(body, "is not an email address") || count() != 1 {
		t.Fatalf("a bad address: %d, %d users\n%s", st, count(), body)
	}
	if st, body := invite("ADA@acme.test"); st != http.StatusUnprocessableEntity || !strings.Contains(body, "already has a user") {
		t.Fatalf("an existing address: %d\n%s", st, body)
	}
	if st, _ := invite("a@acme.test"); st != http.StatusSeeOther || count() != 2 {
		t.Fatalf("one invitation: %d, %d users", st, count())
	}
}

// An administrator of several accounts picks one and can switch; only
// accounts where they are an administrator are offered or accepted.
func TestSwitchAccount(t *testing.T) {
	e := newEnv(t, true)
	globex, err := e.st.CreateAccount(bg, "Globex", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.user(globex.ID, "owner@globex.test", schemas.RoleAdministrator)
	e.user(globex.ID, "ada@acme.test", schemas.RoleAdministrator)
	e.user(globex.ID, "yan@globex.test", schemas.RoleUser)
	initech, _ := e.st.CreateAccount(bg, "Initech", 0)
	e.user(initech.ID, "ada@acme.test", schemas.RoleUser) // a user there, not an administrator
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))

	st, body, _ := do(t, c, "GET", e.srv.URL+"/admin/accounts", nil)
	if st != http.StatusOK || !strings.Contains(body, "Globex") || !strings.Contains(body, "Acme") || strings.Contains(body, "Initech") {
		t.Fatalf("accounts: %d\n%s", st, body)
	}
	if st, _, _ := do(t, c, "POST", e.srv.URL+"/admin/accounts", url.Values{"csrf": {csrf}, "account": {initech.ID}}); st != http.StatusForbidden {
		t.Fatalf("switch to an account where not an administrator: %d", st)
	}
	if st, _, _ := do(t, c, "POST", e.srv.URL+"/admin/accounts", url.Values{"csrf": {csrf}, "account": {globex.ID}}); st != http.StatusSeeOther {
		t.Fatalf("switch: %d", st)
	}
	if st, body, _ := do(t, c, "GET", e.srv.URL+"/admin/users", nil); st != http.StatusOK || !strings.Contains(body, "yan@globex.test") || strings.Contains(body, "carol@") {
		t.Fatalf("users after switching: %d\n%s", st, body)
	}
}

// Issue 18: the profile form is refused, naming both settings, when it
// makes a user a time-tracking admin who may not see rates; nothing is
// saved. A setting removed through SCIM shows as what applies.
func TestProfileTrackingConflict(t *testing.T) {
	e := newEnv(t, true)
	carol := e.user(e.account.ID, "carol@acme.test", schemas.RoleUser)
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
	page := e.srv.URL + "/admin/users/" + carol.ID
	st, _, h := do(t, c, "POST", page, url.Values{"csrf": {csrf}, "role": {"user"}, "givenName": {"Carol"}, "timeTrackingAdmin": {"on"}, "canCreateProjects": {"on"}})
	if st != http.StatusSeeOther {
		t.Fatalf("save: %d", st)
	}
	_, body, _ := do(t, c, "GET", e.srv.URL+h.Get("Location"), nil)
	if !strings.Contains(body, "timeTrackingAdmin") || !strings.Contains(body, "canViewRates") {
		t.Fatalf("the form's conflict is not explained:\n%s", body)
	}
	u, err := e.dir.Get(bg, e.account.ID, schemas.User, carol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if directory.Setting(u.Attributes, "timeTrackingAdmin") != false || u.Version != carol.Version {
		t.Fatalf("a refused form changed the user: %v", u.Attributes)
	}
	// Unassigned through SCIM: the box shows what applies.
	if _, err := e.dir.Patch(bg, e.account.ID, schemas.User, carol.ID, []directory.PatchOp{{Op: "remove", Path: schemas.TimeCampUserURN + ":notifyBudget"}}, ""); err != nil {
		t.Fatal(err)
	}
	_, body, _ = do(t, c, "GET", page, nil)
	if !strings.Contains(body, `name="notifyBudget" checked`) {
		t.Fatalf("an unassigned notification shows off:\n%s", body)
	}
}

// Creating a SCIM token mints a credential (a token can set any user's
// password through SCIM): it needs a fresh sign-in, which it uses up. The
// token records who made it, the page and the activity log show it, and
// it may expire.
func TestCreatingATokenNeedsAFreshSignIn(t *testing.T) {
	e := newEnv(t, true)
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
	create := func(form url.Values) (int, string) {
		form.Set("csrf", csrf)
		st, body, _ := do(t, c, "POST", e.srv.URL+"/admin/tokens", form)
		return st, body
	}
	count := func() int {
		list, err := e.st.Tokens(bg, e.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	// Without one: 403, no token; the page offers the fresh sign-in.
	if st, body := create(url.Values{"name": {"okta"}}); st != http.StatusForbidden || !strings.Contains(body, "fresh sign-in") || count() != 0 {
		t.Fatalf("token without a fresh sign-in: %d, %d tokens\n%s", st, count(), body)
	}
	if st, body, _ := do(t, c, "GET", e.srv.URL+"/admin/tokens", nil); st != http.StatusOK || !strings.Contains(body, `id="reauth"`) ||
		!strings.Contains(body, "/admin/reauth?return=%2Fadmin%2Ftokens") || strings.Contains(body, `id="create-token"`) {
		t.Fatalf("tokens page without a fresh sign-in: %d\n%s", st, body)
	}

	// With one (as the provider's re-authentication leaves the session).
	reauth := func(at time.Time) {
		s, err := e.st.Session(bg, store.HashSessionSecret("secret-of-"+e.admin.ID))
		if err != nil {
			t.Fatal(err)
		}
		s.ReauthAt = at
		if err := e.st.SaveSession(bg, s); err != nil {
			t.Fatal(err)
		}
	}
	reauth(time.Now().Add(-10 * time.Minute)) // too long ago
	if st, _ := create(url.Values{"name": {"okta"}}); st != http.StatusForbidden || count() != 0 {
		t.Fatalf("token on a stale re-authentication: %d", st)
	}
	reauth(time.Now())
	expires := time.Now().UTC().AddDate(0, 0, 30).Format(time.DateOnly)
	st, body := create(url.Values{"name": {"okta"}, "expires": {expires}})
	secret := regexp.MustCompile(`tcscim_[A-Za-z0-9_-]+`).FindString(body)
	if st != http.StatusOK || secret == "" || count() != 1 {
		t.Fatalf("token with a fresh sign-in: %d, %d tokens\n%s", st, count(), body)
	}
	tok, err := e.st.Authenticate(bg, secret)
	if err != nil || tok.CreatedBy != "ada@acme.test" || tok.CreatorSubject != "iss ada@acme.test" || tok.Expires.Format(time.DateOnly) != time.Now().UTC().AddDate(0, 0, 31).Format(time.DateOnly) {
		t.Fatalf("the new token: %+v, %v", tok, err)
	}
	if !strings.Contains(body, `<td class="created-by">ada@acme.test</td>`) {
		t.Fatalf("the tokens page does not say who made the token:\n%s", body)
	}
	log, _, _ := e.st.Activity(bg, store.ActivityQuery{Account: e.account.ID, ResourceType: "Token"})
	if len(log) != 1 || log[0].Actor.Name != "ada@acme.test" || log[0].Operation != "create" || log[0].Resource != "okta" {
		t.Fatalf("activity: %+v", log)
	}
	// Used up: the next token needs another fresh sign-in.
	if st, _ := create(url.Values{"name": {"entra"}}); st != http.StatusForbidden || count() != 1 {
		t.Fatalf("a second token on one re-authentication: %d", st)
	}
	// An expiry in the past is refused with a reason.
	reauth(time.Now())
	if st, body := create(url.Values{"name": {"entra"}, "expires": {"2001-01-01"}}); st != http.StatusSeeOther || count() != 1 {
		t.Fatalf("a token expiring in the past: %d\n%s", st, body)
	}
}
