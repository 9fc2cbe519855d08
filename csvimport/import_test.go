package csvimport_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/csvimport"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

const (
	tcUser  = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User"
	tcGroup = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"
	project = "urn:timecamp:params:scim:schemas:core:2.0:Project"
)

// importFile imports CSV text into the test server's account.
func importFile(t *testing.T, e *scimtest.Env, csv string, dryRun bool) *csvimport.Report {
	t.Helper()
	rep, err := csvimport.Import(context.Background(), "users.csv", strings.NewReader(csv), csvimport.Options{
		URL: e.Server.URL, Token: e.Client.Token, DryRun: dryRun,
	})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	return rep
}

// count returns the number of resources matching a filter ("" for all).
func count(t *testing.T, c *scimtest.Client, endpoint, filter string) int {
	t.Helper()
	path := endpoint + "?count=0"
	if filter != "" {
		path += "&filter=" + url.QueryEscape(filter)
	}
	r := c.Get(t, path).Expect(t, http.StatusOK)
	var n int
	fmt.Sscan(fmt.Sprint(r.At("totalResults")), &n)
	return n
}

// find returns the one resource matching a filter.
func find(t *testing.T, c *scimtest.Client, endpoint, filter string) *scimtest.Response {
	t.Helper()
	r := c.Get(t, endpoint+"?excludedAttributes=members&filter="+url.QueryEscape(filter)).Expect(t, http.StatusOK)
	list, _ := r.At("Resources").([]any)
	if len(list) != 1 {
		t.Fatalf("%s %s: %d results: %s", endpoint, filter, len(list), r.Raw)
	}
	return &scimtest.Response{Status: r.Status, Body: list[0].(map[string]any)}
}

func newProject(t *testing.T, c *scimtest.Client, name string) string {
	t.Helper()
	return c.Post(t, "/Projects", map[string]any{"schemas": []string{project}, "displayName": name}).Expect(t, http.StatusCreated).Str("id")
}

