package scimfilter

import (
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// parseEquality parses the filter identity providers send before nearly
// every write — attr eq "value" or attr.sub eq "value", such as
// userName eq "bjensen@example.com" — without the general parser, which
// costs a hundred times more. It reports false for anything else (an
// escape in the string included), which the general parser then reads;
// a test holds both to the same result.
func parseEquality(s string) (filter.Expression, bool) {
	path, rest, ok := strings.Cut(s, " ")
	if !ok || len(rest) < 5 || !strings.EqualFold(rest[:3], "eq ") {
		return nil, false
	}
	value := rest[3:]
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return nil, false
	}
	value = value[1 : len(value)-1]
	if strings.ContainsAny(value, "\"\\") {
		return nil, false
	}
	name, sub, hasSub := strings.Cut(path, ".")
	if !isAttrName(name) || (hasSub && !isAttrName(sub)) {
		return nil, false
	}
	ap := filter.AttributePath{AttributeName: name}
	if hasSub {
		ap.SubAttribute = &sub
	}
	return &filter.AttributeExpression{AttributePath: ap, Operator: filter.EQ, CompareValue: value}, true
}

// isAttrName reports whether s is an ATTRNAME of RFC 7643's grammar: ALPHA
// followed by letters, digits, "-" and "_".
func isAttrName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return true
}
