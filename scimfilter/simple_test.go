package scimfilter

import (
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"
)

// The shortcut for attr eq "value" gives what the general parser gives,
// and leaves every other filter to it.
func TestParseEqualityAgreesWithParser(t *testing.T) {
	taken := []string{
		`userName eq "bjensen@example.com"`,
		`userName EQ "x"`,
		`externalId Eq ""`,
		`emails.value eq "a@b.c"`,
		`name.givenName eq "Zoë  with spaces"`,
		`x-y_z9 eq "v"`,
	}
	for _, s := range taken {
		got, ok := parseEquality(s)
		if !ok {
			t.Errorf("%s: not taken", s)
			continue
		}
		want, err := filter.ParseFilter([]byte(s))
		if err != nil {
			t.Fatalf("%s: parser: %v", s, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n shortcut %#v\n parser   %#v", s, got, want)
		}
	}
	left := []string{
		`userName eq "a\"b"`, `userName eq "a\\b"`, `userName eq x`, `userName eq "x" and active eq true`,
		`userName ne "x"`, `urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`, `emails[type eq "work"].value eq "x"`,
		`userName  eq "x"`, `userName eq "x" `, `1userName eq "x"`, `name.given.name eq "x"`, `userName eq "a"b"`, `userName eq 1`,
		`userName eq`, `eq "x"`, `userName eq "`,
	}
	for _, s := range left {
		if e, ok := parseEquality(s); ok {
			t.Errorf("%s: taken as %#v", s, e)
		}
	}
}
