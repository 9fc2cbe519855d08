package storetest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// The equivalence test runs each filter twice: translated into a database
// query by store.Find, and evaluated in memory by scimfilter.Match over
// every stored user. Both must select the same users. Raise the flags for a
// deeper run, e.g.
//
//	go test ./store/mongodb -run Equivalence -timeout 60m -args -equivalence.users=400 -equivalence.random=1000 -equivalence.seed=7
var (
	eqSeed    = flag.Uint64("equivalence.seed", 20260801, "seed of the equivalence test's data and filters")
	eqUsers   = flag.Int("equivalence.users", 200, "number of users in the equivalence test (-short: 60)")
	eqFilters = flag.Int("equivalence.random", 80, "number of random filters in the equivalence test, besides the hand-written ones (-short: 30)")
)

const ent = schemas.EnterpriseUserURN

// ---- data ----

// dataset is what the equivalence test stored and read back.
type dataset struct {
	account string
	users   []*store.Resource          // every user, as an unfiltered Find returns them
	byName  map[string]*store.Resource // anchors by a short name
	groups  []string                   // group ids, the last one without members
	members map[string]map[string]bool
	times   []time.Time // every created and lastModified value
}

// anchors are hand-made users for the cases the hand-written filters probe.
func anchors() map[string]map[string]any {
	return map[string]map[string]any{
		"bjensen": {
			"userName": "BJensen@Example.com",
			"name":     map[string]any{"familyName": "Jensen", "givenName": "Barbara"},
			"emails": []any{
				map[string]any{"type": "work", "value": "bjensen@example.com", "primary": true},
				map[string]any{"type": "home", "value": "babs@jensen.org"},
			},
			"title": "Tour Guide", "active": true, "externalId": "EXT-BJ",
			ent: map[string]any{"department": "Tour Operations", "manager": map[string]any{"value": "MGR-1"}},
		},
		// An empty email value next to a non-empty one: the user has an
		// email value (pr), and one email without.
		"emptyEmail": {
			"userName": "empty.email@example.com",
			"emails": []any{
				map[string]any{"type": "work", "value": ""},
				map[string]any{"type": "home", "value": "Home@Example.com"},
			},
			"title": "",
		},
		"onlyEmptyEmail": {
			"userName": "only.empty@example.com",
			"emails":   []any{map[string]any{"type": "other", "value": ""}},
			"title":    " ",
		},
		"workOnly": {
			"userName": "work.only@example.com",
			"emails":   []any{map[string]any{"type": "work", "value": "w@x.io"}},
			"active":   false,
		},
		"noType": {
			"userName": "no.type@example.com",
			"emails":   []any{map[string]any{"value": "notype@x.io", "primary": true}},
		},
		"mixed": {
			"userName": "mixed@example.com",
			"emails": []any{
				map[string]any{"type": "work", "value": "a@x.io"},
				map[string]any{"type": "Home", "value": "a@home.io", "display": "At Home"},
			},
			"name": map[string]any{"givenName": "Mixed"},
		},
		"special": {
			"userName": `dots.and+plus(1)[x]*?^$|\{}@weird.io`,
			"name":     map[string]any{"familyName": "Ærøskøbing"},
			"title":    "Señor Engineer",
		},
		"quote": {
			"userName":   `say "hi"@x.io`,
			"externalId": "",
			ent:          map[string]any{"department": "", "manager": map[string]any{"value": "mgr-1", "$ref": "../Users/mgr-1"}},
		},
		"bare": {
			"userName": "bare",
		},
		// A trailing newline: "ew" must not match before it.
		"newline": {
			"userName": "new.line@example.com\n",
			"title":    "Night Guide\n",
		},
	}
}

var (
	familyNames = []string{"Jensen", "jensen", "JENSEN", "Smith", "smith", "O'Brien", "van der Berg", "Ærø", "Zed", "Adams", "Müller", "Nguyen"}
	givenNames  = []string{"Barbara", "Bob", "alice", "ÉMILE", "Zoë", "Chen", "Kim"}
	titles      = []string{"Engineer", "engineer", "Senior Engineer", "Manager", "Tour Guide", "CEO", "Señor Engineer"}
	departments = []string{"Engineering", "engineering", "Sales", "R&D", "Support", "Tour Operations"}
	domains     = []string{"example.com", "Example.COM", "acme.io", "home.example.org", "jensen.org", "x.io"}
	emailTypes  = []string{"work", "home", "other", "Work", "HOME"}
)

