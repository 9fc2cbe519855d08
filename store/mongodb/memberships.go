package mongodb

import (
	"context"
	"errors"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// membership is one member of one group. Its _id is "group/member", so a
// member is in a group at most once and adding one is a single insert
// however large the group is.
type membership struct {
	ID      string `bson:"_id"`
	Account string `bson:"account"`
	Group   string `bson:"group"`
	Member  string `bson:"member"`
	Type    string `bson:"type"`
}

func membershipID(group, member string) string { return group + "/" + member }

// idChunk bounds the ids sent in one $in query.
const idChunk = 1000

// AddMembers adds users to a group; members already in it are left as they
// are. It returns how many were added.
func (s *Store) AddMembers(ctx context.Context, account, group string, members []string) (int, error) {
	added := 0
	for start := 0; start < len(members); start += idChunk {
		chunk := members[start:min(start+idChunk, len(members))]
		docs := make([]any, len(chunk))
		for i, m := range chunk {
			docs[i] = membership{ID: membershipID(group, m), Account: account, Group: group, Member: m, Type: "User"}
		}
		res, err := s.db.Collection(collMemberships).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if err != nil {
			var bwe mongo.BulkWriteException
			if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
				return added, err
			}
			for _, we := range bwe.WriteErrors {
				if !isDuplicateKey(mongo.WriteException{WriteErrors: []mongo.WriteError{we.WriteError}}) {
					return added, err
				}
			}
			added += len(chunk) - len(bwe.WriteErrors)
			continue
		}
		added += len(res.InsertedIDs)
	}
	return added, nil
}

// RemoveMembers removes users from a group and returns how many were in it.
func (s *Store) RemoveMembers(ctx context.Context, account, group string, members []string) (int, error) {
	removed := 0
	if s.FerretDB && len(members) <= fewIDs {
		// One by one by id: FerretDB serves only {_id: …} quickly (see
		// idFilter); the account is checked by a read.
		coll := s.db.Collection(collMemberships)
		for _, m := range members {
			id := membershipID(group, m)
			var d membership
			err := coll.FindOne(ctx, bson.M{"_id": id}).Decode(&d)
			if isNotFound(err) || (err == nil && d.Account != account) {
				continue
			}
			if err != nil {
				return removed, err
			}
			res, err := coll.DeleteOne(ctx, bson.M{"_id": id})
			if err != nil {
				return removed, err
			}
			removed += int(res.DeletedCount)
		}
		return removed, nil
	}
	for start := 0; start < len(members); start += idChunk {
		chunk := members[start:min(start+idChunk, len(members))]
		ids := make([]string, len(chunk))
		for i, m := range chunk {
			ids[i] = membershipID(group, m)
		}
		res, err := s.db.Collection(collMemberships).DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}, "account": account})
		if err != nil {
			return removed, err
		}
		removed += int(res.DeletedCount)
	}
	return removed, nil
}

// ClearMembers removes every member of a group.
func (s *Store) ClearMembers(ctx context.Context, account, group string) error {
	_, err := s.db.Collection(collMemberships).DeleteMany(ctx, bson.M{"account": account, "group": group})
	return err
}

// LeaveAllGroups removes a user from every group (the user is deleted).
func (s *Store) LeaveAllGroups(ctx context.Context, account, member string) error {
	_, err := s.db.Collection(collMemberships).DeleteMany(ctx, bson.M{"account": account, "member": member})
	return err
}

// Members returns the ids of a group's members.
func (s *Store) Members(ctx context.Context, account, group string) ([]string, error) {
	return s.membershipSide(ctx, bson.M{"account": account, "group": group}, "member")
}

// GroupsOf returns the ids of the groups a user is a member of.
func (s *Store) GroupsOf(ctx context.Context, account, member string) ([]string, error) {
	return s.membershipSide(ctx, bson.M{"account": account, "member": member}, "group")
}

