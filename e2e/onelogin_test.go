package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 18: the requests OneLogin's "SCIM Provisioner with SAML (SCIM v2
// Enterprise)" connector sends, replayed against the built server.
//
// The bodies in testdata/onelogin follow OneLogin's developer and
// knowledge-base documentation ("Define your SCIM user schema", "Test your
// SCIM implementation", KB0013904 on the SCIM v2 Enterprise connector):
// OneLogin fills the SCIM JSON template the administrator pasted with the
// user's values and custom parameters — the TimeCamp extension's
// attributes are custom parameters there (docs/onelogin.md) — sends every
// value as a string, and a parameter the user has no value for as "". It
// looks users up by userName, creates them with POST, sends updates and
// suspensions as a PUT of the whole template, and pushes group membership
// with PATCH add and remove operations carrying the members as values.
//
// Where OneLogin departs from RFC 7643/7644 the server accepts it:
//   - "" for a boolean, a setting limited to canonical values, or a
//     reference (the manager) is no value (schemas.blankNonText);
//   - a template copied from OneLogin's documentation names the SCIM 1.1
//     core schema, "urn:scim:schemas:core:1.0" (schemas.isLegacyCoreURN).
func TestOneLogin(t *testing.T) {
	t.Parallel()
	s := startIdPServer(t)
	base := s.Client.Base
	onelogin := idpClient{c: s.Client, contentType: "application/json", accept: "application/json"}
	step := flow(t)
	byUserName := func(userName string) string {
		return filterPath("/Users", `userName eq "`+userName+`"`)
	}
	// The template's values for a user, as OneLogin substitutes them.
	user := func(v vars) vars {
		out := vars{
			"userName": "ada@onelogin.example", "givenName": "Ada", "familyName": "Lovelace", "title": "",
			"active": "true", "department": "", "managerId": "", "role": "",
			"timeTrackingAdmin": "", "canCreateProjects": "", "canViewRates": "", "allProjects": "", "notifyDailySummary": "",
		}
		for k, val := range v {
			out[k] = val
		}
		return out
	}
	var ada, grace, group string

	step("enable: the connection test lists users", func(t *testing.T) {
		r := onelogin.get(t, "/Users?startIndex=1&count=1").Expect(t, http.StatusOK)
		expectListShape(t, r)
	})

	step("provision: look up by userName, then POST the template with custom parameters as strings", func(t *testing.T) {
		expectEmptyList(t, onelogin.get(t, byUserName("ada@onelogin.example")))
		r := onelogin.do(t, http.MethodPost, "/Users", "onelogin/user.json", user(vars{
			"title": "Analyst", "department": "Research", "role": "Supervisor",
			"timeTrackingAdmin": "true", "canCreateProjects": "true", "canViewRates": "true", "notifyDailySummary": "false",
		}))
		ada = expectCreated(t, r, base, "/Users")
		if r.Str("title") != "Analyst" || ent(r, "department") != "Research" || r.At(enterpriseURN+".manager") != nil {
			t.Fatalf("core and enterprise attributes: %s", r.Raw)
		}
		if tc(r, "role") != "supervisor" || tc(r, "timeTrackingAdmin") != true || tc(r, "canViewRates") != true || tc(r, "notifyDailySummary") != false {
			t.Fatalf("TimeCamp parameters: %s", r.Raw)
		}
		// Parameters left empty ("") take TimeCamp's defaults.
		if tc(r, "allProjects") != false || tc(r, "notifyWeeklySummary") != true {
			t.Fatalf("empty parameters: %s", r.Raw)
		}
		expectOne(t, onelogin.get(t, byUserName("ada@onelogin.example")), ada)
	})

	step("a template copied from OneLogin's documentation names the SCIM 1.1 core schema", func(t *testing.T) {
		r := onelogin.do(t, http.MethodPost, "/Users", "onelogin/user-core-1.0.json", vars{
			"userName": "grace@onelogin.example", "givenName": "Grace", "familyName": "Hopper",
		})
		grace = expectCreated(t, r, base, "/Users")
		if r.Str("name.familyName") != "Hopper" || r.At("active") != true || tc(r, "role") != "user" {
			t.Fatalf("user from the SCIM 1.1 template: %s", r.Raw)
		}
	})

	step("update: PUT of the whole template; a parameter emptied returns to its default", func(t *testing.T) {
		r := onelogin.do(t, http.MethodPut, "/Users/"+ada, "onelogin/user.json", user(vars{
			"familyName": "King", "title": "Lead analyst", "department": "Research", "managerId": grace,
			"timeTrackingAdmin": "false", "canCreateProjects": "true",
		})).Expect(t, http.StatusOK)
		if r.Str("name.familyName") != "King" || r.Str("title") != "Lead analyst" || r.Str(enterpriseURN+".manager.value") != grace {
			t.Fatalf("updated user: %s", r.Raw)
		}
		if tc(r, "role") != "user" || tc(r, "timeTrackingAdmin") != false || tc(r, "canCreateProjects") != true || tc(r, "canViewRates") != false || tc(r, "notifyDailySummary") != true {
			t.Fatalf("TimeCamp attributes after the PUT: %s", r.Raw)
		}
	})

	step("parameters that contradict TimeCamp's rule are refused, naming both", func(t *testing.T) {
		r := onelogin.do(t, http.MethodPut, "/Users/"+ada, "onelogin/user.json", user(vars{
			"familyName": "King", "timeTrackingAdmin": "true", "canViewRates": "false",
		}))
		expectError(t, r, http.StatusBadRequest, "invalidValue")
		if d := r.Str("detail"); !strings.Contains(d, "timeTrackingAdmin") || !strings.Contains(d, "canViewRates") {
			t.Fatalf("conflict detail: %s", r.Raw)
		}
		if g := onelogin.get(t, "/Users/"+ada).Expect(t, http.StatusOK); tc(g, "timeTrackingAdmin") != false {
			t.Fatalf("a refused PUT changed the user: %s", g.Raw)
		}
	})

	step("group push: the groups are read, membership goes by PATCH add and remove", func(t *testing.T) {
		// A TimeCamp administrator made the group; OneLogin lists the
		// groups for its Groups parameter.
		group = createGroup(t, s.Client, "Research")
		s.Client.Patch(t, "/Groups/"+group+"?excludedAttributes=members",
			obj{"op": "add", "path": timecampGroupURN + ":grantsRole", "value": "supervisor"}).Expect(t, http.StatusOK)
		r := onelogin.get(t, "/Groups?startIndex=1&count=100").Expect(t, http.StatusOK)
		expectListShape(t, r)
		if !contains(listIDs(t, r), group) {
			t.Fatalf("groups listed: %s", r.Raw)
		}
		for _, member := range []string{ada, grace} {
			onelogin.do(t, http.MethodPatch, "/Groups/"+group, "onelogin/patch-group-add-member.json", vars{"member": member}).Expect(t, http.StatusNoContent)
		}
		g := onelogin.get(t, "/Groups/"+group).Expect(t, http.StatusOK)
		if !same(memberIDs(g.At("members")), ada, grace) {
			t.Fatalf("members: %s", g.Raw)
		}
		if u := onelogin.get(t, "/Users/"+grace).Expect(t, http.StatusOK); tc(u, "effectiveRole") != "supervisor" {
			t.Fatalf("role the group grants: %s", u.Raw)
		}
		onelogin.do(t, http.MethodPatch, "/Groups/"+group, "onelogin/patch-group-remove-member.json", vars{"member": grace}).Expect(t, http.StatusNoContent)
		g = onelogin.get(t, "/Groups/"+group).Expect(t, http.StatusOK)
		if !same(memberIDs(g.At("members")), ada) {
			t.Fatalf("members after the remove: %s", g.Raw)
		}
		if u := onelogin.get(t, "/Users/"+grace).Expect(t, http.StatusOK); tc(u, "effectiveRole") != "user" || u.At("groups") != nil {
			t.Fatalf("removed member: %s", u.Raw)
		}
	})

	step("suspend and unsuspend: PUT with active false, then true", func(t *testing.T) {
		r := onelogin.do(t, http.MethodPut, "/Users/"+ada, "onelogin/user.json", user(vars{"familyName": "King", "active": "false"})).Expect(t, http.StatusOK)
		if r.At("active") != false || tc(r, "countsTowardSeats") != false {
			t.Fatalf("suspended: %s", r.Raw)
		}
		r = onelogin.do(t, http.MethodPut, "/Users/"+ada, "onelogin/user.json", user(vars{"familyName": "King"})).Expect(t, http.StatusOK)
		if r.At("active") != true || tc(r, "countsTowardSeats") != true {
			t.Fatalf("unsuspended: %s", r.Raw)
		}
		// Still in the group its PATCHes put it in.
		if u := onelogin.get(t, "/Users/"+ada).Expect(t, http.StatusOK); !same(memberIDs(u.At("groups")), group) {
			t.Fatalf("groups after the PUTs: %s", u.Raw)
		}
	})

	step("delete", func(t *testing.T) {
		for _, id := range []string{ada, grace} {
			onelogin.do(t, http.MethodDelete, "/Users/"+id, "", nil).Expect(t, http.StatusNoContent)
			onelogin.get(t, "/Users/"+id).Expect(t, http.StatusNotFound)
		}
		if g := onelogin.get(t, "/Groups/"+group).Expect(t, http.StatusOK); g.At("members") != nil {
			t.Fatalf("group after its members were deleted: %s", g.Raw)
		}
	})
}

func contains(list []string, v string) bool {
	for _, el := range list {
		if el == v {
			return true
		}
	}
	return false
}
