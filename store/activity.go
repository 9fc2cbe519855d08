package store

// The activity log of an account: every change made through SCIM (by which
// token) or the admin console (by which administrator), and every request
// the SCIM API refused, with its error detail. It is what an administrator
// reads first when Entra ID or Okta reports a provisioning failure.
// Entries never hold secret values: attribute names only, never values.
//
// Queries: an account's entries, newest first, optionally narrowed by one
// or more equalities (outcome, actor, resource type); old entries are
// purged per account. Each is an equality on top-level fields with the
// account first, covered by an index activityIndexes declares.

import (
	"context"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const collActivity = "activity"

// Actor kinds.
const (
	ActorToken = "token" // a SCIM client, by its token
	ActorAdmin = "admin" // an administrator in the console
)

// Outcomes of an activity entry.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused" // the server answered with an error
)

// Actor is who made a change.
type Actor struct {
	Kind string `bson:"actorKind"` // ActorToken or ActorAdmin
	// ID is the token's id or the administrator's user id.
	ID string `bson:"actorId,omitempty"`
	// Name is the token's name or the administrator's email.
	Name string `bson:"actor"`
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

func activityIndexes() []index {
	at := bson.E{Key: "at", Value: -1}
	return []index{
		{collActivity, bson.D{{Key: "account", Value: 1}, at}, false},
		{collActivity, bson.D{{Key: "account", Value: 1}, {Key: "outcome", Value: 1}, at}, false},
		{collActivity, bson.D{{Key: "account", Value: 1}, {Key: "actor", Value: 1}, at}, false},
		{collActivity, bson.D{{Key: "account", Value: 1}, {Key: "resourceType", Value: 1}, at}, false},
	}
}

// AddActivity stores entries (in one insert). Entries without an id or a
// time get one; entries of one instant list in the order they were added.
func (s *Store) AddActivity(ctx context.Context, entries ...*ActivityEntry) error {
	if len(entries) == 0 {
		return nil
	}
	t := now()
	docs := make([]any, len(entries))
	for i, e := range entries {
		if e.ID == "" {
			// Version 7 UUIDs grow with time (and within this process
			// with each call), so entries of one instant keep their order.
			e.ID = uuid.Must(uuid.NewV7()).String()
		}
		if e.At.IsZero() {
			e.At = t
		}
		e.At = e.At.UTC().Truncate(time.Millisecond)
		docs[i] = e
	}
	_, err := s.db.Collection(collActivity).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	return err
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

// Activity returns a page of entries and whether more follow.
func (s *Store) Activity(ctx context.Context, q ActivityQuery) ([]*ActivityEntry, bool, error) {
	where := bson.D{{Key: "account", Value: q.Account}}
	for _, f := range []struct{ key, value string }{{"outcome", q.Outcome}, {"actor", q.Actor}, {"resourceType", q.ResourceType}} {
		if f.value != "" {
			where = append(where, bson.E{Key: f.key, Value: f.value})
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	opts := options.Find().SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).
		SetSkip(int64(max(q.Skip, 0))).SetLimit(int64(limit + 1))
	cur, err := s.db.Collection(collActivity).Find(ctx, where, opts)
	if err != nil {
		return nil, false, err
	}
	var out []*ActivityEntry
	if err := cur.All(ctx, &out); err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// PurgeActivity deletes the account's entries older than t and returns how
// many.
func (s *Store) PurgeActivity(ctx context.Context, account string, t time.Time) (int, error) {
	res, err := s.db.Collection(collActivity).DeleteMany(ctx, bson.D{{Key: "account", Value: account}, {Key: "at", Value: bson.M{"$lt": t}}})
	if err != nil {
		return 0, err
	}
	return int(res.DeletedCount), nil
}
