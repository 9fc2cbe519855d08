package mongodb

// Admin console sessions and the activity log. A session is read, updated
// and deleted by its id (the hash of its cookie's secret); an account's
// activity is read newest first, narrowed by equalities, each query
// covered by an index of sessionIndexes or activityIndexes.

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/store"
)

const (
	collSessions = "sessions"
	collActivity = "activity"
)

func sessionIndexes() []Index {
	return []Index{
		{Collection: collSessions, Keys: bson.D{{Key: "account", Value: 1}, {Key: "expires", Value: 1}}},
	}
}

func activityIndexes() []Index {
	at := bson.E{Key: "at", Value: -1}
	return []Index{
		{Collection: collActivity, Keys: bson.D{{Key: "account", Value: 1}, at}},
		{Collection: collActivity, Keys: bson.D{{Key: "account", Value: 1}, {Key: "outcome", Value: 1}, at}},
		{Collection: collActivity, Keys: bson.D{{Key: "account", Value: 1}, {Key: "actor", Value: 1}, at}},
		{Collection: collActivity, Keys: bson.D{{Key: "account", Value: 1}, {Key: "resourceType", Value: 1}, at}},
	}
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	if err := store.CheckNewSession(sess); err != nil {
		return err
	}
	_, err := s.db.Collection(collSessions).InsertOne(ctx, sess)
	return err
}

// Session returns the session with the id.
func (s *Store) Session(ctx context.Context, id string) (*store.Session, error) {
	var sess store.Session
	if err := s.db.Collection(collSessions).FindOne(ctx, bson.M{"_id": id}).Decode(&sess); err != nil {
		if isNotFound(err) {
			return nil, store.SessionNotFound
		}
		return nil, err
	}
	return &sess, nil
}

// SaveSession writes a session over the stored one.
func (s *Store) SaveSession(ctx context.Context, sess *store.Session) error {
	res, err := s.db.Collection(collSessions).ReplaceOne(ctx, bson.M{"_id": sess.ID}, sess)
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return store.SessionNotFound
	}
	return nil
}

// TouchSession writes a session's last use and expiry only.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	unlock := s.lockWrites() // FerretDB's update rewrites the document
	defer unlock()
	_, err := s.db.Collection(collSessions).UpdateOne(ctx, bson.M{"_id": id},
		bson.M{"$set": bson.M{"lastSeen": store.Millis(lastSeen), "expires": store.Millis(expires)}})
	return err
}

// SwapReauth sets the session's re-authentication time to to if it is
// from: one conditional update (a zero time is no field, as SaveSession
// writes it).
func (s *Store) SwapReauth(ctx context.Context, id string, from, to time.Time) (bool, error) {
	filter := bson.M{"_id": id, "reauthAt": store.Millis(from)}
	if from.IsZero() {
		filter["reauthAt"] = bson.M{"$exists": false}
	}
	update := bson.M{"$set": bson.M{"reauthAt": store.Millis(to)}}
	if to.IsZero() {
		update = bson.M{"$unset": bson.M{"reauthAt": ""}}
	}
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.db.Collection(collSessions).UpdateOne(ctx, filter, update)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// DeleteSession removes a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	_, err := s.db.Collection(collSessions).DeleteOne(ctx, bson.M{"_id": id})
	return err
}

// PurgeSessions deletes the account's sessions that expired before t.
func (s *Store) PurgeSessions(ctx context.Context, account string, t time.Time) (int, error) {
	res, err := s.db.Collection(collSessions).DeleteMany(ctx, bson.D{{Key: "account", Value: account}, {Key: "expires", Value: bson.M{"$lt": t}}})
	if err != nil {
		return 0, err
	}
	return int(res.DeletedCount), nil
}

// AddActivity stores entries in one insert.
func (s *Store) AddActivity(ctx context.Context, entries ...*store.ActivityEntry) error {
	if len(entries) == 0 {
		return nil
	}
	store.PrepareActivity(entries)
	docs := make([]any, len(entries))
	for i, e := range entries {
		docs[i] = e
	}
	_, err := s.db.Collection(collActivity).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	return err
}

// Activity returns a page of an account's entries, newest first.
func (s *Store) Activity(ctx context.Context, q store.ActivityQuery) ([]*store.ActivityEntry, bool, error) {
	where := bson.D{{Key: "account", Value: q.Account}}
	for _, f := range []struct{ key, value string }{{"outcome", q.Outcome}, {"actor", q.Actor}, {"resourceType", q.ResourceType}} {
		if f.value != "" {
			where = append(where, bson.E{Key: f.key, Value: f.value})
		}
	}
	limit := q.PageSize()
	opts := options.Find().SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).
		SetSkip(int64(max(q.Skip, 0))).SetLimit(int64(limit + 1))
	cur, err := s.db.Collection(collActivity).Find(ctx, where, opts)
	if err != nil {
		return nil, false, err
	}
	var out []*store.ActivityEntry
	if err := cur.All(ctx, &out); err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// PurgeActivity deletes the account's entries older than t.
func (s *Store) PurgeActivity(ctx context.Context, account string, t time.Time) (int, error) {
	res, err := s.db.Collection(collActivity).DeleteMany(ctx, bson.D{{Key: "account", Value: account}, {Key: "at", Value: bson.M{"$lt": t}}})
	if err != nil {
		return 0, err
	}
	return int(res.DeletedCount), nil
}