// expectProblems checks that the report lists exactly these problems, as
// "line: part of the message".
func expectProblems(t *testing.T, rep *csvimport.Report, want ...string) {
	t.Helper()
	var got []string
	for _, p := range rep.Problems {
		got = append(got, fmt.Sprintf("%d: %s", p.Line, p.Message))
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	for i, w := range want {
		line, part, _ := strings.Cut(w, ": ")
		if !strings.HasPrefix(got[i], line+": ") || !strings.Contains(got[i], part) {
			t.Errorf("problem %d: %q, want line %s with %q", i+1, got[i], line, part)
		}
	}
	if rep.CreatedUsers != 0 || rep.CreatedGroups != 0 {
		t.Fatalf("a file with problems created %d users and %d groups", rep.CreatedUsers, rep.CreatedGroups)
	}
}

// TestImportFiveThousand imports a 5,000-line file with nested groups,
// projects by name and by id, roles and allProjects, and checks the
// account afterwards. On FerretDB (SCIM_TEST_STORE=mongodb) it imports
// 1,100 lines: there, giving a group's 833 members their new versions
// reads every user once per member and outlasts the operation deadline.
func TestImportFiveThousand(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	apollo := newProject(t, c, "Apollo")
	gemini := newProject(t, c, "Gemini")
	c.Post(t, "/Groups", scimtest.GroupBody("Sales")).Expect(t, http.StatusCreated)

	groups := []string{"Engineering", "Engineering/Backend", "Engineering/Backend/On call", "Engineering/Frontend", "Sales/EMEA", ""}
	roleOf := []string{"user", "Supervisor", "", "guest", "USER"}
	var b strings.Builder
	b.WriteString("Email, givenName,familyName,role,group,projects,allProjects\n")
	// n keeps the counts below whole: a multiple of 20, 2 more than a
	// multiple of 6.
	n := 5000
	if storetest.Kind() == "mongodb" && storetest.OnFerretDB() {
		n = 1100
	}
	for i := 0; i < n; i++ {
		projects := ""
		switch i % 4 {
		case 0:
			projects = "Apollo"
		case 1:
			projects = "apollo; " + gemini
		case 2:
			projects = ""
		}
		all := ""
		if i%4 == 3 {
			all = "yes"
		}
		fmt.Fprintf(&b, "person%d@acme.test,Given%d,\"Family, %d\",%s,%s,%s,%s\n", i, i, i, roleOf[i%len(roleOf)], groups[i%len(groups)], projects, all)
	}

	start := time.Now()
	rep := importFile(t, e, b.String(), false)
	elapsed := time.Since(start)
	t.Logf("imported %d lines in %s (%d requests; %.0f users/s)", n, elapsed.Round(time.Millisecond), rep.Requests, float64(n)/elapsed.Seconds())
	if !rep.OK() || rep.Err() != nil {
		var out bytes.Buffer
		rep.Print(&out, &out)
		t.Fatalf("import failed: %v\n%s", rep.Err(), out.String())
	}
	if rep.CreatedUsers != n || rep.CreatedGroups != 5 || rep.ExistingGroups != 1 || rep.Memberships != n-n/len(groups) {
		t.Fatalf("report: %+v", rep)
	}

	verifyStart := time.Now()
	// Everything the import wrote, read straight from the server's store
	// (one read per collection: on the embedded database every SCIM query
	// scans the users, which would make checking 5,000 of them slow).
	ctx := context.Background()
	users, err := e.Store.All(ctx, schemas.User, e.Account.ID)
	if err != nil || len(users) != n {
		t.Fatalf("%d users on the server, want %d (%v)", len(users), n, err)
	}
	byName := map[string]*store.Resource{}
	for _, u := range users {
		byName[u.Attributes["userName"].(string)] = u
	}
	onGemini, guests, all := 0, 0, 0
	for i := 0; i < n; i++ {
		u := byName[fmt.Sprintf("person%d@acme.test", i)]
		if u == nil {
			t.Fatalf("person%d was not created", i)
		}
		tc, _ := u.Attributes[tcUser].(map[string]any)
		for _, p := range asList(tc["projects"]) {
			if p.(map[string]any)["value"] == gemini {
				onGemini++
			}
		}
		if tc["role"] == "guest" {
			guests++
		}
		if tc["allProjects"] == true {
			all++
		}
	}
	if onGemini != n/4 || guests != n/5 || all != n/4 {
		t.Errorf("%d users on Gemini, %d guests, %d on all projects; want %d, %d, %d", onGemini, guests, all, n/4, n/5, n/4)
	}

	// Groups: each once, nested by path, with their members.
	groupList, err := e.Store.All(ctx, schemas.Group, e.Account.ID)
	if err != nil || len(groupList) != 6 {
		t.Fatalf("%d groups, want 6 (%v)", len(groupList), err)
	}
	want := map[string]struct {
		path    string
		members int
	}{
		// 5,000 lines over 6 group columns: the first two get one more.
		"Engineering": {"acme/Engineering", n/6 + 1}, "Backend": {"acme/Engineering/Backend", n/6 + 1},
		"On call": {"acme/Engineering/Backend/On call", n / 6}, "Frontend": {"acme/Engineering/Frontend", n / 6},
		"Sales": {"acme/Sales", 0}, "EMEA": {"acme/Sales/EMEA", n / 6},
	}
	var gids []string
	for _, g := range groupList {
		gids = append(gids, g.ID)
	}
	members, err := e.Store.MembershipsOf(ctx, e.Account.ID, store.GroupSide, gids)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groupList {
		name := g.Attributes["displayName"].(string)
		w, ok := want[name]
		path, _ := g.Attributes[tcGroup].(map[string]any)["path"].(string)
		if !ok || path != w.path || len(members[g.ID]) != w.members {
			t.Errorf("group %s: path %q, %d members; want %q, %d", name, path, len(members[g.ID]), w.path, w.members)
		}
	}

	// One user as SCIM shows it.
	u := c.Get(t, "/Users/"+byName["person1@acme.test"].ID).Expect(t, http.StatusOK)
	if u.Str("name.givenName") != "Given1" || u.Str("name.familyName") != "Family, 1" || u.Str("emails.0.value") != "person1@acme.test" ||
		u.At("emails.0.primary") != true || u.Str("emails.0.type") != "work" || u.Str(tcUser+".role") != "supervisor" ||
		u.Str("groups.0.display") != "Backend" {
		t.Errorf("person1: %s", u.Raw)
	}
	projects := map[string]bool{}
	for _, p := range asList(u.At(tcUser + ".projects")) {
		projects[scimtest.At(p, "value").(string)] = true
	}
	if len(projects) != 2 || !projects[apollo] || !projects[gemini] {
		t.Errorf("person1 projects: %v", u.At(tcUser+".projects"))
	}
	t.Logf("checked in %s", time.Since(verifyStart).Round(time.Millisecond))

	// TimeCamp's rule at scale: 5,000 new addresses and one that exists
	// (line 2,501): nothing is imported, and that line is named.
	b.Reset()
	b.WriteString("email,group\n")
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("other%d@acme.test", i)
		if i == n/2-1 {
			addr = "PERSON42@acme.test"
		}
		fmt.Fprintf(&b, "%s,Engineering/New team\n", addr)
	}
	start = time.Now()
	rep = importFile(t, e, b.String(), false)
	t.Logf("refused a %d-line file with one existing address in %s", n, time.Since(start).Round(time.Millisecond))
	expectProblems(t, rep, "0: 1 address is already in the account", fmt.Sprintf("%d: PERSON42@acme.test already has a user in this account", n/2+1))
	if got := count(t, c, "/Users", ""); got != n {
		t.Fatalf("%d users after a refused import, want %d", got, n)
	}
	if got := count(t, c, "/Groups", ""); got != 6 {
		t.Fatalf("%d groups after a refused import, want 6", got)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// TestExistingAddressImportsNothing: TimeCamp's rule. One address of the
// file has a user (in another letter case): nothing is imported, and the
// line is named.
func TestExistingAddressImportsNothing(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	c.Post(t, "/Users", scimtest.UserBody("Taken@Acme.test")).Expect(t, http.StatusCreated)
	gone := c.Post(t, "/Users", scimtest.UserBody("gone@acme.test")).Expect(t, http.StatusCreated)
	c.Patch(t, "/Users/"+gone.Str("id"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)

	csv := "email,group\nnew1@acme.test,Team\nnew2@acme.test,Team\ntaken@acme.TEST,Team\nnew3@acme.test,\nGONE@acme.test,\n"
	rep := importFile(t, e, csv, false)
	expectProblems(t, rep,
		"0: 2 addresses are already in the account",
		"4: taken@acme.TEST already has a user in this account",
		"6: GONE@acme.test already has a user in this account (deactivated)",
	)
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "nothing was imported") {
		t.Fatalf("error: %v", err)
	}
	if got := count(t, c, "/Users", ""); got != 2 {
		t.Fatalf("%d users after a refused import, want 2", got)
	}
	if got := count(t, c, "/Groups", ""); got != 0 {
		t.Fatalf("a refused import created %d groups", got)
	}
	var out, errs bytes.Buffer
	rep.Print(&out, &errs)
	if !strings.Contains(errs.String(), "users.csv:4: taken@acme.TEST already has a user") || out.Len() != 0 {
		t.Fatalf("printed:\n%s\n%s", out.String(), errs.String())
	}
}

// TestMalformedFiles: each mistake is explained with its line number, and
// nothing is imported.
func TestMalformedFiles(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	newProject(t, c, "Apollo")
	newProject(t, c, "Twin")
	newProject(t, c, "twin")
	tests := []struct {
		name string
		csv  string
		want []string
	}{
		{"empty file", "", []string{"0: the file is empty"}},
		{"only a header", "email,role\n", []string{"0: no users"}},
		{"no email column", "name,role\nJane,user\n", []string{"1: the header (line 1) has no email column"}},
		{"semicolons", "email;role\na@acme.test;user\n", []string{"1: semicolons"}},
		{"unknown role", "email,role\na@acme.test,user\nb@acme.test,admin\n", []string{`3: unknown role "admin"`}},
		{"ragged row", "email,givenName\na@acme.test,Ann\nb@acme.test,Bob,Smith\nc@acme.test\n", []string{
			"3: 3 fields, but the header has 2 columns", "4: 1 fields, but the header has 2 columns"}},
		{"bad quoting", "email,givenName\na@acme.test,Ann\nb@acme.test,Bo\"b\n", []string{"3: malformed CSV at column"}},
		{"unclosed quote", "email,givenName\na@acme.test,\"Ann\nb@acme.test,Bob\n", []string{"3: malformed CSV"}},
		{"missing and malformed email", "givenName,email\nAnn,\nBob,bob.acme.test\nCy,cy@acme\nDi,\"Di <di@acme.test>\"\n", []string{
			"2: no email address", `3: "bob.acme.test" is not an email address`, `4: "cy@acme" is not an email address`, "5: is not an email address"}},
		{"duplicates", "email\na@acme.test\nb@acme.test\nA@ACME.test\n", []string{
			"2: also on line 4", "4: also on line 2"}},
		{"bad allProjects", "email,allProjects\na@acme.test,TRUE\nb@acme.test,maybe\n", []string{`3: allProjects is "maybe"`}},
		{"group too deep", "email,group\na@acme.test,A/B/C\nb@acme.test,A/B/C/D\nc@acme.test,A//B\n", []string{
			`3: group "A/B/C/D" is 4 levels deep`, "4: empty level"}},
		{"group name in two places", "email,group\na@acme.test,Eng/Backend\nb@acme.test,Ops/Backend\n", []string{
			`3: a group named "Backend" is at Eng/Backend on line 2`}},
		{"unknown column", "email,department\na@acme.test,R&D\n", []string{`1: unknown column "department"`}},
		{"unknown and ambiguous projects", "email,projects\na@acme.test,Apollo;Zeus\nb@acme.test,zeus\nc@acme.test,TWIN\n", []string{
			`2: no project "Zeus"`, `3: no project "zeus"`, `4: project "TWIN": 2 projects have that name`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := importFile(t, e, tc.csv, false)
			expectProblems(t, rep, tc.want...)
			if rep.Err() == nil {
				t.Fatal("no error")
			}
		})
	}
	if got := count(t, c, "/Users", ""); got != 0 {
		t.Fatalf("%d users created by files with problems", got)
	}
}

// TestDryRunChangesNothing: a dry run checks against the server (existing
// addresses too) and writes nothing.
func TestDryRunChangesNothing(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	newProject(t, c, "Apollo")
	csv := "email,group,projects,role\na@acme.test,Eng/Backend,Apollo,supervisor\nb@acme.test,Sales,,\n"
	rep := importFile(t, e, csv, true)
	if !rep.OK() || rep.NewGroups != 3 || rep.Users != 2 {
		t.Fatalf("dry run: %+v", rep)
	}
	var out bytes.Buffer
	rep.Print(&out, &out)
	if !strings.Contains(out.String(), "would create 2 users and 3 groups") || !strings.Contains(out.String(), "nothing was changed") {
		t.Fatalf("dry run output: %s", out.String())
	}
	if count(t, c, "/Users", "") != 0 || count(t, c, "/Groups", "") != 0 {
		t.Fatal("the dry run changed the account")
	}
	// The existing-address rule is checked too.
	c.Post(t, "/Users", scimtest.UserBody("b@acme.test")).Expect(t, http.StatusCreated)
	rep = importFile(t, e, csv, true)
	expectProblems(t, rep, "0: 1 address is already in the account", "3: b@acme.test already has a user")
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "dry run") {
		t.Fatalf("error: %v", err)
	}
	if count(t, c, "/Users", "") != 1 || count(t, c, "/Groups", "") != 0 {
		t.Fatal("the dry run changed the account")
	}
}

// TestGroupsByPath: paths reuse the account's groups where they match,
// create the rest once each, nested; a name the account has elsewhere in
// the tree is a problem.
func TestGroupsByPath(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	eng := c.Post(t, "/Groups", scimtest.GroupBody("Engineering")).Expect(t, http.StatusCreated).Str("id")
	c.Post(t, "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group", tcGroup}, "displayName": "Platform",
		tcGroup: map[string]any{"parent": eng}}).Expect(t, http.StatusCreated)

	rep := importFile(t, e, "email,group\na@acme.test,Ops/Platform\nb@acme.test,Ops\nc@acme.test,ops/platform\n", false)
	expectProblems(t, rep,
		`2: group "Ops/Platform": the account already has a group "Platform" at acme/Engineering/Platform; group names are unique in an account, so write its path as it is or use another name (also on line 4)`)
	rep = importFile(t, e, "email,group\na@acme.test,Platform\n", false)
	expectProblems(t, rep, `2: group "Platform": the account already has a group "Platform" at acme/Engineering/Platform`)

	csv := "email,group\n" +
		"a@acme.test,engineering/Backend\n" +
		"b@acme.test, Engineering / Backend / Oncall \n" +
		"c@acme.test,ENGINEERING/platform\n" +
		"d@acme.test,Support\n" +
		"e@acme.test,Engineering/backend\n" +
		"f@acme.test,\n"
	rep = importFile(t, e, csv, false)
	if !rep.OK() || rep.CreatedGroups != 3 || rep.ExistingGroups != 2 || rep.CreatedUsers != 6 || rep.Memberships != 5 {
		var out bytes.Buffer
		rep.Print(&out, &out)
		t.Fatalf("report %+v\n%s", rep, out.String())
	}
	if got := count(t, c, "/Groups", ""); got != 5 {
		t.Fatalf("%d groups, want 5", got)
	}
	want := map[string]struct {
		path    string
		members int
	}{
		"Engineering": {"acme/Engineering", 0}, "Platform": {"acme/Engineering/Platform", 1},
		"Backend": {"acme/Engineering/Backend", 2}, "Oncall": {"acme/Engineering/Backend/Oncall", 1}, "Support": {"acme/Support", 1},
	}
	for name, w := range want {
		g := find(t, c, "/Groups", fmt.Sprintf("displayName eq %q", name))
		if g.Str(tcGroup+".path") != w.path {
			t.Errorf("group %s: path %q, want %q", name, g.Str(tcGroup+".path"), w.path)
		}
		if got := count(t, c, "/Users", fmt.Sprintf("groups eq %q", g.Str("id"))); got != w.members {
			t.Errorf("group %s: %d members, want %d", name, got, w.members)
		}
	}
	// The first spelling names a new group.
	if g := find(t, c, "/Groups", `displayName eq "backend"`); g.Str("displayName") != "Backend" {
		t.Errorf("group name: %q", g.Str("displayName"))
	}
}

