package sqlite

import (
	"context"
	"database/sql"

	"github.com/timecamp/timecamp-scim/store"
)

// Snapshot runs fn in one read transaction on a reading connection: its
// reads see the database as it was at the first of them, while writers
// (this process's, or a server's next to it) go on. Writes through ctx
// fail (the reading connections are query-only).
func (s *Store) Snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{s}).(*conn); ok {
		return fn(ctx)
	}
	// A read-only transaction begins DEFERRED (not IMMEDIATE, as the
	// writing ones do), so it takes no write lock.
	s.trace("BEGIN")
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() {
		s.trace("ROLLBACK")
		_ = tx.Rollback()
	}()
	return fn(context.WithValue(ctx, txKey{s}, &conn{tx: tx, stmts: s.rstmts, trace: s.trace}))
}

// AllMemberships returns every membership of the account, by group and
// member (the primary key's order).
func (s *Store) AllMemberships(ctx context.Context, account string) ([]store.Membership, error) {
	return queryAll(ctx, s.read(ctx), func(row rowScanner) (m store.Membership, err error) {
		return m, row.Scan(&m.Group, &m.Member)
	}, "SELECT group_id, member FROM memberships WHERE account = ? ORDER BY group_id, member", account)
}

// OutboxOf returns every outbox entry of the account, oldest first. The
// outbox has no index by account (the worker reads it by state and due
// time; delivered entries are purged): this reads the whole queue, which
// the account check does once.
func (s *Store) OutboxOf(ctx context.Context, account string) ([]*store.OutboxEntry, error) {
	return queryAll(ctx, s.read(ctx), scanOutbox, "SELECT "+outboxColumns+" FROM outbox WHERE account = ? ORDER BY created, id", account)
}
