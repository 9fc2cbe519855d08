package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, point 12: ServiceProviderConfig, ResourceTypes, Schemas, and the
// SCIM media type.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	t.Run("ServiceProviderConfig", func(t *testing.T) {
		r := c.Get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
		if sch, _ := r.At("schemas").([]any); len(sch) != 1 || sch[0] != "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig" {
			t.Fatalf("schemas %v", r.At("schemas"))
		}
		for path, want := range map[string]any{
			"patch.supported":          true,
			"filter.supported":         true,
			"sort.supported":           true,
			"etag.supported":           true,
			"changePassword.supported": true,
			"bulk.supported":           true,
		} {
			if got := r.At(path); got != want {
				t.Errorf("%s = %v, want %v", path, got, want)
			}
		}
		if max := num(r, "filter.maxResults"); max < 1 {
			t.Errorf("filter.maxResults %d", max)
		}
		schemes, _ := r.At("authenticationSchemes").([]any)
		found := false
		for _, el := range schemes {
			m, _ := el.(obj)
			if m["type"] == "oauthbearertoken" {
				found = true
				if m["name"] == nil || m["description"] == nil {
					t.Errorf("scheme without name or description: %v", m)
				}
			}
		}
		if !found {
			t.Errorf("no oauthbearertoken scheme: %v", r.At("authenticationSchemes"))
		}
		if r.Str("meta.resourceType") != "ServiceProviderConfig" || r.Str("meta.location") != c.Base+"/ServiceProviderConfig" {
			t.Errorf("meta %v", r.At("meta"))
		}
	})

	t.Run("ResourceTypes", func(t *testing.T) {
		r := c.Get(t, "/ResourceTypes").Expect(t, http.StatusOK)
		byName := map[string]obj{}
		for _, rt := range resources(t, r) {
			name, _ := rt["name"].(string)
			byName[name] = rt
		}
		if len(byName) != 3 || num(r, "totalResults") != 3 || byName["Project"]["endpoint"] != "/Projects" {
			t.Fatalf("resource types: %s", r.Raw)
		}
		user, group := byName["User"], byName["Group"]
		if user == nil || user["endpoint"] != "/Users" || user["schema"] != userURN {
			t.Fatalf("User: %v", user)
		}
		exts, _ := user["schemaExtensions"].([]any)
		if len(exts) != 2 || exts[0].(obj)["schema"] != enterpriseURN || exts[0].(obj)["required"] != false || exts[1].(obj)["schema"] != timecampUserURN {
			t.Fatalf("User extensions: %v", user["schemaExtensions"])
		}
		if group == nil || group["endpoint"] != "/Groups" || group["schema"] != groupURN {
			t.Fatalf("Group: %v", group)
		}
		one := c.Get(t, "/ResourceTypes/User").Expect(t, http.StatusOK)
		if one.Str("endpoint") != "/Users" || one.Str("meta.location") != c.Base+"/ResourceTypes/User" {
			t.Fatalf("/ResourceTypes/User: %s", one.Raw)
		}
		expectError(t, c.Get(t, "/ResourceTypes/Nope"), http.StatusNotFound, "")
	})

	t.Run("Schemas", func(t *testing.T) {
		r := c.Get(t, "/Schemas").Expect(t, http.StatusOK)
		byID := map[string]obj{}
		for _, sc := range resources(t, r) {
			id, _ := sc["id"].(string)
			byID[id] = sc
		}
		for _, id := range []string{userURN, groupURN, enterpriseURN} {
			if byID[id] == nil {
				t.Fatalf("schema %s missing: %s", id, r.Raw)
			}
		}
		attr := func(schemaID, name string) obj {
			list, _ := byID[schemaID]["attributes"].([]any)
			for _, el := range list {
				if m, _ := el.(obj); m["name"] == name {
					return m
				}
			}
			t.Fatalf("%s has no attribute %s", schemaID, name)
			return nil
		}
		if a := attr(userURN, "userName"); a["caseExact"] != false || a["uniqueness"] != "server" || a["required"] != true {
			t.Errorf("userName: %v", a)
		}
		if a := attr(userURN, "password"); a["returned"] != "never" || a["mutability"] != "writeOnly" {
			t.Errorf("password: %v", a)
		}
		if a := attr(userURN, "groups"); a["mutability"] != "readOnly" {
			t.Errorf("groups: %v", a)
		}
		if a := attr(groupURN, "members"); a["multiValued"] != true {
			t.Errorf("members: %v", a)
		}
		attr(enterpriseURN, "department")
		attr(enterpriseURN, "manager")

		one := c.Get(t, "/Schemas/"+userURN).Expect(t, http.StatusOK)
		if one.Str("id") != userURN || one.Str("meta.location") != c.Base+"/Schemas/"+userURN {
			t.Fatalf("/Schemas/%s: id %q, location %q", userURN, one.Str("id"), one.Str("meta.location"))
		}
		c.Get(t, "/Schemas/"+enterpriseURN).Expect(t, http.StatusOK)
		expectError(t, c.Get(t, "/Schemas/urn:example:nope"), http.StatusNotFound, "")
	})

	t.Run("responses are application/scim+json", func(t *testing.T) {
		id := createUser(t, c, "media@example.com")
		for _, r := range []*scimtest.Response{
			c.Get(t, "/ServiceProviderConfig"),
			c.Get(t, "/ResourceTypes"),
			c.Get(t, "/Schemas"),
			c.Get(t, "/Users"),
			c.Get(t, "/Users/"+id),
			c.Post(t, "/Users", scimtest.UserBody("media2@example.com")),
			c.Put(t, "/Users/"+id, scimtest.UserBody("media@example.com")),
			c.Patch(t, "/Users/"+id, scimtest.Op("replace", "title", "x")),
			c.Post(t, "/Users/.search", obj{"schemas": arr{searchURN}}),
			c.Get(t, "/Users/missing"),
			(&scimtest.Client{Base: c.Base}).Get(t, "/Users"),
		} {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
				t.Fatalf("Content-Type %q for %d %s", ct, r.Status, r.Raw)
			}
			if r.Body == nil {
				t.Fatalf("not a JSON object: %s", r.Raw)
			}
		}
	})

	t.Run("requests may be application/json", func(t *testing.T) {
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "application/scim+json; charset=utf-8"} {
			h := "Content-Type: " + ct
			name := strings.NewReplacer("/", "-", ";", "", " ", "", "=", "-").Replace(ct) + "@example.com"
			r := c.Do(t, http.MethodPost, "/Users", scimtest.UserBody(name, obj{"title": "json"}), h).Expect(t, http.StatusCreated)
			id := r.Str("id")
			if r.Str("userName") != name || r.Str("title") != "json" {
				t.Fatalf("POST as %s: %s", ct, r.Raw)
			}
			r = c.Do(t, http.MethodPut, "/Users/"+id, scimtest.UserBody(name, obj{"title": "put"}), h).Expect(t, http.StatusOK)
			if r.Str("title") != "put" {
				t.Fatalf("PUT as %s: %s", ct, r.Raw)
			}
			r = c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody(scimtest.Op("replace", "title", "patch")), h).Expect(t, http.StatusOK)
			if r.Str("title") != "patch" {
				t.Fatalf("PATCH as %s: %s", ct, r.Raw)
			}
			r = c.Do(t, http.MethodPost, "/Users/.search", obj{"schemas": arr{searchURN}, "filter": `userName eq "` + name + `"`}, h)
			expectSet(t, nil, r, id)
			g := c.Do(t, http.MethodPost, "/Groups", scimtest.GroupBody("json "+ct, id), h).Expect(t, http.StatusCreated).Str("id")
			c.Do(t, http.MethodPatch, "/Groups/"+g, scimtest.PatchBody(scimtest.Op("remove", "members", nil)), h).Expect(t, http.StatusNoContent)
		}
	})
}
