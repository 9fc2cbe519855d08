package mongodb

import (
	"context"
	"slices"
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

// batchSize is how many documents a read of many (members, the resources
// named by a chunk of ids) receives per round trip: the server's default
// first batch, 101, would cost a second round trip from the 102nd member
// of a group on. One more than a chunk: FerretDB keeps a cursor open after
// a full batch, which would cost an empty getMore after a chunk of 1,000.
const batchSize = idChunk + 1

// AddMembers adds users to a group; members already in it are left as they
// are. It returns the ids it added: one unordered insert per idChunk, whose
// duplicate-key errors name the members that were in the group already.
func (s *Store) AddMembers(ctx context.Context, account, group string, members []string) ([]string, error) {
	added := []string{}
	for start := 0; start < len(members); start += idChunk {
		chunk := members[start:min(start+idChunk, len(members))]
		docs := make([]any, len(chunk))
		for i, m := range chunk {
			docs[i] = membership{ID: membershipID(group, m), Account: account, Group: group, Member: m, Type: "User"}
		}
		if err := s.guardWrite(ctx); err != nil {
			return added, err
		}
		failed, err := s.insertUnordered(ctx, s.db.Collection(collMemberships), docs)
		if err != nil {
			return added, err
		}
		for i, m := range chunk {
			switch werr := failed[i]; {
			case werr == nil:
				added = append(added, m)
			case !isDuplicateKey(werr):
				return added, werr
			}
		}
	}
	return added, nil
}

// RemoveMembers removes users from a group and returns the ids of those
// that were in it. A delete reports only how many it removed, so for more
// than one member the memberships are looked up first.
func (s *Store) RemoveMembers(ctx context.Context, account, group string, members []string) ([]string, error) {
	removed := []string{}
	for start := 0; start < len(members); start += idChunk {
		present := members[start:min(start+idChunk, len(members))]
		if len(present) > 1 {
			var err error
			if present, err = s.membersAmong(ctx, account, group, present); err != nil {
				return removed, err
			}
			if len(present) == 0 {
				continue
			}
		}
		n, err := s.deleteMemberships(ctx, account, group, present)
		if err != nil {
			return removed, err
		}
		if n > 0 {
			removed = append(removed, present...)
		}
	}
	return removed, nil
}

// membersAmong returns which of the ids are members of the group.
func (s *Store) membersAmong(ctx context.Context, account, group string, ids []string) ([]string, error) {
	mids := make([]string, len(ids))
	for i, m := range ids {
		mids[i] = membershipID(group, m)
	}
	cur, err := s.db.Collection(collMemberships).Find(ctx, idsFilter(account, mids), options.Find().SetProjection(bson.M{"member": 1}).SetBatchSize(batchSize))
	if err != nil {
		return nil, err
	}
	var ms []membership
	if err := cur.All(ctx, &ms); err != nil {
		return nil, err
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Member
	}
	return out, nil
}

// deleteMemberships deletes memberships of a group by member and returns
// how many it deleted.
func (s *Store) deleteMemberships(ctx context.Context, account, group string, members []string) (int, error) {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = membershipID(group, m)
	}
	if err := s.guardWrite(ctx); err != nil {
		return 0, err
	}
	unlock := s.lockWrites()
	res, err := s.db.Collection(collMemberships).DeleteMany(ctx, idsFilter(account, ids))
	unlock()
	if err != nil {
		return 0, err
	}
	return int(res.DeletedCount), nil
}

// ClearMembers removes every member of a group and returns their ids: the
// members are read, then deleted with one command. A member added in
// between (to a group being deleted) is deleted too but not returned: the
// request that added it finds the group gone and clears it itself.
func (s *Store) ClearMembers(ctx context.Context, account, group string) ([]string, error) {
	members, err := s.Members(ctx, account, group)
	if err != nil || len(members) == 0 {
		return members, err
	}
	if err := s.guardWrite(ctx); err != nil {
		return nil, err
	}
	_, err = s.db.Collection(collMemberships).DeleteMany(ctx, bson.D{{Key: "account", Value: account}, {Key: "group", Value: group}})
	return members, err
}

