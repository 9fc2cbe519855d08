package directory

import (
	"slices"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// acme is a tree: Company (grants supervisor, project p1 as member)
// > Engineering > Backend (grants project p1 as manager), and Sales at the
// top.
func acme() *tree {
	t := &tree{root: "Acme", groups: map[string]*node{}}
	for _, n := range []*node{
		{id: "company", name: "Company", grantsRole: schemas.RoleSupervisor, projects: []projectGrant{{"p1", "member"}}},
		{id: "eng", name: "Engineering", parent: "company"},
		{id: "backend", name: "Backend", parent: "eng", projects: []projectGrant{{"p1", "manager"}, {"p2", ""}}},
		{id: "sales", name: "Sales"},
	} {
		t.groups[n.id] = n
	}
	return t
}

func TestTreePathsAndLevels(t *testing.T) {
	tr := acme()
	if got := tr.path("backend"); got != "Acme/Company/Engineering/Backend" {
		t.Errorf("path %q", got)
	}
	if tr.level("company") != 2 || tr.level("backend") != 4 || tr.height("company") != 3 || tr.height("sales") != 1 {
		t.Errorf("levels: company %d, backend %d, height %d", tr.level("company"), tr.level("backend"), tr.height("company"))
	}
	if d := tr.descendants("company"); len(d) != 2 {
		t.Errorf("descendants %v", d)
	}
	gone := tr.without("eng")
	if gone.groups["backend"].parent != "company" || gone.path("backend") != "Acme/Company/Backend" {
		t.Errorf("a deleted group's children move to its parent: %+v", gone.groups["backend"])
	}
	if tr.groups["backend"].parent != "eng" {
		t.Error("without changed the tree it was called on")
	}
}

func TestTreePlacement(t *testing.T) {
	tr := acme()
	for _, c := range []struct {
		group, parent string
		ok            bool
	}{
		{"sales", "", true},
		{"sales", "eng", true},        // level 4
		{"sales", "backend", false},   // level 5
		{"eng", "sales", true},        // Engineering and Backend under Sales: levels 3 and 4
		{"company", "sales", false},   // a three-level subtree under a level-2 group
		{"company", "backend", false}, // a cycle
		{"company", "company", false}, // itself
		{"sales", "missing", false},   // no such group
		{"new", "eng", true},          // a new group at level 4
		{"new", "backend", false},     // a new group at level 5
		{"backend", "", true},         // up to the top
	} {
		err := tr.checkPlacement(c.group, c.parent)
		if (err == nil) != c.ok {
			t.Errorf("%s under %q: %v, want ok=%v", c.group, c.parent, err, c.ok)
		}
		if err != nil && !failure.Is(err, failure.Invalid) {
			t.Errorf("%s under %q: %v is not an invalid-value failure", c.group, c.parent, err)
		}
	}
}

func TestTreeGrants(t *testing.T) {
	tr := acme()
	role, projects := tr.grants([]string{"backend"})
	if role != schemas.RoleSupervisor || projects["p1"] != "manager" || projects["p2"] != "member" {
		t.Errorf("grants through ancestors: %q %v", role, projects)
	}
	if role, projects := tr.grants([]string{"sales"}); role != "" || len(projects) != 0 {
		t.Errorf("a group granting nothing: %q %v", role, projects)
	}
	if !tr.grantsAny("eng") || tr.grantsAny("sales") {
		t.Error("grantsAny")
	}
	if !tr.grantsSomething() || (&tree{groups: map[string]*node{"x": {id: "x"}}}).grantsSomething() {
		t.Error("grantsSomething")
	}
}

func TestDeriveUser(t *testing.T) {
	tr := acme()
	attrs := map[string]any{
		"active": true,
		schemas.TimeCampUserURN: map[string]any{
			"role": schemas.RoleGuest, "timeTrackingAdmin": true, "canViewRates": false,
			"projects": []any{
				map[string]any{"value": "p2", "role": "guest"},
				map[string]any{"value": "p1", "inherited": true}, // sent back by a client: not the user's own
			},
		},
	}
	st := deriveUser(attrs, []string{"backend"}, tr, false)
	tc := attrs[schemas.TimeCampUserURN].(map[string]any)
	if st.effectiveRole != schemas.RoleSupervisor || !st.counts || tc["countsTowardSeats"] != true {
		t.Errorf("state %+v", st)
	}
	// Deriving writes no settings: unassigned ones apply their defaults
	// (canCreateProjects follows timeTrackingAdmin), and a value given
	// stays as it is (settleTracking refuses the conflict on a write).
	if tc["canViewRates"] != false || tc["canCreateProjects"] != nil || tc["notifyBudget"] != nil {
		t.Errorf("derive wrote settings: %v", tc)
	}
	if Setting(attrs, "canCreateProjects") != true || Setting(attrs, "notifyBudget") != true || Setting(attrs, "allProjects") != false || Setting(attrs, "active") != true {
		t.Errorf("settings as they apply: %v", tc)
	}
	projects := tc["projects"].([]any)
	if len(projects) != 2 {
		t.Fatalf("projects %v", projects)
	}
	own, granted := projects[0].(map[string]any), projects[1].(map[string]any)
	if own["value"] != "p2" || own["role"] != "member" || own["inherited"] != false {
		t.Errorf("own entry takes the higher of its role and the grant: %v", own)
	}
	if granted["value"] != "p1" || granted["role"] != "manager" || granted["inherited"] != true {
		t.Errorf("granted entry: %v", granted)
	}
	// A guest, or an inactive user, uses no seat.
	attrs["active"] = false
	if st := deriveUser(attrs, nil, tr, false); st.counts {
		t.Error("an inactive user counts")
	}
}

func TestRoleFromRoles(t *testing.T) {
	primary := map[string]any{"roles": []any{
		map[string]any{"value": "User"},
		map[string]any{"value": "Supervisor", "primary": true},
	}}
	if r, ok := roleFromRoles(nil, primary); !ok || r != schemas.RoleSupervisor {
		t.Errorf("primary value: %q %v", r, ok)
	}
	none := map[string]any{"roles": []any{map[string]any{"value": "Contributor"}}}
	if r, ok := roleFromRoles(nil, none); ok {
		t.Errorf("a value that is no role: %q", r)
	}
	// Entra adds the new assignment next to the old primary one: the
	// value the write added wins.
	old := map[string]any{"roles": []any{map[string]any{"value": "User", "primary": true}}}
	next := map[string]any{"roles": []any{
		map[string]any{"value": "User", "primary": true},
		map[string]any{"value": "Administrator"},
	}}
	if r, ok := roleFromRoles(old, next); !ok || r != schemas.RoleAdministrator {
		t.Errorf("added value: %q %v", r, ok)
	}
}

func TestSettleTracking(t *testing.T) {
	user := func(tc map[string]any) map[string]any {
		return map[string]any{schemas.TimeCampUserURN: tc}
	}
	sent := func(names ...string) func(string) bool {
		return func(n string) bool { return slices.Contains(names, n) }
	}
	// Made a time-tracking admin: what the write does not send follows.
	cur := user(map[string]any{"timeTrackingAdmin": false, "canCreateProjects": false, "canViewRates": false})
	next := user(map[string]any{"timeTrackingAdmin": true, "canCreateProjects": false, "canViewRates": false})
	if err := settleTracking(cur, next, sent("timeTrackingAdmin")); err != nil {
		t.Fatal(err)
	}
	if tc := next[schemas.TimeCampUserURN].(map[string]any); tc["canCreateProjects"] != true || tc["canViewRates"] != true {
		t.Errorf("implied values: %v", tc)
	}
	// Sent false beside it: refused, naming both.
	next = user(map[string]any{"timeTrackingAdmin": true, "canCreateProjects": false, "canViewRates": false})
	err := settleTracking(cur, next, sent("timeTrackingAdmin", "canViewRates"))
	if f, ok := failure.As(err); !ok || f.Kind != failure.Invalid || !strings.Contains(f.Detail, "timeTrackingAdmin") || !strings.Contains(f.Detail, "canViewRates") {
		t.Fatalf("conflict: %v", err)
	}
	// Already an admin: turning one off is refused.
	cur = user(map[string]any{"timeTrackingAdmin": true, "canCreateProjects": true, "canViewRates": true})
	next = user(map[string]any{"timeTrackingAdmin": true, "canCreateProjects": true, "canViewRates": false})
	if err := settleTracking(cur, next, sent("canViewRates")); err == nil {
		t.Fatal("canViewRates false under timeTrackingAdmin was accepted")
	}
	// Unassigned beside an admin: the rule applies, nothing to refuse.
	next = user(map[string]any{"timeTrackingAdmin": true, "canCreateProjects": true})
	if err := settleTracking(cur, next, sent("canViewRates")); err != nil || Setting(next, "canViewRates") != true {
		t.Fatalf("unassigned canViewRates: %v %v", err, next)
	}
	// Not an admin: anything goes.
	next = user(map[string]any{"timeTrackingAdmin": false, "canViewRates": false})
	if err := settleTracking(cur, next, sent("timeTrackingAdmin", "canViewRates")); err != nil {
		t.Fatal(err)
	}
}
