package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// offset writes a UTC timestamp in the +02:00 zone.
func offset(t *testing.T, ts string) string {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.Fatalf("meta time %q: %v", ts, err)
	}
	return v.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000-07:00")
}

// Issue 2, point 1: filters.
func TestFilters(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	// Four users, created one after the other so that their creation times
	// differ.
	pause := func() { time.Sleep(5 * time.Millisecond) }
	alice := createUser(t, c, "alice@acme.com", obj{
		"externalId": "EXT-a1",
		"title":      "Engineer",
		"nickName":   "a.b",
		"name":       obj{"givenName": "Alice", "familyName": "Smith"},
		"emails":     arr{obj{"type": "work", "value": "alice@acme.com", "primary": true}},
		enterpriseURN: obj{
			"department": "Eng",
			"manager":    obj{"value": "mgr-1"},
		},
	})
	pause()
	bob := createUser(t, c, "Bob@Example.com", obj{
		"externalId": "ext-A1",
		"title":      "Manager",
		"nickName":   "axb",
		"name":       obj{"givenName": "Bob", "familyName": "Jones"},
		// The work email is not at acme; the home email is.
		"emails": arr{
			obj{"type": "work", "value": "bob@example.com"},
			obj{"type": "home", "value": "bob@acme.com"},
		},
		enterpriseURN: obj{"department": "Sales"},
	})
	pause()
	carol := createUser(t, c, "carol@acme.com", obj{
		"active":      false,
		"displayName": `Carol "CJ" O\Brien`,
		"emails":      arr{obj{"type": "work", "value": "carol@ACME.com"}},
		enterpriseURN: obj{
			"department": "eng",
			"manager":    obj{"value": "mgr-2"},
		},
	})
	pause()
	dave := createUser(t, c, "dave@other.org", obj{"nickName": "50% (x)*+?"})
	n := names{alice: "alice", bob: "bob", carol: "carol", dave: "dave"}

	created := map[string]string{}
	for _, id := range []string{alice, bob, carol, dave} {
		created[id] = c.Get(t, "/Users/"+id).Expect(t, 200).Str("meta.created")
	}
	if !(created[alice] < created[bob] && created[bob] < created[carol] && created[carol] < created[dave]) {
		t.Fatalf("creation times not increasing: %v", created)
	}

	// Change alice last, so that she is the most recently modified.
	pause()
	c.Patch(t, "/Users/"+alice, scimtest.Op("replace", "title", "Engineer II")).Expect(t, 200)
	aliceModified := c.Get(t, "/Users/"+alice).Expect(t, 200).Str("meta.lastModified")

	cases := []struct {
		name, filter string
		want         []string
	}{
		// Every operator.
		{"eq case-insensitive userName", `userName eq "ALICE@acme.COM"`, []string{alice}},
		{"eq exact", `userName eq "bob@example.com"`, []string{bob}},
		{"ne", `userName ne "alice@acme.com"`, []string{bob, carol, dave}},
		{"co", `userName co "ACME"`, []string{alice, carol}},
		{"sw", `userName sw "bo"`, []string{bob}},
		{"ew", `userName ew ".ORG"`, []string{dave}},
		{"pr", `title pr`, []string{alice, bob}},
		{"pr on complex", `name pr`, []string{alice, bob}},
		{"gt", `userName gt "BOB@EXAMPLE.COM"`, []string{carol, dave}},
		{"ge", `userName ge "bob@example.com"`, []string{bob, carol, dave}},
		{"lt", `userName lt "carol@acme.com"`, []string{alice, bob}},
		{"le", `userName le "Carol@Acme.com"`, []string{alice, bob, carol}},
		{"eq boolean", `active eq false`, []string{carol}},
		{"eq boolean true", `active eq true`, []string{alice, bob, dave}},

		// Logic.
		{"and", `userName co "acme" and active eq true`, []string{alice}},
		{"or", `userName sw "alice" or userName sw "dave"`, []string{alice, dave}},
		{"not", `not (userName co "acme")`, []string{bob, dave}},
		{"and binds tighter than or", `userName sw "alice" or userName sw "bob" and title eq "Manager"`, []string{alice, bob}},
		{"parentheses", `(userName sw "alice" or userName sw "bob") and title eq "Manager"`, []string{bob}},
		{"nested", `not (userName sw "alice" or (userName sw "bob" and title pr)) and userName co "@"`, []string{carol, dave}},

		// Value paths and multi-valued sub-attributes.
		{"value path and", `emails[type eq "work" and value co "@acme"]`, []string{alice, carol}},
		{"value path one", `emails[type eq "home"]`, []string{bob}},
		{"value path or", `emails[type eq "home" or value sw "carol"]`, []string{bob, carol}},
		{"value path not", `emails[not (type eq "work")]`, []string{bob}},
		{"value path in logic", `emails[type eq "work" and value co "@acme"] and active eq true`, []string{alice}},
		{"emails.value eq case-insensitive", `emails.value eq "BOB@acme.com"`, []string{bob}},
		{"emails.type eq", `emails.type eq "home"`, []string{bob}},
		{"emails co", `emails co "acme"`, []string{alice, bob, carol}},
		{"emails pr", `emails pr`, []string{alice, bob, carol}},
		{"not emails pr", `not (emails pr)`, []string{dave}},
		{"emails.value ne", `emails.value ne "bob@example.com"`, []string{alice, carol, dave}},

		// Extension attributes by full URN path.
		{"enterprise department", enterpriseURN + `:department eq "eng"`, []string{alice, carol}},
		{"enterprise manager.value", enterpriseURN + `:manager.value eq "mgr-2"`, []string{carol}},
		{"enterprise pr", enterpriseURN + `:manager pr`, []string{alice, carol}},
		{"core URN prefix", userURN + `:userName eq "dave@other.org"`, []string{dave}},

		// Meta times.
		{"meta.created gt", `meta.created gt "` + created[bob] + `"`, []string{carol, dave}},
		{"meta.created ge", `meta.created ge "` + created[bob] + `"`, []string{bob, carol, dave}},
		{"meta.created lt", `meta.created lt "` + created[carol] + `"`, []string{alice, bob}},
		{"meta.created le", `meta.created le "` + created[carol] + `"`, []string{alice, bob, carol}},
		{"meta.created eq", `meta.created eq "` + created[carol] + `"`, []string{carol}},
		{"meta.lastModified gt", `meta.lastModified gt "` + created[dave] + `"`, []string{alice}},
		{"meta.lastModified lt", `meta.lastModified lt "` + aliceModified + `"`, []string{bob, carol, dave}},
		{"meta.lastModified ge", `meta.lastModified ge "` + aliceModified + `"`, []string{alice}},

		{"meta.created with an offset", `meta.created gt "` + offset(t, created[bob]) + `"`, []string{carol, dave}},
		{"meta.resourceType", `meta.resourceType eq "User" and userName sw "a"`, []string{alice}},
		{"id eq", `id eq "` + dave + `"`, []string{dave}},

		// Operators and logic words in any case (RFC 7644 §3.4.2.2).
		{"upper-case operators", `userName SW "alice" OR userName Eq "dave@other.org"`, []string{alice, dave}},
		{"upper-case not and", `NOT (userName co "acme") AND title PR`, []string{bob}},

		// Case sensitivity from the schema.
		{"name.familyName case-insensitive", `name.familyName eq "SMITH"`, []string{alice}},
		{"title case-insensitive", `title eq "engineer ii"`, []string{alice}},
		{"ne includes absent", `title ne "Manager"`, []string{alice, carol, dave}},
		{"externalId pr", `externalId pr`, []string{alice, bob}},
		{"externalId case-exact", `externalId eq "EXT-a1"`, []string{alice}},
		{"externalId case-exact other", `externalId eq "ext-A1"`, []string{bob}},
		{"externalId wrong case", `externalId eq "ext-a1"`, nil},
		{"attribute names any case", `USERNAME eq "dave@other.org"`, []string{dave}},

		// Literal values: quotes, backslashes, regex metacharacters.
		{"escaped quotes and backslash", `displayName eq "Carol \"CJ\" O\\Brien"`, []string{carol}},
		{"co escaped quote", `displayName co "\"CJ\""`, []string{carol}},
		{"co backslash", `displayName co "O\\B"`, []string{carol}},
		{"dot is literal", `nickName co "a.b"`, []string{alice}},
		{"dot star is literal", `nickName co ".*"`, nil},
		{"metacharacters sw", `nickName sw "50% (x)*+?"`, []string{dave}},
		{"metacharacters co", `nickName co "(x)*"`, []string{dave}},
		{"caret literal", `userName sw "^alice"`, nil},
		{"dollar literal", `userName ew "com$"`, nil},
		{"bracket literal", `nickName co "[ab]"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectSet(t, n, c.Get(t, filterPath("/Users", tc.filter)), tc.want...)
		})
	}

	t.Run("POST .search", func(t *testing.T) {
		r := c.Post(t, "/Users/.search", obj{
			"schemas": arr{searchURN},
			"filter":  `emails[type eq "work" and value co "@acme"]`,
		})
		expectSet(t, n, r, alice, carol)
		if sch, _ := r.Body["schemas"].([]any); len(sch) != 1 || sch[0] != listURN {
			t.Fatalf("schemas %v", r.Body["schemas"])
		}
	})

	t.Run("deactivated users are found", func(t *testing.T) {
		got := c.Get(t, "/Users/"+carol).Expect(t, 200)
		if got.At("active") != false {
			t.Fatalf("active: %v", got.At("active"))
		}
		expectSet(t, n, c.Get(t, filterPath("/Users", `userName eq "carol@acme.com"`)), carol)
	})

	t.Run("invalid filters", func(t *testing.T) {
		for _, f := range []string{
			`userName eq`,
			`userName eq "unterminated`,
			`userName xx "a"`,
			`(userName eq "a"`,
			`userName eq "a" and`,
			`emails[type eq "work"`,
			`nosuchattribute eq "x"`,
			`name.nosuch eq "x"`,
			`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nosuch eq "x"`,
			`urn:example:unknown:2.0:User:foo eq "x"`,
			`emails[nosuch eq "x"]`,
			`password eq "secret"`,
			`meta.created gt "not a date"`,
			`active gt true`,
			`userName eq "x"]`,
		} {
			t.Run(f, func(t *testing.T) {
				expectError(t, c.Get(t, filterPath("/Users", f)), http.StatusBadRequest, "invalidFilter")
				expectError(t, c.Post(t, "/Users/.search", obj{"schemas": arr{searchURN}, "filter": f}), http.StatusBadRequest, "invalidFilter")
			})
		}
		expectError(t, c.Get(t, filterPath("/Groups", `nosuch eq "x"`)), http.StatusBadRequest, "invalidFilter")
	})

	// Groups by member, users by group, as Entra ID asks.
	g1 := createGroup(t, c, "Engineering", alice, bob)
	g2 := createGroup(t, c, "Sales", bob)
	g3 := createGroup(t, c, "Empty")
	n[g1], n[g2], n[g3] = "g1", "g2", "g3"

	t.Run("groups members eq", func(t *testing.T) {
		expectSet(t, n, c.Get(t, filterPath("/Groups", `members eq "`+alice+`"`)), g1)
		expectSet(t, n, c.Get(t, filterPath("/Groups", `members eq "`+bob+`"`)), g1, g2)
		expectSet(t, n, c.Get(t, filterPath("/Groups", `members.value eq "`+bob+`"`)), g1, g2)
		expectSet(t, n, c.Get(t, filterPath("/Groups", `members eq "`+dave+`"`)))
		expectSet(t, n, c.Get(t, filterPath("/Groups", `members pr`)), g1, g2)
		expectSet(t, n, c.Get(t, filterPath("/Groups", `not (members eq "`+alice+`")`)), g2, g3)
		expectSet(t, n, c.Get(t, filterPath("/Groups", `members eq "`+alice+`" or members eq "`+bob+`"`)), g1, g2)
	})
	t.Run("groups members value path without members", func(t *testing.T) {
		r := c.Get(t, filterPath("/Groups", `members[value eq "`+alice+`"]`, "excludedAttributes", "members"))
		expectSet(t, n, r, g1)
		for _, res := range resources(t, r) {
			if _, ok := res["members"]; ok {
				t.Fatalf("members returned despite excludedAttributes=members: %v", res)
			}
			if res["displayName"] != "Engineering" {
				t.Fatalf("displayName: %v", res)
			}
		}
		// Entra's exact form: displayName and member together.
		r = c.Get(t, filterPath("/Groups", `displayName eq "sales" and members[value eq "`+bob+`"]`, "excludedAttributes", "members"))
		expectSet(t, n, r, g2)
		r = c.Get(t, filterPath("/Groups", `displayName eq "Sales" and members[value eq "`+alice+`"]`, "excludedAttributes", "members"))
		expectSet(t, n, r)
	})
	t.Run("groups displayName", func(t *testing.T) {
		expectSet(t, n, c.Get(t, filterPath("/Groups", `displayName eq "ENGINEERING"`)), g1)
		expectSet(t, n, c.Get(t, filterPath("/Groups", `displayName sw "e"`)), g1, g3)
	})
	t.Run("users groups eq", func(t *testing.T) {
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups eq "`+g1+`"`)), alice, bob)
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups eq "`+g2+`"`)), bob)
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups.value eq "`+g2+`"`)), bob)
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups[value eq "`+g2+`"]`)), bob)
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups ne "`+g1+`"`)), carol, dave)
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups eq "`+g3+`"`)))
		expectSet(t, n, c.Get(t, filterPath("/Users", `groups eq "`+g1+`" and title eq "Manager"`)), bob)
		expectSet(t, n, c.Get(t, filterPath("/Users", `not (groups pr)`)), carol, dave)
	})
}