// TestProjectsByNameAndID: a project is named by its name (any letter
// case) or its id.
func TestProjectsByNameAndID(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	apollo := newProject(t, c, "Apollo 11")
	gemini := newProject(t, c, "Gemini")
	csv := "email,projects\n" +
		"a@acme.test,apollo 11\n" +
		"b@acme.test," + gemini + " ; Apollo 11;\n" +
		"c@acme.test,\"Gemini;" + gemini + "\"\n"
	rep := importFile(t, e, csv, false)
	if !rep.OK() || rep.CreatedUsers != 3 {
		t.Fatalf("report %+v", rep)
	}
	projectsOf := func(addr string) map[string]bool {
		u := find(t, c, "/Users", fmt.Sprintf("userName eq %q", addr))
		out := map[string]bool{}
		list, _ := u.At(tcUser + ".projects").([]any)
		for _, p := range list {
			out[scimtest.At(p, "value").(string)] = true
			if scimtest.At(p, "role") != "member" {
				t.Errorf("%s: project role %v", addr, scimtest.At(p, "role"))
			}
		}
		return out
	}
	if p := projectsOf("a@acme.test"); len(p) != 1 || !p[apollo] {
		t.Errorf("a: %v", p)
	}
	if p := projectsOf("b@acme.test"); len(p) != 2 || !p[apollo] || !p[gemini] {
		t.Errorf("b: %v", p)
	}
	if p := projectsOf("c@acme.test"); len(p) != 1 || !p[gemini] {
		t.Errorf("c: %v", p)
	}
}

