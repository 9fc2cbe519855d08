package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// The TimeCamp domain through SCIM: roles, the group tree and its grants,
// projects, tracking permissions, seats and the account owner.

const (
	tcUser  = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User"
	tcGroup = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"
	project = "urn:timecamp:params:scim:schemas:core:2.0:Project"
)

func tcAttr(r *scimtest.Response, name string) any { return r.At(tcUser + "." + name) }

func newUser(t *testing.T, c *scimtest.Client, userName string, tc map[string]any, extra ...map[string]any) *scimtest.Response {
	t.Helper()
	body := scimtest.UserBody(userName, extra...)
	if tc != nil {
		body[tcUser] = tc
	}
	return c.Post(t, "/Users", body)
}

func newGroup(t *testing.T, c *scimtest.Client, name string, tc map[string]any, members ...string) *scimtest.Response {
	t.Helper()
	body := scimtest.GroupBody(name, members...)
	if tc != nil {
		body[tcGroup] = tc
	}
	return c.Post(t, "/Groups", body)
}

func newProject(t *testing.T, c *scimtest.Client, name string) string {
	t.Helper()
	return c.Post(t, "/Projects", map[string]any{"schemas": []string{project}, "displayName": name}).Expect(t, http.StatusCreated).Str("id")
}

func TestDiscoveryListsTimeCampSchemas(t *testing.T) {
	c := scimtest.New(t).Client
	rts := c.Get(t, "/ResourceTypes").Expect(t, http.StatusOK)
	raw := string(rts.Raw)
	for _, want := range []string{`"endpoint":"/Projects"`, tcUser, tcGroup, project} {
		if !strings.Contains(raw, want) {
			t.Errorf("/ResourceTypes lacks %s", want)
		}
	}
	for _, id := range []string{tcUser, tcGroup, project} {
		c.Get(t, "/Schemas/"+id).Expect(t, http.StatusOK)
	}
	spc := c.Get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
	if spc.At("changePassword.supported") != true {
		t.Errorf("changePassword not advertised: %s", spc.Raw)
	}
}

