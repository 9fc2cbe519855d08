package admin

// Sign-in through OpenID Connect, sessions and cross-site request checks.
//
// Sign-in is the authorization-code flow with PKCE (S256), state and
// nonce. While the browser is at the provider, the state, nonce and PKCE
// verifier wait in a short-lived cookie encrypted with a server-wide key
// (AES-GCM), so no anonymous visitor makes the server store anything.
// Back at /admin/callback the state must match, the code is exchanged with
// the verifier, and the ID token's signature, issuer, audience, expiry and
// nonce are checked (go-oidc). Then the email must be verified
// (email_verified true), and the identity (issuer and subject) bound to,
// or the email an unbound, active administrator in some account (see
// identity.go); anyone else gets a 403 page saying why. The provider is
// discovered in the background (provider.go): while it cannot be reached
// the sign-in pages say so at once.
//
// A session is a random secret in an HttpOnly, SameSite=Lax cookie (Secure
// with the __Host- prefix over https); the store keeps its hash. It ends
// after IdleTimeout without use, AbsoluteTimeout after sign-in, at logout,
// and as soon as its user is no longer an active administrator of the
// account or bound to the identity (checked on every request). Every POST
// carries the session's CSRF token, and one whose Origin or Sec-Fetch-Site
// says it comes from another site is refused.
//
// Every path to a credential (setting a password, creating a SCIM token,
// making an administrator: see administrators.go) needs a fresh
// authentication (the OIDC form of TimeCamp's "first enter your own Admin
// password"): the browser goes through the provider again
// with prompt=login and max_age=0, the ID token must be the same person's,
// and its auth_time must be within ReauthMaxAge; the session then goes on
// under a new secret (the fresh sign-in is that browser's, not a copied
// cookie's), and one sensitive action spends it. A provider that sends no
// auth_time (Dex keeps no login session, so every sign-in there is a fresh
// one) is judged by the token's iat instead: under prompt=login a provider
// must authenticate again or refuse.

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Cookie names; over https they get the __Host- prefix (Secure, Path=/,
// no Domain: the browser sends them to this host only).
const (
	sessionCookie = "tcscim_admin"
	loginCookie   = "tcscim_login"
	flashCookie   = "tcscim_flash"
)

// loginTTL is how long a sign-in at the provider may take.
const loginTTL = 10 * time.Minute

// touchEvery is how often a session's last use is written at most.
const touchEvery = time.Minute

// client returns the discovered provider; when there is none it answers
// that sign-in is unavailable, at once, and returns false.
func (c *Console) client(w http.ResponseWriter, r *http.Request) (*oidcClient, bool) {
	oc, err := c.provider.get(r.Context())
	if err != nil {
		c.signInUnavailable(w, r, err)
		return nil, false
	}
	return oc, true
}

// signInUnavailable answers 503 with Retry-After (when discovery tries
// again) and a page that says why nobody can sign in.
func (c *Console) signInUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	secs := 1 // the first attempt is under way
	var ue *unavailableError
	if errors.As(err, &ue) && !ue.next.IsZero() {
		secs = max(1, int(math.Ceil(time.Until(ue.next).Seconds())))
	}
	why := unavailableReason(err)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	c.renderView(w, r, http.StatusServiceUnavailable, "message", &view{Title: "Sign-in unavailable", Data: messageData{
		Title: "Sign-in unavailable",
		Message: fmt.Sprintf("The admin console cannot reach the identity provider at %s, so nobody can sign in right now (%s). "+
			"The server keeps trying by itself, next in about %d s; SCIM provisioning is not affected. If this lasts, check SCIM_OIDC_ISSUER and the provider.",
			c.cfg.Issuer, why, secs),
	}})
}

// pendingLogin is what the sign-in cookie holds while the browser is at
// the provider.
type pendingLogin struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Reauth   bool      `json:"r,omitempty"` // a re-authentication for a sensitive action
	Return   string    `json:"u,omitempty"` // where to go afterwards (a console path)
	Started  time.Time `json:"t"`
}

// login sends the browser to the provider.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	c.startLogin(w, r, pendingLogin{Return: localPath(r.URL.Query().Get("return"))})
}

// reauth sends a signed-in administrator to the provider to authenticate
// again (setting a password needs it).
func (c *Console) reauth(w http.ResponseWriter, r *http.Request) {
	c.startLogin(w, r, pendingLogin{Reauth: true, Return: localPath(r.URL.Query().Get("return"))})
}

