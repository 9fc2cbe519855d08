package scimfilter

// The parser this package used before parser.go: the PEG parser of
// github.com/scim2/filter-parser/v2, with value filters cut out of the text
// and parsed on their own. Kept as the oracle of FuzzParseAgreesWithPEG.

import (
	"fmt"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// pegParse is the former Parse, without its limits and error wording.
func pegParse(s string) (filter.Expression, error) {
	text, cut := cutValuePaths(s)
	e, err := filter.ParseFilter([]byte(text))
	if err == nil && len(cut) > 0 {
		e, err = pasteValuePaths(e, cut)
	}
	if err != nil {
		return nil, err
	}
	if err := unescape(e); err != nil {
		return nil, err
	}
	return e, nil
}

// pegParsePath is the former ParsePath.
func pegParsePath(s string) (filter.Path, error) {
	p, hasFilter, err := parsePathWithFilter(s)
	if !hasFilter {
		p, err = filter.ParsePath([]byte(s))
	}
	if err != nil {
		return filter.Path{}, err
	}
	if p.ValueExpression != nil {
		if err := unescape(p.ValueExpression); err != nil {
			return filter.Path{}, err
		}
	}
	return p, nil
}

// Value filters (emails[type eq "work" and value co "@x"]) are parsed apart
// from the filter around them. scim2/filter-parser v2.3.1 parses a value
// filter with its own, smaller grammar: it refuses more than two
// conditions, parentheses, and "not (...)" combined with and/or inside the
// brackets, all of which RFC 7644 allows. So each value filter is cut out
// of the text (replaced by a placeholder comparison), its attribute path
// and its inner filter are parsed on their own — the inner one with the
// full filter grammar — and the value path is put together in the tree.
//
// The same cut handles a form RFC 7644's grammar lacks but Microsoft Entra
// ID sends: a comparison of a sub-attribute picked by a value filter,
// emails[type eq "work"].value eq "x", which means the value filter
// emails[type eq "work" and value eq "x"] (Entra's attribute mappings name
// emails[type eq "work"].value, and its documentation asks that a matching
// attribute can be queried with exactly that path).

// placeholderPrefix names the placeholders; a filter that already holds it
// is parsed as it is.
const placeholderPrefix = "zzValuePath"

// valuePathPiece is one value filter cut out of a filter.
type valuePathPiece struct {
	attr       string // emails
	inner      string // type eq "work"
	comparison string // value eq "x" (Entra's form), or empty
}

// cutValuePaths replaces each value path in s by a placeholder
// ("zzValuePath0 pr") and returns the pieces. Text inside string literals
// is left alone; what it does not recognise is passed on unchanged for the
// parser to judge.
func cutValuePaths(s string) (string, []valuePathPiece) {
	if strings.Contains(s, placeholderPrefix) {
		return s, nil
	}
	var cut []valuePathPiece
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			end := stringEnd(s, i)
			b.WriteString(s[i:end])
			i = end - 1
			continue
		}
		if c != '[' {
			b.WriteByte(c)
			continue
		}
		text := b.String()
		start := len(text)
		for start > 0 && (isNameChar(text[start-1]) || text[start-1] == ':' || text[start-1] == '.') {
			start--
		}
		close := closingBracket(s, i)
		if start == len(text) || close < 0 {
			b.WriteByte(c) // not a value path: the parser will say so
			continue
		}
		piece := valuePathPiece{attr: text[start:], inner: s[i+1 : close]}
		next := close + 1
		if cmp, n, ok := subComparison(s[next:]); ok {
			piece.comparison = cmp
			next += n
		}
		cut = append(cut, piece)
		b.Reset()
		b.WriteString(text[:start])
		b.WriteString(placeholderPrefix + strconv.Itoa(len(cut)-1) + " pr")
		i = next - 1
	}
	return b.String(), cut
}

// closingBracket returns the index of the ']' closing the '[' at s[i], or
// -1. Value filters do not nest.
func closingBracket(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			j = stringEnd(s, j) - 1
		case ']':
			return j
		case '[':
			return -1
		}
	}
	return -1
}

