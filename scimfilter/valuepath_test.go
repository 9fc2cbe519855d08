package scimfilter

import (
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// emails[type eq "work"].value eq "x" (Entra ID's form) parses as the value
// filter it means.
func TestValuePathSubAttributeComparison(t *testing.T) {
	for in, want := range map[string]string{
		`emails[type eq "work"].value eq "a@b.c"`:                                               `emails[type eq "work" and value eq "a@b.c"]`,
		`emails[type eq "work"].Value Eq "a\"]b.c"`:                                             `emails[type eq "work" and Value eq "a"]b.c"]`,
		`emails[type eq "work" or type eq "home"].value co "@b"`:                                `emails[(type eq "work" or type eq "home") and value co "@b"]`,
		`userName eq "x" and phoneNumbers[type eq "mobile"].value pr`:                           `userName eq "x" and phoneNumbers[type eq "mobile" and value pr]`,
		`(addresses[type eq "work"].postalCode sw "98") or active eq true`:                      `addresses[type eq "work" and postalCode sw "98"] or active eq true`,
		`not (urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value ew ".c")`: `not (urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work" and value ew ".c"])`,
		`emails[type eq "work"]`:                                                                `emails[type eq "work"]`,
		`userName eq "a[b].c eq d"`:                                                             `userName eq "a[b].c eq d"`,
		`x[a eq 1].n gt 5 and y[b eq 2].m lt 3`:                                                 `x[a eq 1 and n gt 5] and y[b eq 2 and m lt 3]`,
	} {
		e, err := Parse(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := render(e); got != want {
			t.Errorf("%s\n parses as %s\n      want %s", in, got, want)
		}
	}
	for _, bad := range []string{`emails[type eq "work"].value`, `emails[type eq "work"].value eq`, `emails[type eq "work"].value eq "x`} {
		if e, err := Parse(bad); err == nil {
			t.Errorf("%s parsed as %v", bad, e)
		}
	}
}

// render writes an expression with explicit grouping where it matters.
func render(e filter.Expression) string {
	switch x := e.(type) {
	case *filter.ValuePath:
		return x.AttributePath.String() + "[" + render(x.ValueFilter) + "]"
	case *filter.LogicalExpression:
		l, r := render(x.Left), render(x.Right)
		if inner, ok := x.Left.(*filter.LogicalExpression); ok && inner.Operator != x.Operator {
			l = "(" + l + ")"
		}
		return l + " " + string(x.Operator) + " " + r
	case *filter.NotExpression:
		return "not (" + render(x.Expression) + ")"
	case *filter.AttributeExpression:
		if x.Operator == filter.PR {
			return x.AttributePath.String() + " pr"
		}
		if s, ok := x.CompareValue.(string); ok {
			return x.AttributePath.String() + " " + string(x.Operator) + ` "` + s + `"`
		}
		return x.String()
	}
	return "?"
}

// Value filters take the whole filter grammar inside their brackets (the
// parser's own value-filter grammar refuses these).
func TestValueFiltersWithTheFullGrammar(t *testing.T) {
	for in, want := range map[string]string{
		`emails[type eq "work" and value co "x" and primary eq true]`:      `emails[type eq "work" and value co "x" and primary eq true]`,
		`emails[type eq "work" or type eq "home" or type eq "other"]`:      `emails[type eq "work" or type eq "home" or type eq "other"]`,
		`emails[(type eq "work" or type eq "home") and value co "x"]`:      `emails[(type eq "work" or type eq "home") and value co "x"]`,
		`emails[not (type eq "work") and value sw "a"] or userName pr`:     `emails[not (type eq "work") and value sw "a"] or userName pr`,
		`emails[value eq "a]b" and type eq "x[y"]`:                         `emails[value eq "a]b" and type eq "x[y"]`,
		`emails[type eq "a" and type eq "b" and type eq "c"].value eq "v"`: `emails[type eq "a" and type eq "b" and type eq "c" and value eq "v"]`,
	} {
		e, err := Parse(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := render(e); got != want {
			t.Errorf("%s\n parses as %s\n      want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`members[value eq "1" or value eq "2" or value eq "3"]`:         `members[value eq "1" or value eq "2" or value eq "3"]`,
		`emails[type eq "work" and primary eq true and value pr].value`: `emails[type eq "work" and primary eq true and value pr].value`,
		`name.givenName`: `name.givenName`,
	} {
		p, err := ParsePath(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got := p.AttributePath.String()
		if p.ValueExpression != nil {
			got += "[" + render(p.ValueExpression) + "]"
		}
		if p.SubAttribute != nil {
			got += "." + *p.SubAttribute
		}
		if got != want {
			t.Errorf("path %s\n parses as %s\n      want %s", in, got, want)
		}
	}
	for _, bad := range []string{`emails[type eq "work"`, `emails[type eq "work"]x`, `emails[]`, `emails[type eq]`} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("path %s parsed", bad)
		}
	}
}
