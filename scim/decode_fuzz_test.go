package scim

import (
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// FuzzDecode reads arbitrary request bodies the ways the handlers do — as
// a resource of each type, a PATCH, a search and a Bulk request — and
// requires that each either succeeds or fails with a client error.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen", "name": {"givenName": "Barbara"}, "emails": [{"value": "b@example.com", "primary": true}], "active": "False"}`,
		`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": "u1"}], "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group": {"grantsRole": "Supervisor"}}`,
		`{"schemas": ["urn:timecamp:params:scim:schemas:core:2.0:Project"], "displayName": "Apollo", "parent": "p0"}`,
		`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "active", "value": false}, {"op": "add", "value": {"title": "x"}}]}`,
		`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"a\"", "startIndex": 1, "count": 10, "attributes": ["userName"], "sortOrder": "descending"}`,
		`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "failOnErrors": 1, "Operations": [{"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "x"}}, {"method": "PATCH", "path": "/Groups/bulkId:g", "data": {"Operations": []}}, {"method": "DELETE", "path": "/Users/1", "version": "W/\"1\""}]}`,
		`{"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
		`{"userName": 12, "emails": "x", "schemas": "urn"}`,
		`[1, 2]`,
		`{"a": 1} {"b": 2}`,
		`{"count": 1e400, "startIndex": -5}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		start := time.Now()
		clientError := func(what string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			if f, ok := failure.As(err); !ok || (f.Kind != failure.Invalid && f.Kind != failure.TooLarge) || f.Detail == "" {
				t.Fatalf("%s: %v is not a client error with a detail", what, err)
			}
		}
		body, err := decodeJSON(raw)
		clientError("decode", err)
		if err != nil {
			return
		}
		for _, rt := range schemas.ResourceTypes() {
			_, err := rt.Normalize(body)
			clientError(rt.Name, err)
		}
		_, err = patchOperations(body)
		clientError("PATCH", err)
		_, err = listParamsFromSearch(body)
		clientError("search", err)
		b := &bulkRun{defined: map[string]*bulkOp{}, ids: map[string]string{}, users: map[string]bool{}}
		if err := b.parse(body); err != nil {
			clientError("Bulk", err)
		} else {
			for _, op := range b.ops {
				clientError("Bulk operation", op.invalid)
				_ = memberRefs(op.method, op.data)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d bytes took %v", len(raw), d)
		}
	})
}

// The nesting check agrees with encoding/json on what nests how deep.
func TestJSONDepth(t *testing.T) {
	for s, want := range map[string]int{
		`{}`:                      1,
		`{"a": [1, {"b": [[]]}]}`: 5,
		`{"a": "[[[{{{"}`:         1,
		`{"a": "\"[[["}`:          1,
		`"[[["`:                   0,
		strings.Repeat("[", 100):  maxJSONDepth + 1,
	} {
		if got := jsonDepth([]byte(s)); got != want {
			t.Errorf("%s: depth %d, want %d", s, got, want)
		}
	}
}
