package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/transport"
)

// listeners are serve's HTTP servers: the main one (HTTPS when a
// certificate is configured), and /metrics on an address of its own when
// SCIM_METRICS_ADDR gives one.
type listeners struct {
	servers []*http.Server
	errc    chan error
}

// metricsRoute serves /metrics on the main router.
func metricsRoute(r *mux.Router) {
	r.Handle("/metrics", metrics.Handler()).Methods(http.MethodGet, http.MethodHead)
}

// listen binds the addresses and starts serving.
func listen(cfg *config.Config, log *slog.Logger, handler http.Handler) (*listeners, error) {
	l := &listeners{errc: make(chan error, 2)}
	main := newHTTPServer(handler)
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := transport.NewCertificate(cfg.TLSCert, cfg.TLSKey, transport.DefaultEvery, log)
		if err != nil {
			return nil, err
		}
		main.TLSConfig = cert.TLSConfig()
		scheme = "https"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	var mln net.Listener
	if cfg.MetricsAddr != "" {
		if mln, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return nil, err
		}
	}
	l.start(main, ln)
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "scim", "/scim/v2")
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Handler())
		l.start(newHTTPServer(mux), mln)
		log.Info("metrics listening", "addr", mln.Addr().String(), "path", "/metrics")
	}
	return l, nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}

func (l *listeners) start(hs *http.Server, ln net.Listener) {
	l.servers = append(l.servers, hs)
	go func() {
		if hs.TLSConfig != nil {
			l.errc <- hs.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
		} else {
			l.errc <- hs.Serve(ln)
		}
	}()
}

// wait returns when a server fails or ctx ends (nil then).
func (l *listeners) wait(ctx context.Context) error {
	select {
	case err := <-l.errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

// shutdown lets requests in flight finish, within ctx.
func (l *listeners) shutdown(ctx context.Context) error {
	var errs []error
	for _, hs := range l.servers {
		if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// version is the binary's module version or VCS revision.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "devel"
}
