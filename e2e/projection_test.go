package e2e

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// keys returns an object's keys, sorted.
func keys(m obj) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func expectKeys(t *testing.T, what string, m obj, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := keys(m); !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: keys %v, want %v; %v", what, got, want, m)
	}
}

// Issue 2, point 4: attributes / excludedAttributes; id and schemas always
// returned, password never.
func TestAttributeSelection(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	const password = "Sup3r-Secret-Pa55"
	body := scimtest.UserBody("proj@example.com", obj{
		"password":    password,
		"displayName": "Pro Jection",
		"title":       "Tester",
		"name":        obj{"givenName": "Pro", "familyName": "Jection"},
		"emails": arr{
			obj{"type": "work", "value": "proj@example.com", "primary": true},
			obj{"type": "home", "value": "proj@home.example"},
		},
		enterpriseURN: obj{"department": "QA", "employeeNumber": "7"},
	})
	created := c.Post(t, "/Users", body).Expect(t, 201)
	id := created.Str("id")
	group := createGroup(t, c, "Projected", id)

	// Every kind of response a user appears in: none holds the password.
	noPassword := func(t *testing.T, what string, r *scimtest.Response) {
		t.Helper()
		if strings.Contains(strings.ToLower(string(r.Raw)), "password") || strings.Contains(string(r.Raw), password) {
			t.Fatalf("%s returns the password: %s", what, r.Raw)
		}
	}
	t.Run("password never returned", func(t *testing.T) {
		noPassword(t, "POST", created)
		noPassword(t, "GET", c.Get(t, "/Users/"+id).Expect(t, 200))
		noPassword(t, "GET attributes=password", c.Get(t, "/Users/"+id+"?attributes=password").Expect(t, 200))
		noPassword(t, "GET attributes=userName,password", c.Get(t, "/Users/"+id+"?attributes=userName,password").Expect(t, 200))
		noPassword(t, "list", c.Get(t, "/Users").Expect(t, 200))
		noPassword(t, "list attributes=password", c.Get(t, "/Users?attributes=password").Expect(t, 200))
		noPassword(t, "filter", c.Get(t, filterPath("/Users", `userName eq "proj@example.com"`)).Expect(t, 200))
		noPassword(t, ".search", c.Post(t, "/Users/.search", obj{"schemas": arr{searchURN}, "attributes": arr{"password", "userName"}}).Expect(t, 200))
		noPassword(t, "PATCH password", c.Patch(t, "/Users/"+id, scimtest.Op("replace", "password", "An0ther-Secret-1")).Expect(t, 200))
		noPassword(t, "PATCH title", c.Patch(t, "/Users/"+id, scimtest.Op("replace", "title", "Tester")).Expect(t, 200))
		put := c.Get(t, "/Users/"+id).Expect(t, 200).Body
		put["password"] = password
		noPassword(t, "PUT", c.Put(t, "/Users/"+id, put).Expect(t, 200))
		noPassword(t, "group", c.Get(t, "/Groups/"+group).Expect(t, 200))
		noPassword(t, "POST with attributes", c.Post(t, "/Users?attributes=password", scimtest.UserBody("proj2@example.com", obj{"password": password})).Expect(t, 201))
	})

	t.Run("GET attributes", func(t *testing.T) {
		r := c.Get(t, "/Users/"+id+"?attributes=userName").Expect(t, 200)
		expectKeys(t, "attributes=userName", r.Body, "schemas", "id", "userName")
		if r.Str("id") != id || r.Str("userName") != "proj@example.com" {
			t.Fatalf("values: %s", r.Raw)
		}

		r = c.Get(t, "/Users/"+id+"?attributes=name.givenName,title").Expect(t, 200)
		expectKeys(t, "attributes=name.givenName,title", r.Body, "schemas", "id", "name", "title")
		expectKeys(t, "name", r.Body["name"].(obj), "givenName")
		if r.Str("name.givenName") != "Pro" {
			t.Fatalf("name.givenName: %s", r.Raw)
		}

		r = c.Get(t, "/Users/"+id+"?attributes=emails.value").Expect(t, 200)
		expectKeys(t, "attributes=emails.value", r.Body, "schemas", "id", "emails")
		for _, e := range r.At("emails").([]any) {
			expectKeys(t, "email", e.(obj), "value")
		}

		r = c.Get(t, "/Users/"+id+"?attributes="+enterpriseURN+":department").Expect(t, 200)
		expectKeys(t, "attributes=enterprise department", r.Body, "schemas", "id", enterpriseURN)
		expectKeys(t, "enterprise", r.Body[enterpriseURN].(obj), "department")

		r = c.Get(t, "/Users/"+id+"?attributes="+enterpriseURN).Expect(t, 200)
		expectKeys(t, "attributes=enterprise", r.Body, "schemas", "id", enterpriseURN)
		expectKeys(t, "enterprise", r.Body[enterpriseURN].(obj), "department", "employeeNumber")

		r = c.Get(t, "/Users/"+id+"?attributes=groups").Expect(t, 200)
		expectKeys(t, "attributes=groups", r.Body, "schemas", "id", "groups")
		if got := memberIDs(r.Body["groups"]); fmt.Sprint(got) != fmt.Sprint([]string{group}) {
			t.Fatalf("groups %v", got)
		}

		// Names in any case.
		r = c.Get(t, "/Users/"+id+"?attributes=USERNAME,Name.FamilyName").Expect(t, 200)
		expectKeys(t, "any case", r.Body, "schemas", "id", "userName", "name")
	})

	t.Run("GET excludedAttributes", func(t *testing.T) {
		r := c.Get(t, "/Users/"+id+"?excludedAttributes=emails,name,groups").Expect(t, 200)
		for _, k := range []string{"emails", "name", "groups"} {
			if _, ok := r.Body[k]; ok {
				t.Fatalf("%s returned: %s", k, r.Raw)
			}
		}
		for _, k := range []string{"schemas", "id", "userName", "title", "meta", "displayName", enterpriseURN} {
			if _, ok := r.Body[k]; !ok {
				t.Fatalf("%s missing: %s", k, r.Raw)
			}
		}

		r = c.Get(t, "/Users/"+id+"?excludedAttributes=id,schemas,meta").Expect(t, 200)
		if r.Str("id") != id || r.Body["schemas"] == nil {
			t.Fatalf("id and schemas must always be returned: %s", r.Raw)
		}

		r = c.Get(t, "/Users/"+id+"?excludedAttributes=name.givenName").Expect(t, 200)
		expectKeys(t, "name", r.Body["name"].(obj), "familyName")

		r = c.Get(t, "/Users/"+id+"?excludedAttributes="+enterpriseURN).Expect(t, 200)
		if _, ok := r.Body[enterpriseURN]; ok {
			t.Fatalf("extension returned: %s", r.Raw)
		}
	})

	t.Run("list and .search", func(t *testing.T) {
		r := c.Get(t, filterPath("/Users", `userName eq "proj@example.com"`, "attributes", "userName,emails.type")).Expect(t, 200)
		res := resources(t, r)
		if len(res) != 1 {
			t.Fatalf("resources: %s", r.Raw)
		}
		expectKeys(t, "list attributes", res[0], "schemas", "id", "userName", "emails")
		if got := emailsOf(res[0]["emails"]); fmt.Sprint(got) != "[home:<nil> work:<nil>]" {
			t.Fatalf("emails.type projection: %v", got)
		}

		r = c.Get(t, "/Users?excludedAttributes=emails,meta").Expect(t, 200)
		for _, u := range resources(t, r) {
			if _, ok := u["emails"]; ok {
				t.Fatalf("emails returned: %v", u)
			}
			if _, ok := u["meta"]; ok {
				t.Fatalf("meta returned: %v", u)
			}
			if u["id"] == nil || u["schemas"] == nil || u["userName"] == nil {
				t.Fatalf("missing attributes: %v", u)
			}
		}

		r = c.Post(t, "/Users/.search", obj{
			"schemas":    arr{searchURN},
			"filter":     `userName eq "proj@example.com"`,
			"attributes": arr{"displayName", "name.familyName"},
		}).Expect(t, 200)
		res = resources(t, r)
		if len(res) != 1 {
			t.Fatalf(".search: %s", r.Raw)
		}
		expectKeys(t, ".search attributes", res[0], "schemas", "id", "displayName", "name")
		expectKeys(t, ".search name", res[0]["name"].(obj), "familyName")

		r = c.Post(t, "/Users/.search", obj{
			"schemas":            arr{searchURN},
			"filter":             `userName eq "proj@example.com"`,
			"excludedAttributes": arr{"emails", "title", "id"},
		}).Expect(t, 200)
		res = resources(t, r)
		if _, ok := res[0]["emails"]; ok || res[0]["title"] != nil || res[0]["id"] != id || res[0]["userName"] == nil {
			t.Fatalf(".search excludedAttributes: %v", res[0])
		}
	})

	t.Run("POST, PUT and PATCH responses", func(t *testing.T) {
		r := c.Post(t, "/Users?attributes=userName", scimtest.UserBody("proj3@example.com", obj{"title": "x"})).Expect(t, 201)
		expectKeys(t, "POST attributes", r.Body, "schemas", "id", "userName")
		other := r.Str("id")

		r = c.Patch(t, "/Users/"+other+"?excludedAttributes=title,meta", scimtest.Op("replace", "nickName", "n")).Expect(t, 200)
		if r.Body["title"] != nil || r.Body["meta"] != nil || r.Str("nickName") != "n" {
			t.Fatalf("PATCH excludedAttributes: %s", r.Raw)
		}

		r = c.Put(t, "/Users/"+other+"?attributes=nickName", scimtest.UserBody("proj3@example.com", obj{"nickName": "m"})).Expect(t, 200)
		expectKeys(t, "PUT attributes", r.Body, "schemas", "id", "nickName")
	})

	t.Run("groups", func(t *testing.T) {
		r := c.Get(t, "/Groups/"+group+"?excludedAttributes=members").Expect(t, 200)
		if _, ok := r.Body["members"]; ok || r.Str("displayName") != "Projected" {
			t.Fatalf("excludedAttributes=members: %s", r.Raw)
		}
		r = c.Get(t, "/Groups/"+group+"?attributes=members.value").Expect(t, 200)
		expectKeys(t, "attributes=members.value", r.Body, "schemas", "id", "members")
		if got := memberIDs(r.Body["members"]); fmt.Sprint(got) != fmt.Sprint([]string{id}) {
			t.Fatalf("members: %s", r.Raw)
		}
		r = c.Get(t, "/Groups?attributes=displayName").Expect(t, 200)
		for _, g := range resources(t, r) {
			expectKeys(t, "group list attributes", g, "schemas", "id", "displayName")
		}
	})
}
