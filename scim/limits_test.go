package scim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/scimfilter"
)

// expectError checks a SCIM error: status, scimType and words of the detail.
func expectError(t *testing.T, r *scimtest.Response, status int, scimType string, words ...string) {
	t.Helper()
	r.Expect(t, status)
	if got := r.Str("scimType"); got != scimType {
		t.Errorf("scimType %q, want %q: %s", got, scimType, r.Raw)
	}
	for _, w := range words {
		if !strings.Contains(r.Str("detail"), w) {
			t.Errorf("detail %q does not say %q", r.Str("detail"), w)
		}
	}
}

func TestAttributeValueLimits(t *testing.T) {
	c := scimtest.New(t).Client
	long := strings.Repeat("x", schemas.MaxStringLength+1)

	// The 3 MiB displayName that used to be stored.
	huge := scimtest.UserBody("huge@acme.test", map[string]any{"displayName": strings.Repeat("x", 3<<20)})
	expectError(t, c.Post(t, "/Users", huge), http.StatusBadRequest, "invalidValue", "displayName", "3145728 characters", "2048")

	// At the limit is fine, counted in characters, not bytes.
	exact := strings.Repeat("é", schemas.MaxStringLength)
	u := c.Post(t, "/Users", scimtest.UserBody("exact@acme.test", map[string]any{"displayName": exact})).Expect(t, http.StatusCreated)
	id := u.Str("id")

	expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("replace", "name.givenName", long)), http.StatusBadRequest, "invalidValue", "name.givenName")
	expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("add", "emails[type eq \"work\"].value", long)), http.StatusBadRequest, "invalidValue", "2048")
	expectError(t, c.Put(t, "/Users/"+id, scimtest.UserBody("exact@acme.test", map[string]any{"title": long})), http.StatusBadRequest, "invalidValue", "title")
	expectError(t, c.Post(t, "/Groups", scimtest.GroupBody(long)), http.StatusBadRequest, "invalidValue", "displayName")
	if got := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK); got.Str("displayName") != exact || got.At("title") != nil || got.At("name") != nil {
		t.Fatalf("a refused write changed the user: %.200s", got.Raw)
	}

	// Too many values of one attribute, sent at once or added up.
	many := make([]any, schemas.MaxValues+1)
	for i := range many {
		many[i] = map[string]any{"value": fmt.Sprintf("a%d@acme.test", i)}
	}
	expectError(t, c.Post(t, "/Users", scimtest.UserBody("many@acme.test", map[string]any{"emails": many})), http.StatusBadRequest, "invalidValue", "emails", "1001 values")
	c.Patch(t, "/Users/"+id, scimtest.Op("add", "emails", many[:schemas.MaxValues])).Expect(t, http.StatusOK)
	expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("add", "emails", many[schemas.MaxValues:])), http.StatusBadRequest, "invalidValue", "emails")

	// Values each within limits that add up to more than a resource holds.
	big := make([]any, 600)
	for i := range big {
		big[i] = map[string]any{"value": fmt.Sprintf("%d%s", i, strings.Repeat("y", 2000))}
	}
	expectError(t, c.Post(t, "/Users", scimtest.UserBody("big@acme.test", map[string]any{"entitlements": big})), http.StatusRequestEntityTooLarge, "", "at most 1048576")

	// In Bulk the operation fails alone.
	res := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("POST", "/Users", "long", scimtest.UserBody("long@acme.test", map[string]any{"nickName": long})),
		bulkOp("POST", "/Users", "ok", scimtest.UserBody("ok@acme.test")),
	)))
	if res[0]["status"] != "400" || res[1]["status"] != "201" {
		t.Fatalf("bulk results: %v", res)
	}
}

func TestRequestShapeLimits(t *testing.T) {
	c := scimtest.New(t).Client
	id := c.Post(t, "/Users", scimtest.UserBody("shape@acme.test")).Expect(t, http.StatusCreated).Str("id")

	t.Run("JSON nesting", func(t *testing.T) {
		deep := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"deep@acme.test","x":` +
			strings.Repeat("[", 40) + strings.Repeat("]", 40) + "}"
		expectError(t, c.Post(t, "/Users", deep), http.StatusBadRequest, "invalidSyntax", "32 levels")
		expectError(t, c.Post(t, "/Bulk", strings.Replace(deep, "{", `{"Operations":`, 1)), http.StatusBadRequest, "invalidSyntax", "32 levels")
		// Brackets inside strings are text, not nesting.
		c.Post(t, "/Users", scimtest.UserBody("brackets@acme.test", map[string]any{"title": strings.Repeat("[{", 100)})).Expect(t, http.StatusCreated)
	})

	t.Run("PATCH operations", func(t *testing.T) {
		ops := make([]map[string]any, directory.MaxPatchOperations+1)
		for i := range ops {
			ops[i] = scimtest.Op("replace", "title", fmt.Sprint(i))
		}
		expectError(t, c.Patch(t, "/Users/"+id, ops...), http.StatusRequestEntityTooLarge, "", "1001 operations", "at most 1000")
		c.Patch(t, "/Users/"+id, ops[:directory.MaxPatchOperations]...).Expect(t, http.StatusOK)
	})

	t.Run("PATCH path", func(t *testing.T) {
		path := `emails[value eq "` + strings.Repeat("p", scimfilter.MaxPathLength) + `"]`
		expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("remove", path, nil)), http.StatusBadRequest, "invalidPath", "at most 512")
		key := strings.Repeat("k", scimfilter.MaxPathLength+1)
		expectError(t, c.Patch(t, "/Users/"+id, scimtest.Op("add", "", map[string]any{key: "v"})), http.StatusBadRequest, "invalidPath", "at most 512")
	})

	t.Run("filter", func(t *testing.T) {
		var terms []string
		for len(strings.Join(terms, " or ")) <= scimfilter.MaxFilterLength {
			terms = append(terms, fmt.Sprintf(`userName eq "someone.with.a.long.name%d@acme.test"`, len(terms)))
		}
		long := strings.Join(terms, " or ")
		search := func(filter string) *scimtest.Response {
			return c.Post(t, "/Users/.search", map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": filter,
			})
		}
		expectError(t, search(long), http.StatusBadRequest, "tooMany", "at most 262144", "split")
		search(strings.Join(terms[:len(terms)/2], " or ")).Expect(t, http.StatusOK)

		deep := strings.Repeat("(", 17) + `userName eq "shape@acme.test"` + strings.Repeat(")", 17)
		expectError(t, c.Get(t, "/Users?filter="+url.QueryEscape(deep)), http.StatusBadRequest, "tooMany", "17 levels", "at most 16")
		// Comparisons the database cannot answer from an index: at most 20.
		costly := strings.Repeat(`userName co "x" or `, scimfilter.MaxCostlyTerms) + `emails[type eq "work"]`
		expectError(t, search(costly), http.StatusBadRequest, "tooMany", "21 comparisons other than eq", "at most 20")
		search(strings.Repeat(`userName co "x" or `, scimfilter.MaxCostlyTerms-1)+`emails[type eq "work"]`).Expect(t, http.StatusOK)

		ok := strings.Repeat("(", 16) + `userName eq "shape@acme.test"` + strings.Repeat(")", 16)
		if r := c.Get(t, "/Users?filter="+url.QueryEscape(ok)).Expect(t, http.StatusOK); fmt.Sprint(r.At("totalResults")) != "1" {
			t.Fatalf("nested filter: %s", r.Raw)
		}
	})
}
