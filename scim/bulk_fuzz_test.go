package scim_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// FuzzBulk sends arbitrary Bulk requests to a real server on the test
// database: never a 500, for the request or any of its operations, and
// never more results than operations.
func FuzzBulk(f *testing.F) {
	const user = "urn:ietf:params:scim:schemas:core:2.0:User"
	const group = "urn:ietf:params:scim:schemas:core:2.0:Group"
	const project = "urn:timecamp:params:scim:schemas:core:2.0:Project"
	const tcUser = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User"
	const tcGroup = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"
	for _, seed := range []map[string]any{
		bulkBody(0,
			bulkOp("POST", "/Users", "u1", map[string]any{"schemas": []string{user}, "userName": "fuzz1@acme.test", "active": "True"}),
			bulkOp("POST", "/Groups", "g1", map[string]any{"schemas": []string{group}, "displayName": "Fuzz", "members": []any{map[string]any{"value": "bulkId:u1"}}}),
			bulkOp("PATCH", "/Users/bulkId:u1", "", scimtest.PatchBody(scimtest.Op("replace", "name.givenName", "F"))),
		),
		bulkBody(1,
			bulkOp("POST", "/Projects", "p", map[string]any{"schemas": []string{project}, "displayName": "Apollo"}),
			bulkOp("POST", "/Users", "u2", map[string]any{"schemas": []string{user}, "userName": "fuzz2@acme.test", tcUser: map[string]any{"projects": []any{map[string]any{"value": "bulkId:p", "role": "manager"}}, "role": "guest"}}),
			bulkOp("POST", "/Groups", "g2", map[string]any{"schemas": []string{group}, "displayName": "Child", tcGroup: map[string]any{"parent": "bulkId:g3", "grantsRole": "supervisor"}}),
			bulkOp("POST", "/Groups", "g3", map[string]any{"schemas": []string{group}, "displayName": "Parent", tcGroup: map[string]any{"parent": "bulkId:g2"}}),
		),
		bulkBody(0,
			bulkOp("PUT", "/Users/bulkId:nope", "", map[string]any{"schemas": []string{user}, "userName": "x"}),
			bulkOp("DELETE", "/Groups/does-not-exist", "", nil),
			bulkOp("PATCH", "/Groups/x", "", scimtest.PatchBody(scimtest.Op("add", "members", []any{map[string]any{"value": "nobody"}}))),
			bulkOp("GET", "/Users", "", nil),
		),
	} {
		raw, _ := json.Marshal(seed)
		f.Add(raw)
	}
	f.Add([]byte(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [{"method": "post", "path": "users", "bulkId": "a", "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "lower@acme.test"}}]}`))
	f.Add([]byte(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [{"method": "PATCH", "path": "/Users/bulkId:", "data": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "emails[type eq \"work\"]"}]}}]}`))

	env := scimtest.New(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		start := time.Now()
		watchdog := time.AfterFunc(20*time.Second, func() { panic("Bulk request hangs: " + string(body)) })
		defer watchdog.Stop()
		r := env.Client.Post(t, "/Bulk", body)
		switch r.Status {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if r.Str("detail") == "" {
				t.Fatalf("%d without a detail: %s", r.Status, r.Raw)
			}
			return
		default:
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
		var req struct{ Operations []any }
		_ = json.Unmarshal(body, &req)
		ops, _ := r.At("Operations").([]any)
		if len(ops) > len(req.Operations) && len(req.Operations) > 0 {
			t.Fatalf("%d results for %d operations", len(ops), len(req.Operations))
		}
		for _, op := range ops {
			status := scimtest.At(op, "status")
			if s, _ := status.(string); s == "" || s[0] == '5' {
				t.Fatalf("operation result %v in %s", op, r.Raw)
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Bulk request took %v", d)
		}
	})
}
