package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

const accountColumns = "id, name, name_key, seats, seats_used, owner, invitations_off, created"

func scanAccount(row rowScanner) (*store.Account, error) {
	var a store.Account
	var created int64
	if err := row.Scan(&a.ID, &a.Name, &a.NameLower, &a.Seats, &a.SeatsUsed, &a.Owner, &a.InvitationsOff, &created); err != nil {
		return nil, err
	}
	a.Created = fromMillis(created)
	return &a, nil
}

// CreateAccount adds an account.
func (s *Store) CreateAccount(ctx context.Context, name string, seats int) (*store.Account, error) {
	a, err := store.NewAccount(name, seats)
	if err != nil {
		return nil, err
	}
	_, err = s.exec(ctx, "INSERT INTO accounts ("+accountColumns+") VALUES (?, ?, ?, ?, 0, '', 0, ?)",
		a.ID, a.Name, a.NameLower, a.Seats, millis(a.Created))
	if isUniqueViolation(err) {
		return nil, store.DuplicateAccount(name)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Account returns the account with the given id.
func (s *Store) Account(ctx context.Context, id string) (*store.Account, error) {
	return s.findAccount(ctx, "id = ?", id, id)
}

// AccountByName returns the account with the given name.
func (s *Store) AccountByName(ctx context.Context, name string) (*store.Account, error) {
	return s.findAccount(ctx, "name_key = ?", store.AccountNameKey(name), name)
}

func (s *Store) findAccount(ctx context.Context, where string, arg any, what string) (*store.Account, error) {
	a, err := scanAccount(s.read(ctx).QueryRowContext(ctx, "SELECT "+accountColumns+" FROM accounts WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.AccountNotFound(what)
	}
	return a, err
}

// Accounts lists every account by name.
func (s *Store) Accounts(ctx context.Context) ([]store.Account, error) {
	return queryAll(ctx, s.read(ctx), func(row rowScanner) (store.Account, error) {
		a, err := scanAccount(row)
		if err != nil {
			return store.Account{}, err
		}
		return *a, nil
	}, "SELECT "+accountColumns+" FROM accounts ORDER BY name_key")
}

// updateAccount runs an update of one account and fails with not-found
// when there is no such account.
func (s *Store) updateAccount(ctx context.Context, accountID, set string, args ...any) error {
	res, err := s.exec(ctx, "UPDATE accounts SET "+set+" WHERE id = ?", append(args, accountID)...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.AccountNotFound(accountID)
	}
	return nil
}

// SetInvitations turns an account's invitation emails on or off.
func (s *Store) SetInvitations(ctx context.Context, accountID string, on bool) error {
	return s.updateAccount(ctx, accountID, "invitations_off = ?", !on)
}

// SetSeats changes the number of seats of an account.
func (s *Store) SetSeats(ctx context.Context, accountID string, seats int) error {
	if err := store.CheckSeats(seats); err != nil {
		return err
	}
	return s.updateAccount(ctx, accountID, "seats = ?", seats)
}

// ReserveSeats takes n more seats, or refuses when that would exceed the
// account's seats: one conditional update.
func (s *Store) ReserveSeats(ctx context.Context, acct *store.Account, n int) error {
	if n <= 0 {
		return nil
	}
	accountID := acct.ID
	res, err := s.exec(ctx, "UPDATE accounts SET seats_used = seats_used + ? WHERE id = ? AND (seats = 0 OR seats_used + ? <= seats)", n, accountID, n)
	if err != nil {
		return err
	}
	if k, _ := res.RowsAffected(); k == 1 {
		return nil
	}
	a, err := s.Account(ctx, accountID)
	if err != nil {
		return err
	}
	return store.SeatLimitReached(a)
}

// AdjustSeats changes the seats in use by n without a limit check.
func (s *Store) AdjustSeats(ctx context.Context, accountID string, n int) error {
	if n == 0 {
		return nil
	}
	_, err := s.exec(ctx, "UPDATE accounts SET seats_used = seats_used + ? WHERE id = ?", n, accountID)
	return err
}

// SeatsInUse counts the account's users that use a seat.
func (s *Store) SeatsInUse(ctx context.Context, accountID string) (int, error) {
	var n int
	err := s.read(ctx).QueryRowContext(ctx, "SELECT COUNT(*) FROM resources WHERE account = ? AND type = ? AND seat = 1", accountID, schemas.User.Name).Scan(&n)
	return n, err
}

// RecountSeats sets the account's seat counter from its users.
func (s *Store) RecountSeats(ctx context.Context, accountID string) (int, error) {
	var n int
	err := s.write(ctx, func(c *conn) error {
		if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM resources WHERE account = ? AND type = ? AND seat = 1", accountID, schemas.User.Name).Scan(&n); err != nil {
			return err
		}
		_, err := c.ExecContext(ctx, "UPDATE accounts SET seats_used = ? WHERE id = ?", n, accountID)
		return err
	})
	return n, err
}

// ClaimOwner makes the user the account's owner if it has none.
func (s *Store) ClaimOwner(ctx context.Context, accountID, userID string) (bool, error) {
	res, err := s.exec(ctx, "UPDATE accounts SET owner = ? WHERE id = ? AND owner = ''", userID, accountID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseOwner clears the owner if it is still the user.
func (s *Store) ReleaseOwner(ctx context.Context, accountID, userID string) error {
	_, err := s.exec(ctx, "UPDATE accounts SET owner = '' WHERE id = ? AND owner = ?", accountID, userID)
	return err
}

// SetOwner makes the user the account's owner.
func (s *Store) SetOwner(ctx context.Context, accountID, userID string) error {
	_, err := s.exec(ctx, "UPDATE accounts SET owner = ? WHERE id = ?", userID, accountID)
	return err
}

// ---- tokens ----

// CreateToken adds a token to an account and returns its secret.
func (s *Store) CreateToken(ctx context.Context, accountID string, spec store.TokenSpec) (string, *store.Token, error) {
	if _, err := s.Account(ctx, accountID); err != nil {
		return "", nil, err
	}
	secret, t, err := store.NewToken(accountID, spec)
	if err != nil {
		return "", nil, err
	}
	if err := s.insertToken(ctx, t); err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

func (s *Store) insertToken(ctx context.Context, t *store.Token) error {
	_, err := s.exec(ctx, "INSERT INTO tokens ("+tokenColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.Account, t.Name, t.Hash, millis(t.Created), millis(t.LastUsed),
		t.CreatedBy, t.CreatorSubject, millis(t.Expires), millis(t.Revoked), t.RevokedBy)
	if isUniqueViolation(err) {
		return store.ErrTokenReused
	}
	return err
}

// PutToken makes secret the account's token called name, revoking an
// earlier secret under that name; a revoked secret is refused.
func (s *Store) PutToken(ctx context.Context, accountID, name, secret string) error {
	if secret == "" {
		return store.ErrEmptyToken
	}
	h := store.HashSecret(secret)
	return s.write(ctx, func(c *conn) error {
		ctx := context.WithValue(ctx, txKey{s}, c)
		same, err := scanToken(c.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = ?", h))
		switch {
		case err == nil && !same.Active():
			return store.ErrTokenRevoked
		case err == nil && same.Account == accountID && same.Name == name:
			return nil // a restart with the same secret
		case err == nil:
			return store.ErrTokenReused
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		now := store.Now()
		if _, err := c.ExecContext(ctx, "UPDATE tokens SET revoked = ?, revoked_by = ? WHERE account = ? AND name = ? AND revoked = 0",
			millis(now), store.RevokedByReplacement, accountID, name); err != nil {
			return err
		}
		return s.insertToken(ctx, &store.Token{ID: store.NewID(), Account: accountID, Name: name, Hash: h, Created: now, CreatedBy: store.CreatorBootstrap})
	})
}

// Tokens lists an account's tokens that are not revoked, oldest first.
func (s *Store) Tokens(ctx context.Context, accountID string) ([]store.Token, error) {
	return queryAll(ctx, s.read(ctx), func(row rowScanner) (store.Token, error) {
		t, err := scanToken(row)
		if err != nil {
			return store.Token{}, err
		}
		return *t, nil
	}, "SELECT "+tokenColumns+" FROM tokens WHERE account = ? AND revoked = 0 ORDER BY created, id", accountID)
}

const tokenColumns = "id, account, name, hash, created, last_used, created_by, creator_subject, expires, revoked, revoked_by"

func scanToken(row rowScanner) (*store.Token, error) {
	var t store.Token
	var created, lastUsed, expires, revoked int64
	if err := row.Scan(&t.ID, &t.Account, &t.Name, &t.Hash, &created, &lastUsed, &t.CreatedBy, &t.CreatorSubject, &expires, &revoked, &t.RevokedBy); err != nil {
		return nil, err
	}
	t.Created, t.LastUsed, t.Expires, t.Revoked = fromMillis(created), fromMillis(lastUsed), fromMillis(expires), fromMillis(revoked)
	return &t, nil
}

// RevokeToken revokes a token of an account; its row stays, so that its
// secret is never accepted again.
func (s *Store) RevokeToken(ctx context.Context, accountID, tokenID, by string) error {
	res, err := s.exec(ctx, "UPDATE tokens SET revoked = ?, revoked_by = ? WHERE id = ? AND account = ? AND revoked = 0",
		millis(store.Now()), by, tokenID, accountID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.TokenNotFound(accountID, tokenID)
	}
	return nil
}

// Authenticate returns the token a secret is: one indexed query, which
// also makes sure the token's account exists.
func (s *Store) Authenticate(ctx context.Context, secret string) (*store.Token, error) {
	if secret == "" {
		return nil, store.ErrTokenMissing
	}
	h := store.HashSecret(secret)
	t, err := scanToken(s.read(ctx).QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = ? AND account IN (SELECT id FROM accounts)", h))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrTokenInvalid
	}
	if err != nil {
		return nil, err
	}
	// The lookup is by hash; compare again in constant time for good measure.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(h)) != 1 {
		return nil, store.ErrTokenInvalid
	}
	if err := t.Usable(time.Now()); err != nil {
		return nil, err
	}
	return t, nil
}

// TouchToken records that the account's token was used at t.
func (s *Store) TouchToken(ctx context.Context, account, id string, t time.Time) error {
	_, err := s.exec(ctx, "UPDATE tokens SET last_used = ? WHERE account = ? AND id = ?", millis(t), account, id)
	return err
}
