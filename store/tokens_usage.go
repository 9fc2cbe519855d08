package store

// What the SCIM layer needs to know about the token of a request: which
// token it is (its name goes into the activity log) and when each token
// was last used (the console's SCIM tokens page).

import (
	"context"
	"crypto/subtle"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/timecamp/timecamp-scim/failure"
)

// AuthenticateToken returns the account a bearer token belongs to, and the
// token (without its secret).
func (s *Store) AuthenticateToken(ctx context.Context, secret string) (*Account, *Token, error) {
	if secret == "" {
		return nil, nil, failure.Unauthorizedf("a bearer token is required")
	}
	h := hashSecret(secret)
	var t Token
	if err := s.db.Collection(collTokens).FindOne(ctx, bson.M{"hash": h}).Decode(&t); err != nil {
		if isNotFound(err) {
			return nil, nil, failure.Unauthorizedf("the bearer token is not valid")
		}
		return nil, nil, err
	}
	// The lookup is by hash; compare again in constant time for good measure.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return nil, nil, failure.Unauthorizedf("the bearer token is not valid")
	}
	a, err := s.Account(ctx, t.Account)
	if err != nil {
		return nil, nil, err
	}
	return a, &t, nil
}

// TouchToken records that the account's token was used at t. Callers
// throttle it (the SCIM layer writes at most once a minute per token).
func (s *Store) TouchToken(ctx context.Context, account, id string, t time.Time) error {
	_, err := s.db.Collection(collTokens).UpdateOne(ctx, bson.D{{Key: "account", Value: account}, {Key: "_id", Value: id}},
		bson.M{"$set": bson.M{"lastUsed": t.UTC().Truncate(time.Millisecond)}})
	return err
}
