// Package store defines what the server keeps — accounts, tokens, SCIM
// resources, group memberships, invitations and their outbox — and the
// Store interface every database behind the server implements.
//
// There are two implementations, held to the same conformance suite
// (package storetest), after Dex's storage packages:
//
//   - store/sqlite: the embedded database (SQLite through modernc.org/sqlite,
//     pure Go), the default when no MongoDB URI is configured: one machine,
//     real indexes and transactions.
//   - store/mongodb: MongoDB ≥ 6.0 (and FerretDB 1.24 in tests), for every
//     scale: a replica set, Atlas or a sharded cluster keyed by account.
//
// Every record carries its account id and every account-scoped method takes
// it: nothing of one account is visible from another. Failures a client
// can act on are failure.Error values (not found, uniqueness, seats);
// anything else is an internal error.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// Store is the persistence layer. Implementations are safe for concurrent
// use.
type Store interface {
	Accounts
	Tokens
	Resources
	Memberships
	Seats
	Invitations
	Outbox
	Copying
	Sessions
	Bindings
	ActivityLog
	Consistency
	Operations

	// Atomic runs fn so that the store writes it makes through ctx are
	// applied all together or not at all, where the database can: the
	// embedded store runs fn in one transaction (and may run it again
	// when a concurrent transaction got in the way, so fn must be safe to
	// repeat); MongoDB has no multi-document transactions on every
	// deployment this server supports, so there fn runs as it is and the
	// caller compensates for a failure half-way (see package directory).
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error

	// Secret returns the server-wide secret with the given name, creating
	// a random one (32 bytes) the first time. All server instances on one
	// database share it.
	Secret(ctx context.Context, name string) ([]byte, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close(ctx context.Context) error
}

// Accounts keeps the tenants.
type Accounts interface {
	// CreateAccount adds an account. Names are unique, compared without
	// regard to case.
	CreateAccount(ctx context.Context, name string, seats int) (*Account, error)
	Account(ctx context.Context, id string) (*Account, error)
	AccountByName(ctx context.Context, name string) (*Account, error)
	// Accounts lists every account by name.
	Accounts(ctx context.Context) ([]Account, error)
	// SetInvitations turns an account's invitation emails on or off (the
	// default for new users).
	SetInvitations(ctx context.Context, accountID string, on bool) error
}

// Tokens keeps the SCIM bearer tokens: a token belongs to one account,
// and only a hash of its secret is stored. A revocation is permanent: a
// revoked token keeps its hash, and no method makes its secret a token
// again.
type Tokens interface {
	// CreateToken adds a token to an account and returns its secret,
	// which is not stored and cannot be shown again.
	CreateToken(ctx context.Context, accountID string, spec TokenSpec) (string, *Token, error)
	// PutToken makes secret the account's token called name (the
	// bootstrap token; CreatedBy is CreatorBootstrap). An earlier secret
	// under that name is revoked (RevokedByReplacement). The secret of a
	// revoked token is refused with ErrTokenRevoked, one of another
	// token with ErrTokenReused.
	PutToken(ctx context.Context, accountID, name, secret string) error
	// Tokens lists an account's tokens that are not revoked (without
	// secrets), oldest first.
	Tokens(ctx context.Context, accountID string) ([]Token, error)
	// RevokeToken revokes a token of an account (by says who); it stops
	// working for good: at once in this process, and in other processes on
	// the same database within the time they may remember a token
	// (MongoDB: mongodb.TokenCacheTTL). Revoking one that is revoked is
	// not found.
	RevokeToken(ctx context.Context, accountID, tokenID, by string) error
	// Authenticate returns the token (without its secret) a bearer token
	// secret is, with the id of its account: one lookup, no read of the
	// account (a request reads that once, when it needs more than the
	// id). The embedded store looks tokens up every time; MongoDB
	// remembers one for mongodb.TokenCacheTTL (see RevokeToken). A revoked
	// or expired token is refused (see Token.Usable), also when
	// remembered: its expiry is checked on every request.
	Authenticate(ctx context.Context, secret string) (*Token, error)
	// TouchToken records that the account's token was used at t (callers
	// throttle it: the SCIM layer writes at most once a minute per token).
	TouchToken(ctx context.Context, account, id string, t time.Time) error
}

// Resources keeps the SCIM resources (users, groups, projects).
type Resources interface {
	// Insert stores a new resource at version 1; a taken userName (or
	// group displayName) is a uniqueness failure.
	Insert(ctx context.Context, r *Resource) error
	// InsertMany stores new resources of one type in one go. The result
	// has one entry per resource: nil, or the error that kept it out (a
	// uniqueness conflict); the others are stored.
	InsertMany(ctx context.Context, rs []*Resource) ([]error, error)
	// Get returns a resource of the account.
	Get(ctx context.Context, rt *schemas.ResourceType, account, id string) (*Resource, error)
	// GetMany returns the account's resources with the given ids (those
	// that exist), in no particular order.
	GetMany(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) ([]*Resource, error)
	// Existing returns which of the ids are resources of the account.
	Existing(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) (map[string]bool, error)
	// DisplayNames returns the display name (see DisplayName) of each of
	// the ids that is a resource of the account, for the "display"
	// sub-attribute of references to it.
	DisplayNames(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) (map[string]string, error)
	// All returns every resource of a kind in the account, in creation
	// order. Only for small collections (the group tree).
	All(ctx context.Context, rt *schemas.ResourceType, account string) ([]*Resource, error)
	// Find runs a query (filter, sort, page) in the database.
	Find(ctx context.Context, rt *schemas.ResourceType, account string, q Query) (*Page, error)
	// Replace writes r over the stored resource if that is still at
	// version expect; r.Version and r.Modified are advanced. A resource
	// that changed in between gives ErrVersionMismatch, one that is gone
	// a not-found failure.
	Replace(ctx context.Context, r *Resource, expect int64) error
	// ReplaceMany is Replace for many resources of one type. The result
	// has one entry per resource: nil, ErrVersionMismatch, or another
	// error.
	ReplaceMany(ctx context.Context, rs []*Resource, expect []int64) ([]error, error)
	// Touch advances a resource's version and modification time without
	// changing its attributes, if it is still at version expect.
	Touch(ctx context.Context, rt *schemas.ResourceType, account, id string, expect int64) (int64, time.Time, error)
	// Bump advances a resource's version and modification time whatever
	// its version (what a GET returns changed elsewhere: its memberships)
	// and returns the new version and time.
	Bump(ctx context.Context, rt *schemas.ResourceType, account, id string) (int64, time.Time, error)
	// BumpMany is Bump for many resources of the account at once (those
	// of the ids that exist): the users that joined or left a group, the
	// members of a renamed group. Not one round trip per resource.
	BumpMany(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) error
	// Delete removes a resource if it is still at version expect (0: any).
	Delete(ctx context.Context, rt *schemas.ResourceType, account, id string, expect int64) error
}

// Memberships keeps group memberships: one record per (group, member), so
// that adding one member to a large group never reads the others.
type Memberships interface {
	// AddMembers adds users to a group; members already in it are left
	// as they are. It returns the ids it added (the users whose groups
	// changed), in no particular order.
	AddMembers(ctx context.Context, account, group string, members []string) ([]string, error)
	// RemoveMembers removes users from a group and returns the ids of
	// those that were in it, in no particular order.
	RemoveMembers(ctx context.Context, account, group string, members []string) ([]string, error)
	// ClearMembers removes every member of a group and returns their ids.
	ClearMembers(ctx context.Context, account, group string) ([]string, error)
	// LeaveAllGroups removes a user from every group and returns the ids
	// of the groups it left.
	LeaveAllGroups(ctx context.Context, account, member string) ([]string, error)
	// Members returns the ids of a group's members, sorted.
	Members(ctx context.Context, account, group string) ([]string, error)
	// EachMember calls fn with each member of a group, in the order of
	// their ids, and the member's display name (see DisplayName; empty
	// for a membership whose user is gone), for a GET of the group:
	// members are read in batches, as fn consumes them, so that a group
	// of 100,000 members is never held whole. An error from fn stops it
	// and is returned. A store may answer from memory while the group's
	// version stays the same: whoever changes a group's memberships, or
	// the name of one of its members, advances the group's version (as
	// the directory does, in the same transaction: what a GET returns
	// changed).
	EachMember(ctx context.Context, account, group string, fn func(id, display string) error) error
	// GroupsOf returns the ids of the groups a user is a member of, sorted.
	GroupsOf(ctx context.Context, account, member string) ([]string, error)
	// MembershipsOf returns, for each of the ids on one side, the ids on
	// the other side, sorted: the members of each group (GroupSide) or
	// the groups of each user (MemberSide).
	MembershipsOf(ctx context.Context, account, side string, ids []string) (map[string][]string, error)
}

// Sides of a membership, for MembershipsOf.
const (
	GroupSide  = "group"  // look up by group: its members
	MemberSide = "member" // look up by member: its groups
)

// Seats keeps an account's seat counter and owner.
type Seats interface {
	// ReserveSeats takes n more seats of the account, or refuses (a
	// forbidden failure) when that would exceed its seats. Check and
	// increment are one atomic step. acct is the account as the caller
	// read it: a store that needs its number of seats for the check takes
	// it from there, and reads the account again only when the check
	// fails (the seats may have changed since).
	ReserveSeats(ctx context.Context, acct *Account, n int) error
	// AdjustSeats changes the seats in use by n without a limit check.
	AdjustSeats(ctx context.Context, accountID string, n int) error
	// SeatsInUse counts the account's users that use a seat.
	SeatsInUse(ctx context.Context, accountID string) (int, error)
	// RecountSeats sets the account's seat counter from its users.
	RecountSeats(ctx context.Context, accountID string) (int, error)
	// SetSeats changes the number of seats of an account (0: unlimited).
	// When an unlimited account becomes limited, its seat counter is set
	// from a recount in the same step (the directory keeps no counter for
	// unlimited accounts).
	SetSeats(ctx context.Context, accountID string, seats int) error
	// ClaimOwner makes the user the account's owner if it has none, and
	// reports whether it did.
	ClaimOwner(ctx context.Context, accountID, userID string) (bool, error)
	// ReleaseOwner clears the owner if it is still the user.
	ReleaseOwner(ctx context.Context, accountID, userID string) error
	// SetOwner makes the user the account's owner.
	SetOwner(ctx context.Context, accountID, userID string) error
}

// Invitations finds users by their invitation.
type Invitations interface {
	// UserByInvitationHash returns the user (of any account) whose
	// current invitation has the token hash.
	UserByInvitationHash(ctx context.Context, hash string) (*Resource, error)
	// PendingInvitationsExpiredBy returns up to limit users whose
	// invitation is still stored as pending but expired before t.
	PendingInvitationsExpiredBy(ctx context.Context, t time.Time, limit int) ([]UserRef, error)
}

// Outbox keeps the invitation emails to send (see OutboxEntry).
type Outbox interface {
	// AddOutbox stores a new pending entry, due at once.
	AddOutbox(ctx context.Context, e *OutboxEntry) error
	// AddOutboxMany stores the entries of a batch of new users.
	AddOutboxMany(ctx context.Context, es []*OutboxEntry) error
	// DeleteOutbox removes an entry (the write it was made for failed).
	DeleteOutbox(ctx context.Context, id string) error
	// DeleteOutboxMany removes entries whose writes failed.
	DeleteOutboxMany(ctx context.Context, ids []string) error
	// OutboxEntryByID returns an entry.
	OutboxEntryByID(ctx context.Context, id string) (*OutboxEntry, error)
	// DueOutbox returns up to limit entries that are due and not leased,
	// those waiting longest first.
	DueOutbox(ctx context.Context, limit int) ([]*OutboxEntry, error)
	// ClaimOutbox leases an entry to the worker for the lease duration,
	// unless another worker claimed it meanwhile; it reports whether it
	// did. Two workers never hold one entry at once.
	ClaimOutbox(ctx context.Context, e *OutboxEntry, worker string, lease time.Duration) (bool, error)
	// MarkOutboxSent records that the email was sent and erases the
	// token. It and the other ends of a claim give ErrNotClaimed when
	// the worker no longer holds the entry.
	MarkOutboxSent(ctx context.Context, e *OutboxEntry) error
	// DiscardOutbox ends an entry without sending, erasing the token.
	DiscardOutbox(ctx context.Context, e *OutboxEntry, reason string) error
	// FailOutbox gives up on an entry that cannot be delivered.
	FailOutbox(ctx context.Context, e *OutboxEntry, reason string) error
	// RetryOutbox records a failed attempt and makes the entry due at t.
	RetryOutbox(ctx context.Context, e *OutboxEntry, t time.Time, reason string) error
	// DeferOutbox makes the entry due again at t without counting an
	// attempt.
	DeferOutbox(ctx context.Context, e *OutboxEntry, t time.Time) error
	// VoidOutbox discards an entry that is still pending and not being
	// sent (best effort, when its invitation is revoked or replaced).
	VoidOutbox(ctx context.Context, id, reason string) error
	// PurgeOutbox deletes the entries that left the queue before t and
	// returns how many it deleted.
	PurgeOutbox(ctx context.Context, t time.Time) (int, error)
	// OutboxDepth counts the entries still to send (queued or to be
	// retried), for the metrics.
	OutboxDepth(ctx context.Context) (int, error)
}

// Query selects a page of resources of one account.
type Query struct {
	Filter     filter.Expression // nil: all
	SortBy     string            // attribute path; empty: creation order
	Descending bool
	StartIndex int // 1-based
	Count      int // at most this many resources; 0: only the total
}

// Page is the result of a query.
type Page struct {
	Total     int
	Resources []*Resource
}

// ErrVersionMismatch is returned by conditional writes when the resource
// changed since the version the caller read.
var ErrVersionMismatch = errors.New("store: resource version changed")

// ErrNotClaimed is returned when a worker updates an outbox entry whose
// lease it no longer holds.
var ErrNotClaimed = errors.New("store: outbox entry not claimed by this worker")

// NewID returns a new resource id: a UUID, as SCIM clients expect, of
// version 7 (time-ordered, the rest random), so that new records go to the
// end of the indexes on ids rather than to random pages of them — Bulk
// imports on the embedded store are about 15 % faster for it. Ids are
// never secrets (tokens and invitation links have their own).
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// Now is the stores' clock, at millisecond precision (MongoDB's), so that
// a time read back equals the time written on every store.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// NotFound is the failure of a resource that is not in the account.
func NotFound(rt *schemas.ResourceType, id string) error {
	return failure.NotFoundf("%s %q not found", rt.Name, id)
}
