// Package scimfilter parses SCIM filters and PATCH paths (RFC 7644 §3.4.2.2,
// §3.5.2) and evaluates filters against a resource held in memory.
//
// Parsing is github.com/scim2/filter-parser/v2; this package adds the pieces
// the parser leaves out: string values are JSON-unescaped, errors become
// failure.Error with a detail a person can act on, and compare values are
// checked against the attribute's type once (Operand), for both the database
// translation (package store) and in-memory evaluation (Match).
package scimfilter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// Parse parses a filter expression.
func Parse(s string) (filter.Expression, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, failure.InvalidFilter("the filter is empty")
	}
	if e, ok := parseEquality(s); ok {
		return e, nil
	}
	text, cut := cutValuePaths(s)
	e, err := filter.ParseFilter([]byte(text))
	if err == nil && len(cut) > 0 {
		e, err = pasteValuePaths(e, cut)
	}
	if err != nil {
		return nil, failure.InvalidFilter("the filter %q could not be parsed: %s", s, parseErrorDetail(err))
	}
	if err := unescape(e); err != nil {
		return nil, err
	}
	return e, nil
}

// ParsePath parses a PATCH path ("members[value eq \"x\"]",
// "emails[type eq \"work\"].value", "name.givenName").
func ParsePath(s string) (filter.Path, error) {
	p, hasFilter, err := parsePathWithFilter(strings.TrimSpace(s))
	if !hasFilter {
		p, err = filter.ParsePath([]byte(strings.TrimSpace(s)))
	}
	if err != nil {
		return filter.Path{}, failure.InvalidPath("the path %q could not be parsed: %s", s, parseErrorDetail(err))
	}
	if p.ValueExpression != nil {
		if err := unescape(p.ValueExpression); err != nil {
			return filter.Path{}, err
		}
	}
	return p, nil
}

var parsePosition = regexp.MustCompile(`\[(\d+):(\d+)\]`)

// parseErrorDetail turns the parser's message into a short hint: where it
// stopped. (The parser's own wording names grammar internals.)
func parseErrorDetail(err error) string {
	if m := parsePosition.FindStringSubmatch(err.Error()); m != nil {
		var col int
		fmt.Sscanf(m[2], "%d", &col)
		return fmt.Sprintf("unexpected input at character %d (expected e.g. userName eq \"bjensen\"; strings need double quotes)", col)
	}
	return "expected e.g. userName eq \"bjensen\" (strings need double quotes)"
}

