package scimfilter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// seedFilters are filters identity providers and people send, and some
// that must fail; every fuzz target of this package starts from them.
var seedFilters = []string{
	`userName eq "bjensen"`,
	`userName Eq "BJensen@example.com"`,
	`externalId eq "00ub0oNGTSWTBKOLGLNR"`,
	`emails[type eq "work"].value eq "a@b.c"`,
	`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
	`(userName eq "a" or userName eq "b") and not (active eq false)`,
	`meta.lastModified gt "2011-05-13T04:42:34Z"`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d"`,
	`urn:ietf:params:scim:schemas:extension:timecamp:2.0:User:role eq "supervisor"`,
	`name.familyName co "O'Malley"`,
	`title pr and userType eq "Employee"`,
	`displayName eq "Group \"one\" \u00e9\\"`,
	`members[value eq "x" or value eq "y"]`,
	`x eq 1.5e3 and y lt -2 and z ge 0`,
	`emails[type eq "work"`,
	`userName eq`,
	`not(userName pr)`,
	`(((userName pr)))`,
	`userName eq "a" or`,
	`a[b[c eq 1]]`,
	`emails[ type eq "work" ]`,
}

var seedPaths = []string{
	`name.givenName`,
	`emails[type eq "work"].value`,
	`members[value eq "2819c223-7f76-453a-919d-413861904646"]`,
	`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`,
	`addresses[type eq "work" and primary eq true].streetAddress`,
	`emails[type eq "work"`,
	`members[value eq "a" or value eq "b" or value eq "c"]`,
	`name.`,
}

// FuzzParseAgreesWithPEG checks the filter parser against the PEG parser
// it replaced: the same filters parse, into the same trees. The PEG side
// gets the text with the three extensions of parser.go undone.
func FuzzParseAgreesWithPEG(f *testing.F) {
	for _, s := range seedFilters {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > 1000 || strings.Contains(strings.ToLower(s), strings.ToLower(placeholderPrefix)) || nesting(s) > MaxFilterDepth {
			return // empty, slow for the PEG parser, or refused before parsing
		}
		timer := time.AfterFunc(10*time.Second, func() { panic("slow: " + strconv.Quote(s)) })
		defer timer.Stop()
		got, err := parseFilter(s) // without the limits, which the PEG side lacks
		if err == nil {
			err = unescape(got)
		}
		want, pegErr := pegParse(forPEG(s))
		if pegErr == nil && strings.Contains(dump(want), placeholderPrefix) {
			return // nested brackets, which the cut left half-parsed: refused now
		}
		if pegErr == nil && strings.Contains(dump(want), "HUGE") {
			return // an integer beyond int64, which the PEG side garbles
		}
		if (err == nil) != (pegErr == nil) {
			t.Fatalf("%q: parser error %v, PEG parser error %v (PEG tree %s)", s, err, pegErr, dump(want))
		}
		if err == nil && dump(got) != dump(want) {
			t.Fatalf("%q:\n parses as %s\n PEG: %s", s, dump(got), dump(want))
		}
	})
}

// FuzzParsePathAgreesWithPEG is FuzzParseAgreesWithPEG for PATCH paths.
func FuzzParsePathAgreesWithPEG(f *testing.F) {
	for _, s := range seedPaths {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > MaxPathLength || nesting(s) > MaxFilterDepth {
			return
		}
		got, err := ParsePath(s)
		want, pegErr := pegParsePath(forPEG(s))
		if pegErr == nil && want.SubAttribute != nil && !validName(*want.SubAttribute) {
			return // the former parser took any name characters after "]."
		}
		if (err == nil) != (pegErr == nil) {
			t.Fatalf("%q: parser error %v, PEG parser error %v", s, err, pegErr)
		}
		if err == nil && dumpPath(got) != dumpPath(want) {
			t.Fatalf("%q:\n parses as %s\n PEG: %s", s, dumpPath(got), dumpPath(want))
		}
	})
}

