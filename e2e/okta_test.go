package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Issue 6: the requests Okta's SCIM 2.0 provisioning sends, replayed in
// the order it sends them, against the built server.
//
// The bodies in testdata/okta follow Okta's developer documentation
// ("SCIM 2.0 Protocol", "Build a SCIM provisioning integration"): the
// connection test, the userName lookup with startIndex=1&count=100 before
// a push, POST with a password, PUT with the whole user (a PUT without the
// password, and deactivation by "active": false in a PUT), PATCH of active
// and of the password with path-less values, re-pushing an existing user,
// and Group Push: POST /Groups, renaming with the id in the value, members
// added and removed in one PATCH, PUT, DELETE.
func TestOkta(t *testing.T) {
	t.Parallel()
	s := startIdPServer(t)
	base := s.Client.Base
	okta := idpClient{c: s.Client, contentType: "application/scim+json; charset=utf-8", accept: "application/scim+json"}
	// Some tenants and the Okta SCIM test suite send plain JSON.
	oktaJSON := idpClient{c: s.Client, contentType: "application/json", accept: "application/json"}
	step := flow(t)

	lookup := func(endpoint, attr, value string) string {
		return filterPath(endpoint, attr+` eq "`+value+`"`, "startIndex", "1", "count", "100")
	}
	var test, another, lead string
	var created, modified string

	step("test the connection and import", func(t *testing.T) {
		r := okta.get(t, "/Users?startIndex=1&count=2").Expect(t, http.StatusOK)
		expectListShape(t, r)
		if num(r, "startIndex") != 1 || num(r, "totalResults") != 0 {
			t.Fatalf("users of a new account: %s", r.Raw)
		}
		r = okta.get(t, "/Groups?startIndex=1&count=100").Expect(t, http.StatusOK)
		expectListShape(t, r)
	})

	step("push a new user: look it up, then POST with a password", func(t *testing.T) {
		r := okta.get(t, lookup("/Users", "userName", "test.user@okta.local"))
		expectEmptyList(t, r)
		if num(r, "startIndex") != 1 {
			t.Fatalf("startIndex: %s", r.Raw)
		}
		r = okta.do(t, http.MethodPost, "/Users", "okta/create-user.json", vars{
			"userName": "test.user@okta.local", "givenName": "Test", "familyName": "User",
			"externalId": "00ujl29u0le5T6Aj10h7", "password": "1mz050nq",
		})
		test = expectCreated(t, r, base, "/Users")
		noPassword(t, r)
		if r.At("active") != true || r.Str("userName") != "test.user@okta.local" || r.Str("displayName") != "Test User" ||
			r.Str("locale") != "en-US" || r.Str("externalId") != "00ujl29u0le5T6Aj10h7" || r.Str("name.familyName") != "User" {
			t.Fatalf("created user: %s", r.Raw)
		}
		if !same(emailsOf(r.At("emails")), "work:test.user@okta.local*") {
			t.Fatalf("emails %v", emailsOf(r.At("emails")))
		}
		created, modified = r.Str("meta.created"), r.Str("meta.lastModified")
	})

	step("re-pushing an existing user is a 409 uniqueness error", func(t *testing.T) {
		for _, userName := range []string{"test.user@okta.local", "Test.User@OKTA.local"} {
			r := okta.do(t, http.MethodPost, "/Users", "okta/create-user.json", vars{
				"userName": userName, "givenName": "Test", "familyName": "User",
				"externalId": "00ujl29u0le5T6Aj10h7", "password": "1mz050nq",
			})
			expectError(t, r, http.StatusConflict, "uniqueness")
		}
		r := okta.get(t, "/Users?startIndex=1&count=100").Expect(t, http.StatusOK)
		if num(r, "totalResults") != 1 {
			t.Fatalf("a refused push stored a user: %s", r.Raw)
		}
	})

	step("find the user by userName and by id", func(t *testing.T) {
		r := okta.get(t, lookup("/Users", "userName", "test.user@okta.local"))
		got := expectOne(t, r, test)
		if num(r, "startIndex") != 1 || num(r, "itemsPerPage") != 1 || got["userName"] != "test.user@okta.local" {
			t.Fatalf("lookup: %s", r.Raw)
		}
		g := okta.get(t, "/Users/"+test).Expect(t, http.StatusOK)
		noPassword(t, g)
		if g.Str("id") != test {
			t.Fatalf("get: %s", g.Raw)
		}
	})

	step("push a profile update: PUT the whole user without the password", func(t *testing.T) {
		r := oktaJSON.do(t, http.MethodPut, "/Users/"+test, "okta/replace-user.json", vars{
			"id": test, "userName": "test.user@okta.local", "givenName": "Another", "familyName": "User",
			"externalId": "00ujl29u0le5T6Aj10h7", "active": "true", "created": created, "lastModified": modified,
		}).Expect(t, http.StatusOK)
		noPassword(t, r)
		if r.Str("name.givenName") != "Another" || r.Str("displayName") != "Another User" || r.At("active") != true || r.Str("name.familyName") != "User" {
			t.Fatalf("replaced user: %s", r.Raw)
		}
		if r.Str("meta.created") != created || r.Str("id") != test {
			t.Fatalf("id or meta.created changed: %s", r.Raw)
		}
		// The invitation sent on create is kept.
		if tc(r, "invitationStatus") != "pending" {
			t.Fatalf("invitation after PUT: %s", r.Raw)
		}
	})

	step("deactivate with \"active\": false in a PUT", func(t *testing.T) {
		r := okta.do(t, http.MethodPut, "/Users/"+test, "okta/replace-user.json", vars{
			"id": test, "userName": "test.user@okta.local", "givenName": "Another", "familyName": "User",
			"externalId": "00ujl29u0le5T6Aj10h7", "active": "false", "created": created, "lastModified": modified,
		}).Expect(t, http.StatusOK)
		noPassword(t, r)
		if r.At("active") != false || tc(r, "countsTowardSeats") != false || tc(r, "invitationStatus") != "revoked" {
			t.Fatalf("deactivated user: %s", r.Raw)
		}
		got := expectOne(t, okta.get(t, lookup("/Users", "userName", "test.user@okta.local")), test)
		if got["active"] != false {
			t.Fatalf("listed as active %v", got["active"])
		}
	})

	step("reactivate and deactivate with PATCH active", func(t *testing.T) {
		r := okta.do(t, http.MethodPatch, "/Users/"+test, "okta/patch-user-active.json", vars{"active": "true"}).Expect(t, http.StatusOK)
		// Reactivated, and invited again (the deactivation revoked the
		// invitation).
		if r.At("active") != true || tc(r, "countsTowardSeats") != true || tc(r, "invitationStatus") != "pending" {
			t.Fatalf("reactivated: %s", r.Raw)
		}
		r = oktaJSON.do(t, http.MethodPatch, "/Users/"+test, "okta/patch-user-active.json", vars{"active": "false"}).Expect(t, http.StatusOK)
		if r.At("active") != false {
			t.Fatalf("deactivated: %s", r.Raw)
		}
		if g := okta.get(t, "/Users/"+test).Expect(t, http.StatusOK); g.At("active") != false {
			t.Fatalf("GET after deactivating: %s", g.Raw)
		}
		okta.do(t, http.MethodPatch, "/Users/"+test, "okta/patch-user-active.json", vars{"active": "true"}).Expect(t, http.StatusOK)
	})

	step("sync the password with PATCH", func(t *testing.T) {
		r := okta.do(t, http.MethodPatch, "/Users/"+test, "okta/patch-user-password.json", vars{"password": "t1meCamp-2026"}).Expect(t, http.StatusOK)
		noPassword(t, r)
		if r.At("active") != true || r.Str("name.givenName") != "Another" {
			t.Fatalf("user after the password change: %s", r.Raw)
		}
	})

	step("TimeCamp extension attributes from Okta's profile mappings", func(t *testing.T) {
		expectEmptyList(t, okta.get(t, lookup("/Users", "userName", "lead.user@okta.local")))
		// A profile whose mappings contradict TimeCamp's rule (a
		// time-tracking admin may always see rates) is refused, naming both
		// attributes: Okta shows the detail on the failed push, and nothing
		// is created that a later sync would fight over.
		r := okta.do(t, http.MethodPost, "/Users", "okta/create-user-timecamp.json", vars{
			"userName": "lead.user@okta.local", "givenName": "Lead", "familyName": "User",
			"externalId": "00ujl29u0le5T6Aj10h8", "password": "Lead-pass-42", "role": "supervisor",
			"timeTrackingAdmin": "true", "canCreateProjects": "true", "canViewRates": "false",
		})
		expectError(t, r, http.StatusBadRequest, "invalidValue")
		if d := r.Str("detail"); !strings.Contains(d, "timeTrackingAdmin") || !strings.Contains(d, "canViewRates") {
			t.Fatalf("conflict detail: %s", r.Raw)
		}
		expectEmptyList(t, okta.get(t, lookup("/Users", "userName", "lead.user@okta.local")))
		r = okta.do(t, http.MethodPost, "/Users", "okta/create-user-timecamp.json", vars{
			"userName": "lead.user@okta.local", "givenName": "Lead", "familyName": "User",
			"externalId": "00ujl29u0le5T6Aj10h8", "password": "Lead-pass-42", "role": "supervisor",
			"timeTrackingAdmin": "true", "canCreateProjects": "true", "canViewRates": "true",
		})
		lead = expectCreated(t, r, base, "/Users")
		noPassword(t, r)
		if tc(r, "role") != "supervisor" || tc(r, "effectiveRole") != "supervisor" || tc(r, "timeTrackingAdmin") != true ||
			tc(r, "canCreateProjects") != true || tc(r, "canViewRates") != true || tc(r, "notifyWeeklySummary") != false {
			t.Fatalf("TimeCamp attributes: %s", r.Raw)
		}
		r = okta.do(t, http.MethodPatch, "/Users/"+lead, "okta/patch-user-profile.json", vars{"familyName": "Leader", "role": "user"}).Expect(t, http.StatusOK)
		if r.Str("name.familyName") != "Leader" || tc(r, "role") != "user" || tc(r, "timeTrackingAdmin") != true {
			t.Fatalf("after the profile PATCH: %s", r.Raw)
		}
		// A PUT that does not assert the TimeCamp extension (Okta sends it
		// only while TimeCamp attributes are mapped) leaves it as it is
		// (docs/okta.md says so).
		r = okta.do(t, http.MethodPut, "/Users/"+lead, "okta/replace-user.json", vars{
			"id": lead, "userName": "lead.user@okta.local", "givenName": "Lead", "familyName": "Leader",
			"externalId": "00ujl29u0le5T6Aj10h8", "active": "true", "created": r.Str("meta.created"), "lastModified": r.Str("meta.lastModified"),
		}).Expect(t, http.StatusOK)
		if tc(r, "role") != "user" || tc(r, "timeTrackingAdmin") != true || tc(r, "canViewRates") != true || tc(r, "notifyWeeklySummary") != false {
			t.Fatalf("TimeCamp attributes after a PUT without them: %s", r.Raw)
		}
		r = okta.do(t, http.MethodPut, "/Users/"+lead, "okta/replace-user-timecamp.json", vars{
			"id": lead, "userName": "lead.user@okta.local", "givenName": "Lead", "familyName": "Leader",
			"externalId": "00ujl29u0le5T6Aj10h8", "active": "true", "role": "supervisor",
		}).Expect(t, http.StatusOK)
		if tc(r, "role") != "supervisor" || tc(r, "timeTrackingAdmin") != true || tc(r, "canViewRates") != true {
			t.Fatalf("TimeCamp attributes after a PUT with them: %s", r.Raw)
		}
	})

	step("import users page by page", func(t *testing.T) {
		r := okta.do(t, http.MethodPost, "/Users", "okta/create-user.json", vars{
			"userName": "another.user@okta.local", "givenName": "Another", "familyName": "Person",
			"externalId": "00ujl29u0le5T6Aj10h9", "password": "An0ther-pass",
		})
		another = expectCreated(t, r, base, "/Users")
		seen := map[string]bool{}
		for start := 1; start <= 3; start++ {
			p := okta.get(t, "/Users?startIndex="+strconv.Itoa(start)+"&count=1").Expect(t, http.StatusOK)
			expectListShape(t, p)
			ids := listIDs(t, p)
			if num(p, "totalResults") != 3 || num(p, "startIndex") != start || len(ids) != 1 {
				t.Fatalf("page %d: %s", start, p.Raw)
			}
			seen[ids[0]] = true
		}
		if !seen[test] || !seen[lead] || !seen[another] {
			t.Fatalf("pages held %v", seen)
		}
	})

	var group string
	step("push a group: look it up, then POST with a member", func(t *testing.T) {
		expectEmptyList(t, okta.get(t, lookup("/Groups", "displayName", "Test SCIMv2")))
		r := okta.do(t, http.MethodPost, "/Groups", "okta/create-group.json", vars{
			"displayName": "Test SCIMv2", "member": test, "memberDisplay": "test.user@okta.local",
		})
		group = expectCreated(t, r, base, "/Groups")
		if r.Str("displayName") != "Test SCIMv2" || !same(memberIDs(r.At("members")), test) {
			t.Fatalf("created group: %s", r.Raw)
		}
		expectOne(t, okta.get(t, lookup("/Groups", "displayName", "Test SCIMv2")), group)
		// Pushing it again is refused like a user.
		dup := okta.do(t, http.MethodPost, "/Groups", "okta/create-group-empty.json", vars{"displayName": "test scimv2"})
		expectError(t, dup, http.StatusConflict, "uniqueness")
	})

	step("rename the group: replace with the id in the value", func(t *testing.T) {
		// A TimeCamp administrator has made the group grant a role; Okta's
		// PATCHes leave that alone.
		s.Client.Patch(t, "/Groups/"+group+"?excludedAttributes=members",
			map[string]any{"op": "add", "path": timecampGroupURN + ":grantsRole", "value": "supervisor"}).Expect(t, http.StatusOK)
		r := okta.do(t, http.MethodPatch, "/Groups/"+group, "okta/patch-group-rename.json", vars{"id": group, "displayName": "Test SCIMv2 Renamed"}).Expect(t, http.StatusOK)
		if r.Str("displayName") != "Test SCIMv2 Renamed" || r.Str("id") != group {
			t.Fatalf("rename answer: %s", r.Raw)
		}
		g := okta.get(t, "/Groups/"+group).Expect(t, http.StatusOK)
		if g.Str("displayName") != "Test SCIMv2 Renamed" || g.Str("id") != group || !same(memberIDs(g.At("members")), test) || g.Str(timecampGroupURN+".grantsRole") != "supervisor" {
			t.Fatalf("renamed group: %s", g.Raw)
		}
		if u := okta.get(t, "/Users/"+test).Expect(t, http.StatusOK); tc(u, "effectiveRole") != "supervisor" {
			t.Fatalf("role granted by the group: %s", u.Raw)
		}
	})

	step("update membership: remove one member and add another in one PATCH", func(t *testing.T) {
		okta.do(t, http.MethodPatch, "/Groups/"+group, "okta/patch-group-members.json", vars{
			"remove": test, "add": lead, "addDisplay": "lead.user@okta.local",
		}).Expect(t, http.StatusNoContent)
		g := okta.get(t, "/Groups/"+group).Expect(t, http.StatusOK)
		if got := memberIDs(g.At("members")); !same(got, lead) {
			t.Fatalf("members %v", got)
		}
		okta.do(t, http.MethodPatch, "/Groups/"+group, "okta/patch-group-add-members.json", vars{
			"member1": test, "display1": "test.user@okta.local", "member2": another, "display2": "another.user@okta.local",
		}).Expect(t, http.StatusNoContent)
		g = okta.get(t, "/Groups/"+group).Expect(t, http.StatusOK)
		if got := memberIDs(g.At("members")); !same(got, lead, test, another) || g.Str(timecampGroupURN+".grantsRole") != "supervisor" {
			t.Fatalf("members %v: %s", got, g.Raw)
		}
		u := okta.get(t, "/Users/"+another).Expect(t, http.StatusOK)
		if got := memberIDs(u.At("groups")); !same(got, group) {
			t.Fatalf("groups of a member %v", got)
		}
	})

	step("replace the group with PUT", func(t *testing.T) {
		r := oktaJSON.do(t, http.MethodPut, "/Groups/"+group, "okta/replace-group.json", vars{
			"id": group, "displayName": "Test SCIMv2", "member": another, "memberDisplay": "another.user@okta.local",
		}).Expect(t, http.StatusOK)
		// A PUT replaces the group's members and name; the TimeCamp grant
		// stays, as Okta's body does not assert the extension (docs/okta.md).
		if r.Str("displayName") != "Test SCIMv2" || !same(memberIDs(r.At("members")), another) || r.At(timecampGroupURN+".grantsRole") != "supervisor" {
			t.Fatalf("replaced group: %s", r.Raw)
		}
	})

	step("push an empty group, then delete both", func(t *testing.T) {
		r := okta.do(t, http.MethodPost, "/Groups", "okta/create-group-empty.json", vars{"displayName": "Okta Empty"})
		empty := expectCreated(t, r, base, "/Groups")
		for _, g := range []string{group, empty} {
			okta.do(t, http.MethodDelete, "/Groups/"+g, "", nil).Expect(t, http.StatusNoContent)
			okta.get(t, "/Groups/"+g).Expect(t, http.StatusNotFound)
		}
		if u := okta.get(t, "/Users/"+another).Expect(t, http.StatusOK); u.At("groups") != nil {
			t.Fatalf("groups after deleting them: %s", u.Raw)
		}
	})
}
