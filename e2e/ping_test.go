package e2e

import (
	"net/http"
	"net/url"
	"testing"
)

// Issue 18: outbound SCIM provisioning from PingOne and PingFederate (their
// "SCIM Provisioner"), replayed against the built server.
//
// The flow follows Ping's documentation of the provisioner ("SCIM
// provisioning features", "SCIM provisioner settings reference", "User and
// group management", and the PingOne propagation store's configuration):
// users are matched on userName through the configured filter — PingOne's
// example USER_FILTER is `username Eq "%s"`, the attribute and the
// operator in other letter case, which RFC 7644 §3.4.2.2 allows — and
// created with POST, with the core, enterprise and configured extension
// schemas (SCHEMA_EXTENSION_URNS: the TimeCamp extension). Updates are a
// PATCH of path-less "replace" operations while "SCIM SP Supports Patch
// Updates" is checked, a PUT of the whole user when it is not. The remove
// action is Disable (PATCH active false) or Delete. Groups take their name
// from the directory (GROUP_NAME_SOURCE: a distinguished name here) and
// their membership is merged with PATCH add and remove, or overwritten
// with a PATCH replace of the member list (GROUP_MEMBERSHIP_HANDLING).
func TestPingIdentity(t *testing.T) {
	t.Parallel()
	s := startIdPServer(t)
	base := s.Client.Base
	ping := idpClient{c: s.Client, contentType: "application/scim+json", accept: "application/scim+json"}
	step := flow(t)
	// The provisioner's filter, as PingOne's documentation configures it.
	userFilter := func(userName string) string { return "/Users?filter=" + url.QueryEscape(`username Eq "`+userName+`"`) }
	user := func(v vars) vars {
		out := vars{"userName": "jsmith", "externalId": "8c1f2a30-0d2b-4f6e-9a51-jsmith", "givenName": "Janet", "familyName": "Smith",
			"email": "janet.smith@ping.example", "title": "Accountant", "department": "Finance", "role": "user"}
		for k, val := range v {
			out[k] = val
		}
		return out
	}
	const salesDN = "CN=Sales,OU=Groups,DC=example,DC=com"
	var janet, kim, lee, sales string

	step("match on userName with the configured filter, then create", func(t *testing.T) {
		expectEmptyList(t, ping.get(t, userFilter("jsmith")))
		r := ping.do(t, http.MethodPost, "/Users", "ping/create-user.json", user(nil))
		janet = expectCreated(t, r, base, "/Users")
		if r.Str("userName") != "jsmith" || ent(r, "department") != "Finance" || tc(r, "role") != "user" {
			t.Fatalf("created user: %s", r.Raw)
		}
		expectOne(t, ping.get(t, userFilter("JSmith")), janet)
		for _, u := range []vars{
			{"userName": "kpark", "externalId": "kpark", "givenName": "Kim", "familyName": "Park", "email": "kim.park@ping.example"},
			{"userName": "llee", "externalId": "llee", "givenName": "Lee", "familyName": "Lee", "email": "lee.lee@ping.example"},
		} {
			r := ping.do(t, http.MethodPost, "/Users", "ping/create-user.json", user(u))
			id := expectCreated(t, r, base, "/Users")
			if u["userName"] == "kpark" {
				kim = id
			} else {
				lee = id
			}
		}
	})

	step("update with PATCH: path-less replace of what changed", func(t *testing.T) {
		r := ping.do(t, http.MethodPatch, "/Users/"+janet, "ping/patch-user.json", vars{
			"familyName": "Smith-Jones", "title": "Controller", "role": "supervisor", "timeTrackingAdmin": "true",
		}).Expect(t, http.StatusOK)
		if r.Str("name.familyName") != "Smith-Jones" || r.Str("name.givenName") != "Janet" || r.Str("title") != "Controller" {
			t.Fatalf("patched user: %s", r.Raw)
		}
		// TimeCamp's rule: a time-tracking admin may create projects and
		// see rates; the PATCH did not send them, so they follow.
		if tc(r, "role") != "supervisor" || tc(r, "timeTrackingAdmin") != true || tc(r, "canCreateProjects") != true || tc(r, "canViewRates") != true {
			t.Fatalf("TimeCamp attributes: %s", r.Raw)
		}
	})

	step("update with PUT when PATCH updates are turned off", func(t *testing.T) {
		r := ping.do(t, http.MethodPut, "/Users/"+janet, "ping/replace-user.json", user(vars{
			"id": janet, "familyName": "Smith-Jones", "title": "CFO", "role": "administrator",
		})).Expect(t, http.StatusOK)
		if r.Str("title") != "CFO" || tc(r, "role") != "administrator" || tc(r, "effectiveRole") != "administrator" {
			t.Fatalf("replaced user: %s", r.Raw)
		}
		// The PUT left timeTrackingAdmin out: back to its default, with the
		// permissions it implied.
		if tc(r, "timeTrackingAdmin") != false || tc(r, "canViewRates") != false {
			t.Fatalf("settings a PUT leaves out: %s", r.Raw)
		}
	})

	step("groups named by their distinguished name, membership merged by PATCH", func(t *testing.T) {
		expectEmptyList(t, ping.get(t, filterPath("/Groups", `displayName eq "`+salesDN+`"`)))
		r := ping.do(t, http.MethodPost, "/Groups", "ping/create-group.json", vars{"displayName": salesDN, "member": janet})
		sales = expectCreated(t, r, base, "/Groups")
		if r.Str("displayName") != salesDN || !same(memberIDs(r.At("members")), janet) {
			t.Fatalf("created group: %s", r.Raw)
		}
		ping.do(t, http.MethodPatch, "/Groups/"+sales, "ping/patch-group-merge.json", vars{"add": kim, "remove": janet}).Expect(t, http.StatusNoContent)
		g := ping.get(t, "/Groups/"+sales).Expect(t, http.StatusOK)
		if !same(memberIDs(g.At("members")), kim) {
			t.Fatalf("merged members: %s", g.Raw)
		}
	})

	step("membership overwritten by a PATCH replace of the member list", func(t *testing.T) {
		ping.do(t, http.MethodPatch, "/Groups/"+sales, "ping/patch-group-overwrite.json", vars{"member1": janet, "member2": lee}).Expect(t, http.StatusNoContent)
		g := ping.get(t, "/Groups/"+sales).Expect(t, http.StatusOK)
		if !same(memberIDs(g.At("members")), janet, lee) {
			t.Fatalf("overwritten members: %s", g.Raw)
		}
		if u := ping.get(t, "/Users/"+kim).Expect(t, http.StatusOK); u.At("groups") != nil {
			t.Fatalf("member overwritten away: %s", u.Raw)
		}
	})

	step("remove action Disable: PATCH active false; re-enable", func(t *testing.T) {
		r := ping.do(t, http.MethodPatch, "/Users/"+kim, "ping/patch-user-active.json", vars{"active": "false"}).Expect(t, http.StatusOK)
		if r.At("active") != false || tc(r, "countsTowardSeats") != false {
			t.Fatalf("disabled: %s", r.Raw)
		}
		r = ping.do(t, http.MethodPatch, "/Users/"+kim, "ping/patch-user-active.json", vars{"active": "true"}).Expect(t, http.StatusOK)
		if r.At("active") != true {
			t.Fatalf("re-enabled: %s", r.Raw)
		}
	})

	step("remove action Delete, and the group deleted", func(t *testing.T) {
		ping.do(t, http.MethodDelete, "/Users/"+lee, "", nil).Expect(t, http.StatusNoContent)
		if g := ping.get(t, "/Groups/"+sales).Expect(t, http.StatusOK); !same(memberIDs(g.At("members")), janet) {
			t.Fatalf("group after a member was deleted: %s", g.Raw)
		}
		ping.do(t, http.MethodDelete, "/Groups/"+sales, "", nil).Expect(t, http.StatusNoContent)
		ping.get(t, "/Groups/"+sales).Expect(t, http.StatusNotFound)
	})
}
