package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// UserByInvitationHash returns the user (of any account) whose current
// invitation has the token hash.
func (s *Store) UserByInvitationHash(ctx context.Context, hash string) (*store.Resource, error) {
	var account string
	var raw rawResource
	err := s.read(ctx).QueryRowContext(ctx, "SELECT r.account, "+resourceColumns+" FROM resources r WHERE r.inv_hash = ? AND r.type = ?", hash, schemas.User.Name).
		Scan(append([]any{&account}, raw.dest()...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, failure.NotFoundf("no invitation with this token")
	}
	if err != nil {
		return nil, err
	}
	return raw.resource(schemas.User, account)
}

// PendingInvitationsExpiredBy returns up to limit users whose invitation
// is still stored as pending but expired before t.
func (s *Store) PendingInvitationsExpiredBy(ctx context.Context, t time.Time, limit int) ([]store.UserRef, error) {
	return queryAll(ctx, s.read(ctx), func(row rowScanner) (ref store.UserRef, err error) {
		return ref, row.Scan(&ref.Account, &ref.ID)
	}, "SELECT account, id FROM resources WHERE inv_status = 'pending' AND inv_expires <= ? AND type = ? LIMIT ?", millis(t), schemas.User.Name, limit)
}

// ---- outbox ----

const outboxColumns = "id, account, user, token, state, created, due, attempts, claimed_by, claimed_until, sent_at, last_error, finished"

func scanOutbox(row rowScanner) (*store.OutboxEntry, error) {
	var e store.OutboxEntry
	var created, due, claimedUntil, sentAt, finished int64
	if err := row.Scan(&e.ID, &e.Account, &e.User, &e.Token, &e.State, &created, &due, &e.Attempts, &e.ClaimedBy, &claimedUntil, &sentAt, &e.LastError, &finished); err != nil {
		return nil, err
	}
	e.Created, e.Due, e.ClaimedUntil = fromMillis(created), fromMillis(due), fromMillis(claimedUntil)
	e.SentAt, e.Finished = fromMillis(sentAt), fromMillis(finished)
	return &e, nil
}

// AddOutbox stores a new pending entry, due at once.
func (s *Store) AddOutbox(ctx context.Context, e *store.OutboxEntry) error {
	return s.AddOutboxMany(ctx, []*store.OutboxEntry{e})
}

// AddOutboxMany stores the entries of a batch of new users.
func (s *Store) AddOutboxMany(ctx context.Context, es []*store.OutboxEntry) error {
	if len(es) == 0 {
		return nil
	}
	t := store.Now()
	return s.write(ctx, func(c *conn) error {
		for start := 0; start < len(es); start += memberChunk {
			chunk := es[start:min(start+memberChunk, len(es))]
			args := make([]any, 0, 7*len(chunk))
			for _, e := range chunk {
				e.State, e.Created, e.Due = store.OutboxPending, t, t
				args = append(args, e.ID, e.Account, e.User, e.Token, e.State, millis(t), millis(t))
			}
			if _, err := c.ExecContext(ctx, "INSERT INTO outbox (id, account, user, token, state, created, due) VALUES "+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", len(chunk)), ", "), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteOutbox removes an entry.
func (s *Store) DeleteOutbox(ctx context.Context, id string) error {
	return s.DeleteOutboxMany(ctx, []string{id})
}

// DeleteOutboxMany removes entries whose writes failed.
func (s *Store) DeleteOutboxMany(ctx context.Context, ids []string) error {
	return s.write(ctx, func(c *conn) error {
		return chunks(ids, func(chunk []string) error {
			_, err := c.ExecContext(ctx, "DELETE FROM outbox WHERE id IN ("+placeholders(len(chunk))+")", anys(nil, chunk)...)
			return err
		})
	})
}

// OutboxEntryByID returns an entry.
func (s *Store) OutboxEntryByID(ctx context.Context, id string) (*store.OutboxEntry, error) {
	e, err := scanOutbox(s.read(ctx).QueryRowContext(ctx, "SELECT "+outboxColumns+" FROM outbox WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, failure.NotFoundf("no outbox entry %q", id)
	}
	return e, err
}

// claimable is the condition of an entry a worker may claim at time ?.
const claimable = "state = 'pending' AND due <= ? AND claimed_until <= ?"

// DueOutbox returns up to limit entries that are due and not leased,
// those waiting longest first.
func (s *Store) DueOutbox(ctx context.Context, limit int) ([]*store.OutboxEntry, error) {
	t := millis(store.Now())
	return queryAll(ctx, s.read(ctx), scanOutbox, "SELECT "+outboxColumns+" FROM outbox WHERE "+claimable+" ORDER BY due, id LIMIT ?", t, t, limit)
}

// ClaimOutbox leases an entry to the worker, unless another worker claimed
// it meanwhile.
func (s *Store) ClaimOutbox(ctx context.Context, e *store.OutboxEntry, worker string, lease time.Duration) (bool, error) {
	t := store.Now()
	until := t.Add(lease)
	res, err := s.exec(ctx, "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ? AND "+claimable,
		worker, millis(until), e.ID, millis(t), millis(t))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	e.ClaimedBy, e.ClaimedUntil = worker, until
	return true, nil
}

// finish updates an entry the worker holds and releases the lease.
func (s *Store) finish(ctx context.Context, e *store.OutboxEntry, set string, args ...any) error {
	args = append(args, e.ID, e.ClaimedBy)
	res, err := s.exec(ctx, "UPDATE outbox SET "+set+", claimed_by = '', claimed_until = 0 WHERE id = ? AND state = 'pending' AND claimed_by = ?", args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotClaimed
	}
	return nil
}

// MarkOutboxSent records that the email was sent and erases the token.
func (s *Store) MarkOutboxSent(ctx context.Context, e *store.OutboxEntry) error {
	t := millis(store.Now())
	return s.finish(ctx, e, "state = ?, sent_at = ?, finished = ?, attempts = ?, token = '', last_error = ''", store.OutboxSent, t, t, e.Attempts+1)
}

// DiscardOutbox ends an entry without sending, erasing the token.
func (s *Store) DiscardOutbox(ctx context.Context, e *store.OutboxEntry, reason string) error {
	return s.finish(ctx, e, "state = ?, last_error = ?, finished = ?, token = ''", store.OutboxDiscarded, reason, millis(store.Now()))
}

// FailOutbox gives up on an entry that cannot be delivered.
func (s *Store) FailOutbox(ctx context.Context, e *store.OutboxEntry, reason string) error {
	return s.finish(ctx, e, "state = ?, last_error = ?, attempts = ?, finished = ?, token = ''", store.OutboxFailed, reason, e.Attempts+1, millis(store.Now()))
}

// RetryOutbox records a failed attempt and makes the entry due at t.
func (s *Store) RetryOutbox(ctx context.Context, e *store.OutboxEntry, t time.Time, reason string) error {
	return s.finish(ctx, e, "due = ?, attempts = ?, last_error = ?", millis(t.UTC().Truncate(time.Millisecond)), e.Attempts+1, reason)
}

// DeferOutbox makes the entry due again at t without counting an attempt.
func (s *Store) DeferOutbox(ctx context.Context, e *store.OutboxEntry, t time.Time) error {
	return s.finish(ctx, e, "due = ?", millis(t.UTC().Truncate(time.Millisecond)))
}

// VoidOutbox discards an entry that is still pending and not being sent.
func (s *Store) VoidOutbox(ctx context.Context, id, reason string) error {
	t := millis(store.Now())
	_, err := s.exec(ctx, "UPDATE outbox SET state = ?, last_error = ?, finished = ?, token = '' WHERE id = ? AND state = 'pending' AND claimed_until <= ?",
		store.OutboxDiscarded, reason, t, id, t)
	return err
}

// PurgeOutbox deletes the entries that left the queue before t.
func (s *Store) PurgeOutbox(ctx context.Context, t time.Time) (int, error) {
	res, err := s.exec(ctx, "DELETE FROM outbox WHERE state <> 'pending' AND finished <= ?", millis(t))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// OutboxDepth counts the entries still to send.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := s.read(ctx).QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'").Scan(&n)
	return n, err
}
