package store

import (
	"context"
	"time"
)

// Consistency gives the account check (directory.Check) what it reads
// beyond the other interfaces: a consistent view, and every membership and
// outbox entry of an account at once.
type Consistency interface {
	// Snapshot runs fn so that the reads it makes through ctx see one
	// state of the database, where the database can: the embedded store
	// runs fn in one read transaction, which does not hold up writers;
	// MongoDB runs fn as it is (reads see writes made meanwhile). fn must
	// not write.
	Snapshot(ctx context.Context, fn func(ctx context.Context) error) error
	// AllMemberships returns every membership of the account, sorted by
	// group, then member.
	AllMemberships(ctx context.Context, account string) ([]Membership, error)
	// OutboxOf returns every outbox entry of the account, in any state,
	// oldest first.
	OutboxOf(ctx context.Context, account string) ([]*OutboxEntry, error)
}

// OutboxRetention is how long sent, discarded and failed outbox entries
// are kept (for looking into a delivery) before the delivery worker
// deletes them: an invitation older than this may have no entry left.
const OutboxRetention = 7 * 24 * time.Hour

// OutboxGrace is how long an outbox entry no user names may still belong
// to a write in flight (on MongoDB the entry is written before the user;
// see Invitation): the delivery worker discards such entries only once
// they are older.
const OutboxGrace = 2 * time.Minute
