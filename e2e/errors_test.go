package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, point 10: errors.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client
	user := createUser(t, c, "errors@example.com")
	group := createGroup(t, c, "Errors", user)

	t.Run("unknown ids answer 404", func(t *testing.T) {
		for _, ep := range []string{"/Users/", "/Groups/"} {
			for _, id := range []string{"7b0cdbd6-0000-4000-8000-000000000000", "not-a-uuid", group, user} {
				if (ep == "/Users/" && id == user) || (ep == "/Groups/" && id == group) {
					continue
				}
				p := ep + url.PathEscape(id)
				expectError(t, c.Get(t, p), http.StatusNotFound, "")
				expectError(t, c.Delete(t, p), http.StatusNotFound, "")
				expectError(t, c.Patch(t, p, scimtest.Op("replace", "displayName", "x")), http.StatusNotFound, "")
				body := scimtest.UserBody("x@example.com")
				if ep == "/Groups/" {
					body = scimtest.GroupBody("x")
				}
				expectError(t, c.Put(t, p, body), http.StatusNotFound, "")
			}
		}
		expectError(t, c.Get(t, "/NoSuchEndpoint"), http.StatusNotFound, "")
		expectError(t, c.Get(t, "/Users/"+user+"/extra"), http.StatusNotFound, "")
	})

	t.Run("malformed JSON answers 400 invalidSyntax", func(t *testing.T) {
		for _, body := range []string{`{"userName": `, `{"userName": "a",}`, `not json`, `[1, 2]`, `"string"`, ``, `{"a":1} {"b":2}`} {
			expectError(t, c.Do(t, http.MethodPost, "/Users", body), http.StatusBadRequest, "invalidSyntax")
			expectError(t, c.Do(t, http.MethodPost, "/Groups", body), http.StatusBadRequest, "invalidSyntax")
			expectError(t, c.Do(t, http.MethodPut, "/Users/"+user, body), http.StatusBadRequest, "invalidSyntax")
			expectError(t, c.Do(t, http.MethodPatch, "/Users/"+user, body), http.StatusBadRequest, "invalidSyntax")
			expectError(t, c.Do(t, http.MethodPatch, "/Groups/"+group, body), http.StatusBadRequest, "invalidSyntax")
			expectError(t, c.Do(t, http.MethodPost, "/Users/.search", body), http.StatusBadRequest, "invalidSyntax")
		}
		// A body without the resource's schema.
		expectError(t, c.Post(t, "/Users", obj{"userName": "noschema@example.com"}), http.StatusBadRequest, "invalidSyntax")
		expectError(t, c.Post(t, "/Users", obj{"schemas": arr{groupURN}, "userName": "wrongschema@example.com"}), http.StatusBadRequest, "invalidSyntax")
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName sw "noschema" or userName sw "wrongschema"`)))
		if got := c.Get(t, "/Users/"+user).Expect(t, 200).Str("userName"); got != "errors@example.com" {
			t.Fatalf("userName %q", got)
		}
	})

	t.Run("invalid values answer 400 invalidValue", func(t *testing.T) {
		for name, body := range map[string]any{
			"no userName":        obj{"schemas": arr{userURN}, "displayName": "x"},
			"empty userName":     scimtest.UserBody(""),
			"number userName":    obj{"schemas": arr{userURN}, "userName": 42},
			"bad boolean":        scimtest.UserBody("b@example.com", obj{"active": "maybe"}),
			"emails not objects": scimtest.UserBody("c@example.com", obj{"emails": arr{1, 2}}),
			"name not an object": scimtest.UserBody("d@example.com", obj{"name": arr{"x"}}),
			"short password":     scimtest.UserBody("e@example.com", obj{"password": "abc"}),
		} {
			t.Run(name, func(t *testing.T) {
				expectError(t, c.Post(t, "/Users", body), http.StatusBadRequest, "invalidValue")
			})
		}
		expectError(t, c.Post(t, "/Groups", obj{"schemas": arr{groupURN}}), http.StatusBadRequest, "invalidValue")
		expectSet(t, nil, c.Get(t, "/Users"), user)
	})

	t.Run("unsupported answers 501", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			expectError(t, c.Do(t, m, "/Me", nil), http.StatusNotImplemented, "")
		}
		expectError(t, c.Post(t, "/.search", obj{"schemas": arr{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}}), http.StatusNotImplemented, "")
	})

	t.Run("method not allowed", func(t *testing.T) {
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodDelete, "/Users", "GET, POST"},
			{http.MethodPatch, "/Groups", "GET, POST"},
			{http.MethodGet, "/Users/.search", ""},
			{http.MethodPut, "/ServiceProviderConfig", "GET"},
			{http.MethodPost, "/Schemas", "GET"},
		} {
			r := c.Do(t, tc.method, tc.path, nil)
			if tc.allow == "" {
				// GET /Users/.search reads a user with the id ".search".
				expectError(t, r, http.StatusNotFound, "")
				continue
			}
			expectError(t, r, http.StatusMethodNotAllowed, "")
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
			}
		}
	})

	t.Run("request ids", func(t *testing.T) {
		r := c.Get(t, "/Users/missing")
		if r.Header.Get("X-Request-Id") == "" {
			t.Fatal("no X-Request-Id")
		}
	})

	t.Run("body too large", func(t *testing.T) {
		big := `{"schemas":["` + userURN + `"],"userName":"big@example.com","title":"` + strings.Repeat("x", 17<<20) + `"}`
		r := c.Do(t, http.MethodPost, "/Users", big)
		expectError(t, r, http.StatusRequestEntityTooLarge, "")
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "big@example.com"`)))
	})

	// Hostile input never shows internals, and never a 500.
	t.Run("no internals", func(t *testing.T) {
		var responses []*scimtest.Response
		get := func(p string) { responses = append(responses, c.Get(t, p)) }
		for _, id := range []string{`$where`, `{"$gt":""}`, `..`, strings.Repeat("a", 5000), "%00", `\`, "a/b"} {
			get("/Users/" + url.PathEscape(id))
			get("/Groups/" + url.PathEscape(id))
			responses = append(responses, c.Patch(t, "/Groups/"+url.PathEscape(id), scimtest.Op("add", "members", arr{obj{"value": id}})))
		}
		for _, f := range []string{
			`userName eq "\u0000"`,
			`userName eq "\ud800"`,
			`userName eq "\x"`,
			`userName co "` + strings.Repeat(`(`, 1000) + `"`,
			strings.Repeat("(", 300) + `userName eq "a"` + strings.Repeat(")", 300),
			`$where eq "1"`,
			`userName.$ne eq "x"`,
			`emails[value eq "a"].value eq "b"`,
			`members[value eq "a" and display eq "b"]`,
			`groups gt "x"`,
			`meta.version eq "1"`,
			`meta eq "x"`,
			`name eq "x"`,
			`userName eq 12`,
			`userName eq true`,
			`userName eq null`,
			`active eq "yes"`,
			`meta.created gt 5`,
			`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User eq "x"`,
		} {
			get(filterPath("/Users", f))
			get(filterPath("/Groups", f))
		}
		for _, q := range []string{
			"?startIndex=99999999999999999999",
			"?count=99999999999999999999",
			"?count=-99999999999",
			"?sortBy=$where",
			"?sortBy=meta",
			"?sortBy=" + url.QueryEscape("name.givenName.x"),
			"?attributes=$where,meta.$x",
			"?excludedAttributes=" + url.QueryEscape("emails[type eq \"work\"]"),
		} {
			get("/Users" + q)
		}
		for _, body := range []any{
			scimtest.UserBody("hostile1@example.com", obj{"$where": "1", "name": obj{"$gt": ""}}),
			scimtest.UserBody("hostile2@example.com", obj{"emails": arr{obj{"value": obj{"$ne": 1}}}}),
			scimtest.UserBody(strings.Repeat("x", 10000) + "@example.com"),
			`{"schemas":["` + userURN + `"],"userName":"dup@example.com","USERNAME":"dup2@example.com"}`,
			scimtest.UserBody("hostile3@example.com", obj{enterpriseURN: "not an object"}),
			scimtest.UserBody("hostile4@example.com", obj{enterpriseURN + ":manager": obj{"$ref": "x", "value": arr{}}}),
		} {
			responses = append(responses, c.Post(t, "/Users", body))
		}
		for _, op := range []map[string]any{
			scimtest.Op("add", "$where", 1),
			scimtest.Op("add", "name.$gt", 1),
			scimtest.Op("add", `emails[$where eq "x"].value`, "x"),
			scimtest.Op("replace", "emails[type eq \"work\"].value.x", "x"),
			scimtest.Op("add", "", obj{"name": obj{"$set": 1}}),
			scimtest.Op("replace", "emails", obj{"value": obj{"$gt": ""}}),
			scimtest.Op("add", "members", arr{obj{"value": "x"}}),
		} {
			responses = append(responses, c.Patch(t, "/Users/"+user, op))
		}
		for _, r := range responses {
			checkNoInternals(t, r)
			if r.Status >= 500 {
				t.Errorf("status %d: %s", r.Status, r.Raw)
			}
			if r.Status >= 400 {
				checkErrorBody(t, r, r.Status)
			}
		}
		// The user survived.
		if got := c.Get(t, "/Users/"+user).Expect(t, 200).Str("userName"); got != "errors@example.com" {
			t.Fatalf("userName %q", got)
		}
	})
}