// subComparison reads ".sub op value" (or ".sub pr") at the start of s and
// returns the comparison without the dot and the number of bytes it takes.
func subComparison(s string) (string, int, bool) {
	if len(s) < 2 || s[0] != '.' {
		return "", 0, false
	}
	i := 1
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	if i == 1 {
		return "", 0, false
	}
	j := skipSpaces(s, i)
	if j == i {
		return "", 0, false
	}
	k := j
	for k < len(s) && isNameChar(s[k]) {
		k++
	}
	switch strings.ToLower(s[j:k]) {
	case "pr":
		if k < len(s) && s[k] != ' ' && s[k] != ')' {
			return "", 0, false
		}
		return s[1:k], k, true
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return "", 0, false
	}
	v := skipSpaces(s, k)
	if v == k || v == len(s) {
		return "", 0, false
	}
	end := v
	if s[v] == '"' {
		end = stringEnd(s, v)
		if s[end-1] != '"' || end == v+1 {
			return "", 0, false
		}
	} else {
		for end < len(s) && s[end] != ' ' && s[end] != ')' {
			end++
		}
	}
	return s[1:end], end, true
}

// pasteValuePaths replaces the placeholders in a parsed filter by the
// value paths they stand for.
func pasteValuePaths(e filter.Expression, cut []valuePathPiece) (filter.Expression, error) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		p := x.AttributePath
		if p.URIPrefix != nil || p.SubAttribute != nil || !strings.HasPrefix(p.AttributeName, placeholderPrefix) {
			return e, nil
		}
		n, err := strconv.Atoi(strings.TrimPrefix(p.AttributeName, placeholderPrefix))
		if err != nil || n < 0 || n >= len(cut) || x.Operator != filter.PR {
			return nil, fmt.Errorf("placeholder %s", p.AttributeName)
		}
		return cut[n].parse()
	case *filter.LogicalExpression:
		l, err := pasteValuePaths(x.Left, cut)
		if err != nil {
			return nil, err
		}
		r, err := pasteValuePaths(x.Right, cut)
		if err != nil {
			return nil, err
		}
		x.Left, x.Right = l, r
	case *filter.NotExpression:
		inner, err := pasteValuePaths(x.Expression, cut)
		if err != nil {
			return nil, err
		}
		x.Expression = inner
	}
	return e, nil
}

// parse parses a value path's attribute path and inner filter (and the
// sub-attribute comparison of Entra's form) into a value path.
func (p valuePathPiece) parse() (*filter.ValuePath, error) {
	ap, err := filter.ParseAttrPath([]byte(p.attr))
	if err != nil {
		return nil, err
	}
	inner, err := filter.ParseFilter([]byte(p.inner))
	if err != nil {
		return nil, err
	}
	if p.comparison != "" {
		cmp, err := filter.ParseFilter([]byte(p.comparison))
		if err != nil {
			return nil, err
		}
		if _, ok := cmp.(*filter.AttributeExpression); !ok {
			return nil, fmt.Errorf("%s is not a comparison", p.comparison)
		}
		inner = &filter.LogicalExpression{Left: inner, Right: cmp, Operator: filter.AND}
	}
	return &filter.ValuePath{AttributePath: ap, ValueFilter: inner}, nil
}

// parsePathWithFilter parses a PATCH path with a value filter,
// attr[filter] or attr[filter].sub, the same way.
func parsePathWithFilter(s string) (filter.Path, bool, error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		return filter.Path{}, false, nil
	}
	close := closingBracket(s, open)
	if close < 0 {
		return filter.Path{}, true, fmt.Errorf("the [ at character %d is not closed", open+1)
	}
	vp, err := valuePathPiece{attr: s[:open], inner: s[open+1 : close]}.parse()
	if err != nil {
		return filter.Path{}, true, err
	}
	p := filter.Path{AttributePath: vp.AttributePath, ValueExpression: vp.ValueFilter}
	switch rest := s[close+1:]; {
	case rest == "":
	case strings.HasPrefix(rest, ".") && len(rest) > 1 && strings.IndexFunc(rest[1:], func(r rune) bool { return r > 127 || !isNameChar(byte(r)) }) < 0:
		sub := rest[1:]
		p.SubAttribute = &sub
	default:
		return filter.Path{}, true, fmt.Errorf("unexpected %q after the value filter", rest)
	}
	return p, true, nil
}

func isNameChar(c byte) bool {
	return c == '-' || c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}