func (s *Store) membershipSide(ctx context.Context, q bson.M, side string) ([]string, error) {
	cur, err := s.db.Collection(collMemberships).Find(ctx, q, options.Find().SetProjection(bson.M{side: 1, "_id": 0}).SetSort(bson.D{{Key: side, Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	out := []string{}
	for cur.Next(ctx) {
		var m membership
		if err := cur.Decode(&m); err != nil {
			return nil, err
		}
		if side == "group" {
			out = append(out, m.Group)
		} else {
			out = append(out, m.Member)
		}
	}
	return out, cur.Err()
}

// withAnyMembership returns the ids on one side of every membership of the
// account: the groups that have members, or the users that are in a group.
func (s *Store) withAnyMembership(ctx context.Context, account, side string) ([]string, error) {
	res := s.db.Collection(collMemberships).Distinct(ctx, side, bson.M{"account": account})
	var ids []string
	if err := res.Decode(&ids); err != nil {
		return nil, err
	}
	return ids, nil
}

// membership translates a condition on Group.members or User.groups, which
// live in the memberships collection: the matching resources are looked up
// there and the condition becomes a condition on their ids.
func (t *translator) membership(ctx context.Context, x *filter.AttributeExpression, a schemas.Attr) (bson.M, bool, error) {
	if a.Sub != nil && a.Sub.Name() != "value" {
		return nil, false, failure.InvalidFilter("%s can be filtered on by value only (e.g. %s eq \"<id>\")", a.Def.Name(), a.Def.Name())
	}
	var ids []string
	var err error
	switch x.Operator {
	case filter.EQ, filter.NE:
		v, ok := x.CompareValue.(string)
		if !ok {
			return nil, false, failure.InvalidFilter("%s is compared with an id in double quotes", a.Name())
		}
		if kindOf(t.rt).GroupSide {
			ids, err = t.s.GroupsOf(ctx, t.account, v)
		} else {
			ids, err = t.s.Members(ctx, t.account, v)
		}
	case filter.PR:
		side := "member"
		if kindOf(t.rt).GroupSide {
			side = "group"
		}
		ids, err = t.s.withAnyMembership(ctx, t.account, side)
	default:
		return nil, false, failure.InvalidFilter("%s supports eq, ne and pr", a.Def.Name())
	}
	if err != nil {
		return nil, false, err
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	t.decided[x] = set
	cond := bson.M{"_id": bson.M{"$in": ids}}
	if x.Operator == filter.NE {
		cond = bson.M{"$nor": bson.A{cond}}
	}
	return cond, true, nil
}

// membershipValuePath translates members[value eq "<id>"] (the form Entra
// uses) like members.value eq "<id>".
func (t *translator) membershipValuePath(ctx context.Context, x *filter.ValuePath, a schemas.Attr) (bson.M, bool, error) {
	inner, ok := x.ValueFilter.(*filter.AttributeExpression)
	if !ok || inner.Operator != filter.EQ || inner.AttributePath.URIPrefix != nil || inner.AttributePath.SubAttribute != nil || !strings.EqualFold(inner.AttributePath.AttributeName, "value") {
		return nil, false, failure.InvalidFilter("%s[...] supports one condition on value, e.g. %s[value eq \"<id>\"]", a.Def.Name(), a.Def.Name())
	}
	v, _ := schemas.SubAttribute(a.Def, "value")
	a.Sub = &v
	cond, exact, err := t.membership(ctx, inner, a)
	if err == nil {
		t.decided[x] = t.decided[inner]
	}
	return cond, exact, err
}

// MembershipsOf returns, for each of the ids on one side, the ids on the
// other side: the members of each group (store.GroupSide) or the groups of each
// user (store.MemberSide). One query per chunk of ids (see forChunks), not one
// per id.
func (s *Store) MembershipsOf(ctx context.Context, account, side string, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	err := s.forChunks(ids, func(chunk []string) error {
		cur, err := s.db.Collection(collMemberships).Find(ctx,
			bson.M{"account": account, side: bson.M{"$in": chunk}},
			options.Find().SetSort(bson.D{{Key: side, Value: 1}, {Key: "_id", Value: 1}}))
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			var m membership
			if err := cur.Decode(&m); err != nil {
				return err
			}
			if side == store.GroupSide {
				out[m.Group] = append(out[m.Group], m.Member)
			} else {
				out[m.Member] = append(out[m.Member], m.Group)
			}
		}
		return cur.Err()
	})
	return out, err
}

// ferretReadChunk bounds the ids of one $in read on FerretDB. FerretDB
// answers every query by reading the whole collection, whatever the $in
// holds, so splitting a read multiplies its cost: 5 chunks of 1,000 ids
// read 5,000 users five times (measured: ~3 s each). One query with all
// the ids reads them once; 50,000 ids are about 2 MB of query.
const ferretReadChunk = 50000

// forChunks calls fn with successive slices of ids, each small enough for
// one $in query: idChunk on MongoDB, where each id is an index lookup, and
// far more on FerretDB (see ferretReadChunk).
func (s *Store) forChunks(ids []string, fn func([]string) error) error {
	n := idChunk
	if s.FerretDB {
		n = ferretReadChunk
	}
	for start := 0; start < len(ids); start += n {
		if err := fn(ids[start:min(start+n, len(ids))]); err != nil {
			return err
		}
	}
	return nil
}
