package e2e

import (
	"net/http"
	"testing"
)

// Issue 18: the requests JumpCloud's Custom SCIM Identity Management
// integration sends (SCIM 2.0, bearer token), replayed against the built
// server.
//
// The flow follows JumpCloud's documentation ("Identity Management using a
// Custom SCIM Integration"): the connection test creates a test user (the
// "Test User Email" the administrator gives) and a test group and deletes
// both; users are matched by userName, created with POST and updated with
// a PUT of the whole user (JumpCloud's id in externalId), deactivation is
// a PUT with "active": false; groups bound to the application are pushed
// with POST and then with a PUT carrying the group's full member list
// each time it changes — an empty list when the last member leaves.
// JumpCloud sends no TimeCamp attributes ("no special attribute mapping
// or extension schemas"): a PUT leaves the TimeCamp settings at their
// defaults, and group grants give roles and projects (docs/jumpcloud.md).
func TestJumpCloud(t *testing.T) {
	t.Parallel()
	s := startIdPServer(t)
	base := s.Client.Base
	jc := idpClient{c: s.Client, contentType: "application/scim+json", accept: "application/scim+json"}
	step := flow(t)
	byUserName := func(userName string) string { return filterPath("/Users", `userName eq "`+userName+`"`) }
	byName := func(name string) string { return filterPath("/Groups", `displayName eq "`+name+`"`) }
	user := func(v vars) vars {
		out := vars{"userName": "tara@jumpcloud.example", "givenName": "Tara", "familyName": "Nguyen", "title": "Engineer",
			"active": "true", "externalId": "5f1b8e1c2a3d4e0012345678", "employeeNumber": "1042", "department": "Engineering"}
		for k, val := range v {
			out[k] = val
		}
		return out
	}
	group := func(name string, members ...string) obj {
		list := arr{}
		for _, m := range members {
			list = append(list, obj{"value": m, "display": m})
		}
		return obj{"schemas": arr{groupURN}, "displayName": name, "members": list}
	}
	var tara, omar, team string

	step("test connection: a test user and a test group, created and deleted", func(t *testing.T) {
		expectEmptyList(t, jc.get(t, byUserName("jc-test@jumpcloud.example")))
		r := jc.do(t, http.MethodPost, "/Users", "jumpcloud/user.json", user(vars{"userName": "jc-test@jumpcloud.example", "externalId": "test"}))
		test := expectCreated(t, r, base, "/Users")
		expectEmptyList(t, jc.get(t, byName("JumpCloud Test Group")))
		r = jc.send(t, http.MethodPost, "/Groups", group("JumpCloud Test Group", test))
		testGroup := expectCreated(t, r, base, "/Groups")
		jc.do(t, http.MethodDelete, "/Groups/"+testGroup, "", nil).Expect(t, http.StatusNoContent)
		jc.do(t, http.MethodDelete, "/Users/"+test, "", nil).Expect(t, http.StatusNoContent)
		expectEmptyList(t, jc.get(t, byUserName("jc-test@jumpcloud.example")))
	})

	step("provision users: look up by userName, then POST", func(t *testing.T) {
		expectEmptyList(t, jc.get(t, byUserName("tara@jumpcloud.example")))
		r := jc.do(t, http.MethodPost, "/Users", "jumpcloud/user.json", user(nil))
		tara = expectCreated(t, r, base, "/Users")
		if r.Str("externalId") != "5f1b8e1c2a3d4e0012345678" || ent(r, "employeeNumber") != "1042" || tc(r, "role") != "user" {
			t.Fatalf("created user: %s", r.Raw)
		}
		r = jc.do(t, http.MethodPost, "/Users", "jumpcloud/user.json", user(vars{"userName": "omar@jumpcloud.example", "givenName": "Omar",
			"familyName": "Haddad", "externalId": "5f1b8e1c2a3d4e0012345679", "employeeNumber": "1043"}))
		omar = expectCreated(t, r, base, "/Users")
	})

	step("update: PUT the whole user; the role set in TimeCamp stays", func(t *testing.T) {
		// An administrator makes Tara a supervisor in TimeCamp (the
		// console writes what this PATCH does).
		jc.send(t, http.MethodPatch, "/Users/"+tara, obj{"schemas": arr{patchOpURN},
			"Operations": arr{obj{"op": "replace", "path": timecampUserURN + ":role", "value": "supervisor"}}}).Expect(t, http.StatusOK)
		r := jc.do(t, http.MethodPut, "/Users/"+tara, "jumpcloud/replace-user.json", user(vars{"id": tara, "title": "Staff engineer", "familyName": "Tran"})).Expect(t, http.StatusOK)
		if r.Str("title") != "Staff engineer" || r.Str("displayName") != "Tara Tran" || r.Str("id") != tara || tc(r, "role") != "supervisor" {
			t.Fatalf("replaced user: %s", r.Raw)
		}
	})

	step("push a group with its members, then its full member list on every change", func(t *testing.T) {
		expectEmptyList(t, jc.get(t, byName("Platform")))
		r := jc.send(t, http.MethodPost, "/Groups", group("Platform", tara))
		team = expectCreated(t, r, base, "/Groups")
		if !same(memberIDs(r.At("members")), tara) {
			t.Fatalf("created group: %s", r.Raw)
		}
		// A TimeCamp administrator makes the group grant the supervisor role.
		s.Client.Patch(t, "/Groups/"+team+"?excludedAttributes=members",
			obj{"op": "add", "path": timecampGroupURN + ":grantsRole", "value": "supervisor"}).Expect(t, http.StatusOK)

		body := group("Platform", tara, omar)
		body["id"] = team
		r = jc.send(t, http.MethodPut, "/Groups/"+team, body).Expect(t, http.StatusOK)
		if !same(memberIDs(r.At("members")), tara, omar) {
			t.Fatalf("members after the PUT: %s", r.Raw)
		}
		if u := jc.get(t, "/Users/"+omar).Expect(t, http.StatusOK); !same(memberIDs(u.At("groups")), team) {
			t.Fatalf("groups of a member: %s", u.Raw)
		}
		body = group("Platform", omar)
		r = jc.send(t, http.MethodPut, "/Groups/"+team, body).Expect(t, http.StatusOK)
		if !same(memberIDs(r.At("members")), omar) {
			t.Fatalf("members after a member left: %s", r.Raw)
		}
		if u := jc.get(t, "/Users/"+tara).Expect(t, http.StatusOK); u.At("groups") != nil {
			t.Fatalf("groups of the member who left: %s", u.Raw)
		}
		// JumpCloud's PUT does not assert the TimeCamp extension (it is not
		// in its "schemas"): the grant the administrator added in TimeCamp
		// stays (RFC 7644 §3.5.1, docs/jumpcloud.md).
		if r.At(timecampGroupURN+".grantsRole") != "supervisor" {
			t.Fatalf("a PUT without the TimeCamp extension dropped its grant: %s", r.Raw)
		}
		// Renamed, and the last member gone: an empty list.
		r = jc.send(t, http.MethodPut, "/Groups/"+team, group("Platform team")).Expect(t, http.StatusOK)
		if r.Str("displayName") != "Platform team" || r.At("members") != nil {
			t.Fatalf("renamed and emptied: %s", r.Raw)
		}
		expectOne(t, jc.get(t, byName("Platform team")), team)
	})

	step("deactivate with a PUT of active false, reactivate with active true", func(t *testing.T) {
		r := jc.do(t, http.MethodPut, "/Users/"+omar, "jumpcloud/replace-user.json", user(vars{"id": omar, "userName": "omar@jumpcloud.example",
			"givenName": "Omar", "familyName": "Haddad", "externalId": "5f1b8e1c2a3d4e0012345679", "employeeNumber": "1043", "active": "false"})).Expect(t, http.StatusOK)
		if r.At("active") != false || tc(r, "countsTowardSeats") != false || tc(r, "invitationStatus") != "revoked" {
			t.Fatalf("deactivated: %s", r.Raw)
		}
		r = jc.do(t, http.MethodPut, "/Users/"+omar, "jumpcloud/replace-user.json", user(vars{"id": omar, "userName": "omar@jumpcloud.example",
			"givenName": "Omar", "familyName": "Haddad", "externalId": "5f1b8e1c2a3d4e0012345679", "employeeNumber": "1043"})).Expect(t, http.StatusOK)
		if r.At("active") != true || tc(r, "countsTowardSeats") != true {
			t.Fatalf("reactivated: %s", r.Raw)
		}
	})

	step("unbind: delete the group and the users", func(t *testing.T) {
		jc.do(t, http.MethodDelete, "/Groups/"+team, "", nil).Expect(t, http.StatusNoContent)
		for _, id := range []string{tara, omar} {
			jc.do(t, http.MethodDelete, "/Users/"+id, "", nil).Expect(t, http.StatusNoContent)
		}
		r := jc.get(t, "/Users?startIndex=1&count=100").Expect(t, http.StatusOK)
		if num(r, "totalResults") != 0 {
			t.Fatalf("users left: %s", r.Raw)
		}
	})
}
