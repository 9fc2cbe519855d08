package mongodb

import (
	"context"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/store"
)

// The reads of the account check (directory.Check).

// Snapshot runs fn as it is: without multi-document transactions there
// is no consistent view of several collections, so the check's reads see
// writes made meanwhile (the check confirms what it finds where it can).
func (s *Store) Snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	return fn(ctx)
}

// AllMemberships returns every membership of the account, sorted by group
// and member (sorted here: FerretDB sorts in memory anyway).
func (s *Store) AllMemberships(ctx context.Context, account string) ([]store.Membership, error) {
	cur, err := s.db.Collection(collMemberships).Find(ctx, bson.M{"account": account},
		options.Find().SetProjection(bson.M{"_id": 0, "group": 1, "member": 1}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	var out []store.Membership
	for cur.Next(ctx) {
		var m struct {
			Group  string `bson:"group"`
			Member string `bson:"member"`
		}
		if err := cur.Decode(&m); err != nil {
			return nil, err
		}
		out = append(out, store.Membership{Group: m.Group, Member: m.Member})
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Member < out[j].Member
	})
	return out, nil
}

// OutboxOf returns every outbox entry of the account, oldest first.
func (s *Store) OutboxOf(ctx context.Context, account string) ([]*store.OutboxEntry, error) {
	cur, err := s.outbox().Find(ctx, bson.M{"account": account})
	if err != nil {
		return nil, err
	}
	var out []*store.OutboxEntry
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}
