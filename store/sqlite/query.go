package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strings"
	"sync"

	filter "github.com/scim2/filter-parser/v2"
	"modernc.org/sqlite"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// Find runs a query. The filter is first checked as a whole (an invalid
// filter fails whatever the data). Its conditions that an index answers —
// equality on id, externalId, userName or a group's displayName, email
// addresses, project ids, parents, and group membership — become SQL, and
// when the filter is nothing but such conditions, SQL selects, sorts,
// pages and counts on its own. Otherwise SQL narrows the candidates by the
// indexed conditions it can (or reads the account's resources in order)
// and each candidate is checked with scimfilter.Match.
func (s *Store) Find(ctx context.Context, rt *schemas.ResourceType, account string, q store.Query) (*store.Page, error) {
	order, err := orderBy(rt, q.SortBy, q.Descending)
	if err != nil {
		return nil, err
	}
	p := &planner{rt: rt, account: account, kind: store.KindOf(rt)}
	pl := plan{exact: true}
	if q.Filter != nil {
		// Validate the whole filter: Match evaluates every part of it.
		if _, err := scimfilter.Match(rt, &scimfilter.Target{Attributes: map[string]any{}}, q.Filter); err != nil {
			return nil, err
		}
		if pl, err = p.expr(q.Filter); err != nil {
			return nil, err
		}
	}
	where := "r.account = ? AND r.type = ?"
	args := []any{account, rt.Name}
	if pl.cond != "" {
		where += " AND (" + pl.cond + ")"
		args = append(args, pl.args...)
	}
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	page := &store.Page{Resources: []*store.Resource{}}
	if pl.exact {
		return page, s.exactPage(ctx, rt, account, where, args, pl.cond == "", order, q, page)
	}
	decided, err := s.decide(ctx, p.membershipConds)
	if err != nil {
		return nil, err
	}
	rows, err := s.read(ctx).QueryContext(ctx, "SELECT "+resourceColumns+" FROM resources r WHERE "+where+" ORDER BY "+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResource(rt, account, rows)
		if err != nil {
			return nil, err
		}
		ok, err := scimfilter.Match(rt, &scimfilter.Target{ID: r.ID, Attributes: r.Attributes, Created: r.Created, Modified: r.Modified, Decided: decided}, q.Filter)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		page.Total++
		if page.Total >= q.StartIndex && len(page.Resources) < q.Count {
			page.Resources = append(page.Resources, r)
		}
	}
	return page, rows.Err()
}

