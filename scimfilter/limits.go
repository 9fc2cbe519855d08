package scimfilter

import (
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
	// MaxPathLength is the longest PATCH path (and key of a PATCH value
	// object), in bytes.
	MaxPathLength = 512
)

// checkFilterSize refuses a filter over MaxFilterLength or MaxFilterDepth.
func checkFilterSize(s string) error {
	if len(s) > MaxFilterLength {
		return failure.InvalidFilter("the filter is %d bytes long; at most %d are allowed (split a long list of terms into several requests)", len(s), MaxFilterLength)
	}
	if d := nesting(s); d > MaxFilterDepth {
		return failure.InvalidFilter("the filter nests parentheses and brackets %d levels deep; at most %d are allowed", d, MaxFilterDepth)
	}
	return nil
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
