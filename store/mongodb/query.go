package mongodb

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"time"

	filter "github.com/scim2/filter-parser/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// Find runs a query in the database: the filter is translated into a
// MongoDB query, sorting and paging run there too. A value filter with more
// than one condition (emails[type eq "work" and value co "@x"]) needs all
// conditions to hold for the same element, which FerretDB cannot express
// ($elemMatch on fields is not implemented); the database then selects a
// superset and the page is cut after checking each candidate in memory.
func (s *Store) Find(ctx context.Context, rt *schemas.ResourceType, account string, q store.Query) (*store.Page, error) {
	tr := &translator{s: s, rt: rt, account: account, decided: map[filter.Expression]map[string]bool{}}
	var where bson.M // the filter's condition; nil: all of the account's
	exact := true
	if q.Filter != nil {
		cond, ex, err := tr.expr(ctx, q.Filter)
		if err != nil {
			return nil, err
		}
		where, exact = cond, ex
	}
	segments, err := sortSpec(rt, q.SortBy, q.Descending)
	if err != nil {
		return nil, err
	}
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	coll := s.coll(rt)
	page := &store.Page{Resources: []*store.Resource{}}
	if !exact {
		// Every candidate, in order, checked in memory.
		for _, seg := range segments {
			opts := options.Find().SetSort(seg.sort).SetProjection(bson.M{"n": 0}).SetBatchSize(batchSize)
			if err := s.readPage(ctx, rt, coll, scoped(account, where, seg.cond), opts, q, tr, page); err != nil {
				return nil, err
			}
		}
		return page, nil
	}
	count := func(q bson.D) (int, error) { return s.count(ctx, coll, q) }
	if q.Count <= 0 {
		if page.Total, err = count(scoped(account, where)); err != nil {
			return nil, err
		}
		return page, nil
	}
	// Read the page from the segments in turn. A segment that returns fewer
	// than asked, and not because the page starts beyond it, tells its own
	// size: the common lookup (userName eq "x") then costs one query, not a
	// count and a read (each is a collection scan on FerretDB).
	skip, need, total, known := q.StartIndex-1, q.Count, 0, true
	for _, seg := range segments {
		if need == 0 {
			known = false // the page is full; what follows only adds to the total
			break
		}
		w := scoped(account, where, seg.cond)
		k, err := s.findFew(ctx, coll, w, options.Find().SetSort(seg.sort).SetProjection(bson.M{"n": 0}), skip, need, func(d *document) {
			page.Resources = append(page.Resources, fromDocument(rt, d))
		})
		if err != nil {
			return nil, err
		}
		size := skip + k
		switch {
		case k == need:
			known, need = false, 0
			continue
		case k == 0 && skip > 0:
			if size, err = count(w); err != nil {
				return nil, err
			}
		}
		total += size
		skip, need = max(0, skip-size), need-k
	}
	if known {
		page.Total = total
		return page, nil
	}
	if page.Total, err = count(scoped(account, where)); err != nil {
		return nil, err
	}
	return page, nil
}

// findFew reads at most limit documents of a query from skip on, in
// replies that each end their cursor (singleBatch), and returns how many it
// read. A reply holds at most maxBatch documents and 16 MiB: one that is
// full, or stops short near that size, is followed by another query from
// where it stopped.
//
// Why not an ordinary cursor: on DocumentDB (FerretDB 2) a query with a
// sort, a skip or a limit opens a cursor that holds its PostgreSQL
// connection even when the first reply drains it, and FerretDB then
// closes that connection; the next command waits for a new PostgreSQL
// backend (7–40 ms here; see docs/performance.md). A single-batch query
// gives its connection back at once, as on MongoDB.
func (s *Store) findFew(ctx context.Context, coll *mongo.Collection, where bson.D, opts *options.FindOptionsBuilder, skip, limit int, visit func(*document)) (int, error) {
	read := 0
	for read < limit {
		// singleBatch (a negative limit) returns one batch, of batchSize
		// documents (101 unless set).
		ask := min(limit-read, maxBatch)
		cur, err := coll.Find(ctx, where, opts.SetSkip(int64(skip+read)).SetLimit(-int64(ask)).SetBatchSize(int32(ask)))
		if err != nil {
			return read, err
		}
		n, size := 0, 0
		for cur.Next(ctx) {
			var d document
			if err := cur.Decode(&d); err != nil {
				cur.Close(ctx)
				return read, err
			}
			size += len(cur.Current)
			n++
			visit(&d)
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return read, err
		}
		read += n
		if n == 0 || (n < ask && size < maxReplyBytes-maxDocumentBytes) {
			break // neither full nor cut short by its size: the query has no more
		}
	}
	return read, nil
}

