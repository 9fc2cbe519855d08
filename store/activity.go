package store

// The activity log of an account: every change made through SCIM (by which
// token) or the admin console (by which administrator), and every request
// the SCIM API refused, with its error detail. It is what an administrator
// reads first when Entra ID or Okta reports a provisioning failure.
// Entries never hold secret values: attribute names only, never values.

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// ActivityLog keeps the activity log.
type ActivityLog interface {
	// AddActivity stores entries (see PrepareActivity).
	AddActivity(ctx context.Context, entries ...*ActivityEntry) error
	// Activity returns a page of an account's entries, newest first (ties
	// in the order they were added), and whether more follow.
	Activity(ctx context.Context, q ActivityQuery) ([]*ActivityEntry, bool, error)
	// PurgeActivity deletes the account's entries older than t and
	// returns how many.
	PurgeActivity(ctx context.Context, account string, t time.Time) (int, error)
}

// Actor kinds.
const (
	ActorToken    = "token"    // a SCIM client, by its token
	ActorAdmin    = "admin"    // an administrator in the console
	ActorOperator = "operator" // the server's operator, with the command line (Name: CLI)
)

// Outcomes of an activity entry.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused" // the server answered with an error
)

// Actor is who made a change.
type Actor struct {
	Kind string `bson:"actorKind" json:"kind"` // ActorToken, ActorAdmin or ActorOperator
	// ID is the token's id or the administrator's user id.
	ID string `bson:"actorId,omitempty" json:"id,omitempty"`
	// Name is the token's name, the administrator's email or CLI.
	Name string `bson:"actor" json:"name"`
}

// ActivityEntry is one change or refused request.
type ActivityEntry struct {
	ID      string    `bson:"_id"`
	Account string    `bson:"account"`
	At      time.Time `bson:"at"`
	Actor   `bson:",inline"`
	// ResourceType ("User", "Group", "Project", "Token", or "" for a
	// request that named none), ResourceID and Resource (its userName or
	// displayName, when known).
	ResourceType string `bson:"resourceType"`
	ResourceID   string `bson:"resourceId,omitempty"`
	Resource     string `bson:"resource,omitempty"`
	// Operation: create, replace, patch, delete, or what the console did
	// (invite, resend invitation, set password, …); for SCIM also the
	// request line (Method and Path, without the query).
	Operation string `bson:"operation"`
	Method    string `bson:"method,omitempty"`
	Path      string `bson:"path,omitempty"`
	// Attributes are the names of the attributes the change set or
	// removed: never their values.
	Attributes []string `bson:"attributes,omitempty"`
	Outcome    string   `bson:"outcome"`
	Status     int      `bson:"status,omitempty"` // HTTP status, for SCIM requests
	Detail     string   `bson:"detail,omitempty"` // the error detail of a refusal
	RequestID  string   `bson:"requestId,omitempty"`
}

// ActivityQuery selects a page of an account's activity, newest first.
// Empty fields select everything.
type ActivityQuery struct {
	Account      string
	Outcome      string
	Actor        string // Actor.Name
	ResourceType string
	Skip, Limit  int // Limit 0: 50
}

// PageSize is the query's limit, 50 unless it says otherwise.
func (q ActivityQuery) PageSize() int {
	if q.Limit <= 0 {
		return 50
	}
	return q.Limit
}

// PrepareActivity gives entries without an id or a time one: ids are
// version 7 UUIDs, which grow with time (and within this process with
// each call), so that entries of one instant list in the order they were
// added when sorted by time and then id.
func PrepareActivity(entries []*ActivityEntry) {
	t := Now()
	for _, e := range entries {
		if e.ID == "" {
			e.ID = uuid.Must(uuid.NewV7()).String()
		}
		if e.At.IsZero() {
			e.At = t
		}
		e.At = Millis(e.At)
	}
}