// FuzzMatch parses a filter and evaluates it against users held in
// memory: never a panic, only client errors, and "not" negates.
func FuzzMatch(f *testing.F) {
	for _, s := range seedFilters {
		f.Add(s)
	}
	users := []*Target{
		{ID: "u1", Created: time.Unix(1.7e9, 0), Modified: time.Unix(1.8e9, 0), Attributes: map[string]any{
			"userName": "bjensen@example.com", "active": true, "title": "Engineer",
			"name":                    map[string]any{"givenName": "Barbara", "familyName": "O'Malley"},
			"emails":                  []any{map[string]any{"value": "a@b.c", "type": "work", "primary": true}, map[string]any{"value": "x@y.z", "type": "home"}},
			schemas.EnterpriseUserURN: map[string]any{"manager": map[string]any{"value": "u2"}, "employeeNumber": "42"},
		}},
		{ID: "u2", Attributes: map[string]any{"userName": "Ünïcode", "active": false, "x509Certificates": []any{map[string]any{"value": "AAAA"}}}},
		{ID: "u3", Attributes: map[string]any{}},
	}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		e, err := Parse(s)
		if err != nil {
			expectClientError(t, s, err)
			return
		}
		for _, u := range users {
			m, err := Match(schemas.User, u, e)
			if err != nil {
				expectClientError(t, s, err)
				return
			}
			n, err := Match(schemas.User, u, &filter.NotExpression{Expression: e})
			if err != nil || n == m {
				t.Fatalf("%q on %s: %v, and its negation %v (%v)", s, u.ID, m, n, err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%q took %v", s, d)
		}
	})
}

func expectClientError(t *testing.T, s string, err error) {
	t.Helper()
	if f, ok := failure.As(err); !ok || f.Kind != failure.Invalid || f.Detail == "" {
		t.Fatalf("%q: %v is not a client error with a detail", s, err)
	}
}

// forPEG undoes what parser.go accepts beyond the PEG parser: spaces
// inside and before brackets, lower-case \u escapes.
func forPEG(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			end := stringEnd(s, i)
			lit := s[i:end]
			for j := 0; j+5 < len(lit); j++ {
				if lit[j] == '\\' && lit[j+1] == 'u' {
					lit = lit[:j+2] + strings.ToUpper(lit[j+2:j+6]) + lit[j+6:]
					j += 5
				} else if lit[j] == '\\' {
					j++
				}
			}
			b.WriteString(lit)
			i = end - 1
		case c == ' ' && nextNonSpace(s, i) == '[':
		case c == ' ' && b.Len() > 0 && strings.HasSuffix(b.String(), "["):
		case c == ' ' && nextNonSpace(s, i) == ']':
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func nextNonSpace(s string, i int) byte {
	for ; i < len(s); i++ {
		if s[i] != ' ' {
			return s[i]
		}
	}
	return 0
}

func validName(s string) bool {
	p := &parser{s: s}
	_, ok := p.attrName()
	return ok && p.pos == len(s)
}

// dump writes a tree exactly: grouping, URIs, types of compare values.
func dump(e filter.Expression) string {
	switch x := e.(type) {
	case *filter.ValuePath:
		return "VP{" + dumpAttr(x.AttributePath) + " [" + dump(x.ValueFilter) + "]}"
	case *filter.LogicalExpression:
		return "(" + dump(x.Left) + " " + string(x.Operator) + " " + dump(x.Right) + ")"
	case *filter.NotExpression:
		return "NOT(" + dump(x.Expression) + ")"
	case *filter.AttributeExpression:
		v := x.CompareValue
		switch n := v.(type) {
		case int:
			if n == math.MinInt64 {
				return "HUGE" // the PEG side's int(f) of a huge integer
			}
			v = float64(n)
		}
		return fmt.Sprintf("%s %s %T:%#v", dumpAttr(x.AttributePath), x.Operator, v, v)
	case nil:
		return "nil"
	}
	return fmt.Sprintf("?%T", e)
}

func dumpAttr(p filter.AttributePath) string {
	s := p.AttributeName
	if p.URIPrefix != nil {
		s = "<" + *p.URIPrefix + ">" + s
	}
	if p.SubAttribute != nil {
		s += "." + *p.SubAttribute
	}
	return s
}

func dumpPath(p filter.Path) string {
	s := dumpAttr(p.AttributePath)
	if p.ValueExpression != nil {
		s += "[" + dump(p.ValueExpression) + "]"
	}
	if p.SubAttribute != nil {
		s += "." + *p.SubAttribute
	}
	return s
}