func TestUserDefaultsAndTrackingPermissions(t *testing.T) {
	c := scimtest.New(t).Client
	u := newUser(t, c, "plain@acme.test", nil).Expect(t, http.StatusCreated)
	if tcAttr(u, "role") != "user" || tcAttr(u, "timeTrackingAdmin") != false || tcAttr(u, "notifyBudget") != true || tcAttr(u, "allProjects") != false {
		t.Fatalf("defaults: %s", u.Raw)
	}
	if tcAttr(u, "projects") != nil {
		t.Fatalf("a user given no projects is on no project: %s", u.Raw)
	}
	id := u.Str("id")
	// POST: timeTrackingAdmin makes the other two true when not sent...
	a := newUser(t, c, "tta@acme.test", map[string]any{"timeTrackingAdmin": true}).Expect(t, http.StatusCreated)
	if tcAttr(a, "canCreateProjects") != true || tcAttr(a, "canViewRates") != true {
		t.Fatalf("POST timeTrackingAdmin did not imply: %s", a.Raw)
	}
	// ... and refuses them sent false: no silent override.
	conflict := newUser(t, c, "tta2@acme.test", map[string]any{"timeTrackingAdmin": true, "canViewRates": false})
	expectConflict(t, conflict, "canViewRates")
	// PATCH: made a time-tracking admin, what the PATCH does not send follows.
	p := c.Patch(t, "/Users/"+id, scimtest.Op("replace", tcUser+":timeTrackingAdmin", "True")).Expect(t, http.StatusOK)
	if tcAttr(p, "canCreateProjects") != true || tcAttr(p, "canViewRates") != true {
		t.Fatalf("PATCH timeTrackingAdmin did not imply: %s", p.Raw)
	}
	version := p.Str("meta.version")
	// PATCH turning one off under timeTrackingAdmin is refused, and changes nothing.
	expectConflict(t, c.Patch(t, "/Users/"+id, scimtest.Op("replace", tcUser+":canViewRates", false)), "canViewRates")
	expectConflict(t, c.Patch(t, "/Users/"+id, scimtest.Op("replace", "", map[string]any{tcUser + ":canCreateProjects": false, "displayName": "X"})), "canCreateProjects")
	if g := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK); g.Str("meta.version") != version || tcAttr(g, "canViewRates") != true || g.At("displayName") != nil {
		t.Fatalf("a refused PATCH changed the user: %s", g.Raw)
	}
	// Both in one PATCH, consistently: accepted.
	p = c.Patch(t, "/Users/"+id, scimtest.Op("replace", tcUser+":timeTrackingAdmin", false), scimtest.Op("replace", tcUser+":canViewRates", false)).Expect(t, http.StatusOK)
	if tcAttr(p, "timeTrackingAdmin") != false || tcAttr(p, "canViewRates") != false || tcAttr(p, "canCreateProjects") != true {
		t.Fatalf("turning the admin off: %s", p.Raw)
	}
	// PATCH setting it true with canViewRates false in the same request: refused.
	expectConflict(t, c.Patch(t, "/Users/"+id, scimtest.Op("replace", tcUser+":timeTrackingAdmin", true), scimtest.Op("replace", tcUser+":canViewRates", false)), "canViewRates")
	// PUT
	body := scimtest.UserBody("plain@acme.test")
	body[tcUser] = map[string]any{"timeTrackingAdmin": true}
	put := c.Put(t, "/Users/"+id, body).Expect(t, http.StatusOK)
	if tcAttr(put, "canCreateProjects") != true || tcAttr(put, "canViewRates") != true {
		t.Fatalf("PUT timeTrackingAdmin did not imply: %s", put.Raw)
	}
	body[tcUser] = map[string]any{"timeTrackingAdmin": true, "canCreateProjects": false}
	expectConflict(t, c.Put(t, "/Users/"+id, body), "canCreateProjects")
	// A PUT that does not assert the extension (neither in "schemas" nor
	// with any of its attributes) leaves it as it is: the client knows
	// nothing of TimeCamp's settings.
	put = c.Put(t, "/Users/"+id, scimtest.UserBody("plain@acme.test")).Expect(t, http.StatusOK)
	if tcAttr(put, "timeTrackingAdmin") != true || tcAttr(put, "canViewRates") != true {
		t.Fatalf("a PUT without the extension changed its settings: %s", put.Raw)
	}
	// One that lists it in "schemas" replaces it: what it leaves out
	// returns to its default.
	body = scimtest.UserBody("plain@acme.test")
	body["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:User", tcUser}
	put = c.Put(t, "/Users/"+id, body).Expect(t, http.StatusOK)
	if tcAttr(put, "timeTrackingAdmin") != false || tcAttr(put, "canViewRates") != false || tcAttr(put, "notifyDailySummary") != true {
		t.Fatalf("PUT did not reset settings: %s", put.Raw)
	}
	// Notifications can be turned off.
	p = c.Patch(t, "/Users/"+id, scimtest.Op("replace", "", map[string]any{tcUser + ":notifyWeeklySummary": false})).Expect(t, http.StatusOK)
	if tcAttr(p, "notifyWeeklySummary") != false || tcAttr(p, "notifyApprovals") != true {
		t.Fatalf("notification preference: %s", p.Raw)
	}
}

func TestRoleFromCoreRoles(t *testing.T) {
	c := scimtest.New(t).Client
	primary := newUser(t, c, "r1@acme.test", nil, map[string]any{"roles": []any{
		map[string]any{"value": "Supervisor", "primary": true},
		map[string]any{"value": "Something else"},
	}}).Expect(t, http.StatusCreated)
	if tcAttr(primary, "role") != "supervisor" || tcAttr(primary, "effectiveRole") != "supervisor" {
		t.Fatalf("primary roles value: %s", primary.Raw)
	}
	only := newUser(t, c, "r2@acme.test", nil, map[string]any{"roles": []any{map[string]any{"value": "guest"}}}).Expect(t, http.StatusCreated)
	if tcAttr(only, "role") != "guest" {
		t.Fatalf("only roles value: %s", only.Raw)
	}
	other := newUser(t, c, "r3@acme.test", nil, map[string]any{"roles": []any{map[string]any{"value": "Contributor"}}}).Expect(t, http.StatusCreated)
	if tcAttr(other, "role") != "user" {
		t.Fatalf("non-canonical roles value changed the role: %s", other.Raw)
	}
	explicit := newUser(t, c, "r4@acme.test", map[string]any{"role": "guest"}, map[string]any{"roles": []any{map[string]any{"value": "supervisor"}}}).Expect(t, http.StatusCreated)
	if tcAttr(explicit, "role") != "guest" {
		t.Fatalf("explicit role should win over roles: %s", explicit.Raw)
	}
	// PATCH roles (Entra's app-role assignment) changes the role.
	id := other.Str("id")
	p := c.Patch(t, "/Users/"+id, scimtest.Op("Add", "roles", []any{map[string]any{"value": "Administrator", "primary": "True"}})).Expect(t, http.StatusOK)
	if tcAttr(p, "role") != "administrator" {
		t.Fatalf("PATCH roles: %s", p.Raw)
	}
	// Canonical spelling and bad values of the extension attribute.
	bad := newUser(t, c, "r5@acme.test", map[string]any{"role": "superuser"})
	bad.Expect(t, http.StatusBadRequest)
	if bad.Str("scimType") != "invalidValue" || !strings.Contains(bad.Str("detail"), "administrator, supervisor, user") && !strings.Contains(bad.Str("detail"), "guest, user, supervisor, administrator") {
		t.Fatalf("bad role: %s", bad.Raw)
	}
	list := c.Get(t, "/Users?filter="+escape(tcUser+`:role eq "supervisor"`)+"&attributes=userName").Expect(t, http.StatusOK)
	if list.At("totalResults").(fmt.Stringer).String() != "1" || list.Str("Resources.0.userName") != "r1@acme.test" {
		t.Fatalf("filter on role: %s", list.Raw)
	}
}

