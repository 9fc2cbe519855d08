// Package csvimport imports people from a CSV file into a TimeCamp account
// through a timecamp-scim server's SCIM API, as its Bulk client: it works
// against any deployment the token reaches.
//
// The import follows TimeCamp's rule for CSV invitations: if any address
// in the file already has a user in the account, nothing is imported.
// Everything is checked before anything is written — the file itself, the
// addresses against the account's users, group paths against the
// account's groups, and project names or ids against its projects — and
// any problem means nothing is imported. Then the missing groups are
// created, the users are created in Bulk requests of up to 1,000
// operations, and finally the new users are added to their groups.
package csvimport

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/progress"
)

// Options configure an import.
type Options struct {
	// URL is the server's base URL (as in SCIM_BASE_URL); the importer
	// adds /scim/v2 unless the URL already ends with it.
	URL string
	// Token is the account's SCIM bearer token.
	Token string
	// DryRun checks everything, the server-side checks included, and
	// changes nothing.
	DryRun bool
	// HTTPClient sends the requests; nil uses a default client.
	HTTPClient *http.Client
	// Progress receives a progress bar; nil shows none.
	Progress io.Writer
}

// Report says what an import found and did.
type Report struct {
	File   string
	DryRun bool
	// Users is the number of user lines in the file; Rows are those lines
	// as read (the admin console previews them).
	Users int
	Rows  []*Row
	// Problems are what kept the file from being imported: when there is
	// any, nothing was changed.
	Problems []Problem
	// Failures are lines that were not (completely) imported although the
	// file passed the checks (a seat limit reached, a concurrent change).
	Failures []Problem
	// Aborted says why the import stopped before its end, if it did.
	Aborted string

	CreatedUsers   int
	CreatedGroups  int
	NewGroups      int // groups the file needs that the account lacks
	ExistingGroups int // groups the file names that the account has
	Memberships    int // users added to groups
	Requests       int // HTTP requests sent
	Elapsed        time.Duration
}

// OK reports whether the import did all it had to.
func (r *Report) OK() bool {
	return len(r.Problems) == 0 && len(r.Failures) == 0 && r.Aborted == ""
}

// group is a group the file names, by its path.
type group struct {
	key      string // lower-cased path
	name     string // as first written in the file
	parent   *group
	depth    int
	id       string // once known (it exists, or was created)
	existing bool
	failed   string // why it could not be created
	firstAt  int    // first line that names it
	bulkID   string
}

func (g *group) path() string {
	if g.parent == nil {
		return g.name
	}
	return g.parent.path() + "/" + g.name
}

// run is one import.
type run struct {
	opts     Options
	c        *client
	rep      *Report
	rows     []*Row
	groups   map[string]*group // by lower-cased path
	groupOf  map[*Row]*group
	projects map[string]string // project name or id as written → id
	userIDs  map[*Row]string   // created users
	bar      *progress.Bar
}

