// Package admin is the admin console: TimeCamp's Users tab for the
// administrators of an account, at /admin/, signed in through the
// company's OpenID Connect provider.
//
// Pages are rendered on the server (html/template; templates and assets
// are embedded in the binary) and work without JavaScript; a small script
// only submits a role drop-down when it changes. Every change goes through
// the directory (package directory) with the same rules as SCIM — seats,
// roles, the group tree, invitations and their rate limit — so it shows in
// SCIM reads at once; the CSV import runs the same importer as
// "timecamp-scim import" (package csvimport) against the SCIM API, in the
// process. Each change is written to the account's activity log.
//
// Sign-in (auth.go): the authorization-code flow with PKCE, state and
// nonce (go-oidc and golang.org/x/oauth2), against a provider discovered
// in the background (provider.go). Only a verified email that is an
// active user whose effective role is administrator gets in, and the
// identity (issuer and subject) is bound to that user at the first
// sign-in (identity.go). Sessions live in the store, so that several
// server instances share them; the browser holds a random secret whose
// hash is the session's id. Setting a password, creating a SCIM token and
// making an administrator need a fresh sign-in (step-up;
// administrators.go).
package admin

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/store"
)

// Config configures the console.
type Config struct {
	Directory *directory.Service
	// Issuer, ClientID and ClientSecret identify the OpenID Connect
	// provider and this client; without them the console only says how to
	// configure it.
	Issuer, ClientID, ClientSecret string
	// RedirectURL is where the provider sends the browser back:
	// {BaseURL}/admin/callback by default.
	RedirectURL string
	// BaseURL is the server's public URL (invitation links, the tenant URL
	// shown with a new SCIM token, the origin forms must come from).
	BaseURL string
	// SCIMClient returns a client of the SCIM API served in process as the
	// account (scim.Server.InProcessClient), for the CSV import.
	SCIMClient func(*store.Account, store.Actor) *http.Client
	// HTTPClient talks to the provider (default: a client of its own);
	// every call through it is bounded by a timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger

	// IdleTimeout ends a session not used for that long (default 30
	// minutes); AbsoluteTimeout ends any session that old (default 12
	// hours); ReauthMaxAge is how recent a re-authentication must be to
	// set a password (default 5 minutes).
	IdleTimeout, AbsoluteTimeout, ReauthMaxAge time.Duration
}

// Configured reports whether the OpenID Connect settings are there.
func (c Config) Configured() bool {
	return c.Issuer != "" && c.ClientID != "" && c.ClientSecret != ""
}

// Console serves the admin pages.
type Console struct {
	cfg   Config
	dir   *directory.Service
	store store.Store
	log   *slog.Logger
	// secure: the console is served over https (cookies get Secure and
	// the __Host- prefix).
	secure bool
	// loginKey encrypts the sign-in cookie (state, nonce, PKCE verifier).
	loginKey []byte
	// provider is the OpenID Connect provider, discovered in the
	// background (provider.go).
	provider *provider
}

// New returns the console. loginSecret is a server-wide secret shared by
// the instances (store.Secret), which keys the sign-in cookie.
func New(cfg Config, loginSecret []byte) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.HTTPClient = clientWithTimeout(cfg.HTTPClient)
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 30*time.Minute)
	def(&cfg.AbsoluteTimeout, 12*time.Hour)
	def(&cfg.ReauthMaxAge, 5*time.Minute)
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = cfg.BaseURL + "/admin/callback"
	}
	return &Console{
		cfg: cfg, dir: cfg.Directory, store: cfg.Directory.Store(), log: cfg.Logger,
		secure:   strings.HasPrefix(cfg.RedirectURL, "https://"),
		loginKey: loginSecret,
		provider: newProvider(cfg, cfg.Logger),
	}
}

