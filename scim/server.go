// Package scim is the HTTP face of the server: the SCIM 2.0 protocol
// (RFC 7644) over the directory service, with bearer-token authentication,
// discovery documents, and the mapping of failures to SCIM errors.
package scim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/tracing"
	"github.com/timecamp/timecamp-scim/transport"
)

// Prefix is where the SCIM API is mounted.
const Prefix = "/scim/v2"

// Limits of the API, advertised in /ServiceProviderConfig.
const (
	// MaxResults is the most resources one list response holds.
	MaxResults = 1000
	// maxBodyBytes bounds a single-resource request body (a group with
	// many members is the largest).
	maxBodyBytes = 16 << 20
)

// Options configure the server.
type Options struct {
	// BaseURL is the public URL of the server (scheme and host, maybe a
	// path), used in meta.location. Empty: taken from each request.
	BaseURL string
	Logger  *slog.Logger
	// Proxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; nil believes no one.
	Proxies *transport.Proxies
	// Activity, when set, receives the activity log entries of each
	// request (see activity.go).
	Activity ActivityFunc
	// RateLimit is how many requests per second one token may send, in
	// bursts of as many (see overload.go); 0: no limit.
	RateLimit float64
	// MaxConcurrent bounds the SCIM requests served at once, a quarter of
	// them per account; 0: no bound.
	MaxConcurrent int
	// AuthFailures is how many failed authentications a minute one client
	// address may make, in bursts of as many, before it gets 429 (see
	// authlimit.go); 0: no limit.
	AuthFailures int
}

// Server serves the SCIM API.
type Server struct {
	dir     *directory.Service
	store   store.Store
	baseURL string
	log     *slog.Logger
	proxies *transport.Proxies
	// activity receives the activity log (Options.Activity).
	activity ActivityFunc
	inProcessState
	rate      *rateLimiter        // nil: no rate limit
	slots     *concurrencyLimiter // nil: no bound
	authLimit *authLimiter        // nil: failed authentication not throttled
}

// New returns a server over the directory service.
func New(dir *directory.Service, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		dir: dir, store: dir.Store(), baseURL: strings.TrimRight(opts.BaseURL, "/"), log: log,
		proxies: opts.Proxies, activity: opts.Activity,
		rate:      newRateLimiter(opts.RateLimit),
		slots:     newConcurrencyLimiter(opts.MaxConcurrent),
		authLimit: newAuthLimiter(opts.AuthFailures),
	}
}

// Routes mounts the SCIM API (and the health checks) on a router.
func (s *Server) Routes(r *mux.Router) {
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet, http.MethodHead)

	api := r.PathPrefix(Prefix).Subrouter()
	api.Use(s.limitRate, s.authenticate, s.limitConcurrency, s.recordActivity, s.withBaseURL)
	api.HandleFunc("/ServiceProviderConfig", s.serviceProviderConfig).Methods(http.MethodGet)
	api.HandleFunc("/ResourceTypes", s.resourceTypes).Methods(http.MethodGet)
	api.HandleFunc("/ResourceTypes/{name}", s.resourceType).Methods(http.MethodGet)
	api.HandleFunc("/Schemas", s.schemas).Methods(http.MethodGet)
	api.HandleFunc("/Schemas/{id}", s.schema).Methods(http.MethodGet)
	for _, rt := range schemas.ResourceTypes() {
		h := &resourceHandler{s: s, rt: rt}
		api.HandleFunc(rt.Endpoint, s.handle(h.list)).Methods(http.MethodGet)
		api.HandleFunc(rt.Endpoint, s.handle(h.create)).Methods(http.MethodPost)
		api.HandleFunc(rt.Endpoint+"/.search", s.handle(h.search)).Methods(http.MethodPost)
		api.HandleFunc(rt.Endpoint+"/{id}", s.handle(h.get)).Methods(http.MethodGet)
		api.HandleFunc(rt.Endpoint+"/{id}", s.handle(h.replace)).Methods(http.MethodPut)
		api.HandleFunc(rt.Endpoint+"/{id}", s.handle(h.patch)).Methods(http.MethodPatch)
		api.HandleFunc(rt.Endpoint+"/{id}", s.handle(h.delete)).Methods(http.MethodDelete)
	}
	api.HandleFunc("/Bulk", s.bulk).Methods(http.MethodPost)
	for _, p := range []string{"/Me", "/.search"} {
		path := p
		api.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, failure.NotImplementedf("%s is not supported by this server", path))
		})
	}
	methodNotAllowed := func(w http.ResponseWriter, r *http.Request, allow []string) {
		status, body := errorResponse(r.Context(), s.log, failure.NotImplementedf("%s %s is not supported", r.Method, r.URL.Path))
		status = http.StatusMethodNotAllowed
		body.Status = "405"
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
		}
		writeJSON(w, status, body)
	}
	allowed := allowedMethods(api)
	// Unknown paths and methods answer only to authenticated clients: an
	// anonymous one learns nothing about the API but that it needs a token.
	api.NotFoundHandler = s.limitRate(s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// gorilla/mux 1.8.1 reports a method mismatch in a subrouter as
		// "not found" once a later route matches the prefix: tell the two
		// apart here.
		if allow := allowed(r.URL.Path); len(allow) > 0 {
			methodNotAllowed(w, r, allow)
			return
		}
		s.writeError(w, r, failure.NotFoundf("there is no SCIM endpoint %s", r.URL.Path))
	})))
	api.MethodNotAllowedHandler = s.limitRate(s.authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		methodNotAllowed(w, r, allowed(r.URL.Path))
	})))
}

