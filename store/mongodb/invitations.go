package mongodb

// Invitations and their delivery.
//
// A user's invitation state (status, times, the SHA-256 hash of the accept
// token) lives in the user document's "inv" field, next to the password
// hash and outside the SCIM attributes. The email that carries the token
// goes through an outbox: a separate collection "outbox", one entry per
// invitation.
//
// Why a separate collection and not an entry inside the user document:
// every write of a user (PUT, PATCH, the recomputation of users a group
// change affects) replaces the whole user document on condition of its
// version. A delivery worker marking an embedded entry claimed or sent
// would either have to bump the version (giving clients spurious 412s
// and ETag changes for nothing they can see) or be overwritten by the
// next user write that read the document before it (and send the email
// again). A separate collection keeps the two writers apart.
//
// "Written together" without transactions: the directory writes the
// outbox entry first, with the invitation's id as its _id, then the user
// document that names that invitation id. A crash in between leaves an
// entry no user document names: the worker checks every entry against the
// user's current invitation (id, status, expiry) before sending, and
// discards entries that do not match once they are older than a grace
// period (a younger one may belong to a user write still in flight). A
// crash after the user write leaves a pending entry, which the worker
// delivers. So an email is never lost, and an invitation gets at most one
// email: entries are claimed by a conditional update (a lease) before
// sending, and marked sent after the SMTP server accepted the message.
// The one window left is a crash between the SMTP server's acceptance and
// the mark: the lease then runs out and the email is sent again, with the
// same Message-ID (the outbox id), which mail systems use to drop
// duplicates.

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

const (
	collOutbox   = "outbox"
	collSettings = "settings"
)

// UserByInvitationHash returns the user (of any account) whose current
// invitation has the token hash.
func (s *Store) UserByInvitationHash(ctx context.Context, hash string) (*store.Resource, error) {
	var d document
	err := s.coll(schemas.User).FindOne(ctx, bson.M{"inv.hash": hash}, options.FindOne().SetProjection(bson.M{"n": 0})).Decode(&d)
	if err != nil {
		if isNotFound(err) {
			return nil, failure.NotFoundf("no invitation with this token")
		}
		return nil, err
	}
	return fromDocument(schemas.User, &d), nil
}

// PendingInvitationsExpiredBy returns up to limit users whose invitation
// is still stored as pending but expired before t.
func (s *Store) PendingInvitationsExpiredBy(ctx context.Context, t time.Time, limit int) ([]store.UserRef, error) {
	cur, err := s.coll(schemas.User).Find(ctx,
		bson.M{"inv.status": store.InvitationPending, "inv.expiresAt": bson.M{"$lte": t}},
		// A negative limit: one reply (see findFew).
		options.Find().SetProjection(bson.M{"_id": 1, "account": 1}).SetLimit(-int64(limit)).SetBatchSize(int32(limit)))
	if err != nil {
		return nil, err
	}
	var out []store.UserRef
	return out, cur.All(ctx, &out)
}

// SetInvitations turns an account's invitation emails on or off (the
// default for new users).
func (s *Store) SetInvitations(ctx context.Context, accountID string, on bool) error {
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.db.Collection(collAccounts).UpdateOne(ctx, bson.M{"_id": accountID}, bson.M{"$set": bson.M{"invitationsOff": !on}})
	if err == nil && res.MatchedCount == 0 {
		return failure.NotFoundf("no account %q", accountID)
	}
	return err
}

func (s *Store) outbox() *mongo.Collection { return s.db.Collection(collOutbox) }

// AddOutbox stores a new pending outbox entry, due at once.
func (s *Store) AddOutbox(ctx context.Context, e *store.OutboxEntry) error {
	if err := s.guardWrite(ctx); err != nil {
		return err
	}
	t := store.Now()
	e.State, e.Created, e.Due = store.OutboxPending, t, t
	_, err := s.outbox().InsertOne(ctx, e)
	return err
}

// AddOutboxMany stores the entries of a batch of new users in one insert
// (before the users, like AddOutbox).
func (s *Store) AddOutboxMany(ctx context.Context, es []*store.OutboxEntry) error {
	if len(es) == 0 {
		return nil
	}
	if err := s.guardWrite(ctx); err != nil {
		return err
	}
	t := store.Now()
	docs := make([]any, len(es))
	for i, e := range es {
		e.State, e.Created, e.Due = store.OutboxPending, t, t
		docs[i] = e
	}
	_, err := s.outbox().InsertMany(ctx, docs)
	return err
}

