package admin

// Invite people: several addresses at once, with a group, a role, and no
// project, all projects or specific ones (with a project role); or a CSV
// file, previewed first, imported with the same checks and the same
// all-or-nothing rule as "timecamp-scim import" (it is that importer,
// talking to the SCIM API in the process). Either way the seats are
// checked before anyone is invited: when they do not suffice, nothing
// happens and the page says how many are free.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/timecamp/timecamp-scim/csvimport"
	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

type inviteData struct {
	Addresses      string
	Role           string
	Roles          []string
	Group          string
	Groups         []option
	Access         string // none, all or specific
	Projects       []projectChoice
	ProjectRoles   []string
	Problems       []string
	Seats          seats
	InvitationsOff bool
}

// seats is what the account has free.
type seats struct {
	Used, Total, Free int
	Unlimited         bool
}

func seatsOf(a *store.Account) seats {
	return seats{Used: a.SeatsUsed, Total: a.Seats, Free: max(a.Seats-a.SeatsUsed, 0), Unlimited: a.Seats == 0}
}

// enough says whether n more seats fit, and otherwise why not.
func (s seats) enough(n int) (bool, string) {
	if s.Unlimited || n <= s.Free {
		return true, ""
	}
	return false, fmt.Sprintf("Not enough seats: %s needed, but only %s free (%d of %d in use). Nothing was sent. Add seats to the account, deactivate someone, or invite fewer people.",
		plural(n, "seat is", "seats are"), plural(s.Free, "seat is", "seats are"), s.Used, s.Total)
}

func (c *Console) inviteForm(w http.ResponseWriter, r *http.Request) {
	c.showInvite(w, r, http.StatusOK, &inviteData{Role: schemas.RoleUser, Access: "none"})
}

func (c *Console) showInvite(w http.ResponseWriter, r *http.Request, status int, d *inviteData) {
	ctx := r.Context()
	s := sessionOf(ctx)
	acct, err := c.store.Account(ctx, s.account.ID)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	tree, err := c.groupTree(ctx)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	projects, err := c.allProjects(ctx)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	chosen := map[string]string{}
	for _, p := range d.Projects {
		chosen[p.ID] = p.Role
	}
	d.Projects = nil
	for _, p := range projects {
		if p.Attributes["archived"] == true {
			continue
		}
		role, on := chosen[p.ID]
		if role == "" {
			role = "member"
		}
		d.Projects = append(d.Projects, projectChoice{ID: p.ID, Name: str(p.Attributes["displayName"]), Role: role, On: on})
	}
	d.Groups, d.Roles, d.ProjectRoles = groupOptions(tree, ""), schemas.Roles, schemas.ProjectRoles
	d.Seats, d.InvitationsOff = seatsOf(acct), acct.InvitationsOff
	c.renderView(w, r, status, "invite", &view{Title: "Invite people", Nav: "invite", Data: d})
}