// allowedMethods returns a function listing the methods the router's
// routes accept for a path (none when no route has the path).
func allowedMethods(router *mux.Router) func(path string) []string {
	type route struct {
		path    *regexp.Regexp
		methods []string
	}
	var routes []route
	_ = router.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := r.GetPathRegexp()
		if err != nil {
			return nil
		}
		re, err := regexp.Compile(tpl)
		if err != nil {
			return nil
		}
		methods, err := r.GetMethods()
		if err != nil {
			methods = []string{"*"} // any method
		}
		routes = append(routes, route{re, methods})
		return nil
	})
	return func(path string) []string {
		var out []string
		for _, r := range routes {
			if r.path.MatchString(path) {
				out = append(out, r.methods...)
			}
		}
		if slices.Contains(out, "*") {
			return nil // a route takes every method: not a method problem
		}
		return out
	}
}

// handle adapts a handler that returns its error: the error, if any, is
// written as a SCIM error response (see errorResponse).
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// Handler returns the complete HTTP handler with the server's middleware:
// request ids, access logs, metrics, traces, panic recovery and tolerant
// paths.
func (s *Server) Handler(extra ...func(*mux.Router)) http.Handler {
	r := mux.NewRouter()
	r.Use(recordRoute)
	s.Routes(r)
	for _, f := range extra {
		f(r)
	}
	return s.middleware(r)
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r = s.proxies.Resolve(r)
		id := requestIDFrom(r.Header.Get("X-Request-Id"))
		info := &requestInfo{id: id}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, info)
		ctx, span := tracing.StartRequest(ctx, r)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		// Clients differ on a trailing slash ("/Users/"): both mean the same.
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			r.URL.RawPath = ""
		}
		// Endpoint names match in any letter case ("/scim/v2/users").
		if p := canonicalPath(r.URL.Path); p != r.URL.Path {
			r.URL.Path, r.URL.RawPath = p, ""
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				s.log.ErrorContext(ctx, "panic", "request_id", id, "panic", fmt.Sprint(p))
				if !rec.wrote {
					s.writeError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			took := time.Since(start)
			observe(span, r.Method, info, rec.status, took)
			s.log.InfoContext(ctx, "request", accessLog(r, info, rec.status, took)...)
			if p == http.ErrAbortHandler {
				panic(p) // a response cut half-way: net/http closes the connection
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// loggedPath is a request path as the access log shows it: an invitation
// link's token is a secret and is left out.
func loggedPath(p string) string {
	if strings.HasPrefix(p, "/invitations/") {
		return "/invitations/{token}"
	}
	return p
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// requestInfo is what the access log reports about a request; handlers
// fill it in as they learn (the account once authenticated, the route
// template once routed).
type requestInfo struct {
	id      string
	account string
	route   string
	// token authenticated the request; body is its decoded JSON body
	// (for the activity log).
	token *store.Token
	body  map[string]any
	// written names the resource a write answered with (its userName or
	// displayName), for the activity log, which otherwise reads it back
	// from the response.
	written string
}

type requestInfoKey struct{}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(ctx context.Context) string {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, `{"status":"ok"}`)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "database not reachable", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"database unreachable"}`)
		return
	}
	fmt.Fprintln(w, `{"status":"ready"}`)
}

// withBaseURL gives the directory the URL the API is reached at: it reads
// and writes references ("$ref") against it.
func (s *Server) withBaseURL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(directory.WithBaseURL(r.Context(), s.base(r))))
	})
}

// base returns the URL the SCIM API is reachable at, for meta.location.
func (s *Server) base(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL + Prefix
	}
	// The scheme a trusted proxy reports, else the connection's.
	return transport.Scheme(r) + "://" + r.Host + Prefix
}