// maxBatch bounds the documents asked for in one reply (a page is at most
// 1,000: scim.MaxResults).
const maxBatch = 10_000

// maxReplyBytes is the most a reply carries (MongoDB's and DocumentDB's
// batches stop at 16 MiB); maxDocumentBytes bounds a stored resource
// (attributes of at most schemas.MaxResourceBytes as JSON, their
// lower-cased copy and lookup keys).
const maxReplyBytes, maxDocumentBytes = 16 << 20, 4 * schemas.MaxResourceBytes

// count counts the documents a query selects with the count command: the
// driver's CountDocuments runs an aggregation, whose cursor costs a
// PostgreSQL connection on DocumentDB (see findFew). Every query here names
// an account, so the count is exact on a sharded cluster too (MongoDB's
// count is approximate only without a query).
func (s *Store) count(ctx context.Context, coll *mongo.Collection, where bson.D) (int, error) {
	var r struct {
		N int64 `bson:"n"`
	}
	err := s.db.RunCommand(ctx, bson.D{{Key: "count", Value: coll.Name()}, {Key: "query", Value: where}}).Decode(&r)
	return int(r.N), err
}

// readPage reads every resource the query selects, checks each in memory,
// counts those that match and keeps those on the page (a filter the
// database can only narrow down: see Find).
func (s *Store) readPage(ctx context.Context, rt *schemas.ResourceType, coll *mongo.Collection, where bson.D, opts *options.FindOptionsBuilder, q store.Query, tr *translator, page *store.Page) error {
	cur, err := coll.Find(ctx, where, opts)
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d document
		if err := cur.Decode(&d); err != nil {
			return err
		}
		r := fromDocument(rt, &d)
		ok, err := scimfilter.Match(rt, &scimfilter.Target{
			ID: r.ID, Attributes: r.Attributes, Created: r.Created, Modified: r.Modified, Decided: tr.decided,
		}, q.Filter)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		page.Total++
		if page.Total < q.StartIndex || len(page.Resources) >= q.Count {
			continue
		}
		page.Resources = append(page.Resources, r)
	}
	return cur.Err()
}

// segment is a part of a query's result in sort order: the resources that
// also meet cond (nil: all), sorted by sort.
type segment struct {
	cond bson.M
	sort bson.D
}

// scoped returns the query of the account's resources that meet every
// condition (nil ones aside): {account, …} with the conditions' fields
// side by side in one flat document, account first. FerretDB hands its
// database only the top-level equalities of such a document, so no $and
// wraps conditions that one document can hold (see and).
func scoped(account string, conds ...bson.M) bson.D {
	q := bson.D{{Key: "account", Value: account}}
	merged := and(conds...)
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q = append(q, bson.E{Key: k, Value: merged[k]})
	}
	return q
}

// and returns a condition met by the documents that meet all of conds:
// their fields merged into one document, conditions nested in an $and
// taken out of it, and only those whose fields another condition already
// uses left in an $and.
func and(conds ...bson.M) bson.M {
	out := bson.M{}
	var rest bson.A
	var add func(c bson.M)
	add = func(c bson.M) {
		if ops, ok := c["$and"].(bson.A); ok && len(c) == 1 {
			for _, op := range ops {
				m, ok := op.(bson.M)
				if !ok {
					rest = append(rest, op)
					continue
				}
				add(m)
			}
			return
		}
		for k := range c {
			if _, taken := out[k]; taken {
				rest = append(rest, c)
				return
			}
		}
		for k, v := range c {
			out[k] = v
		}
	}
	for _, c := range conds {
		if c != nil {
			add(c)
		}
	}
	if len(rest) > 0 {
		out["$and"] = rest
	}
	return out
}

