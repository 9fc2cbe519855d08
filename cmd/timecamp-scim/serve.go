package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/admin"
	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/invite"
	"github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/instrumented"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/sqlite"
	"github.com/timecamp/timecamp-scim/tracing"
	"github.com/timecamp/timecamp-scim/transport"
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
	if err := cfg.CheckServe(ctx); err != nil {
		return err
	}
	log := cfg.Logger()
	stopTracing, err := tracing.Setup(ctx, version(), log)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("flushing traces", "error", err)
		}
	}()
	if tracing.Enabled() {
		log.Info("sending traces to OpenTelemetry (OTEL_EXPORTER_OTLP_*)")
	}

	opened, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer opened.Close(context.Background())
	if m, ok := opened.(*mongodb.Store); ok {
		log.Info("MongoDB deployment probed", m.Capabilities().Decisions()...)
	}
	// Where updates are not atomic, one server process per database: the
	// lease (see takeLease) ends serve when another server takes it over.
	ctx, leaseLost := context.WithCancelCause(ctx)
	defer leaseLost(nil)
	release, err := takeLease(ctx, opened, log, leaseLost)
	if err != nil {
		return err
	}
	defer release() // after the workers stopped (deferred calls run last first)
	st := instrumented.New(opened)
	metrics.SetOutboxDepth(st.OutboxDepth)
	if cfg.MongoURI == "" {
		log.Info("using the embedded database (SQLite); set SCIM_MONGODB_URI to use MongoDB", "data_dir", cfg.DataDir)
	}
	if cfg.BootstrapToken != "" {
		switch err := bootstrap(ctx, st, cfg.BootstrapToken); {
		case errors.Is(err, store.ErrTokenRevoked):
			// A revocation is permanent: the environment does not bring
			// the token back. The server runs on without it.
			log.Error("SCIM_BOOTSTRAP_TOKEN holds the secret of a revoked token, and a revoked secret never works again: " +
				"the server starts without a bootstrap token. Remove SCIM_BOOTSTRAP_TOKEN, or set it to a new secret (openssl rand -hex 32)")
		case err != nil:
			return fmt.Errorf("bootstrap token (SCIM_BOOTSTRAP_TOKEN): %w", err)
		default:
			log.Info("account \"default\" accepts the bootstrap token")
		}
	} else if accounts, err := st.Accounts(ctx); err == nil && len(accounts) == 0 {
		log.Info("no accounts yet: set SCIM_BOOTSTRAP_TOKEN, or run \"timecamp-scim accounts create --name NAME\" and \"timecamp-scim tokens create --account NAME --name okta\"")
	}

	dir := directory.New(st, log)
	if _, ok := opened.(*mongodb.Store); ok {
		// What servers that stopped left half-done and whose lease ran
		// out is finished or undone before the recount; the rest once it
		// has (see directory.RunRecovery). An account whose recovery
		// fails is logged, not fatal: the server starts, and its
		// recovery loop tries that account again.
		n, err := dir.Recover(store.Background(ctx), time.Now().Add(-store.ClockSkew))
		if err != nil {
			log.Warn("could not recover the operations of servers that stopped; tried again in the background", "error", err)
		}
		if n > 0 {
			log.Info("finished or undid the operations of servers that stopped", "operations", n)
		}
	}
	if err := recountSeats(ctx, st, isSharedMongo(opened)); err != nil {
		return fmt.Errorf("recount seats: %w", err)
	}
	pages, worker, err := invitations(ctx, cfg, st, dir)
	if err != nil {
		return err
	}
	proxies, _ := cfg.Proxies() // checked by Validate
	rate, _ := cfg.RequestRate()
	maxConcurrent, _ := cfg.MaxConcurrentRequests()
	authFailures, _ := cfg.AuthFailureLimit()
	activity := scim.NewActivityWriter(st, log)
	defer activity.Close() // after the listeners shut down (deferred later, runs earlier)
	srv := scim.New(dir, scim.Options{BaseURL: cfg.BaseURL, Logger: log, Proxies: transport.NewProxies(proxies), Activity: activity.Record,
		RateLimit: rate, MaxConcurrent: maxConcurrent, AuthFailures: authFailures})
	console, err := adminConsole(ctx, cfg, st, dir, srv)
	if err != nil {
		return err
	}
	// The sign-in provider is discovered in the background: its outage
	// never stops the server from starting or SCIM from answering.
	console.Start(ctx)
	routes := []func(*mux.Router){pages.Routes, console.Routes}
	if cfg.MetricsAddr == "" {
		routes = append(routes, metricsRoute)
	}
	ls, err := listen(cfg, log, srv.Handler(routes...))
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
	if _, ok := opened.(*mongodb.Store); ok {
		recoveryDone := make(chan struct{})
		go func() { defer close(recoveryDone); dir.RunRecovery(workerCtx) }()
		defer func() { stopWorker(); <-recoveryDone }()
	}
	retention, _ := cfg.Retention()
	purgeDone := make(chan struct{})
	go func() { defer close(purgeDone); admin.RunPurge(workerCtx, st, retention, time.Hour, log) }()
	defer func() { stopWorker(); <-purgeDone }()
	if err := ls.wait(ctx); err != nil {
		return err
	}
	grace, _ := cfg.ShutdownTimeout()
	err = ls.shutdown(grace, log)
	if cause := context.Cause(ctx); errors.Is(cause, mongodb.ErrLeaseLost) {
		return errors.Join(cause, err)
	}
	return err
}

