package csvimport

import (
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scimfilter"
)

// Search filters stay within the server's limit on a filter's length
// whatever the addresses, and look every value up once.
func TestEqFiltersStayWithinTheServerLimit(t *testing.T) {
	if maxFilterBytes > scimfilter.MaxFilterLength {
		t.Fatalf("maxFilterBytes %d is over the server's limit %d", maxFilterBytes, scimfilter.MaxFilterLength)
	}
	long := make([]string, 5000)
	for i := range long {
		long[i] = strings.Repeat("x", 200) + string(rune('a'+i%26)) + "@example.com"
	}
	filters := eqFilters("userName", long, 5000)
	if len(filters) < 2 {
		t.Fatalf("5,000 long addresses in %d filter", len(filters))
	}
	terms := 0
	for _, f := range filters {
		if len(f) > maxFilterBytes {
			t.Errorf("a filter of %d bytes", len(f))
		}
		terms += strings.Count(f, "userName eq ")
	}
	if terms != len(long) {
		t.Errorf("%d terms for %d addresses", terms, len(long))
	}
	if got := eqFilters("displayName", []string{"a", "b", "c"}, 2); len(got) != 2 || got[0] != `displayName eq "a" or displayName eq "b"` || got[1] != `displayName eq "c"` {
		t.Errorf("per-filter count: %q", got)
	}
	if got := eqFilters("userName", nil, 10); len(got) != 0 {
		t.Errorf("no values: %q", got)
	}
}