// sortSpec orders by the attribute (case-insensitive strings by their
// lower-cased copy), then by id so that pages never overlap. Resources
// without a value come last in ascending order and first in descending
// order (RFC 7644 §3.4.2.3), where both databases would put them first
// and last: unless every resource has the attribute, the order is two
// segments, with and without it.
func sortSpec(rt *schemas.ResourceType, sortBy string, desc bool) ([]segment, error) {
	dir := 1
	if desc {
		dir = -1
	}
	if sortBy == "" {
		return []segment{{sort: bson.D{{Key: "created", Value: dir}, {Key: "_id", Value: dir}}}}, nil
	}
	k, err := store.ResolveSort(rt, sortBy)
	if err != nil {
		return nil, err
	}
	f, err := fieldOf(rt, k.Attr, k.Lower)
	if err != nil {
		return nil, err
	}
	if f == "_id" {
		return []segment{{sort: bson.D{{Key: "_id", Value: dir}}}}, nil
	}
	byValue := bson.D{{Key: f, Value: dir}, {Key: "_id", Value: dir}}
	if k.AlwaysThere {
		return []segment{{sort: byValue}}, nil
	}
	with := segment{cond: bson.M{f: bson.M{"$exists": true}}, sort: byValue}
	without := segment{cond: bson.M{f: bson.M{"$exists": false}}, sort: bson.D{{Key: "_id", Value: dir}}}
	if desc {
		return []segment{without, with}, nil
	}
	return []segment{with, without}, nil
}

// fieldOf is the document field holding an attribute of the resource type:
// the top-level field of a lookup key; otherwise its lower-cased copy for
// case-insensitive comparison, the attribute as given otherwise.
func fieldOf(rt *schemas.ResourceType, a schemas.Attr, lower bool) (string, error) {
	if f, ok := keyField(rt, a, lower); ok {
		return f, nil
	}
	if a.Common {
		switch a.Def.Name() {
		case schemas.AttrID:
			return "_id", nil
		case schemas.AttrExternalID:
			return "a.externalId", nil
		case schemas.AttrMeta:
			switch a.Sub.Name() {
			case "created":
				return "created", nil
			case "lastModified":
				return "modified", nil
			}
		}
		return "", failure.InvalidFilter("%s cannot be used here", a.Name())
	}
	f := "a."
	if lower {
		f = "n."
	}
	if a.Ext != nil {
		f += storageKey(a.Ext.Schema.ID) + "."
	}
	f += a.Def.Name()
	if a.Sub != nil {
		sub := a.Sub.Name()
		if sub == refKey {
			sub = storedRefKey
		}
		f += "." + sub
	}
	return f, nil
}

// translator turns a parsed filter into a MongoDB query.
type translator struct {
	s       *Store
	rt      *schemas.ResourceType
	account string
	// decided holds the membership conditions, answered from the
	// memberships collection, for the in-memory check.
	decided map[filter.Expression]map[string]bool
}

// matchNothing is a condition no document meets.
var matchNothing = bson.M{"_id": bson.M{"$exists": false}}

