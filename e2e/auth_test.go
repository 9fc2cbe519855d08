package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, point 11: authentication and account isolation.
func TestAuth(t *testing.T) {
	t.Parallel()
	// Some eighty refusals from one address: the throttle of failed
	// authentication (TestBadTokenBurst) is off here.
	s := startServer(t, "SCIM_AUTH_FAILURE_LIMIT=0")
	c := s.Client
	user := createUser(t, c, "auth@example.com", obj{"title": "Mine"})
	group := createGroup(t, c, "Auth group", user)

	t.Run("credentials are required", func(t *testing.T) {
		anon := &scimtest.Client{Base: c.Base}
		paths := []string{"/Users", "/Users/" + user, "/Groups", "/Groups/" + group, "/ServiceProviderConfig", "/ResourceTypes", "/Schemas", "/Me", "/Bulk"}
		headers := map[string][]string{
			"none":           nil,
			"basic":          {"Authorization: Basic dXNlcjpwYXNzd29yZA=="},
			"wrong token":    {"Authorization: Bearer not-the-token"},
			"empty bearer":   {"Authorization: Bearer "},
			"token only":     {"Authorization: " + s.token},
			"token suffixed": {"Authorization: Bearer " + s.token + "x"},
			"token prefixed": {"Authorization: Bearer x" + s.token},
			"other scheme":   {"Authorization: Token " + s.token},
		}
		for name, h := range headers {
			t.Run(name, func(t *testing.T) {
				for _, p := range paths {
					r := anon.Get(t, p, h...)
					expectError(t, r, http.StatusUnauthorized, "")
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Fatalf("%s: WWW-Authenticate %q", p, r.Header.Get("WWW-Authenticate"))
					}
					if strings.Contains(string(r.Raw), "auth@example.com") {
						t.Fatalf("%s: data in a 401: %s", p, r.Raw)
					}
				}
				r := anon.Do(t, http.MethodPost, "/Users", scimtest.UserBody("intruder@example.com"), h...)
				expectError(t, r, http.StatusUnauthorized, "")
				r = anon.Do(t, http.MethodDelete, "/Users/"+user, nil, h...)
				expectError(t, r, http.StatusUnauthorized, "")
				r = anon.Do(t, http.MethodPatch, "/Groups/"+group, scimtest.PatchBody(scimtest.Op("remove", "members", nil)), h...)
				expectError(t, r, http.StatusUnauthorized, "")
			})
		}
		// Nothing happened.
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "intruder@example.com"`)))
		if m := memberIDs(c.Get(t, "/Groups/"+group).Expect(t, 200).At("members")); len(m) != 1 {
			t.Fatalf("members %v", m)
		}
		// A token in the query string is not a credential.
		expectError(t, anon.Get(t, "/Users?access_token="+s.token), http.StatusUnauthorized, "")
	})

	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		anon := &scimtest.Client{Base: c.Base}
		anon.Get(t, "/Users/"+user, "Authorization: bearer "+s.token).Expect(t, http.StatusOK)
		anon.Get(t, "/Users/"+user, "Authorization: BEARER "+s.token).Expect(t, http.StatusOK)
	})

	t.Run("another account sees nothing of this one", func(t *testing.T) {
		other := s.newAccount(t, "Other Corp")
		before := c.Get(t, "/Users/"+user).Expect(t, http.StatusOK)
		gBefore := c.Get(t, "/Groups/"+group).Expect(t, http.StatusOK)

		for _, p := range []string{"/Users/" + user, "/Groups/" + group} {
			expectError(t, other.Get(t, p), http.StatusNotFound, "")
			expectError(t, other.Patch(t, p, scimtest.Op("replace", "displayName", "hijacked")), http.StatusNotFound, "")
			expectError(t, other.Delete(t, p), http.StatusNotFound, "")
			expectError(t, other.Do(t, http.MethodDelete, p, nil, "If-Match: *"), http.StatusNotFound, "")
		}
		expectError(t, other.Put(t, "/Users/"+user, scimtest.UserBody("auth@example.com", obj{"title": "hijacked"})), http.StatusNotFound, "")
		expectError(t, other.Put(t, "/Groups/"+group, scimtest.GroupBody("hijacked")), http.StatusNotFound, "")

		for _, p := range []string{
			"/Users",
			filterPath("/Users", `userName eq "auth@example.com"`),
			filterPath("/Users", `id eq "`+user+`"`),
			filterPath("/Users", `groups eq "`+group+`"`),
			"/Groups",
			filterPath("/Groups", `displayName eq "Auth group"`),
			filterPath("/Groups", `members eq "`+user+`"`),
			filterPath("/Groups", `members[value eq "`+user+`"]`, "excludedAttributes", "members"),
		} {
			expectSet(t, nil, other.Get(t, p))
		}
		expectSet(t, nil, other.Post(t, "/Users/.search", obj{"schemas": arr{searchURN}, "filter": `userName pr`}))

		// Names are unique per account: the other account may reuse them.
		mine := createUser(t, other, "AUTH@example.com")
		theirGroup := createGroup(t, other, "auth group", mine)
		expectSet(t, nil, other.Get(t, filterPath("/Users", `userName eq "auth@example.com"`)), mine)
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "auth@example.com"`)), user)
		expectSet(t, nil, c.Get(t, filterPath("/Groups", `displayName eq "auth group"`)), group)
		expectError(t, c.Get(t, "/Users/"+mine), http.StatusNotFound, "")
		expectError(t, c.Get(t, "/Groups/"+theirGroup), http.StatusNotFound, "")
		expectError(t, c.Patch(t, "/Groups/"+group, scimtest.Op("add", "members", arr{obj{"value": mine}})), http.StatusBadRequest, "invalidValue")

		// Nothing of the first account changed.
		after := c.Get(t, "/Users/"+user).Expect(t, http.StatusOK)
		gAfter := c.Get(t, "/Groups/"+group).Expect(t, http.StatusOK)
		if after.Str("meta.version") != before.Str("meta.version") || after.Str("title") != "Mine" {
			t.Fatalf("user changed: %s", after.Raw)
		}
		if gAfter.Str("meta.version") != gBefore.Str("meta.version") || gAfter.Str("displayName") != "Auth group" || len(memberIDs(gAfter.At("members"))) != 1 {
			t.Fatalf("group changed: %s", gAfter.Raw)
		}
		if g := memberIDs(after.At("groups")); len(g) != 1 || g[0] != group {
			t.Fatalf("user's groups %v", g)
		}
	})
}
