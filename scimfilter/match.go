package scimfilter

import (
	"time"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// Target is a resource as the in-memory evaluator sees it.
type Target struct {
	ID         string
	Attributes map[string]any
	Created    time.Time
	Modified   time.Time
	// Decided answers expressions the caller already evaluated elsewhere
	// (group membership, which lives in its own collection): the ids of the
	// resources that satisfy the expression (for "ne": that have the value).
	Decided map[filter.Expression]map[string]bool
}

// Match reports whether the resource satisfies the filter. It agrees with
// the database translation in package store; store uses it to refine a
// superset query where the database cannot express a filter exactly.
func Match(rt *schemas.ResourceType, t *Target, e filter.Expression) (bool, error) {
	if ids, ok := t.Decided[e]; ok {
		if x, isAttr := e.(*filter.AttributeExpression); isAttr && x.Operator == filter.NE {
			return !ids[t.ID], nil
		}
		return ids[t.ID], nil
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := Match(rt, t, x.Left)
		if err != nil {
			return false, err
		}
		// Evaluate the right side even when the left decides, so that an
		// invalid filter fails the same way whatever the data.
		r, err := Match(rt, t, x.Right)
		if err != nil {
			return false, err
		}
		if x.Operator == filter.AND {
			return l && r, nil
		}
		return l || r, nil
	case *filter.NotExpression:
		m, err := Match(rt, t, x.Expression)
		return !m, err
	case *filter.AttributeExpression:
		a, err := Resolve(rt, x.AttributePath, x.Operator)
		if err != nil {
			return false, err
		}
		leaf, isMeta := a.Leaf(), a.Common && a.Def.Name() == schemas.AttrMeta
		o, err := MakeOperand(leaf, a.Name(), x.Operator, x.CompareValue, isMeta)
		if err != nil {
			return false, err
		}
		return MatchValues(x.Operator, values(rt, t, a), o), nil
	case *filter.ValuePath:
		a, err := Resolve(rt, x.AttributePath, filter.PR)
		if err != nil {
			return false, err
		}
		if a.Leaf().AttributeType() != "complex" {
			return false, failure.InvalidFilter("%s[...] needs a complex attribute; %s is not one", a.Name(), a.Name())
		}
		match, err := CompileElement(a.Def, a.Name(), x.ValueFilter)
		if err != nil {
			return false, err
		}
		for _, el := range elements(a.Container(t.Attributes, false)[a.Def.Name()]) {
			if match(el) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, failure.InvalidFilter("unsupported filter expression")
}

// MatchElement evaluates a value filter (the part between brackets in
// emails[type eq "work"]) against one value of the complex attribute def.
func MatchElement(def schema.CoreAttribute, path string, el map[string]any, e filter.Expression) (bool, error) {
	match, err := CompileElement(def, path, e)
	if err != nil {
		return false, err
	}
	return match(el), nil
}

// ElementMatcher reports whether one value of a complex attribute
// satisfies a value filter.
type ElementMatcher func(el map[string]any) bool

// CompileElement checks a value filter against the sub-attributes of def
// once, and returns a matcher to run on each value: names are resolved and
// compare values prepared once, not per value (a PATCH may filter the
// values of an attribute a thousand times).
func CompileElement(def schema.CoreAttribute, path string, e filter.Expression) (ElementMatcher, error) {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		l, err := CompileElement(def, path, x.Left)
		if err != nil {
			return nil, err
		}
		r, err := CompileElement(def, path, x.Right)
		if err != nil {
			return nil, err
		}
		if x.Operator == filter.AND {
			return func(el map[string]any) bool { return l(el) && r(el) }, nil
		}
		return func(el map[string]any) bool { return l(el) || r(el) }, nil
	case *filter.NotExpression:
		m, err := CompileElement(def, path, x.Expression)
		if err != nil {
			return nil, err
		}
		return func(el map[string]any) bool { return !m(el) }, nil
	case *filter.AttributeExpression:
		sub, err := ResolveSub(def, path, x.AttributePath)
		if err != nil {
			return nil, err
		}
		o, err := MakeOperand(sub, path+"."+sub.Name(), x.Operator, x.CompareValue, false)
		if err != nil {
			return nil, err
		}
		name, op := sub.Name(), x.Operator
		return func(el map[string]any) bool {
			v, ok := el[name]
			if !ok {
				return MatchValues(op, nil, o)
			}
			return MatchValues(op, []any{v}, o)
		}, nil
	}
	return nil, failure.InvalidFilter("%s[...] may only hold comparisons of its sub-attributes", path)
}

// ResolveSub resolves the attribute named inside a value filter: a
// sub-attribute of def.
func ResolveSub(def schema.CoreAttribute, path string, p filter.AttributePath) (schema.CoreAttribute, error) {
	if p.URIPrefix != nil || p.SubAttribute != nil {
		return schema.CoreAttribute{}, failure.InvalidFilter("inside %s[...] name a sub-attribute of %s, such as value or type", path, path)
	}
	sub, ok := schemas.SubAttribute(def, p.AttributeName)
	if !ok {
		return schema.CoreAttribute{}, failure.InvalidFilter("%s has no sub-attribute %q", path, p.AttributeName)
	}
	return sub, nil
}

// Resolve resolves a filter's attribute path for an operator: unknown
// attributes are invalidFilter errors, and a complex attribute with a
// "value" named without a sub-attribute is compared by its "value" (RFC 7644
// §3.4.2.2: emails co "x"; Entra ID asks manager eq "<id>" before it
// updates a manager), except with pr, which asks for any value at all.
func Resolve(rt *schemas.ResourceType, p filter.AttributePath, op filter.CompareOperator) (schemas.Attr, error) {
	a, err := rt.Resolve(p)
	if err != nil {
		if f, ok := failure.As(err); ok {
			return a, failure.InvalidFilter("%s", f.Detail)
		}
		return a, err
	}
	if a.WholeExtension {
		return a, failure.InvalidFilter("%s is a schema, not an attribute", a.Name())
	}
	if schemas.IsNeverReturned(a.Leaf()) {
		return a, failure.InvalidFilter("%s cannot be used in a filter", a.Name())
	}
	if op != filter.PR && a.Sub == nil && a.Def.AttributeType() == "complex" {
		if v, ok := schemas.SubAttribute(a.Def, "value"); ok {
			a.Sub = &v
		}
	}
	if a.Common && a.Def.Name() == schemas.AttrMeta {
		if a.Sub == nil {
			return a, failure.InvalidFilter("meta is complex: filter on meta.created, meta.lastModified or meta.resourceType")
		}
		switch a.Sub.Name() {
		case "created", "lastModified", "resourceType":
		default:
			return a, failure.InvalidFilter("meta.%s cannot be used in a filter; meta.created, meta.lastModified and meta.resourceType can", a.Sub.Name())
		}
	}
	return a, nil
}

// MatchValues applies op to an attribute's values: true when any value
// matches; "ne" when none equals; "pr" when any is non-empty.
func MatchValues(op filter.CompareOperator, vals []any, o Operand) bool {
	if op == filter.NE {
		// "ne" holds when no value equals (as the database's $nor does).
		return !MatchValues(filter.EQ, vals, o)
	}
	if op == filter.PR {
		for _, v := range vals {
			if Present(v) {
				return true
			}
		}
		return false
	}
	for _, v := range vals {
		if Compare(op, v, o) {
			return true
		}
	}
	return false
}

// values returns the values a resolved path has in the resource: one for a
// singular attribute, one per element for multi-valued ones.
func values(rt *schemas.ResourceType, t *Target, a schemas.Attr) []any {
	if a.Common {
		switch a.Def.Name() {
		case schemas.AttrID:
			return []any{t.ID}
		case schemas.AttrMeta:
			switch a.Sub.Name() {
			case "created":
				return []any{t.Created}
			case "lastModified":
				return []any{t.Modified}
			case "resourceType":
				return []any{rt.Name}
			}
			return nil
		}
	}
	v, ok := a.Container(t.Attributes, false)[a.Def.Name()]
	if !ok || v == nil {
		return nil
	}
	if a.Sub == nil {
		if list, ok := v.([]any); ok {
			return list
		}
		return []any{v}
	}
	var out []any
	for _, el := range elements(v) {
		if sv, ok := el[a.Sub.Name()]; ok {
			out = append(out, sv)
		}
	}
	return out
}

// elements returns the complex values of an attribute: each element of a
// multi-valued one, or the value itself for a singular one.
func elements(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		out := make([]map[string]any, 0, len(x))
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}
