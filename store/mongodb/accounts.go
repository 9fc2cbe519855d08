package mongodb

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

const (
	collAccounts    = "accounts"
	collTokens      = "tokens"
	collMemberships = "memberships"
)

// CreateAccount adds an account. Names are unique, case-insensitively.
func (s *Store) CreateAccount(ctx context.Context, name string, seats int) (*store.Account, error) {
	a, err := store.NewAccount(name, seats)
	if err != nil {
		return nil, err
	}
	if _, err := s.db.Collection(collAccounts).InsertOne(ctx, a); err != nil {
		if isDuplicateKey(err) {
			return nil, store.DuplicateAccount(name)
		}
		return nil, err
	}
	return a, nil
}

// Account returns the account with the given id.
func (s *Store) Account(ctx context.Context, id string) (*store.Account, error) {
	return s.findAccount(ctx, bson.M{"_id": id}, id)
}

// AccountByName returns the account with the given name.
func (s *Store) AccountByName(ctx context.Context, name string) (*store.Account, error) {
	return s.findAccount(ctx, bson.M{"nameLower": store.AccountNameKey(name)}, name)
}

func (s *Store) findAccount(ctx context.Context, q bson.M, what string) (*store.Account, error) {
	var a store.Account
	if err := s.db.Collection(collAccounts).FindOne(ctx, q).Decode(&a); err != nil {
		if isNotFound(err) {
			return nil, store.AccountNotFound(what)
		}
		return nil, err
	}
	return &a, nil
}

// Accounts lists every account by name.
func (s *Store) Accounts(ctx context.Context) ([]store.Account, error) {
	cur, err := s.db.Collection(collAccounts).Find(ctx, bson.M{})
	if err != nil {
		return nil, err
	}
	var out []store.Account
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	// Sorted here, not in the query: see membershipSide.
	slices.SortFunc(out, func(a, b store.Account) int { return strings.Compare(a.NameLower, b.NameLower) })
	return out, nil
}

// CreateToken adds a token to an account and returns its secret, which is
// not stored and cannot be shown again.
func (s *Store) CreateToken(ctx context.Context, accountID string, spec store.TokenSpec) (string, *store.Token, error) {
	if _, err := s.Account(ctx, accountID); err != nil {
		return "", nil, err
	}
	secret, t, err := store.NewToken(accountID, spec)
	if err != nil {
		return "", nil, err
	}
	if _, err := s.db.Collection(collTokens).InsertOne(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// PutToken makes secret the account's token called name (the bootstrap
// token given at start-up), revoking an earlier secret under that name;
// a revoked secret is refused.
func (s *Store) PutToken(ctx context.Context, accountID, name, secret string) error {
	if secret == "" {
		return store.ErrEmptyToken
	}
	h := store.HashSecret(secret)
	coll := s.db.Collection(collTokens)
	var same store.Token
	err := coll.FindOne(ctx, bson.M{"hash": h}).Decode(&same)
	switch {
	case err == nil && !same.Active():
		return store.ErrTokenRevoked
	case err == nil && same.Account == accountID && same.Name == name:
		return nil // a restart with the same secret
	case err == nil:
		return store.ErrTokenReused
	case !isNotFound(err):
		return err
	}
	list, err := s.Tokens(ctx, accountID)
	if err != nil {
		return err
	}
	now := store.Now()
	for _, t := range list {
		if t.Name == name {
			if err := s.revoke(ctx, accountID, t.ID, store.RevokedByReplacement, now); err != nil && !failure.Is(err, failure.NotFound) {
				return err
			}
		}
	}
	_, err = coll.InsertOne(ctx, &store.Token{ID: store.NewID(), Account: accountID, Name: name, Hash: h, Created: now, CreatedBy: store.CreatorBootstrap})
	if isDuplicateKey(err) {
		return store.ErrTokenReused
	}
	return err
}

// Tokens lists an account's tokens that are not revoked (without secrets).
func (s *Store) Tokens(ctx context.Context, accountID string) ([]store.Token, error) {
	// Sorted here, not in the query: see membershipSide.
	cur, err := s.db.Collection(collTokens).Find(ctx, bson.M{"account": accountID})
	if err != nil {
		return nil, err
	}
	var all []store.Token
	if err := cur.All(ctx, &all); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b store.Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	// An account has a handful of tokens: the revoked ones are left out here.
	return slices.DeleteFunc(all, func(t store.Token) bool { return !t.Active() }), nil
}

// RevokeToken revokes a token of an account; it stops working at once,
// and its document stays so that its secret is never accepted again.
func (s *Store) RevokeToken(ctx context.Context, accountID, tokenID, by string) error {
	return s.revoke(ctx, accountID, tokenID, by, store.Now())
}

func (s *Store) revoke(ctx context.Context, accountID, tokenID, by string, t time.Time) error {
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.db.Collection(collTokens).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: tokenID}, {Key: "account", Value: accountID}, {Key: "revoked", Value: bson.M{"$exists": false}}},
		bson.M{"$set": bson.M{"revoked": t, "revokedBy": by}})
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return store.TokenNotFound(accountID, tokenID)
	}
	s.tokens.forget(tokenID) // stops working here at once
	return nil
}

