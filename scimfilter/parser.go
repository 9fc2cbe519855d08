package scimfilter

import (
	"math"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// The filter grammar of RFC 7644 §3.4.2.2 (Figure 1) and the PATCH path
// grammar of §3.5.2, parsed by recursive descent into the AST types of
// github.com/scim2/filter-parser/v2 (which the store's translation and
// Match read).
//
// That package's own parser is a PEG parser that costs a few microseconds
// per character: the 200 KB filter of 5,000 "userName eq" terms the CSV
// importer sends took over a second, and a Bulk request full of PATCH
// paths could keep a core busy for many more. This one reads each
// character about once. It accepts the same language — the fuzz test
// FuzzParseAgreesWithPEG checks it against the PEG parser — with these
// additions, all within the RFC:
//
//   - value filters use the full filter grammar (the PEG parser allows at
//     most two conditions and no parentheses between the brackets);
//   - spaces may follow "[" and precede "]";
//   - \u escapes may use lower-case hexadecimal digits (as JSON's do);
//
// and one form the RFC lacks but Microsoft Entra ID sends: a comparison of
// a sub-attribute picked by a value filter, emails[type eq "work"].value eq
// "x", which means the value filter emails[type eq "work" and value eq "x"]
// (Entra's attribute mappings name emails[type eq "work"].value, and its
// documentation asks that a matching attribute can be queried with
// exactly that path). Value filters do not nest.
//
// The grammar, as parsed (SP is one space, keywords in any letter case):
//
//	FILTER     = AND *(SP+ "or" SP+ AND)
//	AND        = VALUE *(SP+ "and" SP+ VALUE)
//	VALUE      = valuePath / attrExp / "not" SP* "(" SP* FILTER SP* ")"
//	           / "(" SP* FILTER SP* ")"
//	valuePath  = attrPath SP* "[" SP* FILTER SP* "]" ["." ATTRNAME SP+ CMP]
//	attrExp    = attrPath SP+ CMP
//	CMP        = "pr" / compareOp SP+ compValue
//	attrPath   = [URI] ATTRNAME ["." ATTRNAME]
//	URI        = 1*(1*(ALPHA / DIGIT / "-" / ".") ":")
//	ATTRNAME   = ["$"] ALPHA *(ALPHA / DIGIT / "-" / "_")
//	compValue  = "false" / "null" / "true" / number / string   (JSON's)
//	PATH       = attrPath / attrPath SP* "[" SP* FILTER SP* "]" ["." ATTRNAME]
//
// Alternatives are tried in order, and a repetition takes as much as it
// can and never gives back (as in a PEG), so that the language is the PEG
// parser's.

// parser holds the state of one parse.
type parser struct {
	s   string
	pos int
	// furthest is the furthest position a rule failed at: where the input
	// stops making sense, for the error message.
	furthest int
	// inValueFilter is set between brackets, where value paths may not
	// appear again.
	inValueFilter bool
}

// syntaxError says where a filter or path stopped making sense.
type syntaxError struct {
	pos int // 0-based byte offset
}

func (e *syntaxError) Error() string {
	return "unexpected input at character " + strconv.Itoa(e.pos+1)
}

// parseFilter parses a whole filter.
func parseFilter(s string) (filter.Expression, error) {
	p := &parser{s: s}
	e, ok := p.filter()
	if !ok || p.pos != len(s) {
		return nil, p.syntaxError()
	}
	return e, nil
}

// parsePath parses a whole PATCH path.
func parsePath(s string) (filter.Path, error) {
	p := &parser{s: s}
	path, ok := p.path()
	if !ok || p.pos != len(s) {
		return filter.Path{}, p.syntaxError()
	}
	return path, nil
}

func (p *parser) syntaxError() error {
	return &syntaxError{pos: max(p.furthest, p.pos)}
}

// fail records a failure at the current position and reports false.
func (p *parser) fail() bool {
	p.furthest = max(p.furthest, p.pos)
	return false
}

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

// char consumes c.
func (p *parser) char(c byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return p.fail()
}

// spaces consumes any number of spaces and reports whether there was one.
func (p *parser) spaces() bool {
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
	if p.pos == start {
		return p.fail()
	}
	return true
}

// keyword consumes a word in any letter case (and nothing more: "not" is
// found in "not(").
func (p *parser) keyword(w string) bool {
	if len(p.s)-p.pos >= len(w) && strings.EqualFold(p.s[p.pos:p.pos+len(w)], w) {
		p.pos += len(w)
		return true
	}
	return p.fail()
}

// filter: AND *(SP+ "or" SP+ AND), grouped to the left as the PEG parser
// does: a or b or c is (a or b) or c.
func (p *parser) filter() (filter.Expression, bool) {
	return p.chain(filter.OR, "or", p.and)
}

func (p *parser) and() (filter.Expression, bool) {
	return p.chain(filter.AND, "and", p.value)
}

func (p *parser) chain(op filter.LogicalOperator, word string, operand func() (filter.Expression, bool)) (filter.Expression, bool) {
	left, ok := operand()
	if !ok {
		return nil, false
	}
	for {
		save := p.pos
		if !p.spaces() || !p.keyword(word) || !p.spaces() {
			p.pos = save
			return left, true
		}
		right, ok := operand()
		if !ok {
			p.pos = save
			return left, true
		}
		left = &filter.LogicalExpression{Left: left, Right: right, Operator: op}
	}
}

// value: a value path, a comparison, a negation or a parenthesised filter,
// tried in that order.
func (p *parser) value() (filter.Expression, bool) {
	start := p.pos
	if !p.inValueFilter {
		if e, ok := p.valuePath(); ok {
			return e, true
		}
		p.pos = start
	}
	if e, ok := p.attrExp(); ok {
		return e, true
	}
	p.pos = start
	if p.keyword("not") {
		p.spaces()
		if e, ok := p.parenthesised(); ok {
			return &filter.NotExpression{Expression: e}, true
		}
	}
	p.pos = start
	return p.parenthesised()
}

func (p *parser) parenthesised() (filter.Expression, bool) {
	if !p.char('(') {
		return nil, false
	}
	p.spaces()
	e, ok := p.filter()
	if !ok {
		return nil, false
	}
	p.spaces()
	if !p.char(')') {
		return nil, false
	}
	return e, true
}

// valuePath: attrPath "[" FILTER "]", maybe followed by Entra ID's
// ".sub op value".
func (p *parser) valuePath() (filter.Expression, bool) {
	ap, inner, ok := p.bracketed()
	if !ok {
		return nil, false
	}
	if p.peek() == '.' {
		p.pos++
		name, ok := p.attrName()
		if !ok || !p.spaces() {
			return nil, false
		}
		cmp, ok := p.comparison(filter.AttributePath{AttributeName: name})
		if !ok {
			return nil, false
		}
		inner = &filter.LogicalExpression{Left: inner, Right: cmp, Operator: filter.AND}
	}
	return &filter.ValuePath{AttributePath: ap, ValueFilter: inner}, true
}

// bracketed reads attrPath SP* "[" SP* FILTER SP* "]".
func (p *parser) bracketed() (filter.AttributePath, filter.Expression, bool) {
	ap, ok := p.attrPath()
	if !ok {
		return ap, nil, false
	}
	p.spaces()
	if !p.char('[') {
		return ap, nil, false
	}
	p.spaces()
	p.inValueFilter = true
	inner, ok := p.filter()
	p.inValueFilter = false
	if !ok {
		return ap, nil, false
	}
	p.spaces()
	if !p.char(']') {
		return ap, nil, false
	}
	return ap, inner, true
}

// attrExp: attrPath SP+ ("pr" / compareOp SP+ compValue).
func (p *parser) attrExp() (filter.Expression, bool) {
	ap, ok := p.attrPath()
	if !ok || !p.spaces() {
		return nil, false
	}
	return p.comparison(ap)
}

var compareOps = []filter.CompareOperator{filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.GT, filter.LT, filter.GE, filter.LE}

// comparison reads what follows an attribute path and its spaces.
func (p *parser) comparison(ap filter.AttributePath) (filter.Expression, bool) {
	if p.keyword("pr") {
		return &filter.AttributeExpression{AttributePath: ap, Operator: filter.PR}, true
	}
	for _, op := range compareOps {
		if !p.keyword(string(op)) {
			continue
		}
		if !p.spaces() {
			return nil, false
		}
		v, ok := p.compValue()
		if !ok {
			return nil, false
		}
		return &filter.AttributeExpression{AttributePath: ap, Operator: op, CompareValue: v}, true
	}
	return nil, false
}

// compValue: false, null, true, a number or a string. Strings are returned
// as written between the quotes (unescape decodes them); integers as int,
// other numbers as float64.
func (p *parser) compValue() (any, bool) {
	switch {
	case p.keyword("false"):
		return false, true
	case p.keyword("null"):
		return nil, true
	case p.keyword("true"):
		return true, true
	case p.peek() == '"':
		return p.str()
	}
	return p.number()
}

// str reads a string literal: JSON's, except that control characters must
// be escaped.
func (p *parser) str() (any, bool) {
	start := p.pos + 1
	for i := start; i < len(p.s); i++ {
		switch c := p.s[i]; {
		case c == '"':
			p.pos = i + 1
			return p.s[start:i], true
		case c < 0x20:
			p.pos = i
			return nil, p.fail()
		case c == '\\':
			i++
			if i >= len(p.s) {
				break
			}
			switch p.s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p.s) || !isHex(p.s[i+1:i+5]) {
					p.pos = i
					return nil, p.fail()
				}
				i += 4
			default:
				p.pos = i
				return nil, p.fail()
			}
		}
	}
	p.pos = len(p.s)
	return nil, p.fail()
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number reads a JSON number.
func (p *parser) number() (any, bool) {
	start := p.pos
	if p.peek() == '-' {
		p.pos++
	}
	switch c := p.peek(); {
	case c == '0':
		p.pos++
	case '1' <= c && c <= '9':
		p.digits()
	default:
		return nil, p.fail()
	}
	integer := true
	if p.peek() == '.' {
		save := p.pos
		p.pos++
		if p.digits() {
			integer = false
		} else {
			p.pos = save
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		save := p.pos
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digits() {
			integer = false
		} else {
			p.pos = save
		}
	}
	f, err := strconv.ParseFloat(p.s[start:p.pos], 64)
	if err != nil {
		p.pos = start
		return nil, p.fail()
	}
	if integer && math.Abs(f) < 1<<63 {
		return int(f), true
	}
	return f, true
}

// digits consumes one or more digits.
func (p *parser) digits() bool {
	start := p.pos
	for p.pos < len(p.s) && '0' <= p.s[p.pos] && p.s[p.pos] <= '9' {
		p.pos++
	}
	if p.pos == start {
		return p.fail()
	}
	return true
}

// attrPath: [URI] ATTRNAME ["." ATTRNAME]. The URI takes every "segment:"
// it can (urn:ietf:params:scim:schemas:core:2.0:User:name.givenName has
// the URI urn:ietf:params:scim:schemas:core:2.0:User).
func (p *parser) attrPath() (filter.AttributePath, bool) {
	var ap filter.AttributePath
	uriEnd := p.pos
	for i := p.pos; ; {
		j := i
		for j < len(p.s) && isURIChar(p.s[j]) {
			j++
		}
		if j == i || j >= len(p.s) || p.s[j] != ':' {
			break
		}
		i = j + 1
		uriEnd = i
	}
	if uriEnd > p.pos {
		uri := p.s[p.pos : uriEnd-1]
		ap.URIPrefix = &uri
		p.pos = uriEnd
	}
	name, ok := p.attrName()
	if !ok {
		return ap, false
	}
	ap.AttributeName = name
	ap.SubAttribute = p.subAttr()
	return ap, true
}

// subAttr reads an optional "." ATTRNAME.
func (p *parser) subAttr() *string {
	if p.peek() != '.' {
		return nil
	}
	save := p.pos
	p.pos++
	sub, ok := p.attrName()
	if !ok {
		p.pos = save
		return nil
	}
	return &sub
}

// attrName: ["$"] ALPHA *(ALPHA / DIGIT / "-" / "_").
func (p *parser) attrName() (string, bool) {
	start := p.pos
	i := p.pos
	if i < len(p.s) && p.s[i] == '$' {
		i++
	}
	if i >= len(p.s) || !isAlpha(p.s[i]) {
		p.pos = i
		p.fail()
		p.pos = start
		return "", false
	}
	for i++; i < len(p.s) && (isAlpha(p.s[i]) || isDigit(p.s[i]) || p.s[i] == '-' || p.s[i] == '_'); i++ {
	}
	p.pos = i
	return p.s[start:i], true
}

// path: a PATCH path, attrPath or attrPath "[" FILTER "]" ["." ATTRNAME].
func (p *parser) path() (filter.Path, bool) {
	start := p.pos
	if ap, inner, ok := p.bracketed(); ok {
		return filter.Path{AttributePath: ap, ValueExpression: inner, SubAttribute: p.subAttr()}, true
	}
	p.pos = start
	ap, ok := p.attrPath()
	return filter.Path{AttributePath: ap}, ok
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isURIChar(c byte) bool { return isAlpha(c) || isDigit(c) || c == '-' || c == '.' }

// stringEnd returns the index after the string literal starting at s[i]
// (the end of s if it is not closed).
func stringEnd(s string, i int) int {
	escaped := false
	for j := i + 1; j < len(s); j++ {
		switch {
		case escaped:
			escaped = false
		case s[j] == '\\':
			escaped = true
		case s[j] == '"':
			return j + 1
		}
	}
	return len(s)
}