// exactPage reads a page that SQL selects exactly. A page that comes back
// short, and not because it starts beyond the end, tells the total without
// counting; the total of all the account's resources of a type (all, no
// filter) is kept by triggers in resource_counts rather than counted.
func (s *Store) exactPage(ctx context.Context, rt *schemas.ResourceType, account, where string, args []any, all bool, order string, q store.Query, page *store.Page) error {
	count := func() error {
		if all {
			return s.read(ctx).QueryRowContext(ctx, "SELECT COALESCE((SELECT n FROM resource_counts WHERE account = ? AND type = ?), 0)", account, rt.Name).Scan(&page.Total)
		}
		return s.read(ctx).QueryRowContext(ctx, "SELECT COUNT(*) FROM resources r WHERE "+where, args...).Scan(&page.Total)
	}
	if q.Count <= 0 {
		return count()
	}
	if _, inTx := ctx.Value(txKey{s}).(*conn); all && order == creationOrder && !inTx {
		return s.bookmarkedPage(ctx, rt, account, q, page)
	}
	// The page's rows are picked from the index first and read from the
	// table after: with OFFSET, SQLite would otherwise read every skipped
	// row from the table too.
	rows, err := s.read(ctx).QueryContext(ctx, "SELECT "+resourceColumns+" FROM resources r WHERE r.rowid IN (SELECT r.rowid FROM resources r WHERE "+where+
		" ORDER BY "+order+" LIMIT ? OFFSET ?) ORDER BY "+order, append(args, q.Count, q.StartIndex-1)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanResource(rt, account, rows)
		if err != nil {
			return err
		}
		page.Resources = append(page.Resources, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n := len(page.Resources); n < q.Count && (n > 0 || q.StartIndex == 1) {
		page.Total = q.StartIndex - 1 + n
		return nil
	}
	return count()
}

// plan is SQL for (a superset of) the resources a filter selects.
type plan struct {
	// cond is a condition on the resources table (alias r); empty: no
	// condition an index helps with.
	cond string
	args []any
	// exact: cond selects exactly the resources the filter selects.
	exact bool
	// in is set when the plan is one equality on an indexed key, so that
	// an or-chain of them becomes one IN list (SQLite refuses expressions
	// nested more than 1,000 deep, which a chain of terms is).
	in *inList
}

// inList is "key IN (values)": tmpl holds %s where the placeholders go,
// lead the arguments before the values.
type inList struct {
	tmpl   string
	lead   []any
	values []any
}

func (l *inList) plan(exact bool) plan {
	return plan{cond: fmt.Sprintf(l.tmpl, placeholders(len(l.values))), args: append(append([]any(nil), l.lead...), l.values...), exact: exact, in: l}
}

// maxTerms bounds the conditions joined in one SQL expression; a longer
// chain that does not merge into IN lists is checked in memory.
const maxTerms = 500

// planner translates the indexed parts of a filter.
type planner struct {
	rt      *schemas.ResourceType
	account string
	kind    store.Kind
	// membershipConds are the conditions on Group.members or User.groups
	// met; when the filter is checked in memory, the ids satisfying each
	// are looked up once (see decide).
	membershipConds []membershipCond
}

var everything = plan{}

func (p *planner) expr(e filter.Expression) (plan, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		var parts []plan
		for _, operand := range chain(x, x.Operator) {
			part, err := p.expr(operand)
			if err != nil {
				return plan{}, err
			}
			parts = append(parts, part)
		}
		return combine(x.Operator, parts), nil
	case *filter.NotExpression:
		// Narrowing says nothing of the complement: check in memory (the
		// planner still walks it for its membership conditions).
		if _, err := p.expr(x.Expression); err != nil {
			return plan{}, err
		}
		return everything, nil
	case *filter.AttributeExpression:
		a, err := scimfilter.Resolve(p.rt, x.AttributePath, x.Operator)
		if err != nil {
			return plan{}, err
		}
		if a.Ext == nil && !a.Common && a.Def.Name() == p.kind.Membership {
			return p.membership(x, a)
		}
		if x.Operator != filter.EQ {
			return everything, nil
		}
		return p.equality(a, x.CompareValue)
	case *filter.ValuePath:
		a, err := scimfilter.Resolve(p.rt, x.AttributePath, filter.PR)
		if err != nil {
			return plan{}, err
		}
		if a.Ext == nil && a.Def.Name() == p.kind.Membership {
			return p.membershipValuePath(x, a)
		}
		return p.valueFilter(a, x.ValueFilter)
	}
	return plan{}, failure.InvalidFilter("unsupported filter expression")
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

// combine joins the plans of the operands of and/or. For "and" every
// narrowing condition holds (each selects a superset of its operand); for
// "or" the union narrows only if every operand narrows, and equalities on
// one key merge into one IN list.
func combine(op filter.LogicalOperator, parts []plan) plan {
	exact := true
	for _, part := range parts {
		exact = exact && part.exact && part.cond != ""
	}
	var conds []plan
	if op == filter.OR {
		lists := map[string]*inList{}
		for _, part := range parts {
			if part.cond == "" {
				return everything
			}
			if part.in == nil {
				conds = append(conds, part)
				continue
			}
			k := fmt.Sprint(part.in.tmpl, part.in.lead)
			if l, ok := lists[k]; ok {
				l.values = append(l.values, part.in.values...)
				continue
			}
			l := &inList{tmpl: part.in.tmpl, lead: part.in.lead, values: append([]any(nil), part.in.values...)}
			lists[k] = l
			conds = append(conds, plan{in: l})
		}
		for i, c := range conds {
			if c.in != nil {
				conds[i] = c.in.plan(true)
			}
		}
		if len(conds) > maxTerms {
			return everything
		}
	} else {
		for _, part := range parts {
			if part.cond != "" && len(conds) < maxTerms {
				conds = append(conds, part)
			} else {
				exact = false
			}
		}
	}
	if len(conds) == 1 {
		c := conds[0]
		c.exact = exact
		return c
	}
	var sqls []string
	var args []any
	for _, c := range conds {
		sqls = append(sqls, "("+c.cond+")")
		args = append(args, c.args...)
	}
	joiner := " AND "
	if op == filter.OR {
		joiner = " OR "
	}
	return plan{cond: strings.Join(sqls, joiner), args: args, exact: exact}
}

// equality plans a = v: an index lookup when a is indexed.
func (p *planner) equality(a schemas.Attr, v any) (plan, error) {
	o, err := scimfilter.MakeOperand(a.Leaf(), a.Name(), filter.EQ, v, a.Common && a.Def.Name() == schemas.AttrMeta)
	if err != nil {
		return plan{}, err
	}
	s, ok := o.Value.(string)
	if !ok {
		return everything, nil
	}
	switch {
	case a.Common && store.CommonField(a) == store.FieldID:
		return (&inList{tmpl: "r.id IN (%s)", values: []any{s}}).plan(true), nil
	case a.Common && store.CommonField(a) == store.FieldExternalID:
		return (&inList{tmpl: "r.external_id IN (%s)", values: []any{s}}).plan(true), nil
	case a.Common:
		return everything, nil
	case a.Ext == nil && a.Sub == nil && a.Def.Name() == p.kind.Unique:
		// The column holds the lower-cased value: exact for the
		// case-insensitive comparison, a superset otherwise.
		return (&inList{tmpl: "r.unique_key IN (%s)", values: []any{strings.ToLower(s)}}).plan(o.CaseInsensitive), nil
	}
	if k, ok := lookupKeyOf(p.rt, a); ok {
		return (&inList{
			tmpl:   "r.id IN (SELECT id FROM lookups WHERE account = ? AND type = ? AND key = ? AND value IN (%s))",
			lead:   []any{p.account, p.rt.Name, k.key},
			values: []any{s},
		}).plan(true), nil
	}
	return everything, nil
}

// valueFilter plans a[filter] on a complex attribute: the conditions on
// its indexed sub-attribute (emails[type eq "work" and value eq "x"]
// narrows by the address) are looked up, the rest checked in memory.
func (p *planner) valueFilter(a schemas.Attr, e filter.Expression) (plan, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		var parts []plan
		for _, operand := range chain(x, x.Operator) {
			part, err := p.valueFilter(a, operand)
			if err != nil {
				return plan{}, err
			}
			parts = append(parts, part)
		}
		pl := combine(x.Operator, parts)
		// "and" must hold for one element; the lookups are per resource.
		pl.exact = pl.exact && (x.Operator == filter.OR || !a.Def.MultiValued())
		return pl, nil
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ {
			return everything, nil
		}
		sub, err := scimfilter.ResolveSub(a.Def, a.Name(), x.AttributePath)
		if err != nil {
			return plan{}, err
		}
		a.Sub = &sub
		return p.equality(a, x.CompareValue)
	}
	return everything, nil
}

// membershipCond is a condition on the membership attribute, and the
// query of the ids of the resources that satisfy it (for "ne": that have
// the value).
type membershipCond struct {
	expr  filter.Expression
	query string
	args  []any
}

// membership plans a condition on Group.members or User.groups, which
// live in the memberships table.
func (p *planner) membership(x *filter.AttributeExpression, a schemas.Attr) (plan, error) {
	if a.Sub != nil && a.Sub.Name() != "value" {
		return plan{}, failure.InvalidFilter("%s can be filtered on by value only (e.g. %s eq \"<id>\")", a.Def.Name(), a.Def.Name())
	}
	var id string
	switch x.Operator {
	case filter.EQ, filter.NE:
		v, ok := x.CompareValue.(string)
		if !ok {
			return plan{}, failure.InvalidFilter("%s is compared with an id in double quotes", a.Name())
		}
		id = v
	case filter.PR:
	default:
		return plan{}, failure.InvalidFilter("%s supports eq, ne and pr", a.Def.Name())
	}
	self, other := "member", "group_id"
	if p.kind.GroupSide {
		self, other = "group_id", "member"
	}
	c := membershipCond{expr: x, query: "SELECT " + self + " FROM memberships WHERE account = ?", args: []any{p.account}}
	if x.Operator != filter.PR {
		c.query += " AND " + other + " = ?"
		c.args = append(c.args, id)
	}
	p.membershipConds = append(p.membershipConds, c)
	if x.Operator == filter.NE {
		return plan{cond: "r.id NOT IN (" + c.query + ")", args: c.args, exact: true}, nil
	}
	return plan{cond: "r.id IN (" + c.query + ")", args: c.args, exact: true}, nil
}

// membershipValuePath plans members[value eq "<id>"] (the form Entra ID
// uses) like members.value eq "<id>".
func (p *planner) membershipValuePath(x *filter.ValuePath, a schemas.Attr) (plan, error) {
	inner, ok := x.ValueFilter.(*filter.AttributeExpression)
	if !ok || inner.Operator != filter.EQ || inner.AttributePath.URIPrefix != nil || inner.AttributePath.SubAttribute != nil || !strings.EqualFold(inner.AttributePath.AttributeName, "value") {
		return plan{}, failure.InvalidFilter("%s[...] supports one condition on value, e.g. %s[value eq \"<id>\"]", a.Def.Name(), a.Def.Name())
	}
	v, _ := schemas.SubAttribute(a.Def, "value")
	a.Sub = &v
	pl, err := p.membership(inner, a)
	if err == nil {
		// The in-memory check meets the value path, not its inner part.
		p.membershipConds[len(p.membershipConds)-1].expr = x
	}
	return pl, err
}

// decide looks up, for the in-memory check, the ids of the resources that
// satisfy each membership condition (for "ne": that have the value).
func (s *Store) decide(ctx context.Context, conds []membershipCond) (map[filter.Expression]map[string]bool, error) {
	if len(conds) == 0 {
		return nil, nil
	}
	out := map[filter.Expression]map[string]bool{}
	for _, c := range conds {
		ids, err := s.strings(ctx, c.query, c.args...)
		if err != nil {
			return nil, err
		}
		set := make(map[string]bool, len(ids))
		for _, id := range ids {
			set[id] = true
		}
		out[c.expr] = set
	}
	return out, nil
}

// ---- sorting ----

// orderBy is the ORDER BY clause of a query: by the attribute (a
// case-insensitive string by its lower-cased value), then by id so that
// pages never overlap. Resources without a value come last in ascending
// order and first in descending order (RFC 7644 §3.4.2.3).
func orderBy(rt *schemas.ResourceType, sortBy string, desc bool) (string, error) {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	if sortBy == "" {
		return "r.created" + dir + ", r.id" + dir, nil
	}
	k, err := store.ResolveSort(rt, sortBy)
	if err != nil {
		return "", err
	}
	var expr string
	switch {
	case k.Attr.Common:
		switch store.CommonField(k.Attr) {
		case store.FieldID:
			return "r.id" + dir, nil
		case store.FieldCreated:
			return "r.created" + dir + ", r.id" + dir, nil
		case store.FieldModified:
			return "r.modified" + dir + ", r.id" + dir, nil
		}
		expr = "r.external_id"
	case k.Attr.Ext == nil && k.Attr.Sub == nil && k.Attr.Def.Name() == store.KindOf(rt).Unique:
		return "r.unique_key" + dir + ", r.id" + dir, nil
	default:
		expr = "json_extract(r.attrs, " + jsonPathLiteral(attrPath(k.Attr)...) + ")"
		if k.Lower {
			expr = "scim_lower(" + expr + ")"
		}
	}
	return "(" + expr + " IS NULL)" + dir + ", " + expr + dir + ", r.id" + dir, nil
}

// attrPath is the keys leading to an attribute in the stored JSON.
func attrPath(a schemas.Attr) []string {
	var keys []string
	if a.Ext != nil {
		keys = append(keys, a.Ext.Schema.ID)
	}
	keys = append(keys, a.Def.Name())
	if a.Sub != nil {
		keys = append(keys, a.Sub.Name())
	}
	return keys
}

// jsonPathLiteral is an SQL string literal of the JSON path to the keys.
func jsonPathLiteral(keys ...string) string {
	var b strings.Builder
	b.WriteString("'$")
	for _, k := range keys {
		b.WriteString(`."`)
		b.WriteString(strings.NewReplacer(`'`, `''`, `"`, `\"`).Replace(k))
		b.WriteString(`"`)
	}
	b.WriteString("'")
	return b.String()
}

func init() {
	// scim_lower lower-cases as Go does (SQLite's lower() knows ASCII only),
	// so that sorting agrees with the case-insensitive comparisons.
	sqlite.MustRegisterDeterministicScalarFunction("scim_lower", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		if s, ok := args[0].(string); ok {
			return strings.ToLower(s), nil
		}
		return args[0], nil
	})
}