// TestURLForms: the base URL works with or without /scim/v2 (and a
// trailing slash); a wrong token is refused without being shown.
func TestURLForms(t *testing.T) {
	e := scimtest.New(t)
	for i, u := range []string{e.Server.URL, e.Server.URL + "/", e.Server.URL + "/scim/v2", e.Server.URL + "/scim/v2/"} {
		csv := fmt.Sprintf("email\nuser%d@acme.test\n", i)
		rep, err := csvimport.Import(context.Background(), "users.csv", strings.NewReader(csv), csvimport.Options{URL: u, Token: e.Client.Token})
		if err != nil || !rep.OK() || rep.CreatedUsers != 1 {
			t.Fatalf("URL %s: %v %+v", u, err, rep)
		}
	}
	if got := count(t, e.Client, "/Users", ""); got != 4 {
		t.Fatalf("%d users, want 4", got)
	}

	_, err := csvimport.Import(context.Background(), "users.csv", strings.NewReader("email\nx@acme.test\n"), csvimport.Options{URL: e.Server.URL, Token: "not-the-token"})
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "not-the-token") {
		t.Fatalf("wrong token: %v", err)
	}
	_, err = csvimport.Import(context.Background(), "users.csv", strings.NewReader("email\nx@acme.test\n"), csvimport.Options{URL: e.Server.URL + "/elsewhere", Token: e.Client.Token})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("wrong URL: %v", err)
	}
	for _, bad := range []string{"scim.example.com", "ftp://x", "http://"} {
		if _, err := csvimport.Import(context.Background(), "users.csv", strings.NewReader("email\nx@acme.test\n"), csvimport.Options{URL: bad, Token: "t"}); err == nil || !strings.Contains(err.Error(), "--url") {
			t.Errorf("URL %q: %v", bad, err)
		}
	}
}

// TestSeatLimitFailuresNameTheLines: users the server refuses (no seats
// left) are reported by line; the others are imported, and the import
// fails.
func TestSeatLimitFailuresNameTheLines(t *testing.T) {
	e := scimtest.New(t)
	_, c := e.NewAccount(t, "small", 2)
	csv := "email,role,group\nboss@small.test,administrator,Team\na@small.test,,Team\nb@small.test,,Team\nguest@small.test,guest,Team\n"
	rep, err := csvimport.Import(context.Background(), "users.csv", strings.NewReader(csv), csvimport.Options{URL: e.Server.URL, Token: c.Token})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CreatedUsers != 3 || rep.Memberships != 3 || len(rep.Failures) != 1 || rep.Failures[0].Line != 4 || !strings.Contains(rep.Failures[0].Message, "seat") {
		t.Fatalf("report %+v", rep)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "1 line of 4 failed") {
		t.Fatalf("error: %v", err)
	}
}