// unescape replaces each string compare value, which the parser returns as
// written between the quotes, by its JSON-decoded text.
func unescape(e filter.Expression) error {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if s, ok := x.CompareValue.(string); ok && strings.Contains(s, `\`) {
			var out string
			if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
				return failure.InvalidFilter("the string %q has an invalid escape sequence", s)
			}
			x.CompareValue = out
		}
	case *filter.LogicalExpression:
		if err := unescape(x.Left); err != nil {
			return err
		}
		return unescape(x.Right)
	case *filter.NotExpression:
		return unescape(x.Expression)
	case *filter.ValuePath:
		return unescape(x.ValueFilter)
	}
	return nil
}

// Operand is a filter's compare value checked against the attribute it is
// compared with.
type Operand struct {
	// Value: a lower-cased string for case-insensitive strings, the string
	// for case-exact ones and dateTimes (in schemas.TimeFormat), bool,
	// float64, or time.Time for meta.created / meta.lastModified.
	Value any
	// CaseInsensitive is set for strings compared without regard to case.
	CaseInsensitive bool
}

// Kind of a leaf attribute, as far as comparison goes.
func kindOf(leaf schema.CoreAttribute) string { return leaf.AttributeType() }

// MakeOperand checks that op and the compare value suit the attribute and
// returns the value in the form both evaluators compare with. metaTime is set
// for meta.created and meta.lastModified, which are compared as times.
func MakeOperand(leaf schema.CoreAttribute, path string, op filter.CompareOperator, v any, metaTime bool) (Operand, error) {
	if op == filter.PR {
		return Operand{}, nil
	}
	if v == nil {
		return Operand{}, failure.InvalidFilter("%s %s null is not supported; use \"not (%s pr)\" to find resources without %s", path, op, path, path)
	}
	switch kindOf(leaf) {
	case "complex":
		return Operand{}, failure.InvalidFilter("%s is complex: compare one of its sub-attributes, e.g. %s.value", path, path)
	case "boolean":
		if op != filter.EQ && op != filter.NE {
			return Operand{}, failure.InvalidFilter("%s is a boolean: only eq, ne and pr apply", path)
		}
		switch b := v.(type) {
		case bool:
			return Operand{Value: b}, nil
		case string:
			if strings.EqualFold(b, "true") || strings.EqualFold(b, "false") {
				return Operand{Value: strings.EqualFold(b, "true")}, nil
			}
		}
		return Operand{}, failure.InvalidFilter("%s is a boolean: compare it with true or false", path)
	case "integer", "decimal":
		if isStringOp(op) {
			return Operand{}, failure.InvalidFilter("%s is a number: %s does not apply", path, op)
		}
		switch n := v.(type) {
		case int:
			return Operand{Value: float64(n)}, nil
		case float64:
			return Operand{Value: n}, nil
		case json.Number:
			f, err := n.Float64()
			if err == nil {
				return Operand{Value: f}, nil
			}
		}
		return Operand{}, failure.InvalidFilter("%s is a number: compare it with a number", path)
	case "dateTime":
		s, ok := v.(string)
		if !ok {
			return Operand{}, failure.InvalidFilter("%s is a dateTime: compare it with a string such as \"2026-01-31T09:00:00Z\"", path)
		}
		t, err := schemas.ParseTime(s)
		if err != nil {
			return Operand{}, failure.InvalidFilter("%s is a dateTime, and %q is not one (use e.g. \"2026-01-31T09:00:00Z\")", path, s)
		}
		if isStringOp(op) {
			return Operand{}, failure.InvalidFilter("%s is a dateTime: use eq, ne, gt, ge, lt or le", path)
		}
		if metaTime {
			return Operand{Value: t}, nil
		}
		return Operand{Value: schemas.FormatTime(t)}, nil
	case "binary":
		return Operand{}, failure.InvalidFilter("%s is binary and cannot be filtered on", path)
	}
	s, ok := v.(string)
	if !ok {
		return Operand{}, failure.InvalidFilter("%s is a string: put the value in double quotes", path)
	}
	if !leaf.CaseExact() {
		return Operand{Value: strings.ToLower(s), CaseInsensitive: true}, nil
	}
	return Operand{Value: s}, nil
}

// Present reports whether a value satisfies "pr" (RFC 7644 §3.4.2.2: "the
// attribute has a non-empty value"): anything but null, "", an empty array
// or an empty object. A string of spaces is a non-empty value; the database
// translation ($gt "") agrees.
func Present(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

func isStringOp(op filter.CompareOperator) bool {
	return op == filter.CO || op == filter.SW || op == filter.EW
}

// Compare applies op to one stored value (as held in a resource's
// attributes, or a time.Time for meta times) and the operand. Values of
// another type never match.
func Compare(op filter.CompareOperator, actual any, o Operand) bool {
	if op == filter.PR {
		return Present(actual)
	}
	switch want := o.Value.(type) {
	case bool:
		got, ok := actual.(bool)
		return ok && (got == want) == (op == filter.EQ)
	case float64:
		got, ok := toFloat(actual)
		return ok && ordered(op, cmpFloat(got, want))
	case time.Time:
		got, ok := actual.(time.Time)
		return ok && ordered(op, got.Compare(want))
	case string:
		got, ok := actual.(string)
		if !ok {
			return false
		}
		if o.CaseInsensitive {
			got = strings.ToLower(got)
		}
		switch op {
		case filter.CO:
			return strings.Contains(got, want)
		case filter.SW:
			return strings.HasPrefix(got, want)
		case filter.EW:
			return strings.HasSuffix(got, want)
		}
		return ordered(op, strings.Compare(got, want))
	}
	return false
}

func ordered(op filter.CompareOperator, c int) bool {
	switch op {
	case filter.EQ:
		return c == 0
	case filter.NE:
		return c != 0
	case filter.GT:
		return c > 0
	case filter.GE:
		return c >= 0
	case filter.LT:
		return c < 0
	case filter.LE:
		return c <= 0
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}
