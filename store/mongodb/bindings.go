package mongodb

// The console's bindings of administrators to sign-in identities: one
// document per bound user, its _id made of the account and the user (so a
// user is bound once), with a unique index on {account, subject} (so an
// identity is one administrator per account) and one on the subject, for
// the sign-in's lookup across accounts.

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/store"
)

const collBindings = "bindings"

type bindingDoc struct {
	ID            string `bson:"_id"`
	store.Binding `bson:",inline"`
}

func bindingID(account, user string) string { return account + "/" + user }

func bindingIndexes() []Index {
	return []Index{
		{Collection: collBindings, Keys: bson.D{{Key: "account", Value: 1}, {Key: "subject", Value: 1}}, Unique: true},
		{Collection: collBindings, Keys: bson.D{{Key: "subject", Value: 1}}, CrossAccount: true},
	}
}

// Bind stores a binding.
func (s *Store) Bind(ctx context.Context, b *store.Binding) error {
	if err := store.CheckNewBinding(b); err != nil {
		return err
	}
	_, err := s.db.Collection(collBindings).InsertOne(ctx, bindingDoc{ID: bindingID(b.Account, b.User), Binding: *b})
	if isDuplicateKey(err) {
		return store.ErrBound
	}
	return err
}

func (s *Store) findBindings(ctx context.Context, q bson.D) ([]store.Binding, error) {
	cur, err := s.db.Collection(collBindings).Find(ctx, q, options.Find().SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var docs []bindingDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]store.Binding, len(docs))
	for i, d := range docs {
		out[i] = d.Binding
	}
	return out, nil
}

// BindingsOf returns a subject's bindings in every account.
func (s *Store) BindingsOf(ctx context.Context, subject string) ([]store.Binding, error) {
	return s.findBindings(ctx, bson.D{{Key: "subject", Value: subject}})
}

// BindingOfUser returns the binding of an account's user.
func (s *Store) BindingOfUser(ctx context.Context, account, user string) (*store.Binding, error) {
	var d bindingDoc
	if err := s.db.Collection(collBindings).FindOne(ctx, bson.D{{Key: "_id", Value: bindingID(account, user)}}).Decode(&d); err != nil {
		if isNotFound(err) {
			return nil, store.BindingNotFound(account, user)
		}
		return nil, err
	}
	return &d.Binding, nil
}

// AccountBindings lists an account's bindings, oldest first.
func (s *Store) AccountBindings(ctx context.Context, account string) ([]store.Binding, error) {
	return s.findBindings(ctx, bson.D{{Key: "account", Value: account}})
}

// Unbind removes the binding of an account's user.
func (s *Store) Unbind(ctx context.Context, account, user string) error {
	res, err := s.db.Collection(collBindings).DeleteOne(ctx, bson.D{{Key: "_id", Value: bindingID(account, user)}})
	if err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		return store.BindingNotFound(account, user)
	}
	return nil
}