// DeleteOutboxMany removes entries whose writes failed.
func (s *Store) DeleteOutboxMany(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	unlock := s.lockWrites()
	defer unlock()
	_, err := s.outbox().DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}})
	return err
}

// DeleteOutbox removes an entry (a write it was made for failed).
func (s *Store) DeleteOutbox(ctx context.Context, id string) error {
	unlock := s.lockWrites()
	defer unlock()
	_, err := s.outbox().DeleteOne(ctx, bson.M{"_id": id})
	return err
}

// OutboxEntryByID returns an entry.
func (s *Store) OutboxEntryByID(ctx context.Context, id string) (*store.OutboxEntry, error) {
	var e store.OutboxEntry
	if err := s.outbox().FindOne(ctx, bson.M{"_id": id}).Decode(&e); err != nil {
		if isNotFound(err) {
			return nil, failure.NotFoundf("no outbox entry %q", id)
		}
		return nil, err
	}
	return &e, nil
}

// claimable selects pending entries that are due and not leased (or whose
// lease ran out: a worker that crashed while sending).
func claimable(t time.Time) bson.M {
	return bson.M{
		"state": store.OutboxPending,
		"due":   bson.M{"$lte": t},
		"$or": bson.A{
			bson.M{"claimedUntil": bson.M{"$exists": false}},
			bson.M{"claimedUntil": bson.M{"$lte": t}},
		},
	}
}

// DueOutbox returns up to limit entries that are due and not leased, those
// waiting longest first: one query, from which the worker claims them one
// by one (ClaimOutbox). A query per claim would read the whole queue for
// each email — on the embedded database, where every query scans, a Bulk
// import's thousands of invitations would take hours to send.
func (s *Store) DueOutbox(ctx context.Context, limit int) ([]*store.OutboxEntry, error) {
	cur, err := s.outbox().Find(ctx, claimable(store.Now()), options.Find().SetSort(bson.D{{Key: "due", Value: 1}}).SetLimit(-int64(limit)).SetBatchSize(int32(limit)))
	if err != nil {
		return nil, err
	}
	var out []*store.OutboxEntry
	return out, cur.All(ctx, &out)
}

// ClaimOutbox leases an entry (from DueOutbox) to the worker for the lease
// duration, unless another worker claimed it meanwhile; it reports whether
// it did. The lease is a conditional update, so two workers (two server
// instances) never hold one entry at once.
func (s *Store) ClaimOutbox(ctx context.Context, e *store.OutboxEntry, worker string, lease time.Duration) (bool, error) {
	t := store.Now()
	until := t.Add(lease)
	ok, err := s.updateOutboxIf(ctx, e.ID, claimable(t),
		bson.M{"$set": bson.M{"claimedBy": worker, "claimedUntil": until}})
	if ok {
		e.ClaimedBy, e.ClaimedUntil = worker, until
	}
	return ok, err
}

