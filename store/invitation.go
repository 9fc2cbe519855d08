package store

// Invitations and their delivery.
//
// A user's invitation state (status, times, the SHA-256 hash of the accept
// token) is kept with the user (Resource.Invitation), outside the SCIM
// attributes. The email that carries the token goes through an outbox: one
// entry per invitation, kept apart from the user.
//
// Why apart: every write of a user (PUT, PATCH, the recomputation of users
// a group change affects) replaces the whole user on condition of its
// version. A delivery worker marking an entry inside the user claimed or
// sent would either have to bump the version (giving clients spurious
// 412s and ETag changes for nothing they can see) or be overwritten by the
// next user write that read the user before it (and send the email
// again). A separate record keeps the two writers apart.
//
// Written together: the directory writes the outbox entry and then the
// user that names it, inside Store.Atomic. The embedded store makes that
// one transaction. On MongoDB (no transactions) a crash in between leaves
// an entry no user names: the worker checks every entry against the
// user's current invitation (id, status, expiry) before sending, and
// discards entries that do not match once they are older than a grace
// period (a younger one may belong to a user write still in flight). So
// an email is never lost, and an invitation gets at most one email:
// entries are claimed by a conditional update (a lease) before sending,
// and marked sent after the SMTP server accepted the message. The one
// window left is a crash between the SMTP server's acceptance and the
// mark: the lease then runs out and the email is sent again, with the
// same Message-ID (the outbox id), which mail systems use to drop
// duplicates.

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// Invitation statuses, as the invitationStatus attribute shows them.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationExpired  = "expired"
	InvitationRevoked  = "revoked"
	InvitationNone     = "none"
)

// Invitation is a user's invitation state.
type Invitation struct {
	// ID names the current invitation; it is the id of its outbox entry.
	ID string `bson:"id,omitempty" json:"id,omitempty"`
	// Hash is the SHA-256 of the accept token (the token itself is only in
	// the outbox entry until the email is sent, and in the email).
	Hash       string    `bson:"hash,omitempty" json:"hash,omitempty"`
	Status     string    `bson:"status" json:"status"`
	InvitedAt  time.Time `bson:"invitedAt,omitempty" json:"invitedAt,omitzero"`
	ExpiresAt  time.Time `bson:"expiresAt,omitempty" json:"expiresAt,omitzero"`
	AcceptedAt time.Time `bson:"acceptedAt,omitempty" json:"acceptedAt,omitzero"`
	// Resends are the times of recent resends, for the rate limit.
	Resends []time.Time `bson:"resends,omitempty" json:"resends,omitempty"`
}

// Copy returns a deep copy (nil for nil).
func (i *Invitation) Copy() *Invitation {
	if i == nil {
		return nil
	}
	c := *i
	c.Resends = append([]time.Time(nil), i.Resends...)
	return &c
}

// NewInvitationToken returns a new random accept token (256 bits,
// URL-safe) and the hash to store.
func NewInvitationToken() (token, hash string, err error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(buf)
	return token, HashInvitationToken(token), nil
}

// HashInvitationToken returns the stored form of an accept token.
func HashInvitationToken(token string) string { return HashSecret(token) }

// UserRef names a user of an account.
type UserRef struct {
	Account string `bson:"account"`
	ID      string `bson:"_id"`
}

// Outbox entry states.
const (
	OutboxPending   = "pending"
	OutboxSent      = "sent"
	OutboxDiscarded = "discarded"
	OutboxFailed    = "failed"
)

// OutboxEntry is an invitation email waiting to be sent (or the record of
// one that was).
type OutboxEntry struct {
	// ID is the invitation's id (Invitation.ID).
	ID      string `bson:"_id"`
	Account string `bson:"account"`
	User    string `bson:"user"`
	// Token is the accept token the email links to; erased once the email
	// is sent or the entry discarded.
	Token   string    `bson:"token,omitempty"`
	State   string    `bson:"state"`
	Created time.Time `bson:"created"`
	// Due is when the next delivery attempt may start.
	Due      time.Time `bson:"due"`
	Attempts int       `bson:"attempts"`
	// ClaimedBy and ClaimedUntil are the lease of the worker delivering it.
	ClaimedBy    string    `bson:"claimedBy,omitempty"`
	ClaimedUntil time.Time `bson:"claimedUntil,omitempty"`
	SentAt       time.Time `bson:"sentAt,omitempty"`
	LastError    string    `bson:"lastError,omitempty"`
	// Finished is when the entry left the queue (sent, discarded, failed).
	Finished time.Time `bson:"finished,omitempty"`
}

// ClaimableAt reports whether a worker may claim the entry at t: pending,
// due, and not leased (or its lease ran out: a worker that crashed while
// sending).
func (e *OutboxEntry) ClaimableAt(t time.Time) bool {
	return e.State == OutboxPending && !e.Due.After(t) && !e.ClaimedUntil.After(t)
}
