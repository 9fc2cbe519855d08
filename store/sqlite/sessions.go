package sqlite

// Admin console sessions and the activity log.

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

const sessionColumns = "id, account, user, email, subject, csrf, created, last_seen, expires, reauth_at"

func sessionArgs(sess *store.Session) []any {
	return []any{sess.ID, sess.Account, sess.User, sess.Email, sess.Subject, sess.CSRF,
		millis(sess.Created), millis(sess.LastSeen), millis(sess.Expires), millis(sess.ReauthAt)}
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if err := store.CheckNewSession(sess); err != nil {
		return err
	}
	_, err := s.exec(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sessionArgs(sess)...)
	return err
}

// Session returns the session with the id.
func (s *Store) Session(ctx context.Context, id string) (*store.Session, error) {
	var sess store.Session
	var created, lastSeen, expires, reauth int64
	err := s.read(ctx).QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id).
		Scan(&sess.ID, &sess.Account, &sess.User, &sess.Email, &sess.Subject, &sess.CSRF, &created, &lastSeen, &expires, &reauth)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.SessionNotFound
	}
	if err != nil {
		return nil, err
	}
	sess.Created, sess.LastSeen, sess.Expires, sess.ReauthAt = fromMillis(created), fromMillis(lastSeen), fromMillis(expires), fromMillis(reauth)
	return &sess, nil
}

// SaveSession writes a session over the stored one.
func (s *Store) SaveSession(ctx context.Context, sess *store.Session) error {
	args := sessionArgs(sess)
	res, err := s.exec(ctx, "UPDATE sessions SET account = ?, user = ?, email = ?, subject = ?, csrf = ?, created = ?, last_seen = ?, expires = ?, reauth_at = ? WHERE id = ?",
		append(args[1:], args[0])...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.SessionNotFound
	}
	return nil
}

// TouchSession writes a session's last use and expiry only.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	_, err := s.exec(ctx, "UPDATE sessions SET last_seen = ?, expires = ? WHERE id = ?", millis(lastSeen), millis(expires), id)
	return err
}

// SwapReauth sets the session's re-authentication time to to if it is
// from: one conditional update.
func (s *Store) SwapReauth(ctx context.Context, id string, from, to time.Time) (bool, error) {
	res, err := s.exec(ctx, "UPDATE sessions SET reauth_at = ? WHERE id = ? AND reauth_at = ?", millis(to), id, millis(from))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteSession removes a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.exec(ctx, "DELETE FROM sessions WHERE id = ?", id)
	return err
}

// PurgeSessions deletes the account's sessions that expired before t.
func (s *Store) PurgeSessions(ctx context.Context, account string, t time.Time) (int, error) {
	res, err := s.exec(ctx, "DELETE FROM sessions WHERE account = ? AND expires < ?", account, millis(t))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const activityColumns = "id, account, at, actor_kind, actor_id, actor, resource_type, resource_id, resource, operation, method, path, attributes, outcome, status, detail, request_id"

// AddActivity stores entries in one transaction.
func (s *Store) AddActivity(ctx context.Context, entries ...*store.ActivityEntry) error {
	if len(entries) == 0 {
		return nil
	}
	store.PrepareActivity(entries)
	return s.write(ctx, func(c *conn) error {
		for _, e := range entries {
			if _, err := c.ExecContext(ctx, "INSERT INTO activity ("+activityColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				e.ID, e.Account, millis(e.At), e.Kind, e.Actor.ID, e.Name, e.ResourceType, e.ResourceID, e.Resource,
				e.Operation, e.Method, e.Path, strings.Join(e.Attributes, "\n"), e.Outcome, e.Status, e.Detail, e.RequestID); err != nil {
				return err
			}
		}
		return nil
	})
}

// Activity returns a page of an account's entries, newest first.
func (s *Store) Activity(ctx context.Context, q store.ActivityQuery) ([]*store.ActivityEntry, bool, error) {
	where := "account = ?"
	args := []any{q.Account}
	for _, f := range []struct{ column, value string }{{"outcome", q.Outcome}, {"actor", q.Actor}, {"resource_type", q.ResourceType}} {
		if f.value != "" {
			where += " AND " + f.column + " = ?"
			args = append(args, f.value)
		}
	}
	limit := q.PageSize()
	out, err := queryAll(ctx, s.read(ctx), scanActivity, "SELECT "+activityColumns+" FROM activity WHERE "+where+" ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
		append(args, limit+1, max(q.Skip, 0))...)
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

func scanActivity(row rowScanner) (*store.ActivityEntry, error) {
	var e store.ActivityEntry
	var at int64
	var attrs string
	if err := row.Scan(&e.ID, &e.Account, &at, &e.Kind, &e.Actor.ID, &e.Name, &e.ResourceType, &e.ResourceID, &e.Resource,
		&e.Operation, &e.Method, &e.Path, &attrs, &e.Outcome, &e.Status, &e.Detail, &e.RequestID); err != nil {
		return nil, err
	}
	e.At = fromMillis(at)
	if attrs != "" {
		e.Attributes = strings.Split(attrs, "\n")
	}
	return &e, nil
}

// PurgeActivity deletes the account's entries older than t.
func (s *Store) PurgeActivity(ctx context.Context, account string, t time.Time) (int, error) {
	res, err := s.exec(ctx, "DELETE FROM activity WHERE account = ? AND at < ?", account, millis(t))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
