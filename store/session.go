package store

// Admin console sessions, kept in the store so that every server instance
// on one database shares them. The browser holds a random secret in a
// cookie; the store keeps only its SHA-256 hash, as the session's id, so a
// copy of the database gives no one a way in.

import (
	"context"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
)

// Sessions keeps the admin console's sessions.
type Sessions interface {
	// CreateSession stores a new session (its ID already the secret's
	// hash).
	CreateSession(ctx context.Context, sess *Session) error
	// Session returns the session with the id (a hash); not found when
	// there is none. Expiry is the caller's to check.
	Session(ctx context.Context, id string) (*Session, error)
	// SaveSession writes a session's fields over the stored ones; not
	// found when the session was deleted meanwhile (a logout in another
	// tab).
	SaveSession(ctx context.Context, sess *Session) error
	// TouchSession notes a session's use: its LastSeen and Expires, and
	// nothing else, so that a request's note of use never writes back
	// what it read of the rest (a fresh sign-in another request spent
	// meanwhile). Touching a session that is gone is no error.
	TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error
	// SwapReauth sets the session's ReauthAt to to if it is from, in one
	// conditional write, and reports whether it did: of the requests that
	// read one fresh sign-in, only one spends it.
	SwapReauth(ctx context.Context, id string, from, to time.Time) (bool, error)
	// DeleteSession removes a session (logout); removing one that is gone
	// is no error.
	DeleteSession(ctx context.Context, id string) error
	// PurgeSessions deletes the account's sessions that expired before t
	// and returns how many.
	PurgeSessions(ctx context.Context, account string, t time.Time) (int, error)
}

// Session is an administrator's signed-in browser.
type Session struct {
	// ID is the SHA-256 (hex) of the cookie's secret (HashSessionSecret).
	ID string `bson:"_id"`
	// Account is the account being administered; User the
	// administrator's user in it. Switching accounts changes both.
	Account string `bson:"account"`
	User    string `bson:"user"`
	// Email is the verified address from the ID token; Subject the
	// provider's issuer and subject ("iss sub"), which a re-authentication
	// must match.
	Email   string `bson:"email"`
	Subject string `bson:"subject"`
	// CSRF is the token every form of the session carries.
	CSRF    string    `bson:"csrf"`
	Created time.Time `bson:"created"`
	// LastSeen is the last request (updated at most once a minute).
	LastSeen time.Time `bson:"lastSeen"`
	// Expires is when the session ends unless used again: the earlier of
	// the idle timeout after LastSeen and the absolute timeout after
	// Created. Purges use it.
	Expires time.Time `bson:"expires"`
	// ReauthAt is when the administrator last authenticated again at the
	// provider for a sensitive action (setting a password); zero if never.
	ReauthAt time.Time `bson:"reauthAt,omitempty"`
}

// HashSessionSecret returns the stored id of a session cookie's secret.
func HashSessionSecret(secret string) string { return HashSecret(secret) }

// CheckNewSession checks a session before it is stored and brings its
// times to the stores' millisecond precision.
func CheckNewSession(sess *Session) error {
	if sess.ID == "" || sess.Account == "" {
		return failure.InvalidValue("a session needs an id and an account")
	}
	sess.Created, sess.LastSeen = Millis(sess.Created), Millis(sess.LastSeen)
	sess.Expires, sess.ReauthAt = Millis(sess.Expires), Millis(sess.ReauthAt)
	return nil
}

// SessionNotFound is the failure of a session that is gone.
var SessionNotFound = failure.NotFoundf("no such session")

// Millis brings a time to the stores' precision (UTC milliseconds).
func Millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
