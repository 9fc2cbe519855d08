package store

// Admin console sessions, kept server-side so that every server instance
// on one database shares them. The browser holds a random secret in a
// cookie; the store keeps only its SHA-256 hash, as the session's id, so a
// copy of the database gives no one a way in.
//
// Queries: a session is read, updated and deleted by its id (the hash);
// expired sessions are purged per account ({account, expires}). Both are
// covered by the primary key and the index sessionIndexes declares.

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/timecamp/timecamp-scim/failure"
)

const collSessions = "sessions"

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

func sessionIndexes() []index {
	return []index{
		{collSessions, bson.D{{Key: "account", Value: 1}, {Key: "expires", Value: 1}}, false},
	}
}

// HashSessionSecret returns the stored id of a session cookie's secret.
func HashSessionSecret(secret string) string { return hashSecret(secret) }

// CreateSession stores a new session (its ID already the secret's hash).
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	if sess.ID == "" || sess.Account == "" {
		return failure.InvalidValue("a session needs an id and an account")
	}
	sess.Created, sess.LastSeen = sess.Created.UTC().Truncate(time.Millisecond), sess.LastSeen.UTC().Truncate(time.Millisecond)
	_, err := s.db.Collection(collSessions).InsertOne(ctx, sess)
	return err
}

// Session returns the session with the id (a hash); not found when there
// is none. Expiry is the caller's to check.
func (s *Store) Session(ctx context.Context, id string) (*Session, error) {
	var sess Session
	if err := s.db.Collection(collSessions).FindOne(ctx, bson.M{"_id": id}).Decode(&sess); err != nil {
		if isNotFound(err) {
			return nil, failure.NotFoundf("no such session")
		}
		return nil, err
	}
	return &sess, nil
}

// SaveSession writes a session's fields over the stored ones (last seen,
// expiry, the account, the re-authentication time); not found when the
// session was deleted meanwhile (a logout in another tab).
func (s *Store) SaveSession(ctx context.Context, sess *Session) error {
	res, err := s.db.Collection(collSessions).ReplaceOne(ctx, bson.M{"_id": sess.ID}, sess)
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return failure.NotFoundf("no such session")
	}
	return nil
}

// DeleteSession removes a session (logout); removing one that is gone is
// no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.Collection(collSessions).DeleteOne(ctx, bson.M{"_id": id})
	return err
}

// PurgeSessions deletes the account's sessions that expired before t and
// returns how many.
func (s *Store) PurgeSessions(ctx context.Context, account string, t time.Time) (int, error) {
	res, err := s.db.Collection(collSessions).DeleteMany(ctx, bson.D{{Key: "account", Value: account}, {Key: "expires", Value: bson.M{"$lt": t}}})
	if err != nil {
		return 0, err
	}
	return int(res.DeletedCount), nil
}