// updateOutboxIf updates an entry if it still meets the condition, and
// reports whether it did. The write lock keeps FerretDB's
// read-modify-write update from letting two workers both succeed.
func (s *Store) updateOutboxIf(ctx context.Context, id string, cond bson.M, update bson.M) (bool, error) {
	q := bson.M{"_id": id}
	for k, v := range cond {
		q[k] = v
	}
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.outbox().UpdateOne(ctx, q, update)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// finishOutbox updates an entry the worker holds, and releases the lease.
func (s *Store) finishOutbox(ctx context.Context, e *store.OutboxEntry, set bson.M, unset bson.M) error {
	upd := bson.M{"$set": set}
	if unset == nil {
		unset = bson.M{}
	}
	unset["claimedBy"], unset["claimedUntil"] = "", ""
	upd["$unset"] = unset
	ok, err := s.updateOutboxIf(ctx, e.ID, bson.M{"state": store.OutboxPending, "claimedBy": e.ClaimedBy}, upd)
	if err != nil {
		return err
	}
	if !ok {
		return store.ErrNotClaimed
	}
	return nil
}

// MarkOutboxSent records that the email was sent and erases the token.
func (s *Store) MarkOutboxSent(ctx context.Context, e *store.OutboxEntry) error {
	t := store.Now()
	return s.finishOutbox(ctx, e, bson.M{"state": store.OutboxSent, "sentAt": t, "finished": t, "attempts": e.Attempts + 1}, bson.M{"token": "", "lastError": ""})
}

// DiscardOutbox ends an entry without sending (its invitation was
// replaced, revoked, accepted or has expired, or was never written), and
// erases the token.
func (s *Store) DiscardOutbox(ctx context.Context, e *store.OutboxEntry, reason string) error {
	return s.finishOutbox(ctx, e, bson.M{"state": store.OutboxDiscarded, "lastError": reason, "finished": store.Now()}, bson.M{"token": ""})
}

// FailOutbox gives up on an entry that cannot be delivered (no address).
func (s *Store) FailOutbox(ctx context.Context, e *store.OutboxEntry, reason string) error {
	return s.finishOutbox(ctx, e, bson.M{"state": store.OutboxFailed, "lastError": reason, "attempts": e.Attempts + 1, "finished": store.Now()}, bson.M{"token": ""})
}

// RetryOutbox records a failed attempt and makes the entry due again at t.
func (s *Store) RetryOutbox(ctx context.Context, e *store.OutboxEntry, t time.Time, reason string) error {
	return s.finishOutbox(ctx, e, bson.M{"due": t.UTC().Truncate(time.Millisecond), "attempts": e.Attempts + 1, "lastError": reason}, nil)
}

// DeferOutbox makes the entry due again at t without counting an attempt
// (its user document is not written yet).
func (s *Store) DeferOutbox(ctx context.Context, e *store.OutboxEntry, t time.Time) error {
	return s.finishOutbox(ctx, e, bson.M{"due": t.UTC().Truncate(time.Millisecond)}, nil)
}

// VoidOutbox discards an entry that is still pending and not being sent
// (best effort, when its invitation is revoked or replaced); the worker
// would discard it anyway.
func (s *Store) VoidOutbox(ctx context.Context, id, reason string) error {
	t := store.Now()
	filter := bson.M{
		"state": store.OutboxPending,
		"$or": bson.A{
			bson.M{"claimedUntil": bson.M{"$exists": false}},
			bson.M{"claimedUntil": bson.M{"$lte": t}},
		},
	}
	_, err := s.updateOutboxIf(ctx, id, filter, bson.M{"$set": bson.M{"state": store.OutboxDiscarded, "lastError": reason, "finished": t}, "$unset": bson.M{"token": ""}})
	return err
}

// PurgeOutbox deletes the entries that left the queue before t (they hold
// no token any more): the queue stays small, so reading what is due stays
// cheap. It returns how many it deleted.
func (s *Store) PurgeOutbox(ctx context.Context, t time.Time) (int, error) {
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.outbox().DeleteMany(ctx, bson.M{"state": bson.M{"$ne": store.OutboxPending}, "finished": bson.M{"$lte": t}})
	if err != nil {
		return 0, err
	}
	return int(res.DeletedCount), nil
}

// Secret returns the server-wide secret with the given name, creating a
// random one (32 bytes) the first time. All server instances on one
// database share it (the accept page's form tokens need that).
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	type doc struct {
		ID    string `bson:"_id"`
		Value []byte `bson:"value"`
	}
	coll := s.db.Collection(collSettings)
	for attempt := 0; attempt < 3; attempt++ {
		var d doc
		err := coll.FindOne(ctx, bson.M{"_id": "secret:" + name}).Decode(&d)
		if err == nil {
			return d.Value, nil
		}
		if !isNotFound(err) {
			return nil, err
		}
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		if _, err := coll.InsertOne(ctx, doc{ID: "secret:" + name, Value: buf}); err != nil && !isDuplicateKey(err) {
			return nil, err
		}
	}
	return nil, errors.New("store: could not create secret " + name)
}

// OutboxDepth counts the entries still to send.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	return s.count(ctx, s.outbox(), bson.D{{Key: "state", Value: store.OutboxPending}})
}