// invite creates the users of the addresses (each is invited as a user
// created through SCIM is) and puts them in the group.
func (c *Console) invite(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	f := r.PostForm
	d := &inviteData{Addresses: f.Get("addresses"), Role: f.Get("role"), Group: f.Get("group"), Access: f.Get("access")}
	if !slices.Contains(schemas.Roles, d.Role) {
		d.Role = schemas.RoleUser
	}
	var projects []any
	if d.Access == "specific" {
		projects = formProjects(f)
		for _, p := range projects {
			p := p.(map[string]any)
			d.Projects = append(d.Projects, projectChoice{ID: p["value"].(string), Role: p["role"].(string), On: true})
		}
		if len(projects) == 0 {
			d.Problems = append(d.Problems, "Pick the projects, or choose \"no projects\" or \"all projects\".")
		}
	}
	addrs, problems := parseAddresses(d.Addresses)
	d.Problems = append(d.Problems, problems...)
	if len(addrs) == 0 && len(problems) == 0 {
		d.Problems = append(d.Problems, "Enter at least one email address.")
	}
	if len(d.Problems) == 0 {
		taken, err := c.existingUsers(ctx, addrs)
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		for _, a := range taken {
			d.Problems = append(d.Problems, a+" already has a user in this account; find them in the users list (resend their invitation there).")
		}
	}
	if len(d.Problems) == 0 && d.Role != schemas.RoleGuest {
		acct, err := c.store.Account(ctx, s.account.ID)
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		if ok, why := seatsOf(acct).enough(len(addrs)); !ok {
			d.Problems = append(d.Problems, why)
		}
	}
	if len(d.Problems) > 0 {
		c.showInvite(w, r, http.StatusUnprocessableEntity, d)
		return
	}

	// The people are created, then added to the group: whether that makes
	// administrators is asked before either.
	plan := make([]directory.PlannedUser, len(addrs))
	for i, a := range addrs {
		plan[i] = directory.PlannedUser{UserName: a, Role: d.Role, Groups: oneGroup(d.Group)}
	}
	if err := c.dir.AdmitPlan(ctx, s.account.ID, plan); err != nil {
		c.failed(w, r, "/admin/invite", err)
		return
	}

	bodies := make([]map[string]any, len(addrs))
	for i, a := range addrs {
		ext := map[string]any{"role": d.Role, "allProjects": d.Access == "all"}
		if len(projects) > 0 {
			ext["projects"] = projects
		}
		bodies[i] = map[string]any{
			"schemas":               []any{schemas.UserURN, schemas.TimeCampUserURN},
			"userName":              a,
			"emails":                []any{map[string]any{"value": a, "type": "work", "primary": true}},
			schemas.TimeCampUserURN: ext,
		}
	}
	created, errs, err := c.dir.CreateUsers(ctx, s.account.ID, bodies)
	if err != nil {
		c.failed(w, r, "/admin/invite", err)
		return
	}
	var ok, members []any
	var refused []string
	for i, u := range created {
		e := &store.ActivityEntry{ResourceType: "User", Resource: addrs[i], Operation: "invite", Attributes: []string{"emails", "role", "userName"}}
		if u != nil {
			e.ResourceID = u.ID
			ok = append(ok, addrs[i])
			members = append(members, map[string]any{"value": u.ID})
		} else {
			refused = append(refused, addrs[i]+": "+c.reason(r, errs[i]))
		}
		c.record(ctx, e, errs[i])
	}
	if d.Group != "" && len(members) > 0 {
		if _, err := c.patch(ctx, schemas.Group, d.Group, "add members", []directory.PatchOp{{Op: "add", Path: "members", Value: members}}); err != nil {
			refused = append(refused, "the people were invited but not added to the group: "+c.reason(r, err))
		}
	}
	msg := fmt.Sprintf("Invited %s: %s.", plural(len(ok), "person", "people"), joinAny(ok))
	if len(ok) == 0 {
		msg = "Nobody was invited."
	}
	if len(refused) > 0 {
		c.redirectWith(w, r, "/admin/users", flash{Error: true, Message: msg + " Refused: " + strings.Join(refused, "; ")})
		return
	}
	c.redirectWith(w, r, "/admin/users", flash{Message: msg})
}

func joinAny(l []any) string {
	s := make([]string, len(l))
	for i, v := range l {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

// parseAddresses reads addresses separated by lines, commas, semicolons
// or spaces, each checked as the CSV import checks its addresses; the
// same address twice counts once.
func parseAddresses(text string) ([]string, []string) {
	var out, problems []string
	seen := map[string]bool{}
	for _, a := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		switch {
		case !csvimport.ValidEmail(a):
			problems = append(problems, fmt.Sprintf("%q is not an email address.", a))
		case !seen[strings.ToLower(a)]:
			seen[strings.ToLower(a)] = true
			out = append(out, a)
		}
	}
	return out, problems
}

// existingUsers returns the addresses that already are a user's userName
// in the account (without regard to case).
func (c *Console) existingUsers(ctx context.Context, addrs []string) ([]string, error) {
	s := sessionOf(ctx)
	terms := make([]string, len(addrs))
	for i, a := range addrs {
		terms[i] = "userName eq " + quote(a)
	}
	f, err := scimfilter.Parse(strings.Join(terms, " or "))
	if err != nil {
		return nil, err
	}
	page, err := c.dir.List(ctx, s.account.ID, schemas.User, store.Query{Filter: f, Count: len(addrs)})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, u := range page.Resources {
		out = append(out, str(u.Attributes["userName"]))
	}
	return out, nil
}

// csvData is the CSV preview, and the result of an import.
type csvData struct {
	FileName, CSV string
	Problems      []string
	Rows          []*csvimport.Row
	Needed        int
	Seats         seats
	SeatsProblem  string
	Imported      bool
	Summary       string
	Failures      []string
}

// maxCSV bounds an uploaded file.
const maxCSV = 2 << 20

// csvPreview checks an uploaded file — every check of the importer, those
// against the account included — and shows what it would import.
func (c *Console) csvPreview(w http.ResponseWriter, r *http.Request) {
	file, hdr, err := r.FormFile("file")
	if err != nil {
		c.redirectWith(w, r, "/admin/invite", flash{Error: true, Message: "Choose a CSV file to upload."})
		return
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxCSV+1))
	if err != nil || len(data) > maxCSV {
		c.redirectWith(w, r, "/admin/invite", flash{Error: true, Message: "The file is larger than 2 MiB; import it with timecamp-scim import instead."})
		return
	}
	c.runCSV(w, r, path.Base(hdr.Filename), string(data), true)
}