// Authenticate returns the token a secret is: one lookup by its hash,
// remembered for TokenCacheTTL (see tokenCache). The account is not read
// (accounts are never deleted, so a token's account exists).
func (s *Store) Authenticate(ctx context.Context, secret string) (*store.Token, error) {
	if secret == "" {
		return nil, store.ErrTokenMissing
	}
	h := store.HashSecret(secret)
	t, ok := s.tokens.get(h)
	if !ok {
		lookup := s.tokens.begin()
		if err := s.db.Collection(collTokens).FindOne(ctx, bson.M{"hash": h}).Decode(&t); err != nil {
			if isNotFound(err) {
				return nil, store.ErrTokenInvalid
			}
			return nil, err
		}
		if afterTokenLookup != nil {
			afterTokenLookup()
		}
		s.tokens.put(h, t, lookup)
	}
	// The lookup is by hash; compare again in constant time for good measure.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return nil, store.ErrTokenInvalid
	}
	if err := t.Usable(time.Now()); err != nil {
		return nil, err
	}
	return &t, nil
}

// TokenCacheTTL is how long a server answers requests with a token it
// looked up without looking it up again: a token revoked through another
// server process (or the tokens revoke command) stops working within
// TokenCacheTTL; revoked through this one, at once. Identity providers send
// many requests a second with one token, so nearly every request is spared
// the lookup.
const TokenCacheTTL = 2 * time.Second

// tokenCache remembers the tokens this process looked up lately, by hash
// (only found ones: a wrong secret is looked up every time).
type tokenCache struct {
	mu     sync.Mutex
	byHash map[string]cachedToken
	// forgets counts forget calls: a lookup that a revocation in this
	// process overtook (it read the token before the revocation's write,
	// and would cache it after its forget) is not remembered.
	forgets uint64
}

// tokenLookup is when a lookup began, and the forgets up to then.
type tokenLookup struct {
	at      time.Time
	forgets uint64
}

// afterTokenLookup, when set (tests), runs between a token's lookup and
// its caching.
var afterTokenLookup func()

// begin notes a lookup about to be sent. A copy is remembered from when
// the lookup began, not when it answered: another process's revocation is
// seen within TokenCacheTTL of it whatever the lookup took.
func (c *tokenCache) begin() tokenLookup {
	c.mu.Lock()
	defer c.mu.Unlock()
	return tokenLookup{at: time.Now(), forgets: c.forgets}
}

type cachedToken struct {
	t  store.Token
	at time.Time
}

func (c *tokenCache) get(hash string) (store.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !ok || time.Since(e.at) >= TokenCacheTTL {
		return store.Token{}, false
	}
	return e.t, true
}

func (c *tokenCache) put(hash string, t store.Token, l tokenLookup) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != l.forgets {
		return // a token was forgotten meanwhile: this copy may predate it
	}
	if c.byHash == nil || len(c.byHash) > 10_000 {
		c.byHash = map[string]cachedToken{} // forget all rather than grow
	}
	c.byHash[hash] = cachedToken{t: t, at: l.at}
}

// touched records a token's use in the remembered copy (TouchToken).
func (c *tokenCache) touched(id string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.byHash {
		if e.t.ID == id {
			e.t.LastUsed = t
			c.byHash[h] = e
		}
	}
}

// forget drops a token (revoked, or its secret replaced).
func (c *tokenCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for h, e := range c.byHash {
		if e.t.ID == id {
			delete(c.byHash, h)
		}
	}
}

// TouchToken records that the account's token was used at t. On FerretDB,
// whose updates are read-modify-write, it waits for a revocation in
// progress, whose write it would otherwise undo.
func (s *Store) TouchToken(ctx context.Context, account, id string, t time.Time) error {
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.db.Collection(collTokens).UpdateOne(ctx, bson.D{{Key: "account", Value: account}, {Key: "_id", Value: id}},
		bson.M{"$set": bson.M{"lastUsed": store.Millis(t)}})
	if err == nil && res.MatchedCount == 1 {
		s.tokens.touched(id, store.Millis(t))
	}
	return err
}