func TestEffectiveRoleFromGrandparentGroup(t *testing.T) {
	c := scimtest.New(t).Client
	// The account's owner, so that the user below is not made the owner
	// when a grant makes them an administrator.
	newUser(t, c, "owner@acme.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	u := newUser(t, c, "g@acme.test", map[string]any{"role": "guest"}).Expect(t, http.StatusCreated)
	uid := u.Str("id")
	top := newGroup(t, c, "Company", map[string]any{"grantsRole": "supervisor"}).Expect(t, http.StatusCreated).Str("id")
	mid := newGroup(t, c, "Engineering", map[string]any{"parent": top}).Expect(t, http.StatusCreated).Str("id")
	leaf := newGroup(t, c, "Backend", map[string]any{"parent": mid}, uid).Expect(t, http.StatusCreated)
	if leaf.Str(tcGroup+".path") != "acme/Company/Engineering/Backend" {
		t.Fatalf("path: %s", leaf.Raw)
	}
	got := c.Get(t, "/Users/"+uid).Expect(t, http.StatusOK)
	if tcAttr(got, "role") != "guest" || tcAttr(got, "effectiveRole") != "supervisor" {
		t.Fatalf("effective role through grandparent: %s", got.Raw)
	}
	// Changing the grandparent's grant reaches the user.
	c.Patch(t, "/Groups/"+top, scimtest.Op("replace", tcGroup+":grantsRole", "administrator")).Expect(t, http.StatusOK)
	got = c.Get(t, "/Users/"+uid).Expect(t, http.StatusOK)
	if tcAttr(got, "effectiveRole") != "administrator" {
		t.Fatalf("after grant change: %s", got.Raw)
	}
	// Moving the middle group out from under the granting group takes it away.
	c.Patch(t, "/Groups/"+mid, scimtest.Op("remove", tcGroup+":parent", nil)).Expect(t, http.StatusOK)
	got = c.Get(t, "/Users/"+uid).Expect(t, http.StatusOK)
	if tcAttr(got, "effectiveRole") != "guest" {
		t.Fatalf("after moving the subtree: %s", got.Raw)
	}
	leafNow := c.Get(t, "/Groups/"+leaf.Str("id")).Expect(t, http.StatusOK)
	if leafNow.Str(tcGroup+".path") != "acme/Engineering/Backend" {
		t.Fatalf("path after move: %s", leafNow.Raw)
	}
	found := c.Get(t, "/Users?filter="+escape(tcUser+`:effectiveRole eq "guest"`)).Expect(t, http.StatusOK)
	if found.Str("Resources.0.id") != uid {
		t.Fatalf("filter on effectiveRole: %s", found.Raw)
	}
}

func TestGroupTreeDepthCyclesAndDelete(t *testing.T) {
	c := scimtest.New(t).Client
	a := newGroup(t, c, "A", nil).Expect(t, http.StatusCreated).Str("id")
	b := newGroup(t, c, "B", map[string]any{"parent": a}).Expect(t, http.StatusCreated).Str("id")
	cc := newGroup(t, c, "C", map[string]any{"parent": b}).Expect(t, http.StatusCreated).Str("id")
	// Level 5 (account, A, B, C, D) is refused, and nothing is stored.
	d := newGroup(t, c, "D", map[string]any{"parent": cc})
	d.Expect(t, http.StatusBadRequest)
	if d.Str("scimType") != "invalidValue" {
		t.Fatalf("fifth level: %s", d.Raw)
	}
	if n := c.Get(t, "/Groups?filter="+escape(`displayName eq "D"`)).At("totalResults").(fmt.Stringer).String(); n != "0" {
		t.Fatal("refused group was stored")
	}
	// A cycle is refused, through PATCH and PUT alike.
	cyc := c.Patch(t, "/Groups/"+a, scimtest.Op("replace", tcGroup+":parent", cc))
	cyc.Expect(t, http.StatusBadRequest)
	if cyc.Str("scimType") != "invalidValue" {
		t.Fatalf("cycle: %s", cyc.Raw)
	}
	put := scimtest.GroupBody("A")
	put[tcGroup] = map[string]any{"parent": a}
	c.Put(t, "/Groups/"+a, put).Expect(t, http.StatusBadRequest)
	// A parent that is not a group of the account.
	c.Post(t, "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "X", tcGroup: map[string]any{"parent": "nope"}}).Expect(t, http.StatusBadRequest)
	// Moving a two-level subtree under a level-3 group would make level 5.
	x := newGroup(t, c, "X", nil).Expect(t, http.StatusCreated).Str("id")
	newGroup(t, c, "Y", map[string]any{"parent": x}).Expect(t, http.StatusCreated)
	c.Patch(t, "/Groups/"+x, scimtest.Op("replace", tcGroup+":parent", b)).Expect(t, http.StatusBadRequest)
	// Deleting B moves C to A.
	c.Delete(t, "/Groups/"+b).Expect(t, http.StatusNoContent)
	got := c.Get(t, "/Groups/"+cc).Expect(t, http.StatusOK)
	if got.Str(tcGroup+".parent.value") != a || got.Str(tcGroup+".path") != "acme/A/C" {
		t.Fatalf("child after its parent was deleted: %s", got.Raw)
	}
}

func TestProjectAccess(t *testing.T) {
	c := scimtest.New(t).Client
	web := newProject(t, c, "Website")
	app := newProject(t, c, "App")
	// Specific projects, with a default role.
	u := newUser(t, c, "p@acme.test", map[string]any{"projects": []any{map[string]any{"value": web, "role": "Manager"}, map[string]any{"value": app}}}).Expect(t, http.StatusCreated)
	if u.Str(tcUser+".projects.0.role") != "manager" || u.Str(tcUser+".projects.1.role") != "member" || u.Str(tcUser+".projects.0.display") != "Website" {
		t.Fatalf("specific projects: %s", u.Raw)
	}
	// All projects.
	all := newUser(t, c, "all@acme.test", map[string]any{"allProjects": true}).Expect(t, http.StatusCreated)
	if tcAttr(all, "allProjects") != true || tcAttr(all, "projects") != nil {
		t.Fatalf("all projects: %s", all.Raw)
	}
	// None.
	none := newUser(t, c, "none@acme.test", nil).Expect(t, http.StatusCreated)
	if tcAttr(none, "allProjects") != false || tcAttr(none, "projects") != nil {
		t.Fatalf("no projects: %s", none.Raw)
	}
	// A project that does not exist.
	bad := newUser(t, c, "bad@acme.test", map[string]any{"projects": []any{map[string]any{"value": "no-such-project"}}})
	bad.Expect(t, http.StatusBadRequest)
	if bad.Str("scimType") != "invalidValue" {
		t.Fatalf("unknown project: %s", bad.Raw)
	}
	// Inherited from a group.
	gid := newGroup(t, c, "Web team", map[string]any{"projects": []any{map[string]any{"value": web, "role": "guest"}}}, none.Str("id")).Expect(t, http.StatusCreated).Str("id")
	inh := c.Get(t, "/Users/"+none.Str("id")).Expect(t, http.StatusOK)
	if inh.At(tcUser+".projects.0.inherited") != true || inh.Str(tcUser+".projects.0.value") != web {
		t.Fatalf("inherited project: %s", inh.Raw)
	}
	// PATCH of the user's own projects does not turn the grant into their own.
	p := c.Patch(t, "/Users/"+none.Str("id"), scimtest.Op("add", tcUser+":projects", []any{map[string]any{"value": app}})).Expect(t, http.StatusOK)
	if len(p.At(tcUser+".projects").([]any)) != 2 {
		t.Fatalf("after adding a project: %s", p.Raw)
	}
	// Sending back what was read (PUT) keeps the grant inherited.
	body := scimtest.UserBody("none@acme.test")
	body[tcUser] = p.At(tcUser)
	put := c.Put(t, "/Users/"+none.Str("id"), body).Expect(t, http.StatusOK)
	for _, el := range put.At(tcUser + ".projects").([]any) {
		m := el.(map[string]any)
		if m["value"] == web && m["inherited"] != true {
			t.Fatalf("PUT round trip made the grant the user's own: %s", put.Raw)
		}
	}
	// Filter by project access.
	found := c.Get(t, "/Users?filter="+escape(tcUser+`:projects.value eq "`+web+`"`)).Expect(t, http.StatusOK)
	if found.At("totalResults").(fmt.Stringer).String() != "2" {
		t.Fatalf("filter on projects.value: %s", found.Raw)
	}
	// Deleting a project removes it from users and groups.
	c.Delete(t, "/Projects/"+web).Expect(t, http.StatusNoContent)
	after := c.Get(t, "/Users/"+u.Str("id")).Expect(t, http.StatusOK)
	if len(after.At(tcUser+".projects").([]any)) != 1 || after.Str(tcUser+".projects.0.value") != app {
		t.Fatalf("user after project delete: %s", after.Raw)
	}
	g := c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK)
	if g.At(tcGroup+".projects") != nil {
		t.Fatalf("group after project delete: %s", g.Raw)
	}
	inh = c.Get(t, "/Users/"+none.Str("id")).Expect(t, http.StatusOK)
	if len(inh.At(tcUser+".projects").([]any)) != 1 {
		t.Fatalf("inherited access after project delete: %s", inh.Raw)
	}
}

func TestProjectsResource(t *testing.T) {
	c := scimtest.New(t).Client
	parent := newProject(t, c, "Clients")
	child := c.Post(t, "/Projects", map[string]any{"schemas": []string{project}, "displayName": "Acme site", "parent": parent, "billable": "True", "externalId": "P-7"}).Expect(t, http.StatusCreated)
	if child.At("billable") != true || child.Str("meta.resourceType") != "Project" {
		t.Fatalf("project: %s", child.Raw)
	}
	c.Post(t, "/Projects", map[string]any{"schemas": []string{project}}).Expect(t, http.StatusBadRequest)
	c.Post(t, "/Projects", map[string]any{"schemas": []string{project}, "displayName": "X", "parent": "missing"}).Expect(t, http.StatusBadRequest)
	c.Patch(t, "/Projects/"+parent, scimtest.Op("replace", "parent", child.Str("id"))).Expect(t, http.StatusBadRequest)
	p := c.Patch(t, "/Projects/"+child.Str("id"), scimtest.Op("replace", "archived", true)).Expect(t, http.StatusOK)
	if p.At("archived") != true || p.Str("meta.version") == child.Str("meta.version") {
		t.Fatalf("patch project: %s", p.Raw)
	}
	list := c.Get(t, "/Projects?filter="+escape(`archived eq true and externalId eq "P-7"`)+"&sortBy=displayName").Expect(t, http.StatusOK)
	if list.Str("Resources.0.id") != child.Str("id") {
		t.Fatalf("filter projects: %s", list.Raw)
	}
	c.Delete(t, "/Projects/"+parent).Expect(t, http.StatusNoContent)
	if got := c.Get(t, "/Projects/"+child.Str("id")).Expect(t, http.StatusOK); got.At("parent") != nil {
		t.Fatalf("child keeps a deleted parent: %s", got.Raw)
	}
}

func TestSeats(t *testing.T) {
	e := scimtest.New(t)
	_, c := e.NewAccount(t, "small", 2)
	a := newUser(t, c, "a@small.test", nil).Expect(t, http.StatusCreated)
	guest := newUser(t, c, "guest@small.test", map[string]any{"role": "guest"}).Expect(t, http.StatusCreated)
	if tcAttr(guest, "countsTowardSeats") != false {
		t.Fatalf("guest uses a seat: %s", guest.Raw)
	}
	b := newUser(t, c, "b@small.test", nil).Expect(t, http.StatusCreated)
	// The third seat is refused, and nothing is stored.
	over := newUser(t, c, "c@small.test", nil)
	over.Expect(t, http.StatusForbidden)
	if !strings.Contains(over.Str("detail"), "seat limit reached: 2 of 2 seats in use") {
		t.Fatalf("detail: %s", over.Raw)
	}
	if n := c.Get(t, "/Users?filter="+escape(`userName eq "c@small.test"`)).At("totalResults").(fmt.Stringer).String(); n != "0" {
		t.Fatal("refused user was stored")
	}
	// Promoting the guest needs a seat: refused through PATCH and PUT.
	c.Patch(t, "/Users/"+guest.Str("id"), scimtest.Op("replace", tcUser+":role", "user")).Expect(t, http.StatusForbidden)
	put := scimtest.UserBody("guest@small.test")
	put[tcUser] = map[string]any{"role": "supervisor"}
	c.Put(t, "/Users/"+guest.Str("id"), put).Expect(t, http.StatusForbidden)
	// A group that grants a role to the guest needs a seat too.
	gid := newGroup(t, c, "Staff", map[string]any{"grantsRole": "user"}).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Groups/"+gid, scimtest.Op("add", "members", []any{map[string]any{"value": guest.Str("id")}})).Expect(t, http.StatusForbidden)
	newGroup(t, c, "Staff2", map[string]any{"grantsRole": "user"}, guest.Str("id")).Expect(t, http.StatusForbidden)
	if g := c.Get(t, "/Users/"+guest.Str("id")).Expect(t, http.StatusOK); tcAttr(g, "effectiveRole") != "guest" || g.At("groups") != nil {
		t.Fatalf("refused group change left traces: %s", g.Raw)
	}
	// Deactivating frees a seat; reactivating checks again.
	c.Patch(t, "/Users/"+b.Str("id"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	c.Patch(t, "/Users/"+guest.Str("id"), scimtest.Op("replace", tcUser+":role", "user")).Expect(t, http.StatusOK)
	c.Patch(t, "/Users/"+b.Str("id"), scimtest.Op("replace", "active", true)).Expect(t, http.StatusForbidden)
	reactivate := scimtest.UserBody("b@small.test", map[string]any{"active": true})
	c.Put(t, "/Users/"+b.Str("id"), reactivate).Expect(t, http.StatusForbidden)
	// Deleting a user frees its seat.
	c.Delete(t, "/Users/"+a.Str("id")).Expect(t, http.StatusNoContent)
	c.Patch(t, "/Users/"+b.Str("id"), scimtest.Op("replace", "active", true)).Expect(t, http.StatusOK)
	// Deactivated users keep their data and memberships.
	gid2 := newGroup(t, c, "Keep", nil, b.Str("id")).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Users/"+b.Str("id"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	kept := c.Get(t, "/Users/"+b.Str("id")).Expect(t, http.StatusOK)
	if kept.Str("groups.0.value") != gid2 || kept.At("active") != false {
		t.Fatalf("deactivated user lost data: %s", kept.Raw)
	}
	seats, err := e.Store.SeatsInUse(context.Background(), accountOf(t, e, "small"))
	if err != nil || seats != 1 {
		t.Fatalf("seats in use %d, %v; want 1", seats, err)
	}
}

// Concurrent creates cannot together take more seats than the account has.
func TestSeatsUnderConcurrency(t *testing.T) {
	e := scimtest.New(t)
	_, c := e.NewAccount(t, "race", 5)
	var wg sync.WaitGroup
	statuses := make([]int, 12)
	for i := range statuses {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = newUser(t, c, fmt.Sprintf("u%d@race.test", i), nil).Status
		}(i)
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		if s == http.StatusCreated {
			created++
		} else if s != http.StatusForbidden {
			t.Fatalf("unexpected status %d", s)
		}
	}
	total := c.Get(t, "/Users?count=0").At("totalResults").(fmt.Stringer).String()
	if created != 5 || total != "5" {
		t.Fatalf("created %d (listed %s), want 5", created, total)
	}
}

func TestAccountOwner(t *testing.T) {
	c := scimtest.New(t).Client
	plain := newUser(t, c, "first@acme.test", nil).Expect(t, http.StatusCreated)
	if tcAttr(plain, "accountOwner") != false {
		t.Fatalf("a non-administrator became owner: %s", plain.Raw)
	}
	owner := newUser(t, c, "boss@acme.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	if tcAttr(owner, "accountOwner") != true {
		t.Fatalf("first administrator is not the owner: %s", owner.Raw)
	}
	second := newUser(t, c, "boss2@acme.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	if tcAttr(second, "accountOwner") != false {
		t.Fatalf("second administrator became owner too: %s", second.Raw)
	}
	oid := owner.Str("id")
	for name, r := range map[string]*scimtest.Response{
		"deactivate": c.Patch(t, "/Users/"+oid, scimtest.Op("replace", "active", false)),
		"demote":     c.Patch(t, "/Users/"+oid, scimtest.Op("replace", tcUser+":role", "user")),
		"put":        c.Put(t, "/Users/"+oid, scimtest.UserBody("boss@acme.test", map[string]any{tcUser: map[string]any{"role": "user"}})),
		"delete":     c.Delete(t, "/Users/"+oid),
	} {
		if r.Status != http.StatusForbidden || !strings.Contains(r.Str("detail"), "account owner") {
			t.Errorf("%s the owner: %d %s", name, r.Status, r.Raw)
		}
	}
	// The owner's administrator role may come from a group; removing them
	// from it would demote them.
	gid := newGroup(t, c, "Admins", map[string]any{"grantsRole": "administrator"}, oid).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Users/"+oid, scimtest.Op("replace", tcUser+":role", "user")).Expect(t, http.StatusOK)
	c.Patch(t, "/Groups/"+gid, scimtest.Op("remove", `members[value eq "`+oid+`"]`, nil)).Expect(t, http.StatusForbidden)
	c.Delete(t, "/Groups/"+gid).Expect(t, http.StatusForbidden)
	still := c.Get(t, "/Users/"+oid).Expect(t, http.StatusOK)
	if tcAttr(still, "effectiveRole") != "administrator" || tcAttr(still, "accountOwner") != true {
		t.Fatalf("owner after refused changes: %s", still.Raw)
	}
	list := c.Get(t, "/Users?filter="+escape(tcUser+":accountOwner eq true")).Expect(t, http.StatusOK)
	if list.At("totalResults").(fmt.Stringer).String() != "1" {
		t.Fatalf("exactly one owner: %s", list.Raw)
	}
}

func TestPasswordRules(t *testing.T) {
	c := scimtest.New(t).Client
	short := newUser(t, c, "pw@acme.test", nil, map[string]any{"password": "short"})
	short.Expect(t, http.StatusBadRequest)
	if short.Str("scimType") != "invalidValue" || !strings.Contains(short.Str("detail"), "at least 8") {
		t.Fatalf("short password: %s", short.Raw)
	}
	u := newUser(t, c, "pw@acme.test", nil, map[string]any{"password": "long enough secret"}).Expect(t, http.StatusCreated)
	id := u.Str("id")
	responses := []*scimtest.Response{
		u,
		c.Get(t, "/Users/"+id),
		c.Get(t, "/Users?attributes=password,userName"),
		c.Patch(t, "/Users/"+id, scimtest.Op("replace", "password", "another long secret")),
		c.Put(t, "/Users/"+id, scimtest.UserBody("pw@acme.test", map[string]any{"password": "third long secret"})),
	}
	for _, r := range responses {
		if strings.Contains(string(r.Raw), "password") || strings.Contains(string(r.Raw), "secret") || strings.Contains(string(r.Raw), "$2a$") {
			t.Fatalf("password returned: %s", r.Raw)
		}
	}
	c.Patch(t, "/Users/"+id, scimtest.Op("replace", "password", "1234567")).Expect(t, http.StatusBadRequest)
}

func escape(s string) string {
	r := strings.NewReplacer(" ", "%20", `"`, "%22", "[", "%5B", "]", "%5D", "&", "%26")
	return r.Replace(s)
}

func accountOf(t *testing.T, e *scimtest.Env, name string) string {
	t.Helper()
	a, err := e.Store.AccountByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// An administrator role granted by a group does not make the user the
// owner: the identity provider's group assignments must stay free to come
// and go.
func TestGrantedAdministratorIsNotTheOwner(t *testing.T) {
	c := scimtest.New(t).Client
	u := newUser(t, c, "lead@acme.test", nil).Expect(t, http.StatusCreated)
	gid := newGroup(t, c, "Admins", map[string]any{"grantsRole": "administrator"}, u.Str("id")).Expect(t, http.StatusCreated).Str("id")
	got := c.Get(t, "/Users/"+u.Str("id")).Expect(t, http.StatusOK)
	if tcAttr(got, "effectiveRole") != "administrator" || tcAttr(got, "accountOwner") != false {
		t.Fatalf("administrator through a group: %s", got.Raw)
	}
	// Any write of the user keeps it so, and the group can let them go.
	c.Patch(t, "/Users/"+u.Str("id"), scimtest.Op("replace", "title", "Lead")).Expect(t, http.StatusOK)
	c.Patch(t, "/Groups/"+gid, scimtest.Op("remove", `members[value eq "`+u.Str("id")+`"]`, nil)).Expect(t, http.StatusNoContent)
	owner := newUser(t, c, "boss@acme.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	if tcAttr(owner, "accountOwner") != true {
		t.Fatalf("the first user with the administrator role is not the owner: %s", owner.Raw)
	}
}

// expectConflict checks a 400 invalidValue that names timeTrackingAdmin
// and the permission it conflicts with.
func expectConflict(t *testing.T, r *scimtest.Response, attr string) {
	t.Helper()
	r.Expect(t, http.StatusBadRequest)
	if r.Str("scimType") != "invalidValue" || !strings.Contains(r.Str("detail"), "timeTrackingAdmin") || !strings.Contains(r.Str("detail"), attr) {
		t.Fatalf("conflict of timeTrackingAdmin and %s: %s", attr, r.Raw)
	}
}

// Issue 18: a PATCH remove of an optional setting leaves it unassigned
// (RFC 7644 §3.5.2.2): not returned, absent to filters, while TimeCamp's
// default applies; a PUT or POST that leaves it out gets the default.
func TestRemovedSettingsAreUnassigned(t *testing.T) {
	c := scimtest.New(t).Client
	u := newUser(t, c, "unassigned@acme.test", map[string]any{"role": "supervisor", "notifyBudget": false},
		map[string]any{"emails": []any{map[string]any{"type": "work", "value": "unassigned@acme.test"}, map[string]any{"type": "home", "value": "home@acme.test"}}}).Expect(t, http.StatusCreated)
	id := u.Str("id")
	r := c.Patch(t, "/Users/"+id,
		scimtest.Op("remove", "active", nil),
		scimtest.Op("remove", tcUser+":role", nil),
		scimtest.Op("remove", tcUser+":notifyBudget", nil),
		scimtest.Op("remove", tcUser+":canViewRates", nil),
		scimtest.Op("remove", `emails[type eq "work"].value`, nil),
	).Expect(t, http.StatusOK)
	for _, k := range []string{"active", tcUser + ".role", tcUser + ".notifyBudget", tcUser + ".canViewRates"} {
		if r.At(k) != nil {
			t.Errorf("%s still returned after remove: %s", k, r.Raw)
		}
	}
	// What applies meanwhile: an active user with the default role, who
	// takes a seat.
	if tcAttr(r, "effectiveRole") != "user" || tcAttr(r, "countsTowardSeats") != true {
		t.Fatalf("derived from unassigned settings: %s", r.Raw)
	}
	if emails := r.At("emails").([]any); len(emails) != 1 || scimtest.At(emails[0], "type") != "home" {
		t.Fatalf("emails[type eq \"work\"].value removed leaves the home one: %s", r.Raw)
	}
	for _, f := range []string{`active pr`, `active eq true`, tcUser + `:role eq "user"`, tcUser + `:notifyBudget pr`} {
		list := c.Get(t, "/Users?filter="+escape(`id eq "`+id+`" and `+f)).Expect(t, http.StatusOK)
		if list.At("totalResults") != jsonNumber(0) {
			t.Errorf("filter %s matches an unassigned attribute: %s", f, list.Raw)
		}
	}
	// A PUT that leaves them out assigns the defaults again.
	put := c.Put(t, "/Users/"+id, scimtest.UserBody("unassigned@acme.test")).Expect(t, http.StatusOK)
	if put.At("active") != true || tcAttr(put, "role") != "user" || tcAttr(put, "notifyBudget") != true || tcAttr(put, "canViewRates") != false {
		t.Fatalf("PUT defaults: %s", put.Raw)
	}
	// Required ones cannot be removed.
	rm := c.Patch(t, "/Users/"+id, scimtest.Op("remove", "userName", nil))
	rm.Expect(t, http.StatusBadRequest)
	if rm.Str("scimType") != "mutability" {
		t.Fatalf("remove userName: %s", rm.Raw)
	}
	// Nor a deactivated owner's protection dodged by unassigning: an
	// unassigned active is active.
	owner := newUser(t, c, "owner@acme.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	if tcAttr(owner, "accountOwner") != true {
		t.Fatalf("first administrator owns the account: %s", owner.Raw)
	}
	c.Patch(t, "/Users/"+owner.Str("id"), scimtest.Op("remove", "active", nil)).Expect(t, http.StatusOK)
	c.Patch(t, "/Users/"+owner.Str("id"), scimtest.Op("replace", "active", false)).Expect(t, http.StatusForbidden)
}

func jsonNumber(n int) any { return json.Number(strconv.Itoa(n)) }