func (c *Console) startLogin(w http.ResponseWriter, r *http.Request, p pendingLogin) {
	oc, ok := c.client(w, r)
	if !ok {
		return
	}
	p.State, p.Nonce, p.Verifier, p.Started = randomString(), randomString(), oauth2.GenerateVerifier(), time.Now().UTC()
	sealed, err := c.seal(loginCookie, p)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	c.setCookie(w, loginCookie, sealed, int(loginTTL.Seconds()))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}
	if p.Reauth {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"))
	}
	http.Redirect(w, r, oc.oauth.AuthCodeURL(p.State, opts...), http.StatusFound)
}

// idClaims are the ID token claims the console reads.
type idClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"` // a boolean; some providers send "true"
	AuthTime      int64  `json:"auth_time"`
	IssuedAt      int64  `json:"iat"`
}

func (cl idClaims) verified() bool {
	switch v := cl.EmailVerified.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "true")
	}
	return false
}

// callback finishes a sign-in or a re-authentication.
func (c *Console) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var p pendingLogin
	ck, err := r.Cookie(c.cookieName(loginCookie))
	if err == nil {
		err = c.open(loginCookie, ck.Value, &p)
	}
	c.setCookie(w, loginCookie, "", -1)
	q := r.URL.Query()
	if err != nil || p.State == "" || !hmac.Equal([]byte(q.Get("state")), []byte(p.State)) || time.Since(p.Started) > loginTTL {
		c.renderView(w, r, http.StatusBadRequest, "message", &view{Title: "Sign-in expired", Data: messageData{
			Title: "Sign-in expired", Message: "This sign-in was started too long ago, in another tab, or not from this console. Start again.", SignIn: true,
		}})
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "The identity provider did not sign you in (" + e + ")."
		if d := q.Get("error_description"); d != "" {
			msg = "The identity provider did not sign you in: " + d + " (" + e + ")."
		}
		c.renderView(w, r, http.StatusForbidden, "message", &view{Title: "Not signed in", Data: messageData{Title: "Not signed in", Message: msg, SignIn: true}})
		return
	}
	oc, ok := c.client(w, r)
	if !ok {
		return
	}
	// The exchange and the key fetch are the request's: cancelled with it,
	// and bounded by the client's timeout.
	pctx := oidc.ClientContext(ctx, c.cfg.HTTPClient)
	tok, err := oc.oauth.Exchange(pctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		c.log.WarnContext(ctx, "OIDC code exchange failed", "error", err)
		c.errorPage(w, r, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in code. Start again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := oc.verifier.Verify(pctx, raw)
	if err != nil || !hmac.Equal([]byte(idt.Nonce), []byte(p.Nonce)) {
		c.log.WarnContext(ctx, "ID token refused", "error", err)
		c.errorPage(w, r, http.StatusForbidden, "Sign-in failed", "The identity provider's ID token could not be verified. Start again.")
		return
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		c.internalError(w, r, err)
		return
	}
	subject := idt.Issuer + " " + idt.Subject
	if p.Reauth {
		c.finishReauth(w, r, p, subject, cl)
		return
	}
	c.finishLogin(w, r, p, subject, cl, oc)
}

func (c *Console) finishReauth(w http.ResponseWriter, r *http.Request, p pendingLogin, subject string, cl idClaims) {
	s, err := c.currentSession(r)
	if err != nil {
		http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
		return
	}
	if subject != s.sess.Subject {
		c.errorPage(w, r, http.StatusForbidden, "Not the same person",
			"You confirmed your identity as someone else than the administrator signed in here. Sign in again as yourself.")
		return
	}
	at := time.Unix(cl.AuthTime, 0)
	if cl.AuthTime == 0 {
		at = time.Unix(cl.IssuedAt, 0)
	}
	// A second of slack for clocks that truncate.
	if at.Before(p.Started.Add(-time.Second)) || time.Since(at) > c.cfg.ReauthMaxAge {
		c.errorPage(w, r, http.StatusForbidden, "Authentication not fresh",
			"The identity provider did not ask for your password again (its authentication time is "+formatTime(at)+"). Try again; if it keeps happening, the provider does not support prompt=login.")
		return
	}
	// The fresh sign-in belongs to this browser: the session goes on under
	// a new secret, and the old one, which may have been copied (the
	// stolen cookie step-up is for), ends. The CSRF token stays, for the
	// forms of the browser's other tabs.
	ctx := r.Context()
	secret, old := randomString(), s.sess.ID
	fresh := *s.sess
	fresh.ID, fresh.ReauthAt = store.HashSessionSecret(secret), at.UTC()
	if err := c.store.CreateSession(ctx, &fresh); err != nil {
		c.internalError(w, r, err)
		return
	}
	if err := c.store.DeleteSession(ctx, old); err != nil {
		c.internalError(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, secret, 0)
	next := p.Return
	if next == "" {
		next = "/admin/users"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// Step-up: every path that mints, shows or changes a credential (setting
// a password, creating a SCIM token, making an administrator) needs a
// fresh authentication at the provider (reauth, finishReauth), and uses it
// up.

// freshReauth reports whether the session re-authenticated recently enough
// for a sensitive action.
func (c *Console) freshReauth(s *session) bool {
	return !s.sess.ReauthAt.IsZero() && time.Since(s.sess.ReauthAt) <= c.cfg.ReauthMaxAge
}

// spend uses the session's fresh sign-in up, if it has one: one
// conditional write, so that of the requests that read the same fresh
// sign-in only one goes on. It returns the sign-in's time, and false when
// there was none to spend (none, too old, or another request's already).
func (c *Console) spend(ctx context.Context, s *session) (time.Time, bool, error) {
	at := s.sess.ReauthAt
	if !c.freshReauth(s) {
		return at, false, nil
	}
	spent, err := c.store.SwapReauth(ctx, s.sess.ID, at, time.Time{})
	if err != nil {
		return at, false, err
	}
	s.sess.ReauthAt = time.Time{}
	return at, spent, nil
}

// stepUp is what a page needs to offer a sensitive action: whether the
// session may take it now, and otherwise the way to a fresh sign-in that
// comes back to the page.
type stepUp struct {
	Fresh  bool
	URL    string // /admin/reauth, back to the page
	MaxAge string
	What   string // "set the password", "create a token"
}

func (c *Console) stepUpFor(s *session, page, what string) stepUp {
	return stepUp{Fresh: c.freshReauth(s), URL: "/admin/reauth?return=" + url.QueryEscape(page), MaxAge: c.cfg.ReauthMaxAge.String(), What: what}
}

// requireStepUp lets a sensitive POST through after a fresh
// authentication; otherwise it answers 403 and returns false. what names
// the action for the message ("Creating a SCIM token").
func (c *Console) requireStepUp(w http.ResponseWriter, r *http.Request, what string) bool {
	if c.freshReauth(sessionOf(r.Context())) {
		return true
	}
	c.errorPage(w, r, http.StatusForbidden, "Confirm it's you first",
		what+" needs a fresh sign-in at your identity provider, within the last "+c.cfg.ReauthMaxAge.String()+". Nothing was changed. Open the page again and confirm your identity.")
	return false
}

// spendStepUp uses the session's fresh authentication up, before the
// action it allows (requireStepUp checked it): one conditional write, so
// that of the requests that read the same fresh sign-in only one goes on;
// the others get requireStepUp's 403. giveBack returns it when the action
// then failed (a password too short), so that a mistake does not cost
// another sign-in.
func (c *Console) spendStepUp(w http.ResponseWriter, r *http.Request, what string) (giveBack func(), ok bool) {
	ctx := r.Context()
	s := sessionOf(ctx)
	at, spent, err := c.spend(ctx, s)
	if err != nil {
		c.internalError(w, r, err)
		return nil, false
	}
	if !spent {
		return nil, c.requireStepUp(w, r, what)
	}
	return func() {
		if _, err := c.store.SwapReauth(ctx, s.sess.ID, time.Time{}, at); err != nil {
			c.log.WarnContext(ctx, "could not give the fresh sign-in back", "error", err)
		}
	}, true
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	if err := c.store.DeleteSession(r.Context(), s.sess.ID); err != nil {
		c.internalError(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, "", -1)
	next := "/admin/signed-out"
	if oc, err := c.provider.current(); err == nil && oc.logoutURL != "" {
		u, err := url.Parse(oc.logoutURL)
		if err == nil {
			q := u.Query()
			q.Set("client_id", c.cfg.ClientID)
			q.Set("post_logout_redirect_uri", c.cfg.BaseURL+"/admin/signed-out")
			u.RawQuery = q.Encode()
			next = u.String()
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signedOut(w http.ResponseWriter, r *http.Request) {
	c.renderView(w, r, http.StatusOK, "message", &view{Title: "Signed out", Data: messageData{
		Title: "Signed out", Message: "You are signed out of the admin console.", SignIn: true,
	}})
}

// session is a signed-in request's session, account and administrator.
type session struct {
	sess    *store.Session
	account *store.Account
	user    *store.Resource
}

type sessionKey struct{}

func sessionOf(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// errNoSession: no valid session (the reason is the console's to say).
var errNoSession = errors.New("admin: no session")

// errNotAdmin: the session's user is no longer an administrator.
var errNotAdmin = errors.New("admin: no longer an administrator")

// currentSession reads and checks the request's session: it exists, has
// not expired, its user is still bound to the identity that signed in, and
// is still an active administrator of the account. A session that fails
// is deleted.
func (c *Console) currentSession(r *http.Request) (*session, error) {
	ck, err := r.Cookie(c.cookieName(sessionCookie))
	if err != nil || ck.Value == "" {
		return nil, errNoSession
	}
	ctx := r.Context()
	sess, err := c.store.Session(ctx, store.HashSessionSecret(ck.Value))
	if failure.Is(err, failure.NotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	t := time.Now().UTC()
	if !t.Before(sess.Expires) {
		_ = c.store.DeleteSession(ctx, sess.ID)
		return nil, errNoSession
	}
	acct, err := c.store.Account(ctx, sess.Account)
	if err != nil {
		if failure.Is(err, failure.NotFound) {
			_ = c.store.DeleteSession(ctx, sess.ID)
			return nil, errNoSession
		}
		return nil, err
	}
	// The administrator is still bound to the identity that signed in (an
	// operator's unbind ends the session)...
	b, err := c.store.BindingOfUser(ctx, sess.Account, sess.User)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	if err != nil || b.Subject != sess.Subject {
		_ = c.store.DeleteSession(ctx, sess.ID)
		return nil, errNoSession
	}
	// ... and still an active administrator.
	u, err := c.dir.Get(ctx, sess.Account, schemas.User, sess.User)
	if err != nil && !failure.Is(err, failure.NotFound) {
		return nil, err
	}
	if err != nil || !activeAdmin(u) {
		_ = c.store.DeleteSession(ctx, sess.ID)
		return &session{sess: sess, account: acct}, errNotAdmin
	}
	if t.Sub(sess.LastSeen) >= touchEvery {
		sess.LastSeen = t
		sess.Expires = c.expiry(sess, t)
		// Only the times: the rest of what was read may be stale (a
		// fresh sign-in spent meanwhile must stay spent).
		if err := c.store.TouchSession(ctx, sess.ID, sess.LastSeen, sess.Expires); err != nil {
			return nil, err
		}
	}
	return &session{sess: sess, account: acct, user: u}, nil
}

// expiry is when a session used at t ends: the idle timeout, capped by
// the absolute one.
func (c *Console) expiry(s *store.Session, t time.Time) time.Time {
	idle, abs := t.Add(c.cfg.IdleTimeout), s.Created.Add(c.cfg.AbsoluteTimeout)
	if abs.Before(idle) {
		return abs
	}
	return idle
}

// requireSession lets signed-in administrators through; a POST must also
// carry the session's CSRF token and come from this site.
func (c *Console) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := c.currentSession(r)
		switch {
		case errors.Is(err, errNotAdmin):
			c.setCookie(w, sessionCookie, "", -1)
			c.renderView(w, r, http.StatusForbidden, "message", &view{Title: "No access", Data: messageData{
				Title:   "No access to the admin console",
				Message: fmt.Sprintf("%s is no longer an active administrator of %s, so this session has ended.", s.sess.Email, s.account.Name),
				SignIn:  true,
			}})
			return
		case errors.Is(err, errNoSession):
			c.setCookie(w, sessionCookie, "", -1)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/admin/login?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.renderView(w, r, http.StatusForbidden, "message", &view{Title: "Session ended", Data: messageData{
				Title: "Session ended", Message: "Your session has ended, so nothing was changed. Sign in again.", SignIn: true,
			}})
			return
		case err != nil:
			c.internalError(w, r, err)
			return
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, s)
		// Whatever the request writes, making an administrator needs a
		// fresh sign-in (administrators.go).
		ctx = directory.WithAdministratorGate(ctx, c.administratorGate(s))
		r = r.WithContext(ctx)
		if r.Method == http.MethodPost {
			if err := c.checkForm(r, s); err != nil {
				c.errorPage(w, r, http.StatusForbidden, "Request refused", err.Error())
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// maxUpload bounds a posted form (a CSV file is the largest).
const maxUpload = 4 << 20

// checkForm checks that a POST comes from the console: same site, and the
// session's CSRF token in the form.
func (c *Console) checkForm(r *http.Request, s *session) error {
	const again = "Reload the page and try again."
	if !c.sameSite(r) {
		return errors.New("The request came from another site, so it was refused. " + again)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxUpload)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(maxUpload)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return errors.New("The form could not be read (at most 4 MiB). " + again)
	}
	if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.sess.CSRF)) {
		return errors.New("The form's security token is missing or out of date, so nothing was changed. " + again)
	}
	return nil
}

// sameSite checks the browser's word on where a POST comes from, as the
// invitation page does: a cross-site Sec-Fetch-Site, or an Origin other
// than this server's, is refused.
func (c *Console) sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	switch {
	case origin == "":
		return true
	case origin == "null":
		return false
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	if strings.EqualFold(origin, scheme+"://"+r.Host) {
		return true
	}
	if u, err := url.Parse(c.cfg.BaseURL); err == nil && u.Host != "" && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
		return true
	}
	return false
}

func (c *Console) cookieName(name string) string {
	if c.secure {
		return "__Host-" + name
	}
	return name
}

// setCookie sets (maxAge > 0: for that long; 0: for the browser session)
// or clears (maxAge < 0) a cookie.
func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

// seal encrypts and authenticates v for the cookie named (AES-256-GCM
// under a key derived from the server secret; the name is authenticated
// too, so one cookie's value is never accepted as another's).
func (c *Console) seal(cookie string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	gcm, err := c.gcm()
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(gcm.Seal(nonce, nonce, plain, sealedAs(cookie))), nil
}

func (c *Console) open(cookie, s string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	gcm, err := c.gcm()
	if err != nil {
		return err
	}
	if len(raw) < gcm.NonceSize() {
		return errors.New("admin: sealed value too short")
	}
	plain, err := gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], sealedAs(cookie))
	if err != nil {
		return err
	}
	return json.Unmarshal(plain, v)
}

// sealedAs is the additional data a cookie's value is sealed with: the
// sign-in cookie keeps the one it always had.
func sealedAs(cookie string) []byte {
	if cookie == loginCookie {
		return []byte("admin-login")
	}
	return []byte("admin-" + cookie)
}

// gcm is the sealed cookies' cipher. Its key comes from the server-wide
// secret kept in the database and from SCIM_OIDC_CLIENT_SECRET, which is
// not in it: the account choice cookie says who signed in at the
// provider, so a copy of the database alone must not forge one.
func (c *Console) gcm() (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, c.loginKey)
	mac.Write([]byte("timecamp-scim admin cookies\x00"))
	mac.Write([]byte(c.cfg.ClientSecret))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// randomString is 256 random bits, base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// localPath keeps a return address only when it is a console path (no
// open redirect to another site).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/admin") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return ""
	}
	return p
}

func (c *Console) internalError(w http.ResponseWriter, r *http.Request, err error) {
	id := w.Header().Get("X-Request-Id")
	if f, ok := failure.As(err); ok && f.Kind == failure.Unavailable {
		c.unavailable(w, r, f, err)
		return
	}
	c.log.ErrorContext(r.Context(), "admin console", "request_id", id, "error", err)
	c.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The console could not complete this request (request id "+id+"). Try again.")
}

// unavailable answers 503 with Retry-After when the database cannot be
// reached: a page that says so, rather than "something went wrong".
func (c *Console) unavailable(w http.ResponseWriter, r *http.Request, f *failure.Error, err error) {
	c.log.WarnContext(r.Context(), "admin console: database unavailable", "request_id", w.Header().Get("X-Request-Id"), "error", err)
	secs := max(1, int(math.Ceil(f.RetryAfter.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	msg := fmt.Sprintf("The console cannot reach its database right now, so this page could not be shown. Try again in %d seconds.", secs)
	if r.Method == http.MethodPost {
		msg = fmt.Sprintf("The console cannot reach its database right now, so your change may not have been saved. Go back, wait %d seconds, reload the page to see what was saved, and try again.", secs)
	}
	c.errorPage(w, r, http.StatusServiceUnavailable, "Database unreachable", msg)
}
