package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/failure"
)

const (
	collAccounts    = "accounts"
	collTokens      = "tokens"
	collMemberships = "memberships"
)

// Account is a tenant: a TimeCamp account with its own users and groups.
type Account struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	NameLower string    `bson:"nameLower"`
	Seats     int       `bson:"seats"` // licences; 0 means unlimited
	Created   time.Time `bson:"created"`
	// SeatsUsed counts the users that use a seat. Writes reserve seats here
	// before they store a user (see ReserveSeats), so that concurrent
	// requests cannot together exceed Seats.
	SeatsUsed int `bson:"seatsUsed"`
	// Owner is the id of the user who owns the account, if any.
	Owner string `bson:"owner,omitempty"`
	// InvitationsOff turns invitation emails off by default (SSO-only
	// accounts): new users get invitation status "none" unless the
	// create asks for one (sendInvitation). Stored inverted so that
	// accounts created before the setting existed invite.
	InvitationsOff bool `bson:"invitationsOff,omitempty"`
}

// Token is a SCIM bearer token of one account. Only a hash of the secret is
// stored; the secret is shown once, when the token is created.
type Token struct {
	ID      string    `bson:"_id"`
	Account string    `bson:"account"`
	Name    string    `bson:"name"`
	Hash    string    `bson:"hash"`
	Created time.Time `bson:"created"`
	// LastUsed is when a request last authenticated with the token
	// (recorded at most once a minute by TouchToken; zero: never).
	LastUsed time.Time `bson:"lastUsed,omitempty"`
}

// NewID returns a new random resource id (a UUID, as SCIM clients expect).
func NewID() string { return uuid.NewString() }

// CreateAccount adds an account. Names are unique, case-insensitively.
func (s *Store) CreateAccount(ctx context.Context, name string, seats int) (*Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, failure.InvalidValue("an account needs a name")
	}
	if seats < 0 {
		return nil, failure.InvalidValue("seats must be 0 (unlimited) or more, got %d", seats)
	}
	a := &Account{ID: NewID(), Name: name, NameLower: strings.ToLower(name), Seats: seats, Created: now()}
	if _, err := s.db.Collection(collAccounts).InsertOne(ctx, a); err != nil {
		if isDuplicateKey(err) {
			return nil, failure.Uniqueness("an account named %q already exists", name)
		}
		return nil, err
	}
	return a, nil
}

// Account returns the account with the given id.
func (s *Store) Account(ctx context.Context, id string) (*Account, error) {
	return s.findAccount(ctx, bson.M{"_id": id}, id)
}

// AccountByName returns the account with the given name.
func (s *Store) AccountByName(ctx context.Context, name string) (*Account, error) {
	return s.findAccount(ctx, bson.M{"nameLower": strings.ToLower(strings.TrimSpace(name))}, name)
}

func (s *Store) findAccount(ctx context.Context, q bson.M, what string) (*Account, error) {
	var a Account
	if err := s.db.Collection(collAccounts).FindOne(ctx, q).Decode(&a); err != nil {
		if isNotFound(err) {
			return nil, failure.NotFoundf("no account %q", what)
		}
		return nil, err
	}
	return &a, nil
}

// Accounts lists every account by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	cur, err := s.db.Collection(collAccounts).Find(ctx, bson.M{}, options.Find().SetSort(bson.D{{Key: "nameLower", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var out []Account
	return out, cur.All(ctx, &out)
}

// EnsureAccount returns the account with the given name, creating it if it
// does not exist (for the bootstrap account, idempotent across restarts).
func (s *Store) EnsureAccount(ctx context.Context, name string, seats int) (*Account, error) {
	a, err := s.AccountByName(ctx, name)
	if err == nil {
		return a, nil
	}
	if !failure.Is(err, failure.NotFound) {
		return nil, err
	}
	a, err = s.CreateAccount(ctx, name, seats)
	if failure.Is(err, failure.Conflict) { // created concurrently
		return s.AccountByName(ctx, name)
	}
	return a, err
}

// tokenPrefix marks the server's secrets so that secret scanners and people
// recognise them.
const tokenPrefix = "tcscim_"

// CreateToken adds a token to an account and returns its secret, which is
// not stored and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, accountID, name string) (string, *Token, error) {
	if _, err := s.Account(ctx, accountID); err != nil {
		return "", nil, err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", nil, err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
	t := &Token{ID: NewID(), Account: accountID, Name: strings.TrimSpace(name), Hash: hashSecret(secret), Created: now()}
	if _, err := s.db.Collection(collTokens).InsertOne(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// PutToken makes secret the account's token called name, replacing an
// earlier secret under that name (the bootstrap token given at start-up).
func (s *Store) PutToken(ctx context.Context, accountID, name, secret string) error {
	if secret == "" {
		return failure.InvalidValue("the token is empty")
	}
	h := hashSecret(secret)
	coll := s.db.Collection(collTokens)
	var existing Token
	err := coll.FindOne(ctx, bson.M{"account": accountID, "name": name}).Decode(&existing)
	switch {
	case err == nil && existing.Hash == h:
		return nil
	case err == nil:
		_, err = coll.UpdateOne(ctx, bson.M{"_id": existing.ID}, bson.M{"$set": bson.M{"hash": h}})
	case isNotFound(err):
		_, err = coll.InsertOne(ctx, &Token{ID: NewID(), Account: accountID, Name: name, Hash: h, Created: now()})
	}
	if isDuplicateKey(err) {
		return failure.Uniqueness("this secret is already a token of another account; choose another one")
	}
	return err
}

// Tokens lists an account's tokens (without secrets).
func (s *Store) Tokens(ctx context.Context, accountID string) ([]Token, error) {
	cur, err := s.db.Collection(collTokens).Find(ctx, bson.M{"account": accountID}, options.Find().SetSort(bson.D{{Key: "created", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var out []Token
	return out, cur.All(ctx, &out)
}

// RevokeToken deletes a token of an account; it stops working at once.
func (s *Store) RevokeToken(ctx context.Context, accountID, tokenID string) error {
	res, err := s.db.Collection(collTokens).DeleteOne(ctx, bson.M{"_id": tokenID, "account": accountID})
	if err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		return failure.NotFoundf("account %s has no token %q", accountID, tokenID)
	}
	return nil
}

// Authenticate returns the account a bearer token belongs to.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Account, error) {
	if secret == "" {
		return nil, failure.Unauthorizedf("a bearer token is required")
	}
	h := hashSecret(secret)
	var t Token
	if err := s.db.Collection(collTokens).FindOne(ctx, bson.M{"hash": h}).Decode(&t); err != nil {
		if isNotFound(err) {
			return nil, failure.Unauthorizedf("the bearer token is not valid")
		}
		return nil, err
	}
	// The lookup is by hash; compare again in constant time for good measure.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return nil, failure.Unauthorizedf("the bearer token is not valid")
	}
	return s.Account(ctx, t.Account)
}

// hashSecret hashes a high-entropy secret. SHA-256 suffices for random
// 256-bit tokens (no dictionary to guess from) and keeps lookups by hash.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// now is the store's clock, at MongoDB's millisecond precision so that a
// time read back equals the time written.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
