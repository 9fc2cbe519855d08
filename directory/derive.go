package directory

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

const defaultProjectRole = "member"

// userState is what the server derives for a user from its own attributes,
// its groups, the group tree and the account.
type userState struct {
	effectiveRole string
	counts        bool // uses a seat
	owner         bool
}

// userDefaults are the TimeCamp settings of a user when a create or a PUT
// leaves them out, and what applies while they are unassigned (after a
// PATCH remove). canCreateProjects and canViewRates are missing: theirs is
// the value of timeTrackingAdmin (see Setting).
var userDefaults = map[string]any{
	"role": schemas.RoleUser, "timeTrackingAdmin": false, "allProjects": false,
	"notifyDailySummary": true, "notifyWeeklySummary": true, "notifyApprovals": true, "notifyTimeEntries": true, "notifyBudget": true,
}

// impliedByTrackingAdmin are the permissions a time-tracking admin always
// has (TimeCamp's rule).
var impliedByTrackingAdmin = []string{"canCreateProjects", "canViewRates"}

// Setting returns a TimeCamp setting of a user (a TimeCamp extension
// attribute, or "active") as it applies: its value, or TimeCamp's default
// while it is unassigned.
func Setting(attrs map[string]any, name string) any {
	if name == "active" {
		return store.Active(attrs)
	}
	tc := extension(attrs, schemas.TimeCampUserURN)
	if v, ok := tc[name]; ok {
		return v
	}
	if slices.Contains(impliedByTrackingAdmin, name) {
		return Setting(attrs, "timeTrackingAdmin")
	}
	return userDefaults[name]
}

// applyDefaults gives a user created or replaced (POST, PUT) the TimeCamp
// settings the request left out: active, role user, no tracking
// permissions (but those a time-tracking admin has), notifications on. A
// PATCH never applies them: an attribute it removes stays unassigned, and
// Setting says what applies meanwhile.
func applyDefaults(attrs map[string]any) {
	if _, ok := attrs["active"].(bool); !ok {
		attrs["active"] = true
	}
	tc := ensureExtension(attrs, schemas.TimeCampUserURN)
	for name, def := range userDefaults {
		if _, ok := tc[name]; !ok {
			tc[name] = def
		}
	}
	for _, name := range impliedByTrackingAdmin {
		if _, ok := tc[name]; !ok {
			tc[name] = tc["timeTrackingAdmin"]
		}
	}
}

// settleTracking applies TimeCamp's rule that a time-tracking admin may
// create projects and see rates to a user's write: when the write makes
// timeTrackingAdmin true, the implied permissions it does not send become
// true; one left false beside timeTrackingAdmin true is a conflict the
// client must resolve (400, nothing written): the server never overrides
// a value the client sent. sent reports whether the write set an
// attribute of the TimeCamp extension (a PUT or a create sets them all).
func settleTracking(cur, next map[string]any, sent func(name string) bool) error {
	if Setting(next, "timeTrackingAdmin") != true {
		return nil
	}
	tc := ensureExtension(next, schemas.TimeCampUserURN)
	turnedOn := cur == nil || Setting(cur, "timeTrackingAdmin") != true
	for _, name := range impliedByTrackingAdmin {
		if turnedOn && !sent(name) {
			tc[name] = true
		}
		if tc[name] == false && (sent(name) || sent("timeTrackingAdmin")) {
			return failure.InvalidValue("timeTrackingAdmin is true and %s is false: a time-tracking admin can always %s in TimeCamp. Send %s true (or leave it out), or timeTrackingAdmin false",
				name, trackingMeaning[name], name)
		}
	}
	return nil
}

var trackingMeaning = map[string]string{"canCreateProjects": "create projects", "canViewRates": "see billing rates"}

// roleFromRoles returns the account role the core "roles" attribute names,
// the way Entra ID sends app-role assignments: the values this write added
// count first (a reassigned app role arrives as one more value, the old one
// still listed), then all values; among them the primary one, else the
// highest role named. A value may name the role itself ("Supervisor") or be
// the JSON text Entra's PATCH carries ({"id": …, "value": "Supervisor",
// "displayName": …}).
func roleFromRoles(old, next map[string]any) (string, bool) {
	var oldList []any
	if old != nil {
		oldList = asList(old["roles"])
	}
	list := asList(next["roles"])
	var added []any
	for _, el := range list {
		isNew := true
		for _, o := range oldList {
			if reflect.DeepEqual(el, o) {
				isNew = false
				break
			}
		}
		if isNew {
			added = append(added, el)
		}
	}
	if role, ok := pickRole(added); ok {
		return role, true
	}
	return pickRole(list)
}

