package scimfilter

import (
	"fmt"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"
)

// A comparison of a sub-attribute picked by a value filter,
// emails[type eq "work"].value eq "x", means the value filter
// emails[type eq "work" and value eq "x"]. RFC 7644's filter grammar has no
// such form, but Microsoft Entra ID sends it: its attribute mappings name
// emails[type eq "work"].value, and its documentation asks that a matching
// attribute can be queried with exactly that path. The parser accepts
// neither form with grouping inside brackets, so each such comparison is
// cut out of the text (replaced by a placeholder), its two halves are
// parsed on their own, and the value filter is put together in the tree.

// foldedPrefix names the placeholders; a filter that already holds it is
// left as it is.
const foldedPrefix = "zzFoldedValuePath"

// valuePathComparison is one comparison cut out of a filter.
type valuePathComparison struct {
	valuePath  string // emails[type eq "work"]
	comparison string // value eq "x"
}

// cutValuePathComparisons replaces each valuePath.sub op value in s by a
// placeholder ("zzFoldedValuePath0 pr") and returns the pieces. Text inside
// string literals is left alone; what it does not recognise is passed on
// unchanged for the parser to judge.
func cutValuePathComparisons(s string) (string, []valuePathComparison) {
	if strings.Contains(s, foldedPrefix) {
		return s, nil
	}
	var cut []valuePathComparison
	var b strings.Builder
	open, pathStart := -1, -1 // in b: the '[' of the current value filter and the start of its attribute path
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			b.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[':
			open, pathStart = b.Len(), b.Len()
			text := b.String()
			for pathStart > 0 && (isNameChar(text[pathStart-1]) || text[pathStart-1] == ':' || text[pathStart-1] == '.') {
				pathStart--
			}
		case ']':
			if open >= 0 && pathStart < open {
				if cmp, n, ok := subComparison(s[i+1:]); ok {
					text := b.String()
					cut = append(cut, valuePathComparison{valuePath: text[pathStart:] + "]", comparison: cmp})
					b.Reset()
					b.WriteString(text[:pathStart])
					b.WriteString(foldedPrefix + strconv.Itoa(len(cut)-1) + " pr")
					i += n
					open = -1
					continue
				}
			}
			open = -1
		}
		b.WriteByte(c)
	}
	return b.String(), cut
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
		escaped := false
		for end = v + 1; end < len(s); end++ {
			if escaped {
				escaped = false
			} else if s[end] == '\\' {
				escaped = true
			} else if s[end] == '"' {
				break
			}
		}
		if end == len(s) {
			return "", 0, false
		}
		end++
	} else {
		for end < len(s) && s[end] != ' ' && s[end] != ')' {
			end++
		}
	}
	return s[1:end], end, true
}

// pasteValuePathComparisons replaces the placeholders in a parsed filter by
// the value filters they stand for.
func pasteValuePathComparisons(e filter.Expression, cut []valuePathComparison) (filter.Expression, error) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		p := x.AttributePath
		if p.URIPrefix != nil || p.SubAttribute != nil || !strings.HasPrefix(p.AttributeName, foldedPrefix) {
			return e, nil
		}
		n, err := strconv.Atoi(strings.TrimPrefix(p.AttributeName, foldedPrefix))
		if err != nil || n < 0 || n >= len(cut) || x.Operator != filter.PR {
			return nil, fmt.Errorf("placeholder %s", p.AttributeName)
		}
		return foldValuePath(cut[n])
	case *filter.LogicalExpression:
		l, err := pasteValuePathComparisons(x.Left, cut)
		if err != nil {
			return nil, err
		}
		r, err := pasteValuePathComparisons(x.Right, cut)
		if err != nil {
			return nil, err
		}
		x.Left, x.Right = l, r
	case *filter.NotExpression:
		inner, err := pasteValuePathComparisons(x.Expression, cut)
		if err != nil {
			return nil, err
		}
		x.Expression = inner
	}
	return e, nil
}

func foldValuePath(c valuePathComparison) (filter.Expression, error) {
	e, err := filter.ParseFilter([]byte(c.valuePath))
	if err != nil {
		return nil, err
	}
	vp, ok := e.(*filter.ValuePath)
	if !ok {
		return nil, fmt.Errorf("%s is not a value path", c.valuePath)
	}
	cmp, err := filter.ParseFilter([]byte(c.comparison))
	if err != nil {
		return nil, err
	}
	if _, ok := cmp.(*filter.AttributeExpression); !ok {
		return nil, fmt.Errorf("%s is not a comparison", c.comparison)
	}
	vp.ValueFilter = &filter.LogicalExpression{Left: vp.ValueFilter, Right: cmp, Operator: filter.AND}
	return vp, nil
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