// expr translates e. exact is false when the query selects a superset of
// the matching resources (see Find).
func (t *translator) expr(ctx context.Context, e filter.Expression) (bson.M, bool, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		// A chain of one operator ("a or b or c …", which the parser nests
		// one level per term) becomes one flat $or or $and: MongoDB refuses
		// BSON nested more than 100 levels deep, which a nested chain of
		// about 50 terms reaches. In an $or, equalities on one field become
		// a single $in, which FerretDB evaluates far faster than as many
		// $or branches (measured: 1,000 userName terms over 5,000 users,
		// 3 minutes as nested $or branches, about 2 s as $in).
		var conds []bson.M
		exact := true
		for _, operand := range chain(x, x.Operator) {
			c, ex, err := t.expr(ctx, operand)
			if err != nil {
				return nil, false, err
			}
			conds = append(conds, c)
			exact = exact && ex
		}
		if x.Operator == filter.OR {
			return or(conds), exact, nil
		}
		return and(conds...), exact, nil
	case *filter.NotExpression:
		inner, exact, err := t.expr(ctx, x.Expression)
		if err != nil || !exact {
			// The complement of a superset is not a superset: select all
			// and let the in-memory check decide.
			return bson.M{}, false, err
		}
		return bson.M{"$nor": bson.A{inner}}, true, nil
	case *filter.AttributeExpression:
		a, err := scimfilter.Resolve(t.rt, x.AttributePath, x.Operator)
		if err != nil {
			return nil, false, err
		}
		if k := kindOf(t.rt); a.Ext == nil && !a.Common && a.Def.Name() == k.Membership {
			return t.membership(ctx, x, a)
		}
		if a.Common && a.Def.Name() == schemas.AttrMeta && a.Sub.Name() == "resourceType" {
			o, err := scimfilter.MakeOperand(a.Leaf(), a.Name(), x.Operator, x.CompareValue, false)
			if err != nil {
				return nil, false, err
			}
			if scimfilter.MatchValues(x.Operator, []any{t.rt.Name}, o) {
				return bson.M{}, true, nil
			}
			return matchNothing, true, nil
		}
		return comparison(t.rt, a, x.Operator, x.CompareValue)
	case *filter.ValuePath:
		a, err := scimfilter.Resolve(t.rt, x.AttributePath, filter.PR)
		if err != nil {
			return nil, false, err
		}
		if a.Sub != nil || a.Leaf().AttributeType() != "complex" {
			return nil, false, failure.InvalidFilter("%s[...] needs a complex attribute", a.Name())
		}
		if k := kindOf(t.rt); a.Ext == nil && a.Def.Name() == k.Membership {
			return t.membershipValuePath(ctx, x, a)
		}
		return t.valueFilter(a, x.ValueFilter)
	}
	return nil, false, failure.InvalidFilter("unsupported filter expression")
}

// chain returns the operands of a chain of logical expressions with the
// same operator, left to right, however the parser nested them.
func chain(e filter.Expression, op filter.LogicalOperator) []filter.Expression {
	x, ok := e.(*filter.LogicalExpression)
	if !ok || x.Operator != op {
		return []filter.Expression{e}
	}
	return append(chain(x.Left, op), chain(x.Right, op)...)
}

// or returns a condition met by the documents that meet any of conds: an
// $or, with the plain equalities ({field: value}) among the branches
// merged into one {field: {$in: [values]}} per field, which matches the
// same documents (on array fields too: any element equal); no $or around
// a single branch.
func or(conds []bson.M) bson.M {
	branches := mergeEqualities(conds)
	if len(branches) == 1 {
		return branches[0]
	}
	a := make(bson.A, len(branches))
	for i, b := range branches {
		a[i] = b
	}
	return bson.M{"$or": a}
}

func mergeEqualities(conds []bson.M) []bson.M {
	var out []bson.M
	in := map[string]bson.A{}
	var fields []string
	for _, c := range conds {
		field, value, ok := equality(c)
		if !ok {
			out = append(out, c)
			continue
		}
		if _, seen := in[field]; !seen {
			fields = append(fields, field)
		}
		in[field] = append(in[field], value)
	}
	for _, f := range fields {
		if len(in[f]) == 1 {
			out = append(out, bson.M{f: in[f][0]})
		} else {
			out = append(out, bson.M{f: bson.M{"$in": in[f]}})
		}
	}
	return out
}

// equality reads a condition of the form {field: value} with a plain
// value (not an operator document or an array).
func equality(m bson.M) (string, any, bool) {
	if len(m) != 1 {
		return "", nil, false
	}
	for k, v := range m {
		if strings.HasPrefix(k, "$") {
			return "", nil, false
		}
		switch v.(type) {
		case bson.M, bson.D, bson.A, map[string]any, []any:
			return "", nil, false
		}
		return k, v, true
	}
	return "", nil, false
}

