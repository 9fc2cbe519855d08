package admin

// The Users page (list, role drop-down, resend envelope) and the user
// profile (name, email, notifications, tracking permissions, role, group,
// projects, deactivate/reactivate, password).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// usersPerPage is the size of a page of the users list.
const usersPerPage = 25

// statuses a list can be filtered by: active or not, and the invitation.
var userStatuses = []string{"active", "deactivated", "pending", "accepted", "expired", "revoked"}

type userRow struct {
	ID, Name, Email, Role, EffectiveRole, Invitation string
	Active, Owner, CanResend                         bool
	Groups                                           []string
	Projects                                         string
}

type usersData struct {
	Rows                []userRow
	Q, Role, Status     string
	Roles, Statuses     []string
	Total, From, To     int
	PrevURL, NextURL    string
	Back                string // this page, for forms to return to
	SeatsUsed, Seats    int
	InvitationsOff      bool
	SearchedOrFiltered  bool
	RoleChangeURLPrefix string
}

// users lists the account's users: search, filters and paging in the
// store, like a SCIM list.
func (c *Console) users(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	q := r.URL.Query()
	d := usersData{
		Q: strings.TrimSpace(q.Get("q")), Role: q.Get("role"), Status: q.Get("status"),
		Roles: schemas.Roles, Statuses: userStatuses, Back: r.URL.RequestURI(),
		Seats: s.account.Seats, SeatsUsed: s.account.SeatsUsed, InvitationsOff: s.account.InvitationsOff,
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	expr, err := usersFilter(d.Q, d.Role, d.Status)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d.SearchedOrFiltered = expr != nil
	res, err := c.dir.List(r.Context(), s.account.ID, schemas.User, store.Query{
		Filter: expr, SortBy: "userName", StartIndex: (page-1)*usersPerPage + 1, Count: usersPerPage,
	})
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	if err := c.dir.Expand(r.Context(), res.Resources, func(a string) bool { return a == "groups" }); err != nil {
		c.internalError(w, r, err)
		return
	}
	for _, u := range res.Resources {
		d.Rows = append(d.Rows, rowOf(u))
	}
	d.Total = res.Total
	if len(d.Rows) > 0 {
		d.From, d.To = (page-1)*usersPerPage+1, (page-1)*usersPerPage+len(d.Rows)
	}
	pageURL := func(p int) string {
		v := url.Values{}
		for k, val := range map[string]string{"q": d.Q, "role": d.Role, "status": d.Status} {
			if val != "" {
				v.Set(k, val)
			}
		}
		if p > 1 {
			v.Set("page", strconv.Itoa(p))
		}
		if len(v) == 0 {
			return "/admin/users"
		}
		return "/admin/users?" + v.Encode()
	}
	if page > 1 {
		d.PrevURL = pageURL(page - 1)
	}
	if d.To < d.Total {
		d.NextURL = pageURL(page + 1)
	}
	c.renderView(w, r, http.StatusOK, "users", &view{Title: "Users", Nav: "users", Data: d})
}

// usersFilter is the SCIM filter of a search (a part of the name or
// address) and the role and status filters; nil for none.
func usersFilter(search, role, status string) (filter.Expression, error) {
	var parts []string
	if search != "" {
		q := quote(search)
		parts = append(parts, fmt.Sprintf("(userName co %s or emails.value co %s or name.givenName co %s or name.familyName co %s)", q, q, q, q))
	}
	if slices.Contains(schemas.Roles, role) {
		parts = append(parts, tcPath("effectiveRole")+" eq "+quote(role))
	}
	switch status {
	case "active":
		parts = append(parts, "active eq true")
	case "deactivated":
		parts = append(parts, "active eq false")
	case "pending", "accepted", "expired", "revoked":
		parts = append(parts, tcPath("invitationStatus")+" eq "+quote(status))
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return scimfilter.Parse(strings.Join(parts, " and "))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func rowOf(u *store.Resource) userRow {
	row := userRow{
		ID: u.ID, Name: fullName(u), Email: primaryEmail(u), Active: store.Active(u.Attributes),
		Role: str(directory.Setting(u.Attributes, "role")), EffectiveRole: str(tcAttr(u, "effectiveRole")),
		Invitation: str(tcAttr(u, "invitationStatus")), Owner: tcAttr(u, "accountOwner") == true,
	}
	row.CanResend = row.Active && (row.Invitation == store.InvitationPending || row.Invitation == store.InvitationExpired)
	for _, g := range list(u.Attributes["groups"]) {
		if m, ok := g.(map[string]any); ok {
			row.Groups = append(row.Groups, str(m["display"]))
		}
	}
	if directory.Setting(u.Attributes, "allProjects") == true {
		row.Projects = "All projects"
	} else {
		var names []string
		for _, p := range list(tcAttr(u, "projects")) {
			if m, ok := p.(map[string]any); ok {
				names = append(names, str(m["display"]))
			}
		}
		row.Projects = strings.Join(names, ", ")
	}
	return row
}

func fullName(u *store.Resource) string {
	name, _ := u.Attributes["name"].(map[string]any)
	if f := str(name["formatted"]); f != "" {
		return f
	}
	n := strings.TrimSpace(str(name["givenName"]) + " " + str(name["familyName"]))
	if n == "" {
		n = str(u.Attributes["displayName"])
	}
	return n
}

// primaryEmail is the primary email, else the first, else the userName.
func primaryEmail(u *store.Resource) string {
	first := ""
	for _, e := range list(u.Attributes["emails"]) {
		m, _ := e.(map[string]any)
		if m["primary"] == true {
			return str(m["value"])
		}
		if first == "" {
			first = str(m["value"])
		}
	}
	if first != "" {
		return first
	}
	return str(u.Attributes["userName"])
}

// setRole changes a user's own role from the list's drop-down.
func (c *Console) setRole(w http.ResponseWriter, r *http.Request) {
	id, role := mux.Vars(r)["id"], r.PostFormValue("role")
	to := back(r, "/admin/users")
	if !slices.Contains(schemas.Roles, role) {
		c.redirectWith(w, r, to, flash{Error: true, Message: "Choose a role: administrator, supervisor, user or guest."})
		return
	}
	u, err := c.patch(r.Context(), schemas.User, id, "change role", []directory.PatchOp{replaceOp(tcPath("role"), role)})
	if err != nil {
		c.userFailed(w, r, to, err)
		return
	}
	c.redirectWith(w, r, to, flash{Message: fmt.Sprintf("%s is now %s.", displayName(u), strings.ToLower(roleLabel(role)))})
}

// userFailed reports a refused change of a user; a user of another
// account (or one deleted meanwhile) is not found.
func (c *Console) userFailed(w http.ResponseWriter, r *http.Request, to string, err error) {
	if isNotFound(err) {
		c.errorPage(w, r, http.StatusNotFound, "No such user", "This account has no such user; it may have been deleted.")
		return
	}
	c.failed(w, r, to, err)
}

// resend issues a fresh invitation link (the envelope), with the same
// rate limit as SCIM's resendInvitation.
func (c *Console) resend(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	to := back(r, "/admin/users")
	u, err := c.patch(r.Context(), schemas.User, id, "resend invitation", []directory.PatchOp{replaceOp(tcPath(schemas.AttrResendInvitation), true)})
	if err != nil {
		c.userFailed(w, r, to, err)
		return
	}
	c.redirectWith(w, r, to, flash{Message: "A new invitation is on its way to " + primaryEmail(u) + "."})
}

// setActive deactivates (the seat is freed, a pending invitation revoked)
// or reactivates a user.
func (c *Console) setActive(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	active := r.PostFormValue("active") == "true"
	to := "/admin/users/" + url.PathEscape(id)
	op := "deactivate"
	if active {
		op = "reactivate"
	}
	u, err := c.patch(r.Context(), schemas.User, id, op, []directory.PatchOp{replaceOp("active", active)})
	if err != nil {
		c.userFailed(w, r, to, err)
		return
	}
	c.redirectWith(w, r, to, flash{Message: fmt.Sprintf("%s is %sd.", displayName(u), op)})
}

// profileData is the user profile page.
type profileData struct {
	User                userRow
	UserName            string
	GivenName, Family   string
	Notifications       []checkbox
	Tracking            []checkbox
	Roles               []string
	Groups              []option // the group tree, indented
	Group               string   // the user's group (the first, when several)
	OtherGroups         []string // further groups, shown only
	AllProjects         bool
	Projects            []projectChoice
	Inherited           []string // projects granted by groups
	ReauthFresh         bool
	Created, Modified   string
	ProjectRoles        []string
	InvitedAt, Accepted string
}

type checkbox struct {
	Name, Label string
	On          bool
}

type option struct {
	Value, Label string
}

type projectChoice struct {
	ID, Name, Role string
	On, Archived   bool
}

var notificationLabels = map[string]string{
	"notifyDailySummary":  "Daily timesheet summary",
	"notifyWeeklySummary": "Weekly computer time summary",
	"notifyApprovals":     "Approval alerts",
	"notifyTimeEntries":   "Time entry alerts",
	"notifyBudget":        "Budget exceeded",
}

var trackingLabels = map[string]string{
	"timeTrackingAdmin": "Time tracking admin (manages everyone's time entries; implies the next two)",
	"canCreateProjects": "Can create projects",
	"canViewRates":      "Can view billing rates",
}

// loadUser reads a user of the session's account with its groups and
// project names; another account's id is not found.
func (c *Console) loadUser(ctx context.Context, id string) (*store.Resource, error) {
	s := sessionOf(ctx)
	u, err := c.dir.Get(ctx, s.account.ID, schemas.User, id)
	if err != nil {
		return nil, err
	}
	return u, c.dir.Expand(ctx, []*store.Resource{u}, func(a string) bool { return a == "groups" })
}

func (c *Console) profile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	u, err := c.loadUser(ctx, mux.Vars(r)["id"])
	if err != nil {
		c.userFailed(w, r, "/admin/users", err)
		return
	}
	d := profileData{
		User: rowOf(u), UserName: str(u.Attributes["userName"]), Roles: schemas.Roles, ProjectRoles: schemas.ProjectRoles,
		ReauthFresh: c.freshReauth(s), Created: formatTime(u.Created), Modified: formatTime(u.Modified),
		AllProjects: directory.Setting(u.Attributes, "allProjects") == true,
		InvitedAt:   str(tcAttr(u, "invitedAt")), Accepted: str(tcAttr(u, "acceptedAt")),
	}
	name, _ := u.Attributes["name"].(map[string]any)
	d.GivenName, d.Family = str(name["givenName"]), str(name["familyName"])
	for _, n := range schemas.NotificationAttributes {
		d.Notifications = append(d.Notifications, checkbox{n, notificationLabels[n], directory.Setting(u.Attributes, n) == true})
	}
	for _, n := range schemas.TrackingPermissions {
		d.Tracking = append(d.Tracking, checkbox{n, trackingLabels[n], directory.Setting(u.Attributes, n) == true})
	}
	groups, err := c.groupTree(ctx)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d.Groups = groupOptions(groups, "")
	for i, g := range list(u.Attributes["groups"]) {
		m, _ := g.(map[string]any)
		if i == 0 {
			d.Group = str(m["value"])
		} else {
			d.OtherGroups = append(d.OtherGroups, str(m["display"]))
		}
	}
	own := map[string]string{}
	for _, p := range list(tcAttr(u, "projects")) {
		m, _ := p.(map[string]any)
		if m["inherited"] == true {
			d.Inherited = append(d.Inherited, fmt.Sprintf("%s (%s)", str(m["display"]), str(m["role"])))
			continue
		}
		own[str(m["value"])] = orMember(str(m["role"]))
	}
	projects, err := c.allProjects(ctx)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	for _, p := range projects {
		role, on := own[p.ID]
		if role == "" {
			role = "member"
		}
		d.Projects = append(d.Projects, projectChoice{ID: p.ID, Name: str(p.Attributes["displayName"]), Role: role, On: on, Archived: p.Attributes["archived"] == true})
	}
	c.renderView(w, r, http.StatusOK, "profile", &view{Title: d.User.Email, Nav: "users", Data: d})
}

// saveProfile writes the profile form: one PATCH of the user (all or
// nothing), then the group, when it changed.
func (c *Console) saveProfile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	to := "/admin/users/" + url.PathEscape(id)
	u, err := c.loadUser(ctx, id)
	if err != nil {
		c.userFailed(w, r, to, err)
		return
	}
	f := r.PostForm
	role := f.Get("role")
	if !slices.Contains(schemas.Roles, role) {
		c.redirectWith(w, r, to, flash{Error: true, Message: "Choose a role."})
		return
	}
	ops := []directory.PatchOp{
		setOp("name.givenName", strings.TrimSpace(f.Get("givenName"))),
		setOp("name.familyName", strings.TrimSpace(f.Get("familyName"))),
		replaceOp(tcPath("role"), role),
		replaceOp(tcPath("allProjects"), f.Get("allProjects") == "on"),
	}
	if email := strings.TrimSpace(f.Get("email")); email != "" && !strings.EqualFold(email, primaryEmail(u)) {
		ops = append(ops, replaceOp("emails", withPrimaryEmail(u, email)))
	}
	for _, n := range append(slices.Clone(schemas.NotificationAttributes), schemas.TrackingPermissions...) {
		ops = append(ops, replaceOp(tcPath(n), f.Get(n) == "on"))
	}
	ops = append(ops, projectsOp(tcPath("projects"), formProjects(f)))
	// The role and the group are written in separate steps: whether
	// together they make an administrator is asked before the first.
	groups, g := groupIDs(u), f.Get("group")
	if g != currentGroup(u) {
		groups = oneGroup(g)
	}
	if err := c.dir.AdmitPlan(ctx, sessionOf(ctx).account.ID, []directory.PlannedUser{{User: u, Role: role, Groups: groups}}); err != nil {
		c.userFailed(w, r, to, err)
		return
	}
	if _, err := c.patchFrom(ctx, schemas.User, u, id, "edit profile", ops); err != nil {
		c.userFailed(w, r, to, err)
		return
	}
	if g != currentGroup(u) {
		if err := c.moveToGroup(ctx, u, g); err != nil {
			c.failed(w, r, to, err)
			return
		}
	}
	c.redirectWith(w, r, to, flash{Message: "Saved."})
}

func currentGroup(u *store.Resource) string {
	for _, g := range list(u.Attributes["groups"]) {
		m, _ := g.(map[string]any)
		return str(m["value"])
	}
	return ""
}

// withPrimaryEmail is the user's emails with the primary one (or, without
// one, a new work email) set to email.
func withPrimaryEmail(u *store.Resource, email string) []any {
	var out []any
	set := false
	for _, e := range list(u.Attributes["emails"]) {
		m, _ := e.(map[string]any)
		cp := map[string]any{}
		for k, v := range m {
			cp[k] = v
		}
		if !set && (m["primary"] == true || len(list(u.Attributes["emails"])) == 1) {
			cp["value"], cp["primary"], set = email, true, true
		}
		out = append(out, cp)
	}
	if !set {
		out = append([]any{map[string]any{"value": email, "type": "work", "primary": true}}, out...)
	}
	return out
}

// moveToGroup puts the user in one group (TimeCamp's users are in one
// group), leaving the ones they were in; "" leaves them all.
func (c *Console) moveToGroup(ctx context.Context, u *store.Resource, group string) error {
	member := map[string]any{"value": u.ID}
	if group != "" {
		add := directory.PatchOp{Op: "add", Path: "members", Value: []any{member}}
		if _, err := c.patch(ctx, schemas.Group, group, "add member "+displayName(u), []directory.PatchOp{add}); err != nil {
			if isNotFound(err) {
				return failure.InvalidValue("that group no longer exists")
			}
			return err
		}
	}
	for _, g := range list(u.Attributes["groups"]) {
		m, _ := g.(map[string]any)
		gid := str(m["value"])
		if gid == group {
			continue
		}
		rm := removeOp(`members[value eq ` + quote(u.ID) + `]`)
		if _, err := c.patch(ctx, schemas.Group, gid, "remove member "+displayName(u), []directory.PatchOp{rm}); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

type passwordData struct {
	User   userRow
	StepUp stepUp
}

// passwordForm shows the password form after a fresh authentication, and
// otherwise the way to one.
func (c *Console) passwordForm(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	u, err := c.loadUser(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		c.userFailed(w, r, "/admin/users", err)
		return
	}
	d := passwordData{User: rowOf(u), StepUp: c.stepUpFor(s, "/admin/users/"+u.ID+"/password", "set the password")}
	c.renderView(w, r, http.StatusOK, "password", &view{Title: "Set password", Nav: "users", Data: d})
}

// setPassword sets a user's password: only within ReauthMaxAge of a
// re-authentication at the provider, which it then uses up.
func (c *Console) setPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	to := "/admin/users/" + url.PathEscape(id) + "/password"
	if !c.requireStepUp(w, r, "Setting a password") {
		return
	}
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	if pw != confirm {
		c.redirectWith(w, r, to, flash{Error: true, Message: "The two passwords differ; nothing was changed."})
		return
	}
	giveBack, ok := c.spendStepUp(w, r, "Setting a password") // the next password needs another
	if !ok {
		return
	}
	u, err := c.patch(ctx, schemas.User, id, "set password", []directory.PatchOp{replaceOp("password", pw)})
	if err != nil {
		giveBack()
		c.userFailed(w, r, to, err)
		return
	}
	c.redirectWith(w, r, "/admin/users/"+url.PathEscape(id), flash{Message: "The password of " + displayName(u) + " is set."})
}

// orMember is a project role as it applies: member when none is given.
func orMember(role string) string {
	if role == "" {
		return "member"
	}
	return role
}