// LeaveAllGroups removes a user from every group (the user is deleted) and
// returns the groups it left.
func (s *Store) LeaveAllGroups(ctx context.Context, account, member string) ([]string, error) {
	groups, err := s.GroupsOf(ctx, account, member)
	if err != nil || len(groups) == 0 {
		return groups, err
	}
	if err := s.guardWrite(ctx); err != nil {
		return nil, err
	}
	_, err = s.db.Collection(collMemberships).DeleteMany(ctx, bson.D{{Key: "account", Value: account}, {Key: "member", Value: member}})
	return groups, err
}

// Members returns the ids of a group's members.
func (s *Store) Members(ctx context.Context, account, group string) ([]string, error) {
	return s.membershipSide(ctx, bson.D{{Key: "account", Value: account}, {Key: "group", Value: group}}, "member")
}

// EachMember calls fn with each member of a group and its display name,
// in the order of the members' ids: the group's member ids in one query
// (sorted here, as Members does: a sorted find holds a connection of
// DocumentDB's), then one query of names per idChunk members, as fn
// consumes them.
func (s *Store) EachMember(ctx context.Context, account, group string, fn func(id, display string) error) error {
	ids, err := s.Members(ctx, account, group)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(ids, idChunk) {
		names, err := s.DisplayNames(ctx, schemas.User, account, chunk)
		if err != nil {
			return err
		}
		for _, id := range chunk {
			if err := fn(id, names[id]); err != nil {
				return err
			}
		}
	}
	return nil
}

// GroupsOf returns the ids of the groups a user is a member of.
func (s *Store) GroupsOf(ctx context.Context, account, member string) ([]string, error) {
	return s.membershipSide(ctx, bson.D{{Key: "account", Value: account}, {Key: "member", Value: member}}, "group")
}

// membershipSide returns one side of the memberships q selects, sorted
// here: a query with a sort holds a PostgreSQL connection on DocumentDB
// (see findFew).
func (s *Store) membershipSide(ctx context.Context, q bson.D, side string) ([]string, error) {
	cur, err := s.db.Collection(collMemberships).Find(ctx, q, options.Find().SetProjection(bson.M{side: 1, "_id": 0}).SetBatchSize(batchSize))
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
	slices.Sort(out)
	return out, cur.Err()
}

// withAnyMembership returns the ids on one side of every membership of the
// account: the groups that have members, or the users that are in a group.
//
// An aggregation rather than the distinct command: the driver (v2.10.0)
// cannot decode a distinct result once the operation has a deadline —
// which every operation has (OperationTimeout) — it reads the answer from
// a buffer already given back ("error decoding key arr: unexpected EOF").
func (s *Store) withAnyMembership(ctx context.Context, account, side string) ([]string, error) {
	cur, err := s.db.Collection(collMemberships).Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "account", Value: account}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$" + side}}}},
	}, options.Aggregate().SetBatchSize(distinctBatch))
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &rows); err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, nil
}

// distinctBatch lets the ids come back in one answer, as distinct's do
// (the server caps a batch at 16 MB: some 300,000 ids).
const distinctBatch = 1 << 20

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
	if len(ids) == 1 {
		cond = bson.M{"_id": ids[0]}
	}
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
// other side: the members of each group (store.GroupSide) or the groups of
// each user (store.MemberSide). One query per idChunk ids, not one per id.
func (s *Store) MembershipsOf(ctx context.Context, account, side string, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	for start := 0; start < len(ids); start += idChunk {
		chunk := ids[start:min(start+idChunk, len(ids))]
		q := bson.D{{Key: "account", Value: account}, {Key: side, Value: chunk[0]}}
		if len(chunk) > 1 {
			q[1].Value = bson.M{"$in": chunk}
		}
		cur, err := s.db.Collection(collMemberships).Find(ctx, q, options.Find().SetBatchSize(batchSize))
		if err != nil {
			return nil, err
		}
		var ms []membership
		if err := cur.All(ctx, &ms); err != nil {
			return nil, err
		}
		for _, m := range ms {
			if side == store.GroupSide {
				out[m.Group] = append(out[m.Group], m.Member)
			} else {
				out[m.Member] = append(out[m.Member], m.Group)
			}
		}
	}
	for _, ids := range out {
		slices.Sort(ids) // here, not in the query: see membershipSide
	}
	return out, nil
}
