package scim_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Endpoint names match in any letter case: Microsoft's published SCIM test
// collection sends /scim/v2/users and /scim/v2/groups.
func TestEndpointNamesIgnoreCase(t *testing.T) {
	env := scimtest.New(t)
	c := env.Client
	lower := &scimtest.Client{Base: env.Server.URL + "/scim/v2", Token: c.Token}
	upper := &scimtest.Client{Base: env.Server.URL + "/SCIM/V2", Token: c.Token}

	u := lower.Post(t, "/users", scimtest.UserBody("lower@acme.test")).Expect(t, http.StatusCreated)
	id := u.Str("id")
	if loc := u.Str("meta.location"); !strings.HasSuffix(loc, "/scim/v2/Users/"+id) {
		t.Errorf("meta.location %q, want the canonical /scim/v2/Users/%s", loc, id)
	}
	lower.Get(t, "/users/"+id).Expect(t, http.StatusOK)
	upper.Get(t, "/USERS/"+id).Expect(t, http.StatusOK)
	lower.Patch(t, "/users/"+id, scimtest.Op("replace", "title", "Lower")).Expect(t, http.StatusOK)
	if r := lower.Get(t, "/users?filter=userName%20eq%20%22lower@acme.test%22"); r.Expect(t, http.StatusOK).Str("Resources.0.title") != "Lower" {
		t.Fatalf("list: %s", r.Raw)
	}
	lower.Post(t, "/users/.SEARCH", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter":  `userName eq "lower@acme.test"`,
	}).Expect(t, http.StatusOK)

	g := lower.Post(t, "/groups", scimtest.GroupBody("Lower case", id)).Expect(t, http.StatusCreated)
	lower.Get(t, "/groups/"+g.Str("id")).Expect(t, http.StatusOK)
	lower.Post(t, "/projects", map[string]any{
		"schemas":     []string{"urn:timecamp:params:scim:schemas:core:2.0:Project"},
		"displayName": "Lower",
	}).Expect(t, http.StatusCreated)
	lower.Get(t, "/projects").Expect(t, http.StatusOK)
	lower.Get(t, "/serviceproviderconfig").Expect(t, http.StatusOK)
	lower.Get(t, "/resourcetypes/user").Expect(t, http.StatusOK)
	res := results(t, lower.Post(t, "/bulk", bulkBody(0, bulkOp("POST", "/users", "b", scimtest.UserBody("bulk-lower@acme.test")))))
	if res[0]["status"] != "201" {
		t.Fatalf("bulk: %v", res)
	}
	lower.Delete(t, "/users/"+id).Expect(t, http.StatusNoContent)

	// Ids keep their case; unknown endpoints still answer 404.
	lower.Get(t, "/users/"+strings.ToUpper(g.Str("id"))).Expect(t, http.StatusNotFound)
	lower.Get(t, "/people").Expect(t, http.StatusNotFound)
}
