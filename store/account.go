package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
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
	// Operations are the account's operations in flight, by id, where the
	// store records them (MongoDB: see Operations); OpenOperations counts
	// them, so that the recovery finds the accounts that have some.
	Operations     map[string]*Operation `bson:"ops,omitempty"`
	OpenOperations int                   `bson:"opsOpen,omitempty"`
	// BegunOperations counts the operations ever recorded (MongoDB): a
	// recount applies only if none began since it read the account.
	BegunOperations int `bson:"opsBegun,omitempty"`
}

// NewAccount checks a new account's name and seats and returns the
// account to store.
func NewAccount(name string, seats int) (*Account, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, failure.InvalidValue("an account needs a name")
	}
	if err := CheckSeats(seats); err != nil {
		return nil, err
	}
	return &Account{ID: NewID(), Name: name, NameLower: AccountNameKey(name), Seats: seats, Created: Now()}, nil
}

// EnsureAccount returns the account with the given name, creating it if
// it does not exist (the bootstrap account: idempotent across restarts and
// concurrent calls).
func EnsureAccount(ctx context.Context, s Accounts, name string, seats int) (*Account, error) {
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

// AccountNameKey is the form account names are unique and looked up in.
func AccountNameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CheckSeats checks a number of seats.
func CheckSeats(seats int) error {
	if seats < 0 {
		return failure.InvalidValue("seats must be 0 (unlimited) or more, got %d", seats)
	}
	return nil
}

// AccountNotFound is the failure of an account that does not exist.
func AccountNotFound(what string) error { return failure.NotFoundf("no account %q", what) }

// DuplicateAccount is the failure of an account name already taken.
func DuplicateAccount(name string) error {
	return failure.Uniqueness("an account named %q already exists", strings.TrimSpace(name))
}

// SeatLimitReached is the failure of a write that needs more seats than
// the account has free.
func SeatLimitReached(a *Account) error {
	return failure.Forbiddenf("seat limit reached: %d of %d seats in use; add seats to the account, deactivate a user or make them a guest", a.SeatsUsed, a.Seats)
}

// Token is a SCIM bearer token of one account. Only a hash of the secret is
// stored; the secret is shown once, when the token is created.
type Token struct {
	ID      string    `bson:"_id"`
	Account string    `bson:"account"`
	Name    string    `bson:"name"`
	Hash    string    `bson:"hash"`
	Created time.Time `bson:"created"`
	// CreatedBy is who made the token, as people read it: the console
	// administrator's email, CreatorBootstrap or CreatorCLI (empty for
	// tokens made before it was recorded). CreatorSubject is the console
	// administrator's identity at the sign-in provider ("issuer subject"),
	// which an email alone is not.
	CreatedBy      string `bson:"createdBy,omitempty"`
	CreatorSubject string `bson:"creatorSubject,omitempty"`
	// Expires is when the token stops working (zero: never).
	Expires time.Time `bson:"expires,omitempty"`
	// LastUsed is when a request last authenticated with the token
	// (recorded at most once a minute; zero: never).
	LastUsed time.Time `bson:"lastUsed,omitempty"`
	// Revoked is when the token was revoked (zero: it is not), RevokedBy
	// who revoked it. A revoked token keeps its hash, so that its secret
	// can never become a token again (see PutToken).
	Revoked   time.Time `bson:"revoked,omitempty"`
	RevokedBy string    `bson:"revokedBy,omitempty"`
}

// Who made a token when no administrator did (Token.CreatedBy).
const (
	CreatorBootstrap = "bootstrap (SCIM_BOOTSTRAP_TOKEN)"
	CreatorCLI       = "CLI"
)

// RevokedByReplacement is Token.RevokedBy of a bootstrap token whose
// secret SCIM_BOOTSTRAP_TOKEN replaced.
const RevokedByReplacement = "replaced (SCIM_BOOTSTRAP_TOKEN changed)"

// TokenSpec is what a new token is made with.
type TokenSpec struct {
	Name                      string
	CreatedBy, CreatorSubject string
	Expires                   time.Time // zero: never
}

// tokenPrefix marks the server's secrets so that secret scanners and people
// recognise them.
const tokenPrefix = "tcscim_"

// NewToken returns a new token of the account and its secret.
func NewToken(accountID string, spec TokenSpec) (string, *Token, error) {
	now := Now()
	if !spec.Expires.IsZero() && !spec.Expires.After(now) {
		return "", nil, failure.InvalidValue("a token's expiry must be in the future, got %s", spec.Expires.UTC().Format(time.RFC3339))
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", nil, err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
	return secret, &Token{
		ID: NewID(), Account: accountID, Name: strings.TrimSpace(spec.Name), Hash: HashSecret(secret), Created: now,
		CreatedBy: spec.CreatedBy, CreatorSubject: spec.CreatorSubject, Expires: Millis(spec.Expires),
	}, nil
}

// Usable says whether a stored token may authenticate a request at t: a
// revoked one never, an expired one no more (both answer 401).
func (t *Token) Usable(now time.Time) error {
	switch {
	case !t.Revoked.IsZero():
		return ErrTokenInvalid
	case !t.Expires.IsZero() && !now.Before(t.Expires):
		return ErrTokenExpired
	}
	return nil
}

// Active reports whether the token is not revoked (it may have expired).
func (t *Token) Active() bool { return t.Revoked.IsZero() }

// ParseTokenExpiry reads when a new token expires, as an administrator
// writes it: a date (2027-01-31, the token works through that day, UTC)
// or a number of days from now (90d); empty is never. An expiry more than
// MaxTokenYears away is refused: it is a typo, or meant as never (which
// is empty), and a number of days that large would overflow a duration
// (213504d came out as today).
func ParseTokenExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	limit := now.AddDate(MaxTokenYears, 0, 0)
	tooFar := func() error {
		return failure.InvalidValue("the expiry %q is more than %d years away (at most %dd, or a date until %s); leave it out for a token that does not expire",
			s, MaxTokenYears, maxTokenDays, limit.UTC().Format(time.DateOnly))
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if errors.Is(err, strconv.ErrRange) || err == nil && days > maxTokenDays {
			return time.Time{}, tooFar()
		}
		if err != nil || days <= 0 {
			return time.Time{}, failure.InvalidValue("the expiry %q must be a positive number of days such as 90d, or a date such as 2027-01-31", s)
		}
		return now.Add(time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, failure.InvalidValue("the expiry %q must be a date such as 2027-01-31, or a number of days such as 90d", s)
	}
	end := d.AddDate(0, 0, 1) // the token works through the day it names
	if !end.After(now) {
		return time.Time{}, failure.InvalidValue("the expiry %s is in the past", s)
	}
	if end.After(limit.AddDate(0, 0, 1)) {
		return time.Time{}, tooFar()
	}
	return end, nil
}

// MaxTokenYears bounds how far away a token's expiry may be.
const MaxTokenYears = 10

// maxTokenDays is MaxTokenYears in days, as "--expires Nd" counts them.
const maxTokenDays = MaxTokenYears * 365

// HashSecret hashes a high-entropy secret (a token). SHA-256 suffices for
// random 256-bit secrets (no dictionary to guess from) and keeps lookups
// by hash.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ErrSeatsBusy: RecountSeats did not set the counter because operations
// were in flight in the account (they hold seats a count does not see, or
// moved seats while it counted); try again later.
var ErrSeatsBusy = errors.New("operations are in flight in the account, so its seats were not recounted; try again when it is quieter")

// Token failures.
var (
	ErrTokenMissing = failure.Unauthorizedf("a bearer token is required")
	ErrTokenInvalid = failure.Unauthorizedf("the bearer token is not valid")
	ErrEmptyToken   = failure.InvalidValue("the token is empty")
	ErrTokenReused  = failure.Uniqueness("this secret is already a token of another account; choose another one")
	ErrTokenExpired = failure.Unauthorizedf("the bearer token has expired; ask an administrator of the account for a new one")
	// ErrTokenRevoked: PutToken was given the secret of a revoked token.
	ErrTokenRevoked = failure.Forbiddenf("this secret belongs to a revoked token, and a revoked secret never works again; choose a new one")
)

// TokenNotFound is the failure of revoking a token the account lacks.
func TokenNotFound(accountID, tokenID string) error {
	return failure.NotFoundf("account %s has no token %q", accountID, tokenID)
}
