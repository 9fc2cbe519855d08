package scimfilter

import (
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
)

// Limits on what is parsed, checked before parsing so that no filter or
// path keeps a core busy: parsing costs a few microseconds per character.
const (
	// MaxFilterLength is the longest filter, in bytes: room for 5,000
	// "userName eq" terms, as the CSV importer sends to look up a file's
	// addresses in one .search.
	MaxFilterLength = 256 << 10
	// MaxFilterDepth is how deeply parentheses and brackets may nest. Real
	// filters nest two or three levels; MongoDB refuses queries nested
	// more than 100 levels deep.
	MaxFilterDepth = 16
	// MaxCostlyTerms is the most comparisons other than eq (co, sw, ew,
	// gt, ge, lt, le, ne, pr) and value filters one filter may hold. An
	// "eq" chain is answered as one lookup whatever its length;
	// each of the others makes the database test every candidate again
	// (on the embedded database, 100 "co" terms over 1,000 users took 6 s).
	MaxCostlyTerms = 20
	// MaxPathLength is the longest PATCH path (and key of a PATCH value
	// object), in bytes.
	MaxPathLength = 512
)

// Filters over a limit are refused as "tooMany" (RFC 7644 §3.12: more
// than the server is willing to calculate or process), so that a client
// knows to narrow or split them rather than to fix their syntax.

// checkFilterSize refuses a filter over MaxFilterLength or MaxFilterDepth.
func checkFilterSize(s string) error {
	if len(s) > MaxFilterLength {
		return failure.TooMany("the filter is %d bytes long; at most %d are allowed (split a long list of terms into several requests)", len(s), MaxFilterLength)
	}
	if d := nesting(s); d > MaxFilterDepth {
		return failure.TooMany("the filter nests parentheses and brackets %d levels deep; at most %d are allowed", d, MaxFilterDepth)
	}
	return nil
}

// checkFilterCost refuses a filter with more than MaxCostlyTerms
// comparisons other than eq and value filters.
func checkFilterCost(e filter.Expression) error {
	if n := costlyTerms(e); n > MaxCostlyTerms {
		return failure.TooMany("the filter holds %d comparisons other than eq (co, sw, ew, gt, ge, lt, le, ne, pr) and value filters; at most %d are allowed", n, MaxCostlyTerms)
	}
	return nil
}

func costlyTerms(e filter.Expression) int {
	switch x := e.(type) {
	case *filter.LogicalExpression:
		return costlyTerms(x.Left) + costlyTerms(x.Right)
	case *filter.NotExpression:
		return costlyTerms(x.Expression)
	case *filter.ValuePath:
		return 1 + costlyTerms(x.ValueFilter)
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ {
			return 1
		}
	}
	return 0
}

// checkPathSize refuses a PATCH path over MaxPathLength or MaxFilterDepth.
func checkPathSize(s string) error {
	if len(s) > MaxPathLength {
		return failure.InvalidPath("the path %s is %d bytes long; at most %d are allowed", quoteShort(s), len(s), MaxPathLength)
	}
	if d := nesting(s); d > MaxFilterDepth {
		return failure.InvalidPath("the path nests parentheses and brackets %d levels deep; at most %d are allowed", d, MaxFilterDepth)
	}
	return nil
}

// nesting returns the deepest nesting of parentheses and brackets outside
// string literals.
func nesting(s string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			i = stringEnd(s, i) - 1
		case '(', '[':
			depth++
			deepest = max(deepest, depth)
		case ')', ']':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}