// Import reads a CSV file and imports it; name is the file's name in the
// report's messages. The error is for what stopped the import from
// running or finishing (the server unreachable, the token refused);
// problems with the file are in the report.
func Import(ctx context.Context, name string, src io.Reader, opts Options) (*Report, error) {
	start := time.Now()
	rep := &Report{File: name, DryRun: opts.DryRun}
	r := &run{opts: opts, rep: rep, userIDs: map[*Row]string{}}
	defer func() {
		r.bar.Clear()
		sortProblems(rep.Problems)
		sortProblems(rep.Failures)
		rep.Elapsed = time.Since(start)
		if r.c != nil {
			rep.Requests = r.c.requests
		}
	}()

	p := parse(src)
	r.rows, rep.Users, rep.Rows, rep.Problems = p.rows, len(p.rows), p.rows, p.problems
	if p.fatal {
		return rep, nil
	}
	c, err := newClient(opts.URL, opts.Token, opts.HTTPClient)
	if err != nil {
		return rep, err
	}
	r.c = c
	if err := c.discover(ctx); err != nil {
		return rep, err
	}
	// Smaller files are done before a bar would help.
	const progressMinimum = 500
	if opts.Progress != nil && len(r.rows) >= progressMinimum {
		r.bar = progress.New(opts.Progress)
	}

	// Every check against the account, so that all problems show at once.
	r.status("Checking %d addresses against the account…", len(r.rows))
	if err := r.checkExistingUsers(ctx); err != nil {
		return rep, err
	}
	r.status("Checking groups and projects…")
	if err := r.resolveGroups(ctx); err != nil {
		return rep, err
	}
	if err := r.resolveProjects(ctx); err != nil {
		return rep, err
	}
	if len(rep.Problems) > 0 || opts.DryRun {
		return rep, nil
	}

	if err := r.createGroups(ctx); err != nil {
		return rep, err
	}
	if rep.Aborted != "" {
		return rep, nil
	}
	if err := r.createUsers(ctx); err != nil {
		return rep, err
	}
	if err := r.addMembers(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}

func (r *run) problem(line int, format string, args ...any) {
	r.rep.Problems = append(r.rep.Problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (r *run) failure(line int, format string, args ...any) {
	r.rep.Failures = append(r.rep.Failures, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (r *run) status(format string, args ...any) {
	r.bar.Status(fmt.Sprintf(format, args...))
}

// addressesPerSearch is how many addresses one search looks up. On the
// embedded database a search costs about the same whatever its filter
// holds (it reads every user, twice: to count and to list), so fewer,
// larger searches are faster: 5,000 addresses against 5,000 users take
// ~2.5 s in one search, ~11 s in five. The filter is ~200 KB (longer
// addresses make more searches: see eqFilters).
const addressesPerSearch = 5000

// existingMarker ends the message about an address that has a user.
const existingMarker = " already has a user in this account"

// checkExistingUsers applies TimeCamp's rule: an address that already has
// a user in the account (userName, compared without regard to case) keeps
// the whole file out. The addresses are looked up with filters of up to
// 5,000 "userName eq" terms joined by "or" (POST /Users/.search).
func (r *run) checkExistingUsers(ctx context.Context) error {
	var addrs []string
	seen := map[string]bool{}
	for _, row := range r.rows {
		k := strings.ToLower(row.Email)
		if !seen[k] {
			seen[k] = true
			addrs = append(addrs, row.Email)
		}
	}
	existing := map[string]map[string]any{}
	for _, filter := range eqFilters("userName", addrs, addressesPerSearch) {
		found, err := r.c.search(ctx, "/Users", filter, []string{"userName", "active"}, nil)
		if err != nil {
			return fmt.Errorf("checking for existing users: %w", err)
		}
		for _, u := range found {
			existing[strings.ToLower(text(lookup(u, "userName")))] = u
		}
	}
	conflicts := 0
	for _, row := range r.rows {
		u, ok := existing[strings.ToLower(row.Email)]
		if !ok {
			continue
		}
		conflicts++
		state := ""
		if lookup(u, "active") == false {
			state = " (deactivated)"
		}
		r.problem(row.Line, "%s%s%s", row.Email, existingMarker, state)
	}
	if conflicts > 0 {
		r.rep.Problems = append(r.rep.Problems, Problem{note: true, Message: fmt.Sprintf(
			"%s already in the account: a file is imported only when every address in it is new. Remove those lines, and invite the people who already have a user one by one.",
			plural(conflicts, "address is", "addresses are"))})
	}
	return nil
}

// resolveGroups matches the file's group paths with the account's groups.
// Group names are unique in an account, so a name in the file is either
// the account's group of that name, which must then be at the same place
// in the tree, or a new group.
func (r *run) resolveGroups(ctx context.Context) error {
	r.groups, r.groupOf = map[string]*group{}, map[*Row]*group{}
	var names []string
	for _, row := range r.rows {
		if row.Group == nil || row.groupConflict {
			continue
		}
		var parent *group
		for i, seg := range row.Group {
			key := strings.ToLower(strings.Join(row.Group[:i+1], "/"))
			g, ok := r.groups[key]
			if !ok {
				g = &group{key: key, name: seg, parent: parent, depth: i + 1, firstAt: row.Line}
				r.groups[key] = g
				names = append(names, seg)
			}
			parent = g
		}
		r.groupOf[row] = parent
	}
	if len(names) == 0 {
		return nil
	}
	type found struct{ id, parent, path string }
	existing := map[string]found{}
	for _, filter := range eqFilters("displayName", names, pageSize) {
		list, err := r.c.search(ctx, "/Groups", filter, nil, []string{"members"})
		if err != nil {
			return fmt.Errorf("looking up groups: %w", err)
		}
		for _, g := range list {
			ext, _ := lookup(g, tcGroupURN).(map[string]any)
			existing[strings.ToLower(text(lookup(g, "displayName")))] = found{
				id: text(lookup(g, "id")), parent: refID(lookup(ext, "parent")), path: text(lookup(ext, "path")),
			}
		}
	}
	lines := r.linesByGroup()
	for _, g := range r.sortedGroups() {
		f, ok := existing[strings.ToLower(g.name)]
		if !ok {
			continue
		}
		wantParent, placed := "", true
		if g.parent != nil {
			wantParent, placed = g.parent.id, g.parent.existing
		}
		if !placed || f.parent != wantParent {
			where := ""
			if f.path != "" {
				where = " at " + f.path
			}
			r.problem(g.firstAt, "group %q: the account already has a group %q%s; group names are unique in an account, so write its path as it is or use another name%s",
				g.path(), g.name, where, alsoOn(lines[g], g.firstAt))
			continue
		}
		g.id, g.existing = f.id, true
		r.rep.ExistingGroups++
	}
	for _, g := range r.groups {
		if !g.existing {
			r.rep.NewGroups++
		}
	}
	return nil
}

// sortedGroups lists the groups parents first, then by path.
func (r *run) sortedGroups() []*group {
	list := make([]*group, 0, len(r.groups))
	for _, g := range r.groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].depth != list[j].depth {
			return list[i].depth < list[j].depth
		}
		return list[i].key < list[j].key
	})
	return list
}

// linesByGroup lists, per group, the lines whose path goes through it.
func (r *run) linesByGroup() map[*group][]int {
	out := map[*group][]int{}
	for _, row := range r.rows {
		for g := r.groupOf[row]; g != nil; g = g.parent {
			out[g] = append(out[g], row.Line)
		}
	}
	return out
}

// resolveProjects finds the projects the file names, by id or by name
// (names compare without regard to case). A project the account does not
// have is a problem: the importer does not create projects.
func (r *run) resolveProjects(ctx context.Context) error {
	r.projects = map[string]string{}
	var tokens []string
	lines := map[string][]int{}
	for _, row := range r.rows {
		for _, p := range row.Projects {
			if _, ok := lines[p]; !ok {
				tokens = append(tokens, p)
			}
			lines[p] = append(lines[p], row.Line)
		}
	}
	if len(tokens) == 0 {
		return nil
	}
	byID := map[string]bool{}
	byName := map[string][]string{}
	const perSearch = pageSize / 2 // two terms per name
	for start := 0; start < len(tokens); start += perSearch {
		chunk := tokens[start:min(start+perSearch, len(tokens))]
		terms := make([]string, 0, 2*len(chunk))
		for _, t := range chunk {
			terms = append(terms, "id eq "+quote(t), "displayName eq "+quote(t))
		}
		list, err := r.c.search(ctx, "/Projects", strings.Join(terms, " or "), []string{"displayName"}, nil)
		if err != nil {
			return fmt.Errorf("looking up projects: %w", err)
		}
		for _, p := range list {
			id := text(lookup(p, "id"))
			byID[id] = true
			name := strings.ToLower(text(lookup(p, "displayName")))
			if !contains(byName[name], id) {
				byName[name] = append(byName[name], id)
			}
		}
	}
	for _, t := range tokens {
		ls := lines[t]
		switch ids := byName[strings.ToLower(t)]; {
		case byID[t]:
			r.projects[t] = t
		case len(ids) == 1:
			r.projects[t] = ids[0]
		case len(ids) > 1:
			sort.Strings(ids)
			r.problem(ls[0], "project %q: %d projects have that name (ids %s); write the id of the one you mean%s", t, len(ids), strings.Join(ids, ", "), alsoOn(ls, ls[0]))
		default:
			r.problem(ls[0], "no project %q in this account (neither a name nor an id); the importer does not create projects: create it first, or fix the name%s", t, alsoOn(ls, ls[0]))
		}
	}
	return nil
}

// createGroups creates the groups the account lacks, parents first, in as
// few Bulk requests as the limits allow (one, normally): a parent created
// in the same request is referred to by its bulkId. When a group cannot be
// created, no user is: they would miss their groups, and the file could
// not be imported again since their addresses would exist.
func (r *run) createGroups(ctx context.Context) error {
	var pending []*group
	for _, g := range r.sortedGroups() {
		if !g.existing {
			pending = append(pending, g)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	r.status("Creating %s…", plural(len(pending), "group", "groups"))
	for i, g := range pending {
		g.bulkID = fmt.Sprintf("g%d", i+1)
	}
	encode := func(g *group, inBatch map[*group]bool) (encodedOp[*group], error) {
		data := map[string]any{"schemas": []string{groupURN}, "displayName": g.name}
		if p := g.parent; p != nil {
			ref := p.id
			if inBatch[p] {
				ref = "bulkId:" + p.bulkID
			}
			data["schemas"] = []string{groupURN, tcGroupURN}
			data[tcGroupURN] = map[string]any{"parent": ref}
		}
		return encodeOp(bulkOp{Method: http.MethodPost, Path: "/Groups", BulkID: g.bulkID, Data: data}, g)
	}
	send := func(batch []encodedOp[*group]) error {
		results, err := bulk(ctx, r.c, batch)
		if err != nil {
			return fmt.Errorf("creating groups: %w", err)
		}
		for i, res := range results {
			g := batch[i].of
			if res.ok() {
				g.id = res.id()
				r.rep.CreatedGroups++
			} else {
				g.failed = res.detail()
			}
		}
		return nil
	}
	// Parents come first; a batch is sent when the next group would not
	// fit, so a parent is either in the same batch or already has its id.
	var batch []encodedOp[*group]
	inBatch := map[*group]bool{}
	size := 0
	for _, g := range pending {
		op, err := encode(g, inBatch)
		if err != nil {
			return err
		}
		if len(batch) > 0 && (len(batch) == r.c.maxOps || size+len(op.raw)+512 > r.c.maxPayload) {
			if err := send(batch); err != nil {
				return err
			}
			batch, inBatch, size = nil, map[*group]bool{}, 0
			if op, err = encode(g, inBatch); err != nil {
				return err
			}
		}
		batch = append(batch, op)
		inBatch[g] = true
		size += len(op.raw) + 1
	}
	if len(batch) > 0 {
		if err := send(batch); err != nil {
			return err
		}
	}

	lines := r.linesByGroup()
	failed := 0
	for _, g := range pending {
		if g.failed == "" {
			continue
		}
		failed++
		r.failure(g.firstAt, "group %q could not be created: %s%s", g.path(), g.failed, alsoOn(lines[g], g.firstAt))
	}
	if failed > 0 {
		r.rep.Aborted = fmt.Sprintf("%s could not be created, so no user was created (%s created)", plural(failed, "group", "groups"), plural(r.rep.CreatedGroups, "group was", "groups were"))
	}
	return nil
}

// createUsers creates the users in Bulk requests of up to 1,000
// operations (and within the payload limit), without failOnErrors: the
// server creates a request's users in one batch, and a user it refuses
// (a seat limit reached, an address taken meanwhile) does not stop the
// others.
func (r *run) createUsers(ctx context.Context) error {
	ops := make([]encodedOp[*Row], 0, len(r.rows))
	for _, row := range r.rows {
		op, err := encodeOp(bulkOp{Method: http.MethodPost, Path: "/Users", BulkID: fmt.Sprintf("line%d", row.Line), Data: r.userBody(row)}, row)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	list, err := batches(r.c, ops)
	if err != nil {
		return err
	}
	r.bar.Start("Creating users", len(ops))
	for _, batch := range list {
		results, err := bulk(ctx, r.c, batch)
		if err != nil {
			return fmt.Errorf("creating users (%s created so far): %w", plural(r.rep.CreatedUsers, "user", "users"), err)
		}
		for i, res := range results {
			row := batch[i].of
			if !res.ok() {
				r.failure(row.Line, "%s was not created: %s", row.Email, res.detail())
				continue
			}
			r.userIDs[row] = res.id()
			r.rep.CreatedUsers++
		}
		r.bar.Add(len(batch))
	}
	return nil
}

func (r *run) userBody(row *Row) map[string]any {
	body := map[string]any{
		"userName": row.Email,
		"emails":   []any{map[string]any{"value": row.Email, "type": "work", "primary": true}},
	}
	name := map[string]any{}
	if row.GivenName != "" {
		name["givenName"] = row.GivenName
	}
	if row.FamilyName != "" {
		name["familyName"] = row.FamilyName
	}
	if len(name) > 0 {
		body["name"] = name
	}
	tc := map[string]any{}
	if row.Role != "" {
		tc["role"] = row.Role
	}
	if row.AllProjects != nil {
		tc["allProjects"] = *row.AllProjects
	}
	var projects []any
	seen := map[string]bool{}
	for _, p := range row.Projects {
		if id := r.projects[p]; !seen[id] {
			seen[id] = true
			projects = append(projects, map[string]any{"value": id})
		}
	}
	if len(projects) > 0 {
		tc["projects"] = projects
	}
	body["schemas"] = []string{userURN}
	if len(tc) > 0 {
		body["schemas"] = []string{userURN, tcUserURN}
		body[tcUserURN] = tc
	}
	return body
}

// membersPerOp bounds the members one PATCH operation adds.
const membersPerOp = 1000

// membership is a PATCH that adds users to a group.
type membership struct {
	g    *group
	rows []*Row
}

// addMembers adds the created users to their groups: one PATCH per group
// (per 1,000 members), as few Bulk requests as the limits allow. Adding
// the members after the users exist, by id, keeps a user the server
// refused from failing the membership of the others.
func (r *run) addMembers(ctx context.Context) error {
	byGroup := map[*group][]*Row{}
	var order []*group
	for _, row := range r.rows {
		g := r.groupOf[row]
		if g == nil || r.userIDs[row] == "" {
			continue
		}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], row)
	}
	var ops []encodedOp[membership]
	total := 0
	for _, g := range order {
		rows := byGroup[g]
		total += len(rows)
		for start := 0; start < len(rows); start += membersPerOp {
			part := rows[start:min(start+membersPerOp, len(rows))]
			values := make([]any, len(part))
			for i, row := range part {
				values[i] = map[string]any{"value": r.userIDs[row]}
			}
			data := map[string]any{
				"schemas":    []string{patchOpURN},
				"Operations": []any{map[string]any{"op": "add", "path": "members", "value": values}},
			}
			op, err := encodeOp(bulkOp{Method: http.MethodPatch, Path: "/Groups/" + g.id, Data: data}, membership{g: g, rows: part})
			if err != nil {
				return err
			}
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	list, err := batches(r.c, ops)
	if err != nil {
		return err
	}
	r.bar.Start("Adding users to groups", total)
	for _, batch := range list {
		results, err := bulk(ctx, r.c, batch)
		if err != nil {
			return fmt.Errorf("adding users to groups: %w", err)
		}
		for i, res := range results {
			m := batch[i].of
			if res.ok() {
				r.rep.Memberships += len(m.rows)
			} else {
				for _, row := range m.rows {
					r.failure(row.Line, "%s was created but not added to group %q: %s", row.Email, m.g.path(), res.detail())
				}
			}
			r.bar.Add(len(m.rows))
		}
	}
	return nil
}

// alsoOn says which other lines share a problem, briefly.
func alsoOn(lines []int, first int) string {
	var others []int
	for _, l := range lines {
		if l != first && (len(others) == 0 || others[len(others)-1] != l) {
			others = append(others, l)
		}
	}
	if len(others) == 0 {
		return ""
	}
	const show = 5
	parts := make([]string, 0, show)
	for _, l := range others[:min(show, len(others))] {
		parts = append(parts, fmt.Sprint(l))
	}
	s := " (also on line " + strings.Join(parts, ", ")
	if len(others) > 1 {
		s = " (also on lines " + strings.Join(parts, ", ")
	}
	if len(others) > show {
		s += fmt.Sprintf(" and %d more", len(others)-show)
	}
	return s + ")"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