// valueFilter translates a value path, a[filter]: some value of the
// complex attribute a satisfies the filter on its sub-attributes.
//
// A singular complex attribute has one value, so the filter applies to it as
// it would at the top level, provided the attribute is there. For a
// multi-valued one, "some element satisfies A or B" is exactly "some element
// satisfies A, or some satisfies B", and a single comparison is exact
// except "ne". "ne", "not" and "and" need one element to satisfy the whole
// (FerretDB has no $elemMatch on fields): the translation is then a superset
// (Find checks each candidate in memory). The database's own "ne"/$nor
// means "no element equals", which is not even a superset of "some element
// differs", so "ne" and "not" select every resource that has the attribute.
func (t *translator) valueFilter(a schemas.Attr, e filter.Expression) (bson.M, bool, error) {
	has, err := fieldOf(t.rt, a, false)
	if err != nil {
		return nil, false, failure.InvalidFilter("%s", err.(*failure.Error).Detail)
	}
	exists := bson.M{has: bson.M{"$exists": true}}
	if !a.Def.MultiValued() {
		cond, exact, err := t.singleValueFilter(a, e)
		if err != nil {
			return nil, false, err
		}
		return and(exists, cond), exact, nil
	}
	return t.multiValueFilter(a, e, exists)
}

func (t *translator) multiValueFilter(a schemas.Attr, e filter.Expression, exists bson.M) (bson.M, bool, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, lx, err := t.multiValueFilter(a, x.Left, exists)
		if err != nil {
			return nil, false, err
		}
		r, rx, err := t.multiValueFilter(a, x.Right, exists)
		if err != nil {
			return nil, false, err
		}
		if x.Operator == filter.OR {
			return or([]bson.M{l, r}), lx && rx, nil
		}
		return and(l, r), false, nil
	case *filter.NotExpression:
		if _, _, err := t.multiValueFilter(a, x.Expression, exists); err != nil {
			return nil, false, err
		}
		return exists, false, nil
	case *filter.AttributeExpression:
		sa, err := subAttr(a, x)
		if err != nil {
			return nil, false, err
		}
		cond, exact, err := comparison(t.rt, sa, x.Operator, x.CompareValue)
		if err != nil || x.Operator != filter.NE {
			return cond, exact, err
		}
		return exists, false, nil
	}
	return nil, false, failure.InvalidFilter("%s[...] may only hold comparisons of its sub-attributes", a.Name())
}

// singleValueFilter translates the filter of a value path on a singular
// complex attribute, whose one value the caller requires to exist.
func (t *translator) singleValueFilter(a schemas.Attr, e filter.Expression) (bson.M, bool, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, lx, err := t.singleValueFilter(a, x.Left)
		if err != nil {
			return nil, false, err
		}
		r, rx, err := t.singleValueFilter(a, x.Right)
		if err != nil {
			return nil, false, err
		}
		if x.Operator == filter.OR {
			return or([]bson.M{l, r}), lx && rx, nil
		}
		return and(l, r), lx && rx, nil
	case *filter.NotExpression:
		inner, exact, err := t.singleValueFilter(a, x.Expression)
		if err != nil || !exact {
			return bson.M{}, false, err
		}
		return bson.M{"$nor": bson.A{inner}}, true, nil
	case *filter.AttributeExpression:
		sa, err := subAttr(a, x)
		if err != nil {
			return nil, false, err
		}
		return comparison(t.rt, sa, x.Operator, x.CompareValue)
	}
	return nil, false, failure.InvalidFilter("%s[...] may only hold comparisons of its sub-attributes", a.Name())
}

// subAttr resolves the attribute of a comparison inside a[...].
func subAttr(a schemas.Attr, x *filter.AttributeExpression) (schemas.Attr, error) {
	sub, err := scimfilter.ResolveSub(a.Def, a.Name(), x.AttributePath)
	if err != nil {
		return a, err
	}
	a.Sub = &sub
	return a, nil
}

