package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/invite"
	"github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config.FromEnvironment(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	log := cfg.Logger()

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	if st.Embedded {
		log.Info("using the embedded database (FerretDB, SQLite); set SCIM_MONGODB_URI for production", "data_dir", cfg.DataDir)
	}
	if cfg.BootstrapToken != "" {
		if err := bootstrap(ctx, st, cfg.BootstrapToken); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
		if len(cfg.BootstrapToken) < 16 {
			log.Warn("SCIM_BOOTSTRAP_TOKEN is short; use a long random secret outside of trials")
		}
		log.Info("account \"default\" accepts the bootstrap token")
	} else if accounts, err := st.Accounts(ctx); err == nil && len(accounts) == 0 {
		log.Info("no accounts yet: set SCIM_BOOTSTRAP_TOKEN, or run \"timecamp-scim accounts create --name NAME\" and \"timecamp-scim tokens create --account NAME --name okta\"")
	}

	if err := recountSeats(ctx, st); err != nil {
		return fmt.Errorf("recount seats: %w", err)
	}
	dir := directory.New(st, log)
	pages, worker, err := invitations(ctx, cfg, st, dir)
	if err != nil {
		return err
	}
	rate, _ := cfg.RequestRate()
	maxConcurrent, _ := cfg.MaxConcurrentRequests()
	srv := scim.New(dir, scim.Options{BaseURL: cfg.BaseURL, Logger: log, RateLimit: rate, MaxConcurrent: maxConcurrent})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	// Stopped after the HTTP server (deferred calls run last first): the
	// worker finishes the email it is sending, then the store closes.
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); worker.Run(workerCtx) }()
	defer func() {
		stopWorker()
		<-workerDone
		log.Info("invitation worker stopped")
	}()
	// Requests get a context of their own, cancelled only when they run
	// past the shutdown timeout.
	requestCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	hs := &http.Server{
		Handler:           srv.Handler(pages.Routes),
		BaseContext:       func(net.Listener) context.Context { return requestCtx },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	log.Info("listening", "addr", ln.Addr().String(), "scim", "/scim/v2", "rate_limit_per_token", rate, "max_concurrent_requests", maxConcurrent)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown(hs, cfg, log, cancelRequests)
}

// shutdown stops accepting connections and lets the requests in progress
// finish within SCIM_SHUTDOWN_TIMEOUT; those still running then are
// cancelled, and shutdown reports it.
func shutdown(hs *http.Server, cfg *config.Config, log *slog.Logger, cancelRequests func()) error {
	grace, _ := cfg.ShutdownTimeout()
	// A second SIGTERM or Ctrl-C stops the process at once.
	signal.Reset(os.Interrupt, syscall.SIGTERM)
	log.Info("shutting down: finishing the requests in progress", "timeout", grace.String())
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(ctx)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		log.Info("every request finished")
		return nil
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	log.Warn("requests still running at the shutdown timeout: cancelling them", "timeout", grace.String())
	cancelRequests()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx) // wait for the cancelled requests to return
	_ = hs.Close()
	return fmt.Errorf("requests were still running after SCIM_SHUTDOWN_TIMEOUT (%s) and were cancelled", grace)
}

// invitations sets up invitation emails: the delivery worker (SMTP, or
// the log without SCIM_SMTP_URL) and the accept page.
func invitations(ctx context.Context, cfg *config.Config, st *store.Store, dir *directory.Service) (*invite.Pages, *invite.Worker, error) {
	log := cfg.Logger()
	ttl, _ := cfg.TTL()
	base := cfg.PublicBaseURL()
	var sender mail.Sender = mail.Log{Logger: log}
	if sc := cfg.SMTP(); sc != nil {
		sender = mail.NewSMTP(sc)
		log.Info("invitation emails go through SMTP", "smtp", sc.Redacted(), "from", cfg.MailFrom, "links", base+"/invitations/…")
	} else {
		log.Info("no SCIM_SMTP_URL: invitation emails are written to the log", "links", base+"/invitations/…")
	}
	worker := &invite.Worker{Store: st, Directory: dir, Sender: sender, From: cfg.MailFrom, BaseURL: base, Logger: log}
	dir.SetInvitationSettings(directory.InvitationSettings{TTL: ttl, Notify: worker.Notify})
	secret, err := st.Secret(ctx, "invitation-form")
	if err != nil {
		return nil, nil, fmt.Errorf("invitation form secret: %w", err)
	}
	return &invite.Pages{Directory: dir, Secret: secret, BaseURL: base, Logger: log}, worker, nil
}

func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	return store.Open(ctx, store.Config{
		URI:      cfg.MongoURI,
		Database: cfg.Database,
		DataDir:  cfg.DataDir,
		Logger:   cfg.Logger(),
	})
}

// recountSeats corrects each account's seat counter from its users (a
// crash between a seat reservation and its write leaves it off).
func recountSeats(ctx context.Context, st *store.Store) error {
	accounts, err := st.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if _, err := st.RecountSeats(ctx, a.ID); err != nil {
			return err
		}
	}
	return nil
}

// bootstrap makes account "default" exist and accept the token.
func bootstrap(ctx context.Context, st *store.Store, token string) error {
	acct, err := st.EnsureAccount(ctx, "default", 0)
	if err != nil {
		return err
	}
	return st.PutToken(ctx, acct.ID, "bootstrap", token)
}
