package invite_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/invite"
	"github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/metrics/metricstest"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
	"github.com/timecamp/timecamp-scim/transport"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const tc = schemas.TimeCampUserURN

// env is the server with invitations: SCIM API and accept page over real
// HTTP, a delivery worker sending through a real SMTP server on loopback.
type env struct {
	st      store.Store
	dir     *directory.Service
	worker  *invite.Worker
	hs      *httptest.Server
	smtp    *mailtest.Server
	smtpCfg *mail.SMTPConfig
	acct    *store.Account
	c       *scimtest.Client
	logs    *syncBuffer
	clock   *clock

	stopWorker func()
}

type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type envOptions struct {
	smtpAddr string // default: a new mailtest server
	noWorker bool
}

func newEnv(t *testing.T, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	e := &env{st: storetest.New(t), logs: &syncBuffer{}, clock: &clock{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.dir = directory.New(e.st, log)
	addr := o.smtpAddr
	if addr == "" {
		e.smtp = mailtest.Start(t)
		addr = e.smtp.Addr
	}
	cfg, err := mail.ParseSMTPURL("smtp://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	e.smtpCfg = cfg
	secret, err := e.st.Secret(context.Background(), "invitation-form")
	if err != nil {
		t.Fatal(err)
	}
	pages := &invite.Pages{Directory: e.dir, Secret: secret, Logger: log}
	e.hs = httptest.NewServer(scim.New(e.dir, scim.Options{Logger: log}).Handler(pages.Routes))
	t.Cleanup(e.hs.Close)
	e.worker = &invite.Worker{
		Store: e.st, Directory: e.dir, Sender: mail.NewSMTP(cfg), From: "TimeCamp <invites@timecamp.test>",
		BaseURL: e.hs.URL, Logger: log,
		Poll: 50 * time.Millisecond, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}
	e.dir.SetInvitationSettings(directory.InvitationSettings{Notify: e.worker.Notify, Clock: e.clock.Now})
	if !o.noWorker {
		e.startWorker(t)
	}
	ctx := context.Background()
	if e.acct, err = e.st.CreateAccount(ctx, "Acme Corp", 0); err != nil {
		t.Fatal(err)
	}
	token, _, err := e.st.CreateToken(ctx, e.acct.ID, store.TokenSpec{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	e.c = &scimtest.Client{Base: e.hs.URL + scim.Prefix, Token: token}
	return e
}

func (e *env) startWorker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.worker.Run(ctx) }()
	e.stopWorker = func() { cancel(); <-done }
	t.Cleanup(e.stopWorker)
}

func userBody(userName string, extra map[string]any) map[string]any {
	b := scimtest.UserBody(userName, map[string]any{
		"name":   map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails": []any{map[string]any{"value": userName, "type": "work", "primary": true}},
	})
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func (e *env) createUser(t *testing.T, userName string, tcAttrs map[string]any) *scimtest.Response {
	t.Helper()
	var extra map[string]any
	if tcAttrs != nil {
		extra = map[string]any{tc: tcAttrs}
	}
	return e.c.Post(t, "/Users", userBody(userName, extra)).Expect(t, http.StatusCreated)
}

func status(r *scimtest.Response) any { return r.At(tc + ".invitationStatus") }

// page is a GET or POST of an accept link.
type page struct {
	status int
	body   string
}

func get(t *testing.T, link string) page {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, string(b)}
}

var formTokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

func (p page) formToken(t *testing.T) string {
	t.Helper()
	m := formTokenRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the page (%d): %s", p.status, p.body)
	}
	return m[1]
}

// post submits the accept form as a browser on the same site does.
func post(t *testing.T, link, formToken string, headers ...string) page {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, link, strings.NewReader(url.Values{"form_token": {formToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	u, _ := url.Parse(link)
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if v = strings.TrimSpace(v); v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, string(b)}
}

func accept(t *testing.T, link string) page {
	t.Helper()
	offer := get(t, link)
	if offer.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", link, offer.status, offer.body)
	}
	return post(t, link, offer.formToken(t))
}

func TestInvitationEmailAndAccept(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(t, "bjensen@acme.test", nil)
	if status(u) != "pending" || u.Str(tc+".invitedAt") == "" || u.At(tc+".acceptedAt") != nil {
		t.Fatalf("new user's invitation: %s", u.Raw)
	}
	for _, secret := range []string{"sendInvitation", "resendInvitation", "hash", "token"} {
		if strings.Contains(string(u.Raw), secret) {
			t.Fatalf("the representation shows %q: %s", secret, u.Raw)
		}
	}
	msgs := e.smtp.WaitFor(t, "bjensen@acme.test", 1, 10*time.Second)
	m := msgs[0]
	parts := m.Parts()
	link := m.Link()
	if !strings.HasPrefix(link, e.hs.URL+"/invitations/") {
		t.Fatalf("link %q, want one under %s/invitations/", link, e.hs.URL)
	}
	if !strings.Contains(m.Header("Subject"), "Acme Corp") || !strings.Contains(parts["text/plain"], "Acme Corp") ||
		!strings.Contains(parts["text/html"], "Acme Corp") || !strings.Contains(parts["text/html"], `href="`+link+`"`) {
		t.Fatalf("the email does not name the account or link in both parts: %q\n%s", m.Header("Subject"), m.Data)
	}
	if !strings.Contains(parts["text/plain"], "Barbara Jensen") || m.Header("From") != `"TimeCamp" <invites@timecamp.test>` {
		t.Fatalf("greeting or sender: from %q\n%s", m.Header("From"), parts["text/plain"])
	}

	offer := get(t, link)
	if offer.status != http.StatusOK || !strings.Contains(offer.body, "Acme Corp") || !strings.Contains(offer.body, `<form method="post">`) ||
		strings.Contains(offer.body, "<script") || strings.Contains(offer.body, "bjensen") {
		t.Fatalf("accept page: %d %s", offer.status, offer.body)
	}
	done := post(t, link, offer.formToken(t))
	if done.status != http.StatusOK || !strings.Contains(done.body, "Welcome to Acme Corp") {
		t.Fatalf("accept: %d %s", done.status, done.body)
	}
	got := e.c.Get(t, "/Users/"+u.Str("id")).Expect(t, http.StatusOK)
	if status(got) != "accepted" || got.Str(tc+".acceptedAt") == "" || got.Str(tc+".invitedAt") != u.Str(tc+".invitedAt") {
		t.Fatalf("after accepting: %s", got.Raw)
	}
	// The link is single-use.
	if again := get(t, link); again.status != http.StatusGone || !strings.Contains(again.body, "already been accepted") {
		t.Fatalf("used link, GET: %d %s", again.status, again.body)
	}
	if again := post(t, link, offer.formToken(t)); again.status != http.StatusGone {
		t.Fatalf("used link, POST: %d %s", again.status, again.body)
	}
	// Resending an accepted invitation is refused.
	r := e.c.Patch(t, "/Users/"+u.Str("id"), scimtest.Op("replace", tc+":resendInvitation", true)).Expect(t, http.StatusBadRequest)
	if r.Str("scimType") != "invalidValue" || !strings.Contains(r.Str("detail"), "already accepted") {
		t.Fatalf("resend after accept: %s", r.Raw)
	}
	// The token is in no log line (the access log shows the route only).
	token := link[strings.LastIndex(link, "/")+1:]
	if strings.Contains(e.logs.String(), token) {
		t.Fatalf("the token is in the log:\n%s", e.logs)
	}
	if !strings.Contains(e.logs.String(), "/invitations/{token}") {
		t.Fatalf("the access log does not show the accept page's requests:\n%s", e.logs)
	}
}

func TestSchemaDescribesInvitationAttributes(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	sc := e.c.Get(t, "/Schemas/"+tc).Expect(t, http.StatusOK)
	want := map[string]string{
		"invitationStatus": "readOnly default", "invitedAt": "readOnly default", "acceptedAt": "readOnly default",
		"sendInvitation": "writeOnly never", "resendInvitation": "writeOnly never",
	}
	for _, a := range sc.At("attributes").([]any) {
		m := a.(map[string]any)
		if w, ok := want[m["name"].(string)]; ok {
			if got := fmt.Sprint(m["mutability"], " ", m["returned"]); got != w {
				t.Errorf("%s: %s, want %s", m["name"], got, w)
			}
			delete(want, m["name"].(string))
		}
	}
	if len(want) > 0 {
		t.Fatalf("/Schemas lacks %v", want)
	}
}

func TestUnknownAndMalformedLinks(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	for _, path := range []string{"/invitations/short", "/invitations/" + strings.Repeat("A", 43)} {
		p := get(t, e.hs.URL+path)
		if p.status != http.StatusNotFound || !strings.Contains(p.body, "not valid") || strings.Contains(p.body, "Acme") {
			t.Fatalf("%s: %d %s", path, p.status, p.body)
		}
	}
}

func TestResendVoidsOldLink(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(t, "resend@acme.test", nil)
	id := u.Str("id")
	first := e.smtp.WaitFor(t, "resend@acme.test", 1, 10*time.Second)[0].Link()

	r := e.c.Patch(t, "/Users/"+id, scimtest.Op("replace", tc+":resendInvitation", "True")).Expect(t, http.StatusOK)
	if status(r) != "pending" || strings.Contains(string(r.Raw), "resendInvitation") {
		t.Fatalf("after resend: %s", r.Raw)
	}
	msgs := e.smtp.WaitFor(t, "resend@acme.test", 2, 10*time.Second)
	second := msgs[1].Link()
	if second == "" || second == first {
		t.Fatalf("resend links: %q then %q", first, second)
	}
	if p := get(t, first); p.status != http.StatusNotFound {
		t.Fatalf("old link after resend: %d %s", p.status, p.body)
	}

	// A PUT of what was read keeps the invitation as it is.
	read := e.c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
	put := e.c.Put(t, "/Users/"+id, read.Body).Expect(t, http.StatusOK)
	if status(put) != "pending" || put.Str(tc+".invitedAt") != read.Str(tc+".invitedAt") || put.Str("meta.version") != read.Str("meta.version") {
		t.Fatalf("PUT round trip changed the invitation:\nread %s\nput  %s", read.Raw, put.Raw)
	}
	if p := get(t, second); p.status != http.StatusOK {
		t.Fatalf("link after a PUT round trip: %d", p.status)
	}

	// resendInvitation through PUT, in the extension object.
	body := read.Body
	body[tc].(map[string]any)["resendInvitation"] = true
	e.c.Put(t, "/Users/"+id, body).Expect(t, http.StatusOK)
	third := e.smtp.WaitFor(t, "resend@acme.test", 3, 10*time.Second)[2].Link()
	if p := get(t, second); p.status != http.StatusNotFound {
		t.Fatalf("second link after the PUT resend: %d", p.status)
	}
	if p := accept(t, third); p.status != http.StatusOK {
		t.Fatalf("accepting the newest link: %d %s", p.status, p.body)
	}
}

func TestResendRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	id := e.createUser(t, "limit@acme.test", nil).Str("id")
	for i := 0; i < directory.DefaultResendLimit; i++ {
		e.c.Patch(t, "/Users/"+id, scimtest.Op("add", "", map[string]any{tc: map[string]any{"resendInvitation": true}})).Expect(t, http.StatusOK)
	}
	r := e.c.Patch(t, "/Users/"+id, scimtest.Op("replace", tc+":resendInvitation", true)).Expect(t, http.StatusTooManyRequests)
	if r.Str("status") != "429" || r.At("schemas.0") != schemas.ErrorURN || !strings.Contains(r.Str("detail"), "resent 3 times in the last hour") {
		t.Fatalf("429 body: %s", r.Raw)
	}
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// An hour later it is allowed again.
	e.clock.Advance(61 * time.Minute)
	e.c.Patch(t, "/Users/"+id, scimtest.Op("replace", tc+":resendInvitation", true)).Expect(t, http.StatusOK)
}

func TestExpiredLinkRefused(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(t, "late@acme.test", nil)
	link := e.smtp.WaitFor(t, "late@acme.test", 1, 10*time.Second)[0].Link()
	offer := get(t, link)
	e.clock.Advance(directory.DefaultInvitationTTL + time.Minute)

	if p := get(t, link); p.status != http.StatusGone || !strings.Contains(p.body, "expired") {
		t.Fatalf("expired link: %d %s", p.status, p.body)
	}
	if p := post(t, link, offer.formToken(t)); p.status != http.StatusGone || !strings.Contains(p.body, "expired") {
		t.Fatalf("expired link, POST: %d %s", p.status, p.body)
	}
	if got := e.c.Get(t, "/Users/"+u.Str("id")).Expect(t, http.StatusOK); status(got) != "expired" {
		t.Fatalf("user after expiry: %s", got.Raw)
	}
	// The sweep stores the status, so that filters find it.
	if n, err := e.dir.ExpireInvitations(context.Background(), 100); err != nil || n != 1 {
		t.Fatalf("ExpireInvitations: %d, %v", n, err)
	}
	list := e.c.Get(t, "/Users?filter="+url.QueryEscape(tc+`:invitationStatus eq "expired"`)).Expect(t, http.StatusOK)
	if fmt.Sprint(list.At("totalResults")) != "1" {
		t.Fatalf("filter on expired: %s", list.Raw)
	}
	// A resend gives a working link again.
	e.c.Patch(t, "/Users/"+u.Str("id"), scimtest.Op("replace", tc+":resendInvitation", true)).Expect(t, http.StatusOK)
	fresh := e.smtp.WaitFor(t, "late@acme.test", 2, 10*time.Second)[1].Link()
	if p := accept(t, fresh); p.status != http.StatusOK {
		t.Fatalf("fresh link: %d %s", p.status, p.body)
	}
}

func TestDeactivatedUsersLinkRefused(t *testing.T) {
	e := newEnv(t)
	id := e.createUser(t, "leaver@acme.test", nil).Str("id")
	link := e.smtp.WaitFor(t, "leaver@acme.test", 1, 10*time.Second)[0].Link()
	r := e.c.Patch(t, "/Users/"+id, scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	if status(r) != "revoked" {
		t.Fatalf("deactivated: %s", r.Raw)
	}
	if p := get(t, link); p.status != http.StatusGone || !strings.Contains(p.body, "withdrawn") {
		t.Fatalf("revoked link: %d %s", p.status, p.body)
	}
	// Resending to a deactivated user is refused.
	r = e.c.Patch(t, "/Users/"+id, scimtest.Op("replace", tc+":resendInvitation", true)).Expect(t, http.StatusBadRequest)
	if !strings.Contains(r.Str("detail"), "deactivated") {
		t.Fatalf("resend to a deactivated user: %s", r.Raw)
	}
	// Reactivating invites again, with a new link.
	r = e.c.Patch(t, "/Users/"+id, scimtest.Op("replace", "active", true)).Expect(t, http.StatusOK)
	if status(r) != "pending" {
		t.Fatalf("reactivated: %s", r.Raw)
	}
	fresh := e.smtp.WaitFor(t, "leaver@acme.test", 2, 10*time.Second)[1].Link()
	if fresh == link {
		t.Fatal("reactivation reused the revoked link")
	}
	// Deleting the user revokes too: the link then leads nowhere.
	e.c.Delete(t, "/Users/"+id).Expect(t, http.StatusNoContent)
	if p := get(t, fresh); p.status != http.StatusNotFound {
		t.Fatalf("deleted user's link: %d %s", p.status, p.body)
	}
}

func TestInvitationsOffAndSendInvitation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// sendInvitation false on create: no invitation.
	quiet := e.createUser(t, "quiet@acme.test", map[string]any{"sendInvitation": false})
	if status(quiet) != "none" || quiet.At(tc+".invitedAt") != nil {
		t.Fatalf("sendInvitation false: %s", quiet.Raw)
	}
	if err := e.st.SetInvitations(ctx, e.acct.ID, false); err != nil {
		t.Fatal(err)
	}
	sso := e.createUser(t, "sso@acme.test", nil)
	if status(sso) != "none" {
		t.Fatalf("account invitations off: %s", sso.Raw)
	}
	// Reactivating a user who was never invited sends nothing either.
	e.c.Patch(t, "/Users/"+sso.Str("id"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	if r := e.c.Patch(t, "/Users/"+sso.Str("id"), scimtest.Op("replace", "active", true)).Expect(t, http.StatusOK); status(r) != "none" {
		t.Fatalf("reactivated SSO user: %s", r.Raw)
	}
	// sendInvitation true overrides the account's default ("True" as Entra sends it).
	loud := e.createUser(t, "loud@acme.test", map[string]any{"sendInvitation": "True"})
	if status(loud) != "pending" {
		t.Fatalf("sendInvitation true: %s", loud.Raw)
	}
	e.smtp.WaitFor(t, "loud@acme.test", 1, 10*time.Second)
	// The worker takes entries in order: had the others been queued, they
	// would have been sent before this one.
	for _, m := range e.smtp.Messages() {
		if strings.Contains(strings.Join(m.To, ","), "quiet@") || strings.Contains(strings.Join(m.To, ","), "sso@") {
			t.Fatalf("an email went to %v", m.To)
		}
	}
	// A bad value is a clear error.
	r := e.c.Post(t, "/Users", userBody("bad@acme.test", map[string]any{tc: map[string]any{"sendInvitation": "maybe"}})).Expect(t, http.StatusBadRequest)
	if r.Str("scimType") != "invalidValue" || !strings.Contains(r.Str("detail"), "sendInvitation") {
		t.Fatalf("bad sendInvitation: %s", r.Raw)
	}
	// The status is read-only: a PATCH naming it is refused, an echo in a
	// value object ignored.
	e.c.Patch(t, "/Users/"+loud.Str("id"), scimtest.Op("replace", tc+":invitationStatus", "accepted")).Expect(t, http.StatusBadRequest)
	r = e.c.Patch(t, "/Users/"+loud.Str("id"), scimtest.Op("replace", "", map[string]any{tc: map[string]any{"invitationStatus": "accepted"}})).Expect(t, http.StatusOK)
	if status(r) != "pending" {
		t.Fatalf("echoed invitationStatus changed it: %s", r.Raw)
	}
}

func TestAcceptRefusesCrossSiteRequests(t *testing.T) {
	e := newEnv(t)
	id := e.createUser(t, "csrf@acme.test", nil).Str("id")
	link := e.smtp.WaitFor(t, "csrf@acme.test", 1, 10*time.Second)[0].Link()
	ft := get(t, link).formToken(t)
	for name, p := range map[string]page{
		"no form token":        post(t, link, ""),
		"wrong form token":     post(t, link, strings.Repeat("x", len(ft))),
		"other origin":         post(t, link, ft, "Origin: https://evil.example"),
		"cross-site fetch":     post(t, link, ft, "Sec-Fetch-Site: cross-site", "Origin:"),
		"opaque (null) origin": post(t, link, ft, "Origin: null"),
	} {
		if p.status != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, p.status, p.body)
		}
	}
	if got := e.c.Get(t, "/Users/"+id).Expect(t, http.StatusOK); status(got) != "pending" {
		t.Fatalf("a refused POST accepted: %s", got.Raw)
	}
	// Without browser headers the form token alone decides.
	if p := post(t, link, ft, "Origin:", "Sec-Fetch-Site:"); p.status != http.StatusOK {
		t.Fatalf("plain POST with the form token: %d %s", p.status, p.body)
	}
	// The page may not be framed and keeps the token out of referrers.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("headers: %v", resp.Header)
	}
}

// Behind a reverse proxy that terminates TLS, the accept form's Origin is
// https://host: the form is accepted when the proxy is trusted to say so
// (X-Forwarded-Proto), and refused when anyone could have said it.
func TestAcceptBehindTrustedProxy(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "proxied@acme.test", nil)
	link := e.smtp.WaitFor(t, "proxied@acme.test", 1, 10*time.Second)[0].Link()
	secret, err := e.st.Secret(context.Background(), "invitation-form")
	if err != nil {
		t.Fatal(err)
	}
	behind := func(trusted ...netip.Prefix) *url.URL {
		pages := &invite.Pages{Directory: e.dir, Secret: secret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		hs := httptest.NewServer(scim.New(e.dir, scim.Options{Proxies: transport.NewProxies(trusted), Logger: pages.Logger}).Handler(pages.Routes))
		t.Cleanup(hs.Close)
		u, _ := url.Parse(link)
		base, _ := url.Parse(hs.URL)
		u.Host = base.Host
		return u
	}
	untrusted := behind()
	ft := get(t, untrusted.String()).formToken(t)
	origin := "Origin: https://" + untrusted.Host
	if p := post(t, untrusted.String(), ft, origin, "X-Forwarded-Proto: https"); p.status != http.StatusForbidden {
		t.Fatalf("X-Forwarded-Proto from an untrusted peer was believed: %d", p.status)
	}
	trusted := behind(netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	if p := post(t, trusted.String(), ft, "Origin: https://"+trusted.Host, "X-Forwarded-Proto: https"); p.status != http.StatusOK {
		t.Fatalf("behind a trusted proxy: %d %s", p.status, p.body)
	}
}

// An email whose first delivery fails (SMTP server down) is delivered once
// the server is back, exactly once.
func TestDeliveryRetriedUntilSMTPServerIsBack(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	e := newEnv(t, envOptions{smtpAddr: addr})
	emails := func(result string) float64 {
		return metricstest.Value(t, "timecamp_scim_invitation_emails_total", map[string]string{"result": result})
	}
	failedBefore, sentBefore := emails(metrics.EmailFailed), emails(metrics.EmailSent)
	u := e.createUser(t, "patient@acme.test", nil)
	stored, err := e.st.Get(context.Background(), schemas.User, e.acct.ID, u.Str("id"))
	if err != nil {
		t.Fatal(err)
	}
	entryID := stored.Invitation.ID
	waitEntry(t, e.st, entryID, func(o *store.OutboxEntry) bool { return o.Attempts >= 2 && o.State == store.OutboxPending })

	smtp := mailtest.StartAt(t, addr, "", "")
	smtp.WaitFor(t, "patient@acme.test", 1, 20*time.Second)
	sent := waitEntry(t, e.st, entryID, func(o *store.OutboxEntry) bool { return o.State == store.OutboxSent })
	if sent.Token != "" {
		t.Fatal("the token stays in the outbox after sending")
	}
	e.stopWorker()
	if n := len(smtp.Messages()); n != 1 {
		t.Fatalf("%d messages, want exactly 1", n)
	}
	if !strings.Contains(e.logs.String(), "will retry") {
		t.Fatalf("the failed attempts were not logged:\n%s", e.logs)
	}
	if failed, sent := emails(metrics.EmailFailed)-failedBefore, emails(metrics.EmailSent)-sentBefore; failed < 2 || sent != 1 {
		t.Fatalf("metrics: %v failed (want at least 2), %v sent (want 1)", failed, sent)
	}
	if link := smtp.Messages()[0].Link(); accept(t, link).status != http.StatusOK {
		t.Fatal("the delivered link does not work")
	}
}

func waitEntry(t *testing.T, st store.Store, id string, ok func(*store.OutboxEntry) bool) *store.OutboxEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := st.OutboxEntryByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox entry never got there: %+v", o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two workers on one database (two server instances) send each email once.
func TestTwoWorkersSendEachEmailOnce(t *testing.T) {
	ctx := context.Background()
	st1 := storetest.New(t)
	st2 := storetest.Reopen(t, st1)
	smtp := mailtest.Start(t)
	cfg, _ := mail.ParseSMTPURL("smtp://" + smtp.Addr)

	// Queue the emails first, with no worker running.
	dir := directory.New(st1, nil)
	acct, err := st1.CreateAccount(ctx, "Twins", 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	for i := 0; i < n; i++ {
		body := userBody(fmt.Sprintf("u%02d@twins.test", i), nil)
		body["schemas"] = []any{schemas.UserURN} // as decoded from JSON
		if _, err := dir.Create(ctx, acct.ID, schemas.User, body); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, st := range []store.Store{st1, st2} {
		w := &invite.Worker{Store: st, Sender: mail.NewSMTP(cfg), From: "invites@twins.test", BaseURL: "http://twins.test", ID: fmt.Sprint("worker-", i)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, err := w.DeliverDue(ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = sent
		}()
	}
	wg.Wait()
	msgs := smtp.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.To[0]]++
	}
	if len(msgs) != n || len(seen) != n || counts[0]+counts[1] != n {
		t.Fatalf("%d messages to %d addresses (workers sent %v), want %d once each: %v", len(msgs), len(seen), counts, n, seen)
	}
	t.Logf("worker 0 sent %d, worker 1 sent %d", counts[0], counts[1])
}

// Without SMTP each email gets exactly one log line, which says it was
// not sent and gives its link, which works.
func TestNoSMTPLogsTheLink(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	e.worker.Sender = mail.Log{}
	e.createUser(t, "trial@acme.test", nil)
	e.createUser(t, "second@acme.test", nil)
	if n, err := e.worker.DeliverDue(context.Background()); err != nil || n != 2 {
		t.Fatalf("DeliverDue: %d, %v", n, err)
	}
	var lines []string
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "email") && !strings.Contains(line, "msg=request") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines about the 2 emails, want one each:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, to := range []string{"trial@acme.test", "second@acme.test"} {
		line := lines[i]
		if !strings.Contains(line, `msg="invitation email not sent (no SCIM_SMTP_URL configured); here is its link"`) || !strings.Contains(line, "to="+to) || !strings.Contains(line, "invitation=") {
			t.Errorf("the line about %s's email: %s", to, line)
		}
	}
	link := regexp.MustCompile(`link=(\S+/invitations/[A-Za-z0-9_-]+)`).FindStringSubmatch(lines[0])
	if link == nil {
		t.Fatalf("no link in the log:\n%s", lines[0])
	}
	if p := accept(t, link[1]); p.status != http.StatusOK {
		t.Fatalf("logged link: %d %s", p.status, p.body)
	}
}

// An outbox entry whose user document never named it (a crash between
// the two writes) is discarded after the grace period, and never sent.
func TestOrphanOutboxEntryDiscarded(t *testing.T) {
	e := newEnv(t, envOptions{noWorker: true})
	ctx := context.Background()
	id := e.createUser(t, "orphan@acme.test", map[string]any{"sendInvitation": false}).Str("id")

	old := &store.OutboxEntry{ID: store.NewID(), Account: e.acct.ID, User: id, Token: "never-sent"}
	if err := e.st.AddOutbox(ctx, old); err != nil {
		t.Fatal(err)
	}
	impatient := &invite.Worker{Store: e.st, Sender: e.worker.Sender, From: e.worker.From, Grace: time.Nanosecond}
	if n, err := impatient.DeliverDue(ctx); err != nil || n != 0 {
		t.Fatalf("DeliverDue: %d, %v", n, err)
	}
	if o, _ := e.st.OutboxEntryByID(ctx, old.ID); o.State != store.OutboxDiscarded || o.Token != "" {
		t.Fatalf("an orphan past the grace period is discarded: %+v", o)
	}

	young := &store.OutboxEntry{ID: store.NewID(), Account: e.acct.ID, User: id, Token: "not-yet"}
	if err := e.st.AddOutbox(ctx, young); err != nil {
		t.Fatal(err)
	}
	e.worker.Grace = time.Hour
	if n, err := e.worker.DeliverDue(ctx); err != nil || n != 0 {
		t.Fatalf("DeliverDue: %d, %v", n, err)
	}
	if o, _ := e.st.OutboxEntryByID(ctx, young.ID); o.State != store.OutboxPending || !o.Due.After(o.Created) || o.ClaimedBy != "" {
		t.Fatalf("a young orphan (its user write may be in flight) is deferred, not dropped: %+v", o)
	}
	if len(e.smtp.Messages()) != 0 {
		t.Fatal("an orphan was sent")
	}
}

// Users created through Bulk (in one batch) are invited like users created
// one by one: one email each, and none for a user the batch refused.
func TestBulkCreatedUsersAreInvitedOnce(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "taken@acme.test", nil)
	ops := []any{}
	for i, name := range []string{"one@acme.test", "two@acme.test", "TAKEN@acme.test", "three@acme.test"} {
		ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": userBody(name, nil)})
	}
	r := e.c.Post(t, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(t, http.StatusOK)
	want := []string{"201", "201", "409", "201"}
	for i, w := range want {
		if got := r.Str(fmt.Sprintf("Operations.%d.status", i)); got != w {
			t.Fatalf("operation %d: status %s, want %s: %s", i, got, w, r.Raw)
		}
	}
	for _, to := range []string{"one@acme.test", "two@acme.test", "three@acme.test"} {
		e.smtp.WaitFor(t, to, 1, 10*time.Second)
	}
	// The refused duplicate's outbox entry names no user: no email for it.
	if n := len(e.smtp.Messages()); n != 4 {
		t.Fatalf("%d emails, want 4 (taken@ and the three created)", n)
	}
}