// recase changes the letter case of some letters.
func recase(r *rand.Rand, s string) string {
	var b strings.Builder
	for _, c := range s {
		switch r.IntN(4) {
		case 0:
			b.WriteString(strings.ToUpper(string(c)))
		case 1:
			b.WriteString(strings.ToLower(string(c)))
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

// genUser returns the body of a random user (before schemas.Normalize).
func genUser(r *rand.Rand, i int, others []string) map[string]any {
	body := map[string]any{}
	switch r.IntN(4) {
	case 0:
		body["userName"] = recase(r, fmt.Sprintf("user%03d@example.com", i))
	case 1:
		body["userName"] = recase(r, fmt.Sprintf("%s.%s%d@%s", pick(r, givenNames), pick(r, familyNames), i, pick(r, domains)))
	case 2:
		body["userName"] = fmt.Sprintf("u%d+tag.%s", i, pick(r, []string{"x", "Y", "ø", "(a)", "a.b"}))
	default:
		body["userName"] = recase(r, fmt.Sprintf("user%d", i))
	}
	if r.IntN(5) > 0 {
		name := map[string]any{}
		if r.IntN(7) > 0 {
			name["familyName"] = pick(r, familyNames)
		}
		if r.IntN(10) < 7 {
			name["givenName"] = pick(r, givenNames)
		}
		if len(name) > 0 {
			body["name"] = name
		}
	}
	if r.IntN(2) == 0 {
		body["displayName"] = fmt.Sprintf("%s %d", pick(r, givenNames), i)
	}
	switch n := r.IntN(20); {
	case n < 8: // no title
	case n < 11:
		body["title"] = ""
	case n < 12:
		body["title"] = "  "
	default:
		body["title"] = pick(r, titles)
	}
	switch n := r.IntN(20); {
	case n < 9:
		body["active"] = true
	case n < 16:
		body["active"] = false
	}
	switch n := r.IntN(20); {
	case n < 6:
	case n < 7:
		body["externalId"] = ""
	default:
		body["externalId"] = recase(r, fmt.Sprintf("ext-%d", i%97))
	}
	if n := r.IntN(5); n > 0 {
		var emails []any
		primary := r.IntN(n + 1) // n: none is primary
		for j := range n - 1 + r.IntN(2) {
			e := map[string]any{}
			if r.IntN(6) > 0 {
				e["type"] = pick(r, emailTypes)
			}
			switch k := r.IntN(20); {
			case k == 0: // no value
			case k == 1:
				e["value"] = ""
			default:
				e["value"] = recase(r, fmt.Sprintf("%s%d@%s", pick(r, []string{"me", "bjensen", "a.b", "x_y"}), r.IntN(50), pick(r, domains)))
			}
			if j == primary {
				e["primary"] = true
			} else if r.IntN(4) == 0 {
				e["primary"] = false
			}
			if r.IntN(8) == 0 {
				e["display"] = pick(r, []string{"Work mail", "home", "Other"})
			}
			if len(e) == 0 {
				e["type"] = "other"
			}
			emails = append(emails, e)
		}
		if len(emails) > 0 {
			body["emails"] = emails
		}
	}
	if r.IntN(10) < 7 {
		e := map[string]any{}
		if r.IntN(5) > 0 {
			e["department"] = pick(r, departments)
		}
		if r.IntN(2) == 0 {
			m := fmt.Sprintf("MGR-%d", r.IntN(5))
			if len(others) > 0 && r.IntN(2) == 0 {
				m = pick(r, others)
			}
			e["manager"] = map[string]any{"value": m}
		}
		if r.IntN(4) == 0 {
			e["employeeNumber"] = fmt.Sprint(1000 + i)
		}
		body[ent] = e
	}
	return body
}

// buildDataset stores n users (the anchors among them) and five groups
// in a new account of st, with ids from newID.
func buildDataset(t testing.TB, st store.Store, r *rand.Rand, n int, newID func() string) *dataset {
	ctx := context.Background()
	acc, err := st.CreateAccount(ctx, "equivalence", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Another account's users must never show up.
	other, err := st.CreateAccount(ctx, "other", 0)
	if err != nil {
		t.Fatal(err)
	}
	ds := &dataset{account: acc.ID, byName: map[string]*store.Resource{}, members: map[string]map[string]bool{}}
	normalize := func(body map[string]any) map[string]any {
		body["schemas"] = []any{schemas.UserURN, ent}
		attrs, err := schemas.User.Normalize(body)
		if err != nil {
			t.Fatalf("normalize %v: %v", body, err)
		}
		return attrs
	}
	var pending, stored []*store.Resource
	anchorIDs := map[string]bool{}
	// rewrite changes a stored user, so that lastModified differs from
	// created: mostly a Touch, sometimes a Replace with a new title and
	// active flag. It runs while the collection grows (each write scans the
	// collection on FerretDB).
	rewrite := func(u *store.Resource) {
		var err error
		_, anchor := anchorIDs[u.ID]
		if !anchor && r.IntN(3) == 0 { // anchors keep their attributes
			next := *u
			next.Attributes = copyMap(u.Attributes)
			next.Attributes["title"] = pick(r, titles)
			next.Attributes["active"] = r.IntN(2) == 0
			err = st.Replace(ctx, &next, u.Version)
			*u = next
		} else {
			u.Version, u.Modified, err = st.Touch(ctx, schemas.User, acc.ID, u.ID, u.Version)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		if len(pending) == 0 {
			return
		}
		errs, err := st.InsertMany(ctx, pending)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range errs {
			if e != nil {
				t.Fatalf("insert %v: %v", pending[i].Attributes["userName"], e)
			}
		}
		stored = append(stored, pending...)
		pending = nil
		time.Sleep(time.Duration(1+r.IntN(3)) * time.Millisecond) // the next batch gets a later time
		for range r.IntN(4) {
			rewrite(pick(r, stored))
		}
	}
	anchorNames := slices.Sorted(func(yield func(string) bool) {
		for k := range anchors() {
			if !yield(k) {
				return
			}
		}
	})
	all := anchors()
	var ids []string
	for _, name := range anchorNames {
		u := &store.Resource{Type: schemas.User, ID: newID(), Account: acc.ID, Attributes: normalize(all[name])}
		ds.byName[name] = u
		anchorIDs[u.ID] = true
		pending = append(pending, u)
		ids = append(ids, u.ID)
		if r.IntN(3) == 0 {
			flush()
		}
	}
	for i := range n - len(anchorNames) {
		u := &store.Resource{Type: schemas.User, ID: newID(), Account: acc.ID, Attributes: normalize(genUser(r, i, ids))}
		pending = append(pending, u)
		ids = append(ids, u.ID)
		if r.IntN(8) == 0 {
			flush()
		}
	}
	flush()
	if errs, err := st.InsertMany(ctx, []*store.Resource{
		{Type: schemas.User, ID: newID(), Account: other.ID, Attributes: map[string]any{"userName": "BJensen@Example.com", "title": "Tour Guide"}},
	}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}

	// Groups with random members; the last group has none.
	for g := range 5 {
		grp := &store.Resource{Type: schemas.Group, ID: newID(), Account: acc.ID, Attributes: map[string]any{"displayName": fmt.Sprintf("Group %d", g)}}
		if err := st.Insert(ctx, grp); err != nil {
			t.Fatal(err)
		}
		ds.groups = append(ds.groups, grp.ID)
		ds.members[grp.ID] = map[string]bool{}
		if g == 4 {
			continue
		}
		var m []string
		for _, id := range ids {
			if r.IntN(7) == 0 || (g == 0 && id == ds.byName["bjensen"].ID) {
				m = append(m, id)
				ds.members[grp.ID][id] = true
			}
		}
		if _, err := st.AddMembers(ctx, acc.ID, grp.ID, m); err != nil {
			t.Fatal(err)
		}
	}

	page, err := st.Find(ctx, schemas.User, acc.ID, store.Query{Count: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != len(ids) || len(page.Resources) != len(ids) {
		t.Fatalf("unfiltered Find: total %d, %d resources; stored %d", page.Total, len(page.Resources), len(ids))
	}
	ds.users = page.Resources
	local := map[string]*store.Resource{}
	for _, u := range stored {
		local[u.ID] = u
	}
	for _, u := range ds.users {
		if l := local[u.ID]; l == nil || l.Version != u.Version || !l.Modified.Equal(u.Modified) || !reflect.DeepEqual(l.Attributes, u.Attributes) {
			t.Fatalf("user %s reads back as %+v, stored %+v", u.ID, u, l)
		}
		for name, a := range ds.byName {
			if a.ID == u.ID {
				ds.byName[name] = u
			}
		}
		ds.times = append(ds.times, u.Created, u.Modified)
	}
	slices.SortFunc(ds.times, func(a, b time.Time) int { return a.Compare(b) })
	return ds
}

// ---- filters ----

// lit renders a string as a filter literal. The parser knows the escapes
// \" and \\ only.
func lit(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// strPaths are the string attributes the random filters compare.
var strPaths = []string{
	"userName", "name.familyName", "name.givenName", "displayName", "title", "externalId", "id",
	"emails", "emails.value", "emails.type", "emails.display",
	ent + ":department", ent + ":manager.value", ent + ":employeeNumber", "meta.resourceType",
}

// values returns the string values a user has at a path (as the test
// understands paths; independent of the code under test).
func values(u *store.Resource, path string) []string {
	attrs := u.Attributes
	switch path {
	case "id":
		return []string{u.ID}
	case "meta.resourceType":
		return []string{"User"}
	case "emails":
		path = "emails.value"
	}
	if strings.HasPrefix(path, ent+":") {
		attrs, _ = attrs[ent].(map[string]any)
		path = strings.TrimPrefix(path, ent+":")
	}
	top, sub, _ := strings.Cut(path, ".")
	var out []string
	add := func(v any) {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	switch v := attrs[top].(type) {
	case []any:
		for _, el := range v {
			if m, ok := el.(map[string]any); ok {
				add(m[sub])
			}
		}
	case map[string]any:
		add(v[sub])
	default:
		if sub == "" {
			add(v)
		}
	}
	return out
}

type gen struct {
	r  *rand.Rand
	ds *dataset
}

// str returns a compare value for a string attribute: mostly one the data
// has (or a piece of one, in another letter case), sometimes another.
func (g *gen) str(path string, op string) string {
	var v string
	for range 8 {
		if vs := values(pick(g.r, g.ds.users), path); len(vs) > 0 {
			v = pick(g.r, vs)
			break
		}
	}
	if v == "" || g.r.IntN(8) == 0 {
		v = pick(g.r, []string{"", "e", "M", "user1", "zzz", "Jensen", "work", "@", ".", "ø", "a@x.io", "ext-1", "mgr-1"})
	}
	if g.r.IntN(2) == 0 {
		v = recase(g.r, v)
	}
	runes := []rune(v)
	switch op {
	case "co":
		if len(runes) > 1 {
			i := g.r.IntN(len(runes))
			j := i + 1 + g.r.IntN(len(runes)-i)
			v = string(runes[i:j])
		}
	case "sw", "lt", "le", "gt", "ge":
		if len(runes) > 1 && g.r.IntN(2) == 0 {
			v = string(runes[:1+g.r.IntN(len(runes)-1)])
		}
	case "ew":
		if len(runes) > 1 {
			v = string(runes[g.r.IntN(len(runes)):])
		}
	}
	return v
}

// when returns a dateTime compare value near a stored time: the time
// itself, a millisecond either side, a fraction of a millisecond after
// (finer than the database keeps), in another zone, or the day.
func (g *gen) when() string {
	t := pick(g.r, g.ds.times)
	switch g.r.IntN(8) {
	case 0:
		return t.Add(time.Millisecond).Format(schemas.TimeFormat)
	case 1:
		return t.Add(-time.Millisecond).Format(schemas.TimeFormat)
	case 2:
		return t.Add(500 * time.Microsecond).Format(time.RFC3339Nano)
	case 3:
		return t.Add(-1500 * time.Microsecond).Format(time.RFC3339Nano)
	case 4:
		return t.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.000-07:00")
	case 5:
		return t.Format("2006-01-02")
	}
	return t.Format(schemas.TimeFormat)
}

var strOps = []string{"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"}

func (g *gen) comparison() string {
	switch n := g.r.IntN(20); {
	case n < 12:
		path := pick(g.r, strPaths)
		op := pick(g.r, strOps)
		if op == "pr" {
			return path + " pr"
		}
		return path + " " + op + " " + lit(g.str(path, op))
	case n < 14:
		path := pick(g.r, []string{"active", "emails.primary"})
		op := pick(g.r, []string{"eq", "ne", "pr"})
		if op == "pr" {
			return path + " pr"
		}
		return path + " " + op + " " + pick(g.r, []string{"true", "false", `"True"`, `"false"`})
	case n < 17:
		path := pick(g.r, []string{"meta.created", "meta.lastModified"})
		op := pick(g.r, []string{"eq", "ne", "gt", "ge", "lt", "le", "gt", "lt", "pr"})
		if op == "pr" {
			return path + " pr"
		}
		return path + " " + op + " " + lit(g.when())
	case n < 18:
		return pick(g.r, []string{"name", "emails", ent + ":manager"}) + " pr"
	default:
		grp := pick(g.r, append(slices.Clone(g.ds.groups), "no-such-group"))
		switch g.r.IntN(5) {
		case 0:
			return "groups pr"
		case 1:
			return "groups ne " + lit(grp)
		case 2:
			return "groups[value eq " + lit(grp) + "]"
		case 3:
			return "groups.value eq " + lit(grp)
		}
		return "groups eq " + lit(grp)
	}
}

// valuePath returns a value filter. Between the brackets the parser
// (github.com/scim2/filter-parser/v2) takes one comparison, two joined by
// and/or, or one negated comparison; nothing longer, no parentheses.
func (g *gen) valuePath() string {
	attr, subs := "emails", []string{"value", "type", "display", "primary"}
	switch g.r.IntN(6) {
	case 0:
		attr, subs = "name", []string{"familyName", "givenName"}
	case 1:
		attr, subs = ent+":manager", []string{"value"}
	}
	cmp := func() string {
		sub := pick(g.r, subs)
		if sub == "primary" {
			return "primary " + pick(g.r, []string{"eq true", "eq false", "ne true", "pr"})
		}
		op := pick(g.r, strOps)
		if op == "pr" {
			return sub + " pr"
		}
		path := attr + "." + sub
		return sub + " " + op + " " + lit(g.str(path, op))
	}
	if g.r.IntN(5) == 0 {
		return attr + "[not (" + cmp() + ")]"
	}
	if g.r.IntN(3) == 0 {
		return attr + "[" + cmp() + "]"
	}
	return attr + "[" + cmp() + " " + pick(g.r, []string{"and", "and", "or"}) + " " + cmp() + "]"
}

func (g *gen) expr(depth int) string {
	if depth >= 3 || g.r.IntN(10) < 3+2*depth {
		if g.r.IntN(5) == 0 {
			return g.valuePath()
		}
		return g.comparison()
	}
	switch g.r.IntN(5) {
	case 0:
		return "not (" + g.expr(depth+1) + ")"
	case 1, 2:
		return "(" + g.expr(depth+1) + ") and (" + g.expr(depth+1) + ")"
	}
	return "(" + g.expr(depth+1) + ") or (" + g.expr(depth+1) + ")"
}

// handWritten are the filters every run checks, on the anchors and the
// random data.
func handWritten(ds *dataset) []string {
	bj := ds.byName["bjensen"]
	g0, g4 := ds.groups[0], ds.groups[4]
	created := bj.Created
	fs := []string{
		// userName: case-insensitive, every operator.
		`userName eq "bjensen@example.com"`, `userName eq "BJENSEN@EXAMPLE.COM"`, `userName ne "bjensen@example.com"`,
		`userName co "JENSEN"`, `userName sw "bj"`, `userName ew ".COM"`, `userName pr`, `not (userName pr)`,
		`userName gt "m"`, `userName ge "mixed@example.com"`, `userName lt "C"`, `userName le "bare"`,
		`userName co "(1)[x]*?^$|\\{}"`, `userName sw "dots.and+"`, `userName co "+"`, `userName co "."`,
		`userName eq "say \"hi\"@x.io"`, `userName co "\""`, `userName ew "\\{}@weird.io"`,
		`userName co ""`, `userName eq ""`,
		// Singular complex and its sub-attributes.
		`name.familyName eq "jensen"`, `name.familyName pr`, `not (name.familyName pr)`, `name pr`, `not (name pr)`,
		`name.familyName co "ø"`, `name.familyName co "Ø"`, `name.familyName gt "n"`, `name.givenName le "b"`,
		`name[familyName eq "Jensen" and givenName sw "b"]`, `name[familyName ne "Jensen"]`, `name[not (familyName eq "jensen")]`,
		`name[givenName pr]`, `name[familyName pr or givenName eq "mixed"]`,
		// Empty and blank strings.
		`title ew "guide"`, `title ew "guide\n"`, `userName ew ".com"`, `title co "e\n"`, `title sw "night guide"`,
		`title pr`, `not (title pr)`, `title eq ""`, `title ne ""`, `title eq " "`, `title co " "`, `title gt ""`,
		`externalId pr`, `not (externalId pr)`, `externalId eq ""`,
		// Booleans.
		`active eq true`, `active eq false`, `active ne true`, `active ne false`, `active pr`, `not (active pr)`,
		`active eq "False"`, `active eq "TRUE"`,
		// Case-exact strings.
		`externalId eq "EXT-BJ"`, `externalId eq "ext-bj"`, `externalId sw "EXT"`, `externalId sw "ext"`, `externalId gt "ext-5"`,
		`id eq "` + bj.ID + `"`, `id eq "` + strings.ToUpper(bj.ID) + `"`, `id pr`, `id co "-"`, `id ne "` + bj.ID + `"`,
		// Multi-valued complex: emails.
		`emails pr`, `not (emails pr)`, `emails.value pr`, `not (emails.value pr)`, `emails.type pr`, `emails.display pr`,
		`emails eq "bjensen@example.com"`, `emails co "@EXAMPLE"`, `emails.value ew ".org"`, `emails.value eq ""`, `emails.value ne ""`,
		`emails.type eq "work"`, `emails.type ne "work"`, `emails.type eq "home"`, `emails.type gt "h"`,
		`emails.primary eq true`, `emails.primary ne true`, `emails.primary eq false`, `emails.primary pr`,
		`emails[value pr]`, `emails[value pr and type eq "work"]`, `emails[type eq "work" and value pr]`,
		`emails[type eq "work"]`, `emails[type ne "work"]`, `emails[not (type eq "work")]`, `emails[not (value pr)]`,
		`emails[type eq "work" and value co "example"]`, `emails[type eq "work" or value ew ".io"]`,
		`emails[type eq "home" and primary eq true]`, `emails[primary eq true]`, `emails[primary ne true]`,
		`emails[value eq ""]`, `emails[value ne ""]`, `emails[type ne "work" and value pr]`, `emails[display eq "at home"]`,
		`not (emails[type eq "work"])`, `emails[type eq "work"] and emails[type eq "home"]`, `emails[type eq "work"] or not (emails pr)`,
		// Enterprise extension by full path.
		ent + `:department eq "tour operations"`, ent + `:department pr`, `not (` + ent + `:department pr)`, ent + `:department eq ""`,
		ent + `:manager.value eq "MGR-1"`, ent + `:manager pr`, ent + `:manager.value sw "mgr"`,
		ent + `:manager[value sw "mgr"]`, ent + `:manager[value ne "mgr-1"]`, ent + `:manager.$ref pr`,
		ent + `:employeeNumber gt "1100"`,
		// meta.
		`meta.resourceType eq "User"`, `meta.resourceType eq "Group"`, `meta.resourceType ne "User"`, `not (meta.resourceType eq "User")`,
		`meta.resourceType pr`, `meta.created pr`, `meta.lastModified pr`,
		`meta.created eq "` + created.Format(schemas.TimeFormat) + `"`,
		`meta.created eq "` + created.Add(500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.created ne "` + created.Add(500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.created ge "` + created.Format(schemas.TimeFormat) + `"`,
		`meta.created gt "` + created.Format(schemas.TimeFormat) + `"`,
		`meta.created le "` + created.Format(schemas.TimeFormat) + `"`,
		`meta.created lt "` + created.Add(500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.created le "` + created.Add(500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.created gt "` + created.Add(500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.created ge "` + created.Add(500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.created ge "` + created.Add(-1500*time.Microsecond).Format(time.RFC3339Nano) + `"`,
		`meta.lastModified gt "` + created.In(time.FixedZone("", -5*3600)).Format("2006-01-02T15:04:05.000-07:00") + `"`,
		`meta.lastModified lt "2000-01-01"`, `meta.lastModified gt "2000-01-01T00:00:00Z"`,
		// Memberships.
		`groups eq "` + g0 + `"`, `groups ne "` + g0 + `"`, `groups pr`, `not (groups pr)`, `groups.value eq "` + g0 + `"`,
		`groups[value eq "` + g0 + `"]`, `groups eq "` + g4 + `"`, `groups eq "no-such-group"`, `groups ne "no-such-group"`,
		`groups eq "` + g0 + `" and emails[type eq "work"]`, `not (groups eq "` + g0 + `") or title pr`,
		// Logic.
		`(userName sw "u" or title pr) and not (active eq false)`,
		`userName sw "user" and (emails[type eq "work" and value co "1"] or name.familyName eq "smith")`,
		`not (not (active eq true))`, `not (emails[type eq "work" and value co "e"]) and active eq true`,
		`title eq "engineer" or title eq "manager" or title eq "ceo"`,
		`userName pr and not (emails.value pr)`,
		// Attribute names in any letter case, and with the core schema's URN.
		`USERNAME eq "bjensen@example.com"`, `EMAILS[TYPE eq "work"]`, `Emails.Value pr`, `Name.FamilyName eq "jensen"`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Department eq "tour operations"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen"`, `urn:ietf:params:scim:schemas:core:2.0:User:name.familyName pr`,
		`META.RESOURCETYPE eq "User"`, `Meta.LastModified gt "2000-01-01"`, `Groups eq "` + g0 + `"`, `ID eq "` + bj.ID + `"`,
		`userName EQ "bjensen@example.com"`, `userName Sw "BJ" AND active Eq true`, `NOT (title PR)`,
		// Invalid: both sides must refuse.
		`title gt 5`, `emails[nope eq "x"]`, `active co "t"`, `name eq "x"`,
	}
	return fs
}

// ---- the test ----

// RunEquivalence checks that the filters a store translates into its
// database select exactly what scimfilter.Match selects in memory, on a
// store made by newStore.
func RunEquivalence(t *testing.T, newStore func(t *testing.T) store.Store) {
	seed, users, random := *eqSeed, *eqUsers, *eqFilters
	if testing.Short() {
		users, random = min(users, 60), min(random, 30)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	st := newStore(t)
	start := time.Now()
	ds := buildDataset(t, st, r, users, store.NewID)
	t.Logf("seed %d: %d users stored in %v", seed, len(ds.users), time.Since(start).Round(time.Millisecond))

	filters := handWritten(ds)
	g := &gen{r: r, ds: ds}
	for range random {
		filters = append(filters, g.expr(0))
	}
	var checked, invalid, unparsable, mismatches int
	results := map[string][]string{}
	start = time.Now()
	for _, f := range filters {
		e, err := scimfilter.Parse(f)
		if err != nil {
			unparsable++
			t.Logf("not parsed (skipped): %s: %v", f, err)
			continue
		}
		want, wantErr := matchAll(ds, e)
		page, err := st.Find(context.Background(), schemas.User, ds.account, store.Query{Filter: e, Count: 1 << 30})
		switch {
		case wantErr != nil && err != nil:
			invalid++
			continue
		case wantErr != nil || err != nil:
			mismatches++
			t.Errorf("filter %s:\n  Find error: %v\n  Match error: %v", f, err, wantErr)
			continue
		}
		checked++
		got := ids(page.Resources)
		sort.Strings(got)
		results[f] = got
		if page.Total != len(got) || !slices.Equal(got, want) {
			mismatches++
			t.Errorf("filter %s: Find total %d, %d ids; Match %d ids\n%s", f, page.Total, len(got), len(want), diff(ds, got, want))
		}
		if mismatches >= 25 {
			t.Fatalf("stopping after %d mismatches", mismatches)
		}
	}
	if unparsable > len(filters)/10 {
		t.Errorf("%d of %d filters did not parse", unparsable, len(filters))
	}
	t.Logf("%d filters agree (%d invalid on both sides, %d not parsed) in %v", checked, invalid, unparsable, time.Since(start).Round(time.Millisecond))

	// Agreeing is not enough: on the anchors, the answers are known.
	checkAnchors(t, ds, results)

	t.Run("PagingUnderRefinement", func(t *testing.T) { testPagingUnderRefinement(t, st, ds) })
}

// checkAnchors checks what some hand-written filters select among the
// anchors, per RFC 7644 §3.4.2.2: the anchors in "in" are selected, those in
// "out" are not (other users do not matter).
func checkAnchors(t *testing.T, ds *dataset, results map[string][]string) {
	bj := ds.byName["bjensen"]
	subMilli := bj.Created.Add(500 * time.Microsecond).Format(time.RFC3339Nano)
	for _, c := range []struct {
		filter  string
		in, out []string
	}{
		{`USERNAME eq "bjensen@example.com"`, []string{"bjensen"}, []string{"mixed", "bare"}},
		{`userName co "(1)[x]*?^$|\\{}"`, []string{"special"}, []string{"bjensen"}},
		{`userName eq "say \"hi\"@x.io"`, []string{"quote"}, []string{"bjensen"}},
		{`emails[type ne "work"]`, []string{"bjensen", "mixed", "noType", "emptyEmail", "onlyEmptyEmail"}, []string{"workOnly", "bare"}},
		{`emails.type ne "work"`, []string{"noType", "onlyEmptyEmail", "bare"}, []string{"bjensen", "mixed", "workOnly"}},
		{`emails.value pr`, []string{"emptyEmail", "bjensen"}, []string{"onlyEmptyEmail", "bare"}},
		{`emails[value pr and type eq "work"]`, []string{"bjensen", "workOnly"}, []string{"emptyEmail", "noType"}},
		{`emails[type eq "work" and value co "example"]`, []string{"bjensen"}, []string{"emptyEmail", "mixed"}},
		{`EMAILS[TYPE eq "work"]`, []string{"bjensen", "emptyEmail", "workOnly", "mixed"}, []string{"noType", "bare"}},
		{`title pr`, []string{"onlyEmptyEmail", "bjensen", "newline"}, []string{"emptyEmail", "bare"}},
		{`title eq ""`, []string{"emptyEmail"}, []string{"onlyEmptyEmail", "bare"}},
		{`title ew "guide"`, []string{"bjensen"}, []string{"newline"}},
		{`title ew "guide\n"`, []string{"newline"}, []string{"bjensen"}},
		{`name[familyName ne "Jensen"]`, []string{"special", "mixed"}, []string{"bjensen", "bare"}},
		{`name.familyName co "Ø"`, []string{"special"}, []string{"bjensen"}},
		{`externalId eq "ext-bj"`, nil, []string{"bjensen"}},
		{`externalId pr`, []string{"bjensen"}, []string{"quote", "bare"}},
		{ent + `:manager.value eq "MGR-1"`, []string{"bjensen", "quote"}, []string{"bare"}},
		{ent + `:manager[value ne "mgr-1"]`, nil, []string{"bjensen", "quote", "bare"}},
		{ent + `:department pr`, []string{"bjensen"}, []string{"quote", "bare"}},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bjensen"`, []string{"bjensen"}, []string{"bare"}},
		{`meta.created eq "` + subMilli + `"`, nil, []string{"bjensen"}},
		{`meta.created lt "` + subMilli + `"`, []string{"bjensen"}, nil},
		{`meta.created ge "` + subMilli + `"`, nil, []string{"bjensen"}},
		{`groups eq "` + ds.groups[0] + `"`, []string{"bjensen"}, nil},
		{`Groups eq "` + ds.groups[0] + `"`, []string{"bjensen"}, nil},
		{`not (groups eq "` + ds.groups[0] + `") or title pr`, []string{"bjensen"}, nil},
		{`meta.resourceType eq "Group"`, nil, []string{"bjensen", "bare"}},
		{`not (emails pr)`, []string{"bare"}, []string{"onlyEmptyEmail"}},
	} {
		got, ok := results[c.filter]
		if !ok {
			t.Errorf("anchor check: %s was not run", c.filter)
			continue
		}
		for _, name := range c.in {
			if _, found := slices.BinarySearch(got, ds.byName[name].ID); !found {
				t.Errorf("%s: does not select %s", c.filter, name)
			}
		}
		for _, name := range c.out {
			if _, found := slices.BinarySearch(got, ds.byName[name].ID); found {
				t.Errorf("%s: selects %s", c.filter, name)
			}
		}
	}
}

// matchAll evaluates a filter in memory over every stored user and returns
// the sorted ids of those it selects. Memberships, which live outside the
// user documents, are answered from what the test stored.
func matchAll(ds *dataset, e filter.Expression) ([]string, error) {
	decided := map[filter.Expression]map[string]bool{}
	decideMemberships(ds, e, decided)
	out := []string{}
	for _, u := range ds.users {
		ok, err := scimfilter.Match(schemas.User, &scimfilter.Target{
			ID: u.ID, Attributes: u.Attributes, Created: u.Created, Modified: u.Modified, Decided: decided,
		}, e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, u.ID)
		}
	}
	sort.Strings(out)
	return out, nil
}

func decideMemberships(ds *dataset, e filter.Expression, decided map[filter.Expression]map[string]bool) {
	inGroup := func(v any) map[string]bool {
		if id, ok := v.(string); ok {
			if m, ok := ds.members[id]; ok {
				return m
			}
		}
		return map[string]bool{}
	}
	isGroups := func(p filter.AttributePath) bool {
		return strings.EqualFold(p.AttributeName, "groups") && (p.URIPrefix == nil || strings.EqualFold(*p.URIPrefix, schemas.UserURN))
	}
	switch x := e.(type) {
	case *filter.LogicalExpression:
		decideMemberships(ds, x.Left, decided)
		decideMemberships(ds, x.Right, decided)
	case *filter.NotExpression:
		decideMemberships(ds, x.Expression, decided)
	case *filter.AttributeExpression:
		if !isGroups(x.AttributePath) {
			return
		}
		if x.Operator == filter.PR {
			any := map[string]bool{}
			for _, m := range ds.members {
				for id := range m {
					any[id] = true
				}
			}
			decided[x] = any
			return
		}
		decided[x] = inGroup(x.CompareValue)
	case *filter.ValuePath:
		if inner, ok := x.ValueFilter.(*filter.AttributeExpression); ok && isGroups(x.AttributePath) {
			decided[x] = inGroup(inner.CompareValue)
		}
	}
}

// diff describes the users on which Find and Match disagree.
func diff(ds *dataset, got, want []string) string {
	in := func(list []string, id string) bool { _, ok := slices.BinarySearch(list, id); return ok }
	var b strings.Builder
	n := 0
	for _, u := range ds.users {
		g, w := in(got, u.ID), in(want, u.ID)
		if g == w {
			continue
		}
		if n++; n > 4 {
			b.WriteString("  …\n")
			break
		}
		side := "only Find selects"
		if w {
			side = "only Match selects"
		}
		j, _ := json.Marshal(u.Attributes)
		fmt.Fprintf(&b, "  %s %s (created %s, modified %s): %s\n", side, u.ID, u.Created.Format(schemas.TimeFormat), u.Modified.Format(schemas.TimeFormat), j)
	}
	return b.String()
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// testPagingUnderRefinement: when the database selects a superset and the
// page is cut after the in-memory check, every page is the slice of the
// full result, with the full total.
func testPagingUnderRefinement(t *testing.T, st store.Store, ds *dataset) {
	ctx := context.Background()
	for _, c := range []struct {
		filter string
		sortBy string
		desc   bool
	}{
		{`emails[type eq "work" and value co "e"]`, "userName", true},
		{`not (emails[type eq "home" and value pr]) and userName co "u"`, "name.familyName", false},
	} {
		e, err := scimfilter.Parse(c.filter)
		if err != nil {
			t.Fatal(err)
		}
		q := store.Query{Filter: e, SortBy: c.sortBy, Descending: c.desc, Count: 1 << 30}
		full, err := st.Find(ctx, schemas.User, ds.account, q)
		if err != nil {
			t.Fatal(err)
		}
		want := ids(full.Resources)
		n := len(want)
		if full.Total != n || n < 8 {
			t.Fatalf("%s: total %d, %d resources: too few to page through", c.filter, full.Total, n)
		}
		for _, size := range []int{0, 3, 10} {
			// The first pages, one in the middle, the last one, beyond.
			for _, start := range []int{1, 2, n / 2, n - size + 1, n + 1} {
				if size == 0 && start > 1 {
					break
				}
				q.StartIndex, q.Count = start, size
				p, err := st.Find(ctx, schemas.User, ds.account, q)
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := min(start-1, n), min(start-1+size, n)
				if p.Total != n || !slices.Equal(ids(p.Resources), want[lo:hi]) {
					t.Fatalf("%s sortBy %q desc %v, startIndex %d count %d: total %d, ids %v; want total %d, ids %v",
						c.filter, c.sortBy, c.desc, start, size, p.Total, ids(p.Resources), n, want[lo:hi])
				}
			}
		}
	}
}