// pickRole returns the role named by the primary value, else the highest
// role named by any value.
func pickRole(list []any) (string, bool) {
	primary, best := "", ""
	for _, el := range list {
		m, _ := el.(map[string]any)
		role := roleName(m)
		if role == "" {
			continue
		}
		if m["primary"] == true {
			primary = role
		}
		if schemas.RoleRank(role) > schemas.RoleRank(best) {
			best = role
		}
	}
	if primary != "" {
		return primary, true
	}
	return best, best != ""
}

// roleName reads the account role a value of "roles" names, or "".
func roleName(m map[string]any) string {
	v := strings.TrimSpace(str(m["value"]))
	if strings.HasPrefix(v, "{") {
		var assignment struct {
			Value string `json:"value"`
		}
		if json.Unmarshal([]byte(v), &assignment) == nil {
			v = strings.TrimSpace(assignment.Value)
		}
	}
	v = strings.ToLower(v)
	if schemas.RoleRank(v) < 0 {
		return ""
	}
	return v
}

// applyRoles sets the account role from "roles" when this write changed
// "roles" and did not itself set the role.
func applyRoles(old, next map[string]any) {
	var oldRoles, oldRole any
	if old != nil {
		oldRoles, oldRole = old["roles"], extension(old, schemas.TimeCampUserURN)["role"]
	}
	if reflect.DeepEqual(oldRoles, next["roles"]) {
		return
	}
	tc := ensureExtension(next, schemas.TimeCampUserURN)
	if old != nil && !reflect.DeepEqual(oldRole, tc["role"]) {
		return // the role itself was written: it wins
	}
	if old == nil && tc["role"] != nil {
		return
	}
	if role, ok := roleFromRoles(old, next); ok {
		tc["role"] = role
	}
}

// deriveUser sets the attributes the server keeps for a user: its
// effective role, whether it uses a seat, whether it owns the account, and
// its project access merged from its own and its groups' grants.
func deriveUser(attrs map[string]any, groupIDs []string, t *tree, owner bool) userState {
	tc := ensureExtension(attrs, schemas.TimeCampUserURN)
	grantedRole, grantedProjects := t.grants(groupIDs)
	st := userState{effectiveRole: higherRole(str(Setting(attrs, "role")), grantedRole), owner: owner}
	st.counts = store.Active(attrs) && st.effectiveRole != schemas.RoleGuest
	tc["effectiveRole"] = st.effectiveRole
	tc["countsTowardSeats"] = st.counts
	tc["accountOwner"] = owner
	if projects := mergeProjects(ownProjects(tc["projects"]), grantedProjects); len(projects) > 0 {
		tc["projects"] = projects
	} else {
		delete(tc, "projects")
	}
	return st
}

// ownProjects returns the project entries given to the user directly (not
// inherited from a group): the project and, when the client gave one, the
// role (member applies otherwise).
func ownProjects(v any) []any {
	var out []any
	for _, el := range asList(v) {
		m, ok := el.(map[string]any)
		if !ok || m["inherited"] == true || str(m["value"]) == "" {
			continue
		}
		e := map[string]any{"value": m["value"]}
		if role := str(m["role"]); role != "" {
			e["role"] = role
		}
		out = append(out, e)
	}
	return out
}

// mergeProjects joins own entries and group grants (project → role): one
// entry per project. An own entry keeps its role, or shows the role a
// group grants when that is higher; "inherited" marks access the user has
// only through a group.
func mergeProjects(own []any, granted map[string]string) []any {
	byProject := map[string]map[string]any{}
	var order []string
	for _, el := range own {
		m := el.(map[string]any)
		id := str(m["value"])
		if prev, dup := byProject[id]; dup {
			if role := str(m["role"]); role != "" {
				prev["role"] = higherProjectRole(orDefault(str(prev["role"]), defaultProjectRole), role)
			}
			continue
		}
		e := map[string]any{"value": id, "inherited": false}
		if role := str(m["role"]); role != "" {
			e["role"] = role
		}
		byProject[id] = e
		order = append(order, id)
	}
	ids := make([]string, 0, len(granted))
	for id := range granted {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if e, ok := byProject[id]; ok {
			if own := orDefault(str(e["role"]), defaultProjectRole); higherProjectRole(own, granted[id]) != own {
				e["role"] = granted[id]
			}
			continue
		}
		byProject[id] = map[string]any{"value": id, "role": granted[id], "inherited": true}
		order = append(order, id)
	}
	out := make([]any, 0, len(order))
	for _, id := range order {
		out = append(out, byProject[id])
	}
	return out
}