// csvImport imports a previewed file (sent back by the preview's form),
// checking everything again first.
func (c *Console) csvImport(w http.ResponseWriter, r *http.Request) {
	c.runCSV(w, r, path.Base(r.PostFormValue("name")), r.PostFormValue("csv"), false)
}

func (c *Console) runCSV(w http.ResponseWriter, r *http.Request, name, data string, dryRun bool) {
	ctx := r.Context()
	s := sessionOf(ctx)
	if name == "" || name == "." || name == "/" {
		name = "people.csv"
	}
	d := &csvData{FileName: name, CSV: data}
	acct, err := c.store.Account(ctx, s.account.ID)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d.Seats = seatsOf(acct)
	actor := store.Actor{Kind: store.ActorAdmin, ID: s.user.ID, Name: s.sess.Email}
	opts := csvimport.Options{URL: "http://in-process", Token: "in-process", DryRun: true, HTTPClient: c.cfg.SCIMClient(acct, actor)}
	rep, err := csvimport.Import(ctx, name, strings.NewReader(data), opts)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d.Rows = rep.Rows
	for _, row := range rep.Rows {
		if row.Role != schemas.RoleGuest {
			d.Needed++
		}
	}
	for _, p := range rep.Problems {
		d.Problems = append(d.Problems, problemText(p))
	}
	if len(d.Problems) == 0 {
		if ok, why := d.Seats.enough(d.Needed); !ok {
			d.SeatsProblem = why
		}
	}
	if dryRun || len(d.Problems) > 0 || d.SeatsProblem != "" {
		status := http.StatusOK
		if len(d.Problems) > 0 || d.SeatsProblem != "" {
			status = http.StatusUnprocessableEntity
		}
		c.renderView(w, r, status, "csv", &view{Title: "Import " + name, Nav: "invite", Data: d})
		return
	}
	// The import writes in many requests: whether its people become
	// administrators (their role, or what their groups grant) is asked
	// before the first.
	plan, err := c.csvPlan(ctx, rep.Rows)
	if err == nil {
		err = c.dir.AdmitPlan(ctx, s.account.ID, plan)
	}
	if err != nil {
		c.failed(w, r, "/admin/invite", err)
		return
	}
	opts.DryRun = false
	rep, err = csvimport.Import(ctx, name, strings.NewReader(data), opts)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d.Imported = true
	var out bytes.Buffer
	rep.Print(&out, io.Discard)
	d.Summary = strings.TrimSpace(out.String())
	for _, p := range append(rep.Problems, rep.Failures...) {
		d.Failures = append(d.Failures, problemText(p))
	}
	if rep.Aborted != "" {
		d.Failures = append(d.Failures, rep.Aborted)
	}
	c.renderView(w, r, http.StatusOK, "csv", &view{Title: "Import " + name, Nav: "invite", Data: d})
}

func problemText(p csvimport.Problem) string {
	if p.Line == 0 {
		return p.Message
	}
	return fmt.Sprintf("Line %d: %s", p.Line, p.Message)
}

// csvPlan is what a checked file's rows will be: new users with their
// role, in their group. Group names are unique in an account, and the
// groups the import creates grant nothing, so a row's grants are those of
// the deepest group of its path that exists (the importer has checked
// that it is at that place).
func (c *Console) csvPlan(ctx context.Context, rows []*csvimport.Row) ([]directory.PlannedUser, error) {
	tree, err := c.groupTree(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]string{}
	for _, g := range tree {
		byName[strings.ToLower(g.Name)] = g.ID
	}
	plan := make([]directory.PlannedUser, len(rows))
	for i, row := range rows {
		plan[i] = directory.PlannedUser{UserName: row.Email, Role: row.Role}
		for j := len(row.Group) - 1; j >= 0; j-- {
			if id, ok := byName[strings.ToLower(row.Group[j])]; ok {
				plan[i].Groups = []string{id}
				break
			}
		}
	}
	return plan, nil
}
