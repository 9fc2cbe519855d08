package store

import (
	"context"
	"regexp"

	filter "github.com/scim2/filter-parser/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
)

// Query selects a page of resources of one account.
type Query struct {
	Filter     filter.Expression // nil: all
	SortBy     string            // attribute path; empty: creation order
	Descending bool
	StartIndex int // 1-based
	Count      int // at most this many resources; 0: only the total
}

// Page is the result of a query.
type Page struct {
	Total     int
	Resources []*Resource
}

// Find runs a query in the database: the filter is translated into a
// MongoDB query, sorting and paging run there too. A value filter with more
// than one condition (emails[type eq "work" and value co "@x"]) needs all
// conditions to hold for the same element, which FerretDB cannot express
// ($elemMatch on fields is not implemented); the database then selects a
// superset and the page is cut after checking each candidate in memory.
//
// Resources without a value for sortBy come last when ascending and first
// when descending (RFC 7644 §3.4.2.3), where MongoDB would put them first
// when ascending: the query then runs as two segments, the resources with a
// value and those without, paged as one list.
func (s *Store) Find(ctx context.Context, rt *schemas.ResourceType, account string, q Query) (*Page, error) {
	tr := &translator{s: s, rt: rt, account: account, decided: map[filter.Expression]map[string]bool{}}
	where := bson.M{"account": account}
	exact := true
	if q.Filter != nil {
		cond, ex, err := tr.expr(ctx, q.Filter)
		if err != nil {
			return nil, err
		}
		where = bson.M{"$and": bson.A{where, cond}}
		exact = ex
	}
	segs, err := sortSegments(rt, where, q.SortBy, q.Descending)
	if err != nil {
		return nil, err
	}
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	coll := s.coll(rt)
	page := &Page{Resources: []*Resource{}}
	if exact {
		counts := make([]int, len(segs))
		for i, sg := range segs {
			n, err := coll.CountDocuments(ctx, sg.where)
			if err != nil {
				return nil, err
			}
			counts[i] = int(n)
			page.Total += int(n)
		}
		skip, want := q.StartIndex-1, q.Count
		for i, sg := range segs {
			if want <= 0 {
				break
			}
			if skip >= counts[i] {
				skip -= counts[i]
				continue
			}
			opts := options.Find().SetSort(sg.sort).SetProjection(bson.M{"n": 0}).
				SetSkip(int64(skip)).SetLimit(int64(want))
			before := len(page.Resources)
			err := s.each(ctx, rt, sg.where, opts, func(r *Resource) error {
				page.Resources = append(page.Resources, r)
				return nil
			})
			if err != nil {
				return nil, err
			}
			want -= len(page.Resources) - before
			skip = 0
		}
		return page, nil
	}
	check := func(r *Resource) error {
		ok, err := scimfilter.Match(rt, &scimfilter.Target{
			ID: r.ID, Attributes: r.Attributes, Created: r.Created, Modified: r.Modified, Decided: tr.decided,
		}, q.Filter)
		if err != nil || !ok {
			return err
		}
		page.Total++
		if page.Total >= q.StartIndex && len(page.Resources) < q.Count {
			page.Resources = append(page.Resources, r)
		}
		return nil
	}
	for _, sg := range segs {
		opts := options.Find().SetSort(sg.sort).SetProjection(bson.M{"n": 0})
		if err := s.each(ctx, rt, sg.where, opts, check); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// each calls visit with every resource a find selects, in order.
func (s *Store) each(ctx context.Context, rt *schemas.ResourceType, where bson.M, opts *options.FindOptionsBuilder, visit func(*Resource) error) error {
	cur, err := s.coll(rt).Find(ctx, where, opts)
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d document
		if err := cur.Decode(&d); err != nil {
			return err
		}
		if err := visit(fromDocument(rt, &d)); err != nil {
			return err
		}
	}
	return cur.Err()
}

// segment is one part of a sorted query: its condition and order.
type segment struct {
	where bson.M
	sort  bson.D
}

// sortSegments orders by the attribute (case-insensitive strings by their
// lower-cased copy), then by id so that pages never overlap. When the
// attribute may be absent, the resources without it form a second segment,
// placed after the others when ascending and before them when descending.
func sortSegments(rt *schemas.ResourceType, where bson.M, sortBy string, desc bool) ([]segment, error) {
	dir := 1
	if desc {
		dir = -1
	}
	if sortBy == "" {
		return []segment{{where, bson.D{{Key: "created", Value: dir}, {Key: "_id", Value: dir}}}}, nil
	}
	a, err := rt.ResolveString(sortBy)
	if err != nil {
		if f, ok := failure.As(err); ok {
			return nil, failure.InvalidValue("sortBy: %s", f.Detail)
		}
		return nil, err
	}
	leaf := a.Leaf()
	switch {
	case a.WholeExtension || leaf.AttributeType() == "complex":
		return nil, failure.InvalidValue("sortBy must name a single-valued attribute such as name.familyName; %s is complex", a.Name())
	case a.Def.MultiValued() || (a.Sub != nil && a.Sub.MultiValued()):
		return nil, failure.InvalidValue("sortBy must name a single-valued attribute; %s has many values", a.Name())
	case schemas.IsNeverReturned(leaf):
		return nil, failure.InvalidValue("sortBy cannot use %s", a.Name())
	}
	f, err := fieldOf(a, leaf.AttributeType() == "string" && !leaf.CaseExact())
	if err != nil {
		return nil, failure.InvalidValue("sortBy: %s", err.(*failure.Error).Detail)
	}
	switch f {
	case "_id":
		return []segment{{where, bson.D{{Key: "_id", Value: dir}}}}, nil
	case "created", "modified":
		return []segment{{where, bson.D{{Key: f, Value: dir}, {Key: "_id", Value: dir}}}}, nil
	}
	has := bson.M{f: bson.M{"$exists": true, "$ne": nil}}
	with := segment{bson.M{"$and": bson.A{where, has}}, bson.D{{Key: f, Value: dir}, {Key: "_id", Value: dir}}}
	without := segment{bson.M{"$and": bson.A{where, bson.M{"$nor": bson.A{has}}}}, bson.D{{Key: "_id", Value: dir}}}
	if desc {
		return []segment{without, with}, nil
	}
	return []segment{with, without}, nil
}

// fieldOf is the document field holding an attribute: its lower-cased copy
// for case-insensitive comparison, the attribute as given otherwise.
func fieldOf(a schemas.Attr, lower bool) (string, error) {
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
		l, lx, err := t.expr(ctx, x.Left)
		if err != nil {
			return nil, false, err
		}
		r, rx, err := t.expr(ctx, x.Right)
		if err != nil {
			return nil, false, err
		}
		op := "$and"
		if x.Operator == filter.OR {
			op = "$or"
		}
		return bson.M{op: bson.A{l, r}}, lx && rx, nil
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
		if k := kindOf(t.rt); a.Ext == nil && !a.Common && a.Def.Name() == k.membership {
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
		return comparison(a, x.Operator, x.CompareValue)
	case *filter.ValuePath:
		a, err := scimfilter.Resolve(t.rt, x.AttributePath, filter.PR)
		if err != nil {
			return nil, false, err
		}
		if a.Sub != nil || a.Leaf().AttributeType() != "complex" {
			return nil, false, failure.InvalidFilter("%s[...] needs a complex attribute", a.Name())
		}
		if k := kindOf(t.rt); a.Ext == nil && a.Def.Name() == k.membership {
			return t.membershipValuePath(ctx, x, a)
		}
		return t.valueFilter(a, x.ValueFilter)
	}
	return nil, false, failure.InvalidFilter("unsupported filter expression")
}

// valueFilter translates the filter inside brackets, on the sub-attributes
// of a. "Some element satisfies A or B" is exactly "some element satisfies
// A, or some satisfies B"; with "and" or "not" the element must be the same,
// so the translation is a superset.
func (t *translator) valueFilter(a schemas.Attr, e filter.Expression) (bson.M, bool, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, lx, err := t.valueFilter(a, x.Left)
		if err != nil {
			return nil, false, err
		}
		r, rx, err := t.valueFilter(a, x.Right)
		if err != nil {
			return nil, false, err
		}
		if x.Operator == filter.OR {
			return bson.M{"$or": bson.A{l, r}}, lx && rx, nil
		}
		return bson.M{"$and": bson.A{l, r}}, false, nil
	case *filter.NotExpression:
		if _, _, err := t.valueFilter(a, x.Expression); err != nil {
			return nil, false, err
		}
		return bson.M{}, false, nil
	case *filter.AttributeExpression:
		sub, err := scimfilter.ResolveSub(a.Def, a.Name(), x.AttributePath)
		if err != nil {
			return nil, false, err
		}
		sa := a
		sa.Sub = &sub
		return comparison(sa, x.Operator, x.CompareValue)
	}
	return nil, false, failure.InvalidFilter("%s[...] may only hold comparisons of its sub-attributes", a.Name())
}

// comparison translates one attribute comparison.
func comparison(a schemas.Attr, op filter.CompareOperator, v any) (bson.M, bool, error) {
	isMeta := a.Common && a.Def.Name() == schemas.AttrMeta
	o, err := scimfilter.MakeOperand(a.Leaf(), a.Name(), op, v, isMeta)
	if err != nil {
		return nil, false, err
	}
	leaf := a.Leaf()
	f, err := fieldOf(a, o.CaseInsensitive || (op == filter.PR && leaf.AttributeType() == "string" && !leaf.CaseExact() && !a.Common))
	if err != nil {
		return nil, false, failure.InvalidFilter("%s", err.(*failure.Error).Detail)
	}
	switch op {
	case filter.PR:
		return bson.M{f: bson.M{"$exists": true, "$nin": bson.A{nil, "", bson.A{}, bson.M{}}}}, true, nil
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
			pat += "$"
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