// Start discovers the OpenID Connect provider in the background, for as
// long as ctx lasts (retrying with backoff while it cannot be reached).
// Without it, the first sign-in starts discovery.
func (c *Console) Start(ctx context.Context) {
	if c.cfg.Configured() {
		c.provider.start(ctx)
	}
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Routes mounts the console under /admin.
func (c *Console) Routes(r *mux.Router) {
	assets, _ := fs.Sub(assetFiles, "assets")
	r.PathPrefix("/admin/assets/").Handler(http.StripPrefix("/admin/assets/", assetHandler(http.FileServer(http.FS(assets)))))
	// The server trims a trailing slash: /admin/ arrives as /admin, which
	// is routed before the subrouter of the pages under it.
	if !c.cfg.Configured() {
		r.HandleFunc("/admin", c.notConfigured)
		r.PathPrefix("/admin/").HandlerFunc(c.notConfigured)
		return
	}
	r.Handle("/admin", c.headers(http.HandlerFunc(c.home))).Methods(http.MethodGet)
	a := r.PathPrefix("/admin").Subrouter()
	a.Use(c.headers)
	a.HandleFunc("/login", c.login).Methods(http.MethodGet)
	a.HandleFunc("/callback", c.callback).Methods(http.MethodGet)
	a.HandleFunc("/choose", c.choose).Methods(http.MethodPost)
	a.HandleFunc("/signed-out", c.signedOut).Methods(http.MethodGet)

	s := a.NewRoute().Subrouter()
	s.Use(c.requireSession)
	s.HandleFunc("/logout", c.logout).Methods(http.MethodPost)
	s.HandleFunc("/reauth", c.reauth).Methods(http.MethodGet)
	s.HandleFunc("/confirmed", c.confirmed).Methods(http.MethodGet)
	s.HandleFunc("/accounts", c.accounts).Methods(http.MethodGet)
	s.HandleFunc("/accounts", c.switchAccount).Methods(http.MethodPost)
	s.HandleFunc("/users", c.users).Methods(http.MethodGet)
	s.HandleFunc("/users/{id}", c.profile).Methods(http.MethodGet)
	s.HandleFunc("/users/{id}", c.saveProfile).Methods(http.MethodPost)
	s.HandleFunc("/users/{id}/role", c.setRole).Methods(http.MethodPost)
	s.HandleFunc("/users/{id}/resend", c.resend).Methods(http.MethodPost)
	s.HandleFunc("/users/{id}/active", c.setActive).Methods(http.MethodPost)
	s.HandleFunc("/users/{id}/password", c.passwordForm).Methods(http.MethodGet)
	s.HandleFunc("/users/{id}/password", c.setPassword).Methods(http.MethodPost)
	s.HandleFunc("/invite", c.inviteForm).Methods(http.MethodGet)
	s.HandleFunc("/invite", c.invite).Methods(http.MethodPost)
	s.HandleFunc("/invite/csv", c.csvPreview).Methods(http.MethodPost)
	s.HandleFunc("/invite/csv/import", c.csvImport).Methods(http.MethodPost)
	s.HandleFunc("/groups", c.groups).Methods(http.MethodGet)
	s.HandleFunc("/groups", c.createGroup).Methods(http.MethodPost)
	s.HandleFunc("/groups/{id}", c.updateGroup).Methods(http.MethodPost)
	s.HandleFunc("/groups/{id}/delete", c.deleteGroup).Methods(http.MethodPost)
	s.HandleFunc("/projects", c.projects).Methods(http.MethodGet)
	s.HandleFunc("/projects", c.createProject).Methods(http.MethodPost)
	s.HandleFunc("/projects/{id}", c.updateProject).Methods(http.MethodPost)
	s.HandleFunc("/tokens", c.tokens).Methods(http.MethodGet)
	s.HandleFunc("/tokens", c.createToken).Methods(http.MethodPost)
	s.HandleFunc("/tokens/{id}/revoke", c.revokeToken).Methods(http.MethodPost)
	s.HandleFunc("/activity", c.activity).Methods(http.MethodGet)
	a.NotFoundHandler = c.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusNotFound, "Page not found", "There is no such page in the admin console.")
	}))
}

// assetHandler lets browsers cache the (small, embedded) assets briefly.
func assetHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// headers sets the security headers of every page: no framing, no
// caching, scripts and styles from the console only, forms posting to the
// console (and redirecting to the provider).
func (c *Console) headers(next http.Handler) http.Handler {
	formAction := "'self'"
	if u, err := url.Parse(c.cfg.Issuer); err == nil && u.Host != "" {
		formAction += " " + u.Scheme + "://" + u.Host
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (c *Console) notConfigured(w http.ResponseWriter, r *http.Request) {
	c.headers(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusServiceUnavailable, "notconfigured", nil)
	})).ServeHTTP(w, r)
}

// home sends a signed-in administrator to the users, anyone else to the
// provider's sign-in.
func (c *Console) home(w http.ResponseWriter, r *http.Request) {
	if _, err := c.currentSession(r); err == nil {
		http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// templates: one set per page, each with the shared layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when":      func(t time.Time) string { return formatTime(t) },
		"join":      strings.Join,
		"roleLabel": roleLabel,
		"add":       func(a, b int) int { return a + b },
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	out := map[string]*template.Template{}
	names, _ := fs.Glob(templateFiles, "templates/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFiles, n))
	}
	return out
}()

// view is what every page's layout needs, with the page's own data.
type view struct {
	Title   string
	Nav     string // the menu entry to highlight
	Session *sessionView
	Flash   *flash
	Data    any
}

// sessionView is the signed-in administrator as pages show them.
type sessionView struct {
	Email       string
	AccountName string
	CSRF        string
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	c.renderView(w, r, status, page, &view{Data: data})
}

func (c *Console) renderView(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	t, ok := pages[page]
	if !ok {
		panic("admin: no template " + page)
	}
	if s := sessionOf(r.Context()); s != nil && v.Session == nil {
		v.Session = &sessionView{Email: s.sess.Email, AccountName: s.account.Name, CSRF: s.sess.CSRF}
	}
	if v.Flash == nil {
		v.Flash = c.takeFlash(w, r)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout.html", v); err != nil {
		c.log.ErrorContext(r.Context(), "admin page", "page", page, "error", err)
	}
}

// errorPage shows a message with a status.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	c.renderView(w, r, status, "message", &view{Title: title, Data: messageData{Title: title, Message: message}})
}

type messageData struct {
	Title, Message string
	// LogoutURL, when set, signs out at the provider (the 403 page).
	LogoutURL string
	SignIn    bool // offer to sign in again
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func roleLabel(role string) string {
	if role == "" {
		return ""
	}
	return strings.ToUpper(role[:1]) + role[1:]
}

// plural is "1 user" or "3 users".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