// comparison translates one attribute comparison.
func comparison(rt *schemas.ResourceType, a schemas.Attr, op filter.CompareOperator, v any) (bson.M, bool, error) {
	isMeta := a.Common && a.Def.Name() == schemas.AttrMeta
	o, err := scimfilter.MakeOperand(a.Leaf(), a.Name(), op, v, isMeta)
	if err != nil {
		return nil, false, err
	}
	leaf := a.Leaf()
	f, err := fieldOf(rt, a, o.CaseInsensitive || (op == filter.PR && leaf.AttributeType() == "string" && !leaf.CaseExact() && !a.Common))
	if err != nil {
		return nil, false, failure.InvalidFilter("%s", err.(*failure.Error).Detail)
	}
	if t, ok := o.Value.(time.Time); ok && !t.Equal(t.Truncate(time.Millisecond)) {
		return finerThanStored(f, op, t)
	}
	switch op {
	case filter.PR:
		return present(a, f), true, nil
	case filter.EQ:
		return bson.M{f: o.Value}, true, nil
	case filter.NE:
		// $nor rather than $ne: FerretDB's $ne on an array field matches
		// when any element differs; $nor means "no element equals" on both.
		return bson.M{"$nor": bson.A{bson.M{f: o.Value}}}, true, nil
	case filter.CO, filter.SW, filter.EW:
		pat := regexp.QuoteMeta(o.Value.(string))
		switch op {
		case filter.SW:
			pat = "^" + pat
		case filter.EW:
			// \z, not $: in MongoDB's PCRE "$" also matches before a
			// final newline, so ew "guide" would select "Tour Guide\n".
			pat += `\z`
		}
		return bson.M{f: bson.M{"$regex": pat}}, true, nil
	case filter.GT:
		return bson.M{f: bson.M{"$gt": o.Value}}, true, nil
	case filter.GE:
		return bson.M{f: bson.M{"$gte": o.Value}}, true, nil
	case filter.LT:
		return bson.M{f: bson.M{"$lt": o.Value}}, true, nil
	case filter.LE:
		return bson.M{f: bson.M{"$lte": o.Value}}, true, nil
	}
	return nil, false, failure.InvalidFilter("unknown operator %q", op)
}

// present translates "pr" on the field f holding attribute a. A path
// through a multi-valued attribute (emails.value) holds one value per
// element, and "pr" asks that some value be non-empty: positive conditions
// say that on both databases, while "$nin": [null, ""] would exclude a
// resource as soon as one element had an empty or missing value.
func present(a schemas.Attr, f string) bson.M {
	if a.Common && a.Def.Name() == schemas.AttrMeta {
		return bson.M{f: bson.M{"$exists": true}}
	}
	switch a.Leaf().AttributeType() {
	case "string", "reference", "binary", "dateTime":
		// Stored as strings: a non-empty one is greater than "".
		return bson.M{f: bson.M{"$gt": ""}}
	case "boolean":
		return bson.M{f: bson.M{"$in": bson.A{true, false}}}
	case "complex":
		// The attribute itself (emails, name): a non-empty object, or an
		// array that is not empty (its elements are never empty objects).
		return bson.M{f: bson.M{"$exists": true, "$nin": bson.A{nil, bson.A{}, bson.M{}}}}
	}
	return bson.M{f: bson.M{"$exists": true}}
}

// finerThanStored compares a stored time with an operand finer than the
// millisecond the database keeps (BSON dates): encoding the operand would
// truncate it, so "lt 10:00:00.0005" would miss 10:00:00.000. Every stored
// time is a whole millisecond, so against the operand's millisecond ms:
// t > x and t >= x mean t > ms; t < x and t <= x mean t <= ms; none equals x.
func finerThanStored(f string, op filter.CompareOperator, x time.Time) (bson.M, bool, error) {
	ms := x.Truncate(time.Millisecond)
	switch op {
	case filter.EQ:
		return matchNothing, true, nil
	case filter.NE:
		return bson.M{}, true, nil
	case filter.GT, filter.GE:
		return bson.M{f: bson.M{"$gt": ms}}, true, nil
	case filter.LT, filter.LE:
		return bson.M{f: bson.M{"$lte": ms}}, true, nil
	}
	return nil, false, failure.InvalidFilter("unknown operator %q", op)
}
