package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
)

// takeLease takes the server lease when the store is a MongoDB-protocol
// database whose conditional updates are not atomic (FerretDB 1.x; see
// mongodb.Store.TakeServerLease), keeps it while the server runs, and
// returns its release for a clean shutdown. When another server took the
// lease over (this one could not renew it for longer than its lifetime),
// lost is called and the server shuts down. On MongoDB, FerretDB 2 and the
// embedded database there is no lease: several servers may share them.
func takeLease(ctx context.Context, st store.Store, log *slog.Logger, lost context.CancelCauseFunc) (release func(), err error) {
	m, ok := st.(*mongodb.Store)
	if !ok || m.Capabilities().AtomicUpdates {
		return func() {}, nil
	}
	lease, err := m.TakeServerLease(ctx, log)
	var held *mongodb.LeaseHeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%v. This database applies an update as read-modify-write (FerretDB 1.x), so two servers on it would lose each other's updates (seat counts, versions): "+
			"run one server per such database, and stop that one first to restart it; to run several instances, use MongoDB (a replica set) or FerretDB 2 with DocumentDB (see docs/production.md)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("take the database lease: %w", err)
	}
	info := lease.Info()
	log.Info("holding the database lease: this is the only server on this database", "term", info.Term, "ttl", mongodb.LeaseTTL.String())
	done := make(chan struct{})
	keepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(done)
		if err := lease.Keep(keepCtx); err != nil {
			log.Error("another server took over this database; stopping", "error", err)
			lost(err)
		}
	}()
	return func() {
		stop()
		<-done
		releaseCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := lease.Release(releaseCtx); err != nil {
			log.Warn("could not release the database lease; the next server waits for it to expire", "error", err, "ttl", mongodb.LeaseTTL.String())
		}
	}, nil
}

// refuseNextToServer refuses a management command that updates documents
// a server updates too (an account's seats, owner or settings; users, when
// repairing) while a server runs on the same database, where updates are
// not atomic (FerretDB 1.x). There an update is read-modify-write, and the
// server serialises its own updates with a lock this process does not
// share, so the command's change and one of the server's could overwrite
// each other (a seat reservation lost, the new seat count lost). Commands
// that only read, insert (accounts create, tokens create) or delete (tokens
// revoke) are safe, and so is every command where updates are atomic
// (MongoDB, FerretDB 2) and on the embedded database.
func refuseNextToServer(ctx context.Context, st store.Store, command string) error {
	m, ok := st.(*mongodb.Store)
	if !ok || m.Capabilities().AtomicUpdates {
		return nil
	}
	l, err := m.CurrentServerLease(ctx)
	if err != nil || l == nil {
		return err
	}
	return fmt.Errorf("%s: a server is running on this database (host %s, process %d; lease renewed %s ago). "+
		"This database applies an update as read-modify-write (FerretDB 1.x), so this change and one of the server's could overwrite each other: "+
		"stop the server, run the command, and start the server again (if that server is gone, its lease expires by %s). "+
		"On MongoDB, FerretDB 2 and the embedded database this command runs next to servers",
		command, l.Host, l.PID, time.Since(l.Renewed).Round(time.Second), l.Expires.UTC().Format(time.RFC3339))
}
