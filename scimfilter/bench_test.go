package scimfilter

import (
	"fmt"
	"strings"
	"testing"
)

// longOr is the filter the CSV importer sends to look up n addresses.
func longOr(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf("userName eq %q", fmt.Sprintf("firstname.lastname%d@example.com", i))
	}
	return strings.Join(terms, " or ")
}

// BenchmarkParse measures parsing (about 0.2 s per 5,000 terms with the
// former PEG parser, ~25 µs per term; run with -bench Parse).
func BenchmarkParse(b *testing.B) {
	for _, c := range []struct {
		name, filter string
	}{
		{"entra", `emails[type eq "work"].value eq "bjensen@example.com"`},
		{"or5000", longOr(5000)},
		{"string64KiB", `userName eq "` + strings.Repeat("a", 64<<10) + `"`},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.filter)))
			for i := 0; i < b.N; i++ {
				if _, err := Parse(c.filter); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/PEG", func(b *testing.B) {
			b.SetBytes(int64(len(c.filter)))
			for i := 0; i < b.N; i++ {
				if _, err := pegParse(c.filter); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
