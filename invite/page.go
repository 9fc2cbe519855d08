package invite

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/transport"
)

// Pages serves the accept page: GET /invitations/{token} shows the
// account's name and an Accept button (a plain HTML form, no JavaScript);
// POST accepts. The page says nothing about the user or any other address:
// an unknown, replaced or withdrawn link gets the same page whatever the
// reason.
//
// Cross-site requests: the form carries a token that is an HMAC of the
// invitation's token hash under a server secret (shared by all instances
// through the database), and a POST whose Origin is another site, or whose
// Sec-Fetch-Site says cross-site, is refused. The page may not be framed.
type Pages struct {
	Directory *directory.Service
	// Secret keys the form tokens (store.Secret).
	Secret []byte
	// BaseURL, when set, is an origin accepted besides the request's own.
	BaseURL string
	Logger  *slog.Logger
}

// Routes mounts the page.
func (p *Pages) Routes(r *mux.Router) {
	r.HandleFunc("/invitations/{token}", p.show).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/invitations/{token}", p.accept).Methods(http.MethodPost)
}

// tokenPattern is the shape of an accept token (32 random bytes, base64url).
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func (p *Pages) show(w http.ResponseWriter, r *http.Request) {
	token := mux.Vars(r)["token"]
	if !tokenPattern.MatchString(token) {
		p.render(w, http.StatusNotFound, pageData{Kind: "invalid"})
		return
	}
	info, err := p.Directory.Invitation(r.Context(), token)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if info.Status != store.InvitationPending {
		p.renderStatus(w, info)
		return
	}
	p.render(w, http.StatusOK, pageData{Kind: "offer", Account: info.AccountName, FormToken: p.formToken(token)})
}

func (p *Pages) accept(w http.ResponseWriter, r *http.Request) {
	token := mux.Vars(r)["token"]
	if !tokenPattern.MatchString(token) {
		p.render(w, http.StatusNotFound, pageData{Kind: "invalid"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		p.render(w, http.StatusBadRequest, pageData{Kind: "forbidden"})
		return
	}
	if !p.sameSite(r) || !hmac.Equal([]byte(r.PostForm.Get("form_token")), []byte(p.formToken(token))) {
		p.render(w, http.StatusForbidden, pageData{Kind: "forbidden"})
		return
	}
	info, accepted, err := p.Directory.AcceptInvitation(r.Context(), token)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if accepted {
		p.render(w, http.StatusOK, pageData{Kind: "welcome", Account: info.AccountName})
		return
	}
	p.renderStatus(w, info)
}

// sameSite checks the browser's word on where a POST comes from: a
// cross-site Sec-Fetch-Site, or an Origin that is neither this server nor
// its configured base URL, is refused. Clients that send neither (not a
// browser) are left to the form token.
func (p *Pages) sameSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if origin == "null" {
		return false
	}
	// The scheme a trusted proxy reports, else the connection's.
	if strings.EqualFold(origin, transport.Scheme(r)+"://"+r.Host) {
		return true
	}
	if u, err := url.Parse(p.BaseURL); err == nil && u.Host != "" && strings.EqualFold(origin, u.Scheme+"://"+u.Host) {
		return true
	}
	return false
}

// formToken binds the form to the invitation: HMAC-SHA256 of the token's
// hash (the token itself never leaves this function).
func (p *Pages) formToken(token string) string {
	m := hmac.New(sha256.New, p.Secret)
	m.Write([]byte("invitation-accept\x00" + store.HashInvitationToken(token)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *Pages) renderStatus(w http.ResponseWriter, info *directory.InvitationInfo) {
	kind := info.Status // accepted, expired, revoked
	if kind != store.InvitationAccepted && kind != store.InvitationExpired && kind != store.InvitationRevoked {
		kind = "invalid"
	}
	// Only the token's holder gets here; the account's name is what the
	// email already said.
	p.render(w, http.StatusGone, pageData{Kind: kind, Account: info.AccountName})
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	if failure.Is(err, failure.NotFound) {
		p.render(w, http.StatusNotFound, pageData{Kind: "invalid"})
		return
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	if f, ok := failure.As(err); ok && f.Kind == failure.Unavailable {
		// The database is unreachable: say so, and when to come back.
		log.WarnContext(r.Context(), "invitation page: database unavailable", "error", err)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(f.RetryAfter.Seconds())))))
		p.render(w, http.StatusServiceUnavailable, pageData{Kind: "unavailable"})
		return
	}
	log.ErrorContext(r.Context(), "invitation page", "error", err)
	p.render(w, http.StatusInternalServerError, pageData{Kind: "error"})
}

type pageData struct {
	Kind      string // offer, welcome, accepted, expired, revoked, invalid, forbidden, unavailable, error
	Account   string
	FormToken string
}

func (p *Pages) render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer") // the URL holds the token
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = page.Execute(w, d)
}

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{if eq .Kind "offer"}}Join {{.Account}}{{else if eq .Kind "welcome"}}Welcome to {{.Account}}{{else}}TimeCamp invitation{{end}}</title>
<style>
body { font-family: system-ui, sans-serif; background: #f5f5f5; color: #222; margin: 0; }
main { max-width: 32rem; margin: 4rem auto; background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
h1 { font-size: 1.4rem; margin-top: 0; }
button { font-size: 1rem; padding: .6rem 1.4rem; background: #2e7d32; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
.muted { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<main>
{{- if eq .Kind "offer"}}
<h1>Join {{.Account}} on TimeCamp</h1>
<p>You have been invited to join <strong>{{.Account}}</strong>.</p>
<form method="post">
<input type="hidden" name="form_token" value="{{.FormToken}}">
<button type="submit">Accept invitation</button>
</form>
<p class="muted">This link works once.</p>
{{- else if eq .Kind "welcome"}}
<h1>Welcome to {{.Account}}</h1>
<p>You accepted the invitation: you are now part of <strong>{{.Account}}</strong> on TimeCamp.</p>
{{- else if eq .Kind "accepted"}}
<h1>Invitation already accepted</h1>
<p>This invitation to <strong>{{.Account}}</strong> has already been accepted; the link cannot be used again.</p>
{{- else if eq .Kind "expired"}}
<h1>Invitation expired</h1>
<p>This invitation to <strong>{{.Account}}</strong> has expired. Ask an administrator of the account to send you a new one.</p>
{{- else if eq .Kind "revoked"}}
<h1>Invitation withdrawn</h1>
<p>This invitation to <strong>{{.Account}}</strong> was withdrawn. Ask an administrator of the account if you think this is a mistake.</p>
{{- else if eq .Kind "forbidden"}}
<h1>Please try again</h1>
<p>The request could not be verified. Open the link from your invitation email again and press the button on that page.</p>
{{- else if eq .Kind "unavailable"}}
<h1>Please try again in a minute</h1>
<p>The invitation service cannot reach its database right now, so your invitation could not be handled. Open the link from your email again in a minute.</p>
{{- else if eq .Kind "error"}}
<h1>Something went wrong</h1>
<p>The invitation could not be processed right now. Please try again in a few minutes.</p>
{{- else}}
<h1>Invitation link not valid</h1>
<p>This invitation link is not valid. It may have been replaced by a newer invitation (use the link in the most recent email) or withdrawn.</p>
{{- end}}
</main>
</body>
</html>
`))