// invitations sets up invitation emails: the delivery worker (SMTP, or
// the log without SCIM_SMTP_URL) and the accept page.
func invitations(ctx context.Context, cfg *config.Config, st store.Store, dir *directory.Service) (*invite.Pages, *invite.Worker, error) {
	log := cfg.Logger()
	ttl, _ := cfg.TTL()
	base := cfg.PublicBaseURL()
	var sender mail.Sender = mail.Log{}
	if sc := cfg.SMTP(); sc != nil {
		sender = mail.NewSMTP(sc)
		log.Info("invitation emails go through SMTP", "smtp", sc.Redacted(), "from", cfg.MailFrom, "links", base+"/invitations/…")
		switch why := sc.Plaintext(); {
		case sc.Security == mail.NoTLS:
			log.Warn("invitation emails go without TLS", "smtp", sc.Redacted(), "why", why)
		case why != "":
			log.Info("invitation emails may go without TLS", "smtp", sc.Redacted(), "why", why)
		}
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

// openStore opens the configured store: MongoDB when a URI is given, the
// embedded database in the data folder otherwise. Several processes may
// open one data folder at once (the management commands next to a
// running server).
func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.MongoURI != "" {
		return mongodb.Open(ctx, mongodb.Config{URI: cfg.MongoURI, Database: cfg.Database, Logger: cfg.Logger()})
	}
	return sqlite.Open(ctx, sqlite.Config{DataDir: cfg.DataDir, Sync: cfg.DataSync, Logger: cfg.Logger()})
}

// recountSeats corrects each account's seat counter from its users (a
// crash between a seat reservation and its write leaves it off).
//
// Where other servers may be writing (several instances on MongoDB), a
// recount cannot tell a seat reserved by a write in flight from one a
// crash left behind: setting the counter to the count could take away
// the seat of a user about to be stored. There it only raises a counter
// found below the count (too low lets an account exceed its seats); one
// left too high is lowered by "accounts check --repair" on a quiet
// account. The embedded store counts and sets in one transaction, and a
// FerretDB 1.x database has one server (the lease): there the recount is
// exact, unless an account has operations recorded (a server that stopped
// left them, for the recovery to settle: their seats are theirs).
func recountSeats(ctx context.Context, st store.Store, shared bool) error {
	accounts, err := st.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if a.Seats == 0 {
			continue // an unlimited account keeps no seat counter (see directory)
		}
		if !shared && len(a.Operations) == 0 {
			_, err := st.RecountSeats(ctx, a.ID)
			if err == nil {
				continue
			}
			if !errors.Is(err, store.ErrSeatsBusy) {
				return err
			}
			// An operation began meanwhile: only raised, as below.
		}
		// Counted first, then the counter read, so that a seat reserved
		// in between (its user not stored yet) is not added twice; a seat
		// freed in between may leave the counter one too high, never too
		// low.
		n, err := st.SeatsInUse(ctx, a.ID)
		if err != nil {
			return err
		}
		cur, err := st.Account(ctx, a.ID)
		if err != nil {
			return err
		}
		if n > cur.SeatsUsed {
			if err := st.AdjustSeats(ctx, a.ID, n-cur.SeatsUsed); err != nil {
				return err
			}
		}
	}
	return nil
}

// isSharedMongo: a MongoDB database that several servers may use at once
// (where updates are not atomic there is one server: the lease).
func isSharedMongo(st store.Store) bool {
	m, ok := st.(*mongodb.Store)
	return ok && m.Capabilities().AtomicUpdates
}

// bootstrap makes account "default" exist and accept the token.
// A token it makes (a first start, or a new secret) is written to the
// account's activity log, by the operator.
func bootstrap(ctx context.Context, st store.Store, token string) error {
	acct, err := store.EnsureAccount(ctx, st, "default", 0)
	if err != nil {
		return err
	}
	before := bootstrapTokenID(ctx, st, acct.ID)
	if err := st.PutToken(ctx, acct.ID, "bootstrap", token); err != nil {
		return err
	}
	if id := bootstrapTokenID(ctx, st, acct.ID); id != "" && id != before {
		recordOperator(ctx, st, &store.ActivityEntry{Account: acct.ID, ResourceType: "Token", ResourceID: id, Resource: "bootstrap", Operation: "create"},
			store.Actor{Kind: store.ActorOperator, Name: store.CreatorBootstrap}, nil)
	}
	return nil
}

// bootstrapTokenID is the id of the account's token named bootstrap, if
// it has one.
func bootstrapTokenID(ctx context.Context, st store.Store, account string) string {
	list, _ := st.Tokens(ctx, account)
	for _, t := range list {
		if t.Name == "bootstrap" {
			return t.ID
		}
	}
	return ""
}