// creationOrder is the order of a list without sortBy.
const creationOrder = "r.created ASC, r.id ASC"

// bookmarkedPage reads a page of all the account's resources of a type in
// creation order. OFFSET skips the index entries before the page one by
// one (about 1 ms for 5,000 here), so the store keeps bookmarks: the
// (created, id) of the resource at a position, taken from the pages it
// read, valid while no resource of the type was inserted or deleted
// (resource_counts.gen). A page starts from the nearest bookmark before
// it; one read sequentially (startIndex 1, 101, 201, …) finds its start
// marked by the page before (each page reads one row more for that). The
// total and gen come with the page, in the same statement.
func (s *Store) bookmarkedPage(ctx context.Context, rt *schemas.ResourceType, account string, q store.Query, page *store.Page) error {
	offset := q.StartIndex - 1
	for attempt := 0; ; attempt++ {
		gen, at, mark, ok := s.bookmarks.nearest(account, rt.Name, offset)
		ok = ok && attempt == 0
		where, args := "r.account = ?1 AND r.type = ?2", []any{account, rt.Name, q.Count + 1, offset}
		if ok {
			where += " AND (r.created, r.id) >= (?5, ?6)"
			args[3] = offset - at
			args = append(args, mark.created, mark.id)
		}
		rows, err := s.read(ctx).QueryContext(ctx, "SELECT "+resourceColumns+
			", (SELECT n FROM resource_counts WHERE account = ?1 AND type = ?2), (SELECT gen FROM resource_counts WHERE account = ?1 AND type = ?2)"+
			" FROM resources r WHERE r.rowid IN (SELECT r.rowid FROM resources r WHERE "+where+" ORDER BY "+creationOrder+" LIMIT ?3 OFFSET ?4) ORDER BY "+creationOrder,
			args...)
		if err != nil {
			return err
		}
		var raws []rawResource
		var total, now int64
		for rows.Next() {
			var raw rawResource
			if err := rows.Scan(append(raw.dest(), &total, &now)...); err != nil {
				rows.Close()
				return err
			}
			raws = append(raws, raw)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(raws) == 0 {
			// Beyond the end (or the mark is stale and points there).
			if ok {
				continue
			}
			return s.read(ctx).QueryRowContext(ctx, "SELECT COALESCE((SELECT n FROM resource_counts WHERE account = ? AND type = ?), 0)", account, rt.Name).Scan(&page.Total)
		}
		if ok && now != gen {
			continue // resources came or went since the mark: read again without it
		}
		s.bookmarks.mark(account, rt.Name, now, offset, bookmark{raws[0].created, raws[0].id})
		if len(raws) > q.Count {
			s.bookmarks.mark(account, rt.Name, now, offset+q.Count, bookmark{raws[q.Count].created, raws[q.Count].id})
			raws = raws[:q.Count]
		}
		page.Total = int(total)
		for i := range raws {
			r, err := raws[i].resource(rt, account)
			if err != nil {
				return err
			}
			page.Resources = append(page.Resources, r)
		}
		return nil
	}
}

// bookmark is the place of a resource in creation order.
type bookmark struct {
	created int64
	id      string
}

// bookmarks are, per account and type, the bookmarks taken at one gen.
type bookmarks struct {
	mu    sync.Mutex
	lists map[[2]string]*bookmarkList
}

type bookmarkList struct {
	gen   int64
	at    []int // positions, sorted
	marks map[int]bookmark
}

// Bounds of bookmarks: a list of 100,000 users read in pages of 100 takes
// 1,000 of them.
const (
	maxBookmarks     = 2000 // per account and type
	maxBookmarkLists = 1000
)

// nearest returns the bookmark at the greatest position up to pos, with the
// gen it was taken at.
func (b *bookmarks) nearest(account, typ string, pos int) (gen int64, at int, m bookmark, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.lists[[2]string{account, typ}]
	if l == nil {
		return 0, 0, bookmark{}, false
	}
	i, found := slices.BinarySearch(l.at, pos)
	if !found {
		if i == 0 {
			return 0, 0, bookmark{}, false
		}
		i--
	}
	return l.gen, l.at[i], l.marks[l.at[i]], true
}

// mark records the resource at a position, at gen; bookmarks of another
// gen are dropped.
func (b *bookmarks) mark(account, typ string, gen int64, pos int, m bookmark) {
	b.mu.Lock()
	defer b.mu.Unlock()
	key := [2]string{account, typ}
	l := b.lists[key]
	switch {
	case l != nil && l.gen > gen:
		return // a newer read was first
	case l == nil || l.gen < gen || len(l.at) >= maxBookmarks:
		if l == nil && len(b.lists) >= maxBookmarkLists {
			for k := range b.lists {
				delete(b.lists, k)
				break
			}
		}
		if b.lists == nil {
			b.lists = map[[2]string]*bookmarkList{}
		}
		l = &bookmarkList{gen: gen, marks: map[int]bookmark{}}
		b.lists[key] = l
	}
	if _, there := l.marks[pos]; !there {
		i, _ := slices.BinarySearch(l.at, pos)
		l.at = slices.Insert(l.at, i, pos)
	}
	l.marks[pos] = m
}