// ownView returns a copy of a user's attributes as the user's own writes
// see them: without inherited project entries, which the server derives.
func ownView(attrs map[string]any) map[string]any {
	c := schemas.CopyAttributes(attrs)
	if tc := extension(c, schemas.TimeCampUserURN); tc != nil {
		if own := ownProjects(tc["projects"]); len(own) > 0 {
			tc["projects"] = own
		} else {
			delete(tc, "projects")
		}
	}
	return c
}

// dropInheritedInput removes the project entries marked inherited from a
// PUT or POST body before it is read, and returns them: a client that
// sends back what it read must not turn group grants into the user's own.
// "inherited" is read-only, so an entry for a project the user owns keeps
// its place whatever it says (see keepOwned).
func dropInheritedInput(body map[string]any) []any {
	var dropped []any
	for k, v := range body {
		if !strings.EqualFold(k, schemas.TimeCampUserURN) {
			continue
		}
		tc, ok := v.(map[string]any)
		if !ok {
			continue
		}
		for pk, pv := range tc {
			if !strings.EqualFold(pk, "projects") {
				continue
			}
			var kept []any
			for _, el := range asList(pv) {
				if m, ok := el.(map[string]any); ok && isTrue(valueOf(m, "inherited")) {
					dropped = append(dropped, m)
					continue
				}
				kept = append(kept, el)
			}
			tc[pk] = kept
		}
	}
	return dropped
}

// keepOwned puts back into a user's new attributes the entries
// dropInheritedInput took out for projects the user owns (in cur): for
// them, "inherited" said nothing.
func keepOwned(cur, next map[string]any, dropped []any) error {
	if len(dropped) == 0 {
		return nil
	}
	owned := map[string]bool{}
	for _, id := range projectIDs(ownProjects(extension(cur, schemas.TimeCampUserURN)["projects"])) {
		owned[id] = true
	}
	a, err := schemas.User.ResolveString(schemas.TimeCampUserURN + ":projects")
	if err != nil {
		return err
	}
	tc := ensureExtension(next, schemas.TimeCampUserURN)
	for _, el := range dropped {
		v, err := schemas.NormalizeElement(a.Def, el, a.Name())
		if err != nil {
			return err
		}
		if m, ok := v.(map[string]any); ok && owned[str(m["value"])] {
			tc["projects"] = append(asList(tc["projects"]), m)
		}
	}
	return nil
}

// withoutEchoedGrants drops from a PATCH value for a user's projects the
// entries marked inherited for projects the user does not own (owned):
// group grants read and sent back (see dropInheritedInput).
func withoutEchoedGrants(value any, owned map[string]bool) any {
	list, isList := value.([]any)
	if !isList {
		list = []any{value}
	}
	var kept []any
	for _, el := range list {
		if m, ok := el.(map[string]any); ok && isTrue(valueOf(m, "inherited")) && !owned[str(valueOf(m, "value"))] {
			continue
		}
		kept = append(kept, el)
	}
	if !isList && len(kept) == 1 {
		return kept[0]
	}
	return kept
}

func valueOf(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// defaultProjectRoles gives the project entries a write adds (those of
// next, in the extension urn, for a project cur has no entry for) the
// default role when the client gave none. An entry whose role a PATCH
// removed keeps none: unassigned, and member applies.
func defaultProjectRoles(urn string, cur, next map[string]any) {
	had := map[string]bool{}
	for _, id := range projectIDs(asList(extension(cur, urn)["projects"])) {
		had[id] = true
	}
	for _, el := range asList(extension(next, urn)["projects"]) {
		if m, ok := el.(map[string]any); ok && str(m["role"]) == "" && !had[str(m["value"])] {
			m["role"] = defaultProjectRole
		}
	}
}

// normaliseGroupGrants tidies a group's project grants: one entry per
// project (the higher role when a project is given twice), the role only
// when given (member applies otherwise).
func normaliseGroupGrants(attrs map[string]any) {
	tc := extension(attrs, schemas.TimeCampGroupURN)
	if tc == nil {
		return
	}
	var projects []any
	seen := map[string]int{}
	for _, el := range asList(tc["projects"]) {
		m, ok := el.(map[string]any)
		if !ok || str(m["value"]) == "" {
			continue
		}
		role := str(m["role"])
		if i, dup := seen[str(m["value"])]; dup {
			prev := projects[i].(map[string]any)
			if role != "" {
				prev["role"] = higherProjectRole(orDefault(str(prev["role"]), defaultProjectRole), role)
			}
			continue
		}
		seen[str(m["value"])] = len(projects)
		e := map[string]any{"value": m["value"]}
		if role != "" {
			e["role"] = role
		}
		projects = append(projects, e)
	}
	if len(projects) > 0 {
		tc["projects"] = projects
	} else {
		delete(tc, "projects")
	}
}
