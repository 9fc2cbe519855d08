package mongodb

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// setting is a document of the settings collection.
type setting struct {
	ID    string `bson:"_id"`
	Value []byte `bson:"value"`
}

// Export calls emit with every record, collection by collection. MongoDB
// gives no snapshot across collections without transactions: copy from a
// server nobody writes to (stop the server first).
//
// The resources and memberships are read account by account ({account}
// sorted by _id, which the index {account, _id} serves): on a sharded
// cluster each read goes to one shard.
func (s *Store) Export(ctx context.Context, emit func(store.Record) error) error {
	accounts, err := s.accountIDs(ctx)
	if err != nil {
		return err
	}
	read := func(coll string, q bson.D, decode func(*mongo.Cursor) (store.Record, error)) error {
		cur, err := s.db.Collection(coll).Find(ctx, q, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			rec, err := decode(cur)
			if err != nil {
				return fmt.Errorf("%s: %w", coll, err)
			}
			if err := emit(rec); err != nil {
				return err
			}
		}
		return cur.Err()
	}
	scoped := map[string]bool{}
	for _, c := range ScopedCollections() {
		scoped[c] = true
	}
	each := func(coll string, decode func(*mongo.Cursor) (store.Record, error)) error {
		if !scoped[coll] {
			return read(coll, bson.D{}, decode)
		}
		for _, a := range accounts {
			if err := read(coll, bson.D{{Key: "account", Value: a}}, decode); err != nil {
				return err
			}
		}
		return nil
	}
	if err := each(collAccounts, func(cur *mongo.Cursor) (store.Record, error) {
		var a store.Account
		err := cur.Decode(&a)
		return store.Record{Account: &a}, err
	}); err != nil {
		return err
	}
	if err := each(collTokens, func(cur *mongo.Cursor) (store.Record, error) {
		var t store.Token
		err := cur.Decode(&t)
		return store.Record{Token: &t}, err
	}); err != nil {
		return err
	}
	for _, rt := range schemas.ResourceTypes() {
		if err := each(kindOf(rt).collection, func(cur *mongo.Cursor) (store.Record, error) {
			var d document
			if err := cur.Decode(&d); err != nil {
				return store.Record{}, err
			}
			return store.Record{Resource: fromDocument(rt, &d)}, nil
		}); err != nil {
			return err
		}
	}
	if err := each(collMemberships, func(cur *mongo.Cursor) (store.Record, error) {
		var m membership
		err := cur.Decode(&m)
		return store.Record{Membership: &store.Membership{Account: m.Account, Group: m.Group, Member: m.Member}}, err
	}); err != nil {
		return err
	}
	if err := each(collOutbox, func(cur *mongo.Cursor) (store.Record, error) {
		var e store.OutboxEntry
		err := cur.Decode(&e)
		return store.Record{Outbox: &e}, err
	}); err != nil {
		return err
	}
	if err := each(collActivity, func(cur *mongo.Cursor) (store.Record, error) {
		var e store.ActivityEntry
		err := cur.Decode(&e)
		return store.Record{Activity: &e}, err
	}); err != nil {
		return err
	}
	if err := each(collBindings, func(cur *mongo.Cursor) (store.Record, error) {
		var d bindingDoc
		err := cur.Decode(&d)
		return store.Record{Binding: &d.Binding}, err
	}); err != nil {
		return err
	}
	return each(collSettings, func(cur *mongo.Cursor) (store.Record, error) {
		var d setting
		err := cur.Decode(&d)
		return store.Record{Setting: &store.Setting{Name: d.ID, Value: d.Value}}, err
	})
}

// Import stores records exactly as given: one insert per collection.
func (s *Store) Import(ctx context.Context, recs []store.Record) error {
	docs := map[string][]any{}
	var order []string
	add := func(coll string, doc any) {
		if _, ok := docs[coll]; !ok {
			order = append(order, coll)
		}
		docs[coll] = append(docs[coll], doc)
	}
	for _, rec := range recs {
		switch {
		case rec.Account != nil:
			add(collAccounts, rec.Account)
		case rec.Token != nil:
			add(collTokens, rec.Token)
		case rec.Resource != nil:
			add(kindOf(rec.Resource.Type).collection, toDocument(rec.Resource))
		case rec.Membership != nil:
			m := rec.Membership
			add(collMemberships, membership{ID: membershipID(m.Group, m.Member), Account: m.Account, Group: m.Group, Member: m.Member, Type: "User"})
		case rec.Outbox != nil:
			add(collOutbox, rec.Outbox)
		case rec.Activity != nil:
			add(collActivity, rec.Activity)
		case rec.Binding != nil:
			add(collBindings, bindingDoc{ID: bindingID(rec.Binding.Account, rec.Binding.User), Binding: *rec.Binding})
		case rec.Setting != nil:
			add(collSettings, setting{ID: rec.Setting.Name, Value: rec.Setting.Value})
		default:
			return errors.New("an empty record")
		}
	}
	for _, coll := range order {
		if _, err := s.db.Collection(coll).InsertMany(ctx, docs[coll]); err != nil {
			return fmt.Errorf("%s: %w", coll, err)
		}
	}
	return nil
}

// Count counts the records of each kind.
func (s *Store) Count(ctx context.Context) (store.Counts, error) {
	out := store.Counts{}
	colls := map[string]string{"accounts": collAccounts, "tokens": collTokens, "memberships": collMemberships, "outbox": collOutbox, "activity": collActivity, "bindings": collBindings, "settings": collSettings}
	for _, rt := range schemas.ResourceTypes() {
		colls[store.Record{Resource: &store.Resource{Type: rt}}.Kind()] = kindOf(rt).collection
	}
	accounts, err := s.accountIDs(ctx)
	if err != nil {
		return nil, err
	}
	scoped := map[string]bool{}
	for _, c := range ScopedCollections() {
		scoped[c] = true
	}
	for kind, coll := range colls {
		if !scoped[coll] {
			n, err := s.db.Collection(coll).CountDocuments(ctx, bson.D{})
			if err != nil {
				return nil, err
			}
			out[kind] = int(n)
			continue
		}
		// Account by account, as Export reads them.
		out[kind] = 0
		for _, a := range accounts {
			n, err := s.db.Collection(coll).CountDocuments(ctx, bson.D{{Key: "account", Value: a}})
			if err != nil {
				return nil, err
			}
			out[kind] += int(n)
		}
	}
	return out, nil
}

// accountIDs returns the ids of every account.
func (s *Store) accountIDs(ctx context.Context) ([]string, error) {
	accounts, err := s.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(accounts))
	for i, a := range accounts {
		ids[i] = a.ID
	}
	return ids, nil
}
