package scim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

const bulkRequest = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	b := map[string]any{"schemas": []string{bulkRequest}, "Operations": list}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

func bulkOp(method, path, bulkID string, data any) map[string]any {
	m := map[string]any{"method": method, "path": path}
	if bulkID != "" {
		m["bulkId"] = bulkID
	}
	if data != nil {
		m["data"] = data
	}
	return m
}

// results returns the operations of a Bulk response.
func results(t testing.TB, r *scimtest.Response) []map[string]any {
	t.Helper()
	r.Expect(t, http.StatusOK)
	list, _ := r.At("Operations").([]any)
	out := make([]map[string]any, len(list))
	for i, el := range list {
		out[i] = el.(map[string]any)
	}
	return out
}

func idOf(location any) string {
	s, _ := location.(string)
	return s[strings.LastIndex(s, "/")+1:]
}

func TestBulkReferencesResolveInEitherOrder(t *testing.T) {
	c := scimtest.New(t).Client
	for name, groupFirst := range map[string]bool{"group first": true, "users first": false} {
		t.Run(name, func(t *testing.T) {
			prefix := strings.ReplaceAll(name, " ", "-")
			group := bulkOp("POST", "/Groups", "g", map[string]any{
				"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
				"displayName": "Team " + prefix,
				"members":     []any{map[string]any{"value": "bulkId:u1"}, map[string]any{"value": "bulkId:u2"}},
			})
			u1 := bulkOp("POST", "/Users", "u1", scimtest.UserBody(prefix+"-one@acme.test"))
			u2 := bulkOp("POST", "/Users", "u2", scimtest.UserBody(prefix+"-two@acme.test"))
			ops := []map[string]any{u1, u2, group}
			if groupFirst {
				ops = []map[string]any{group, u1, u2}
			}
			res := results(t, c.Post(t, "/Bulk", bulkBody(0, ops...)))
			var gid string
			for _, r := range res {
				if r["status"] != "201" {
					t.Fatalf("operation failed: %v", r)
				}
				if r["bulkId"] == "g" {
					gid = idOf(r["location"])
				}
				if r["version"] == nil || r["location"] == nil || r["method"] != "POST" {
					t.Fatalf("incomplete result: %v", r)
				}
			}
			g := c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK)
			members, _ := g.At("members").([]any)
			if len(members) != 2 {
				t.Fatalf("group members: %s", g.Raw)
			}
		})
	}
}

func TestBulkReferencesInProjectsAndParents(t *testing.T) {
	c := scimtest.New(t).Client
	res := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("POST", "/Groups", "child", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Child",
			tcGroup: map[string]any{"parent": "bulkId:parent", "projects": []any{map[string]any{"value": "bulkId:p2"}}},
		}),
		bulkOp("POST", "/Users", "u", scimtest.UserBody("proj@acme.test", map[string]any{tcUser: map[string]any{"projects": []any{map[string]any{"value": "bulkId:p1"}}}})),
		bulkOp("POST", "/Projects", "p2", map[string]any{"schemas": []string{project}, "displayName": "Sub", "parent": "bulkId:p1"}),
		bulkOp("POST", "/Projects", "p1", map[string]any{"schemas": []string{project}, "displayName": "Top"}),
		bulkOp("POST", "/Groups", "parent", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Parent"}),
	)))
	ids := map[string]string{}
	for _, r := range res {
		if r["status"] != "201" {
			t.Fatalf("operation failed: %v", r)
		}
		ids[r["bulkId"].(string)] = idOf(r["location"])
	}
	child := c.Get(t, "/Groups/"+ids["child"]).Expect(t, http.StatusOK)
	if child.Str(tcGroup+".parent.value") != ids["parent"] || child.Str(tcGroup+".projects.0.value") != ids["p2"] {
		t.Fatalf("child group: %s", child.Raw)
	}
	if p := c.Get(t, "/Projects/"+ids["p2"]).Expect(t, http.StatusOK); p.Str("parent.value") != ids["p1"] {
		t.Fatalf("project parent: %s", p.Raw)
	}
	if u := c.Get(t, "/Users/"+ids["u"]).Expect(t, http.StatusOK); u.Str(tcUser+".projects.0.value") != ids["p1"] {
		t.Fatalf("user projects: %s", u.Raw)
	}
}

func TestBulkFailures(t *testing.T) {
	c := scimtest.New(t).Client
	existing := c.Post(t, "/Users", scimtest.UserBody("taken@acme.test")).Expect(t, http.StatusCreated)

	t.Run("failOnErrors stops at the first error", func(t *testing.T) {
		res := results(t, c.Post(t, "/Bulk", bulkBody(1,
			bulkOp("POST", "/Users", "a", scimtest.UserBody("first@acme.test")),
			bulkOp("POST", "/Users", "b", scimtest.UserBody("TAKEN@acme.test")),
			bulkOp("POST", "/Users", "c", scimtest.UserBody("third@acme.test")),
			bulkOp("DELETE", "/Users/"+existing.Str("id"), "", nil),
		)))
		// RFC 7644 §3.7.3: the response holds the operations processed;
		// those not attempted are left out.
		if len(res) != 2 || res[0]["status"] != "201" || res[1]["status"] != "409" || res[1]["bulkId"] != "b" {
			t.Fatalf("results: %v", res)
		}
		if scimtest.At(res[1], "response.scimType") != "uniqueness" {
			t.Fatalf("error response: %v", res[1])
		}
		if n := c.Get(t, "/Users?filter="+escape(`userName eq "third@acme.test"`)).At("totalResults").(fmt.Stringer).String(); n != "0" {
			t.Fatal("an operation after the limit ran")
		}
		c.Get(t, "/Users/"+existing.Str("id")).Expect(t, http.StatusOK)
	})

	t.Run("failOnErrors leaves out only what was not attempted", func(t *testing.T) {
		// The group waits for the user it refers to, which comes after the
		// first error: it still runs, before the second error stops the rest.
		res := results(t, c.Post(t, "/Bulk", bulkBody(2,
			bulkOp("POST", "/Groups", "g", scimtest.GroupBody("Waits", "bulkId:u")),
			bulkOp("POST", "/Users", "dup1", scimtest.UserBody("taken@acme.test")),
			bulkOp("POST", "/Users", "u", scimtest.UserBody("member@acme.test")),
			bulkOp("POST", "/Users", "dup2", scimtest.UserBody("Taken@acme.test")),
			bulkOp("POST", "/Users", "never", scimtest.UserBody("never@acme.test")),
		)))
		var got []string
		for _, r := range res {
			got = append(got, fmt.Sprint(r["bulkId"], "=", r["status"]))
		}
		if want := "[g=201 dup1=409 u=201 dup2=409]"; fmt.Sprint(got) != want {
			t.Fatalf("results %v, want %s", got, want)
		}
		if n := c.Get(t, "/Users?filter="+escape(`userName eq "never@acme.test"`)).At("totalResults").(fmt.Stringer).String(); n != "0" {
			t.Fatal("an operation after the limit ran")
		}
	})

	t.Run("without failOnErrors every operation runs", func(t *testing.T) {
		res := results(t, c.Post(t, "/Bulk", bulkBody(0,
			bulkOp("POST", "/Users", "x", scimtest.UserBody("taken@acme.test")),
			bulkOp("POST", "/Users", "y", scimtest.UserBody("y@acme.test")),
			bulkOp("POST", "/Users", "z", scimtest.UserBody("y@ACME.test")),
			bulkOp("POST", "/Users", "", scimtest.UserBody("nobulkid@acme.test")),
			bulkOp("PATCH", "/Users/bulkId:nope", "", scimtest.PatchBody(scimtest.Op("replace", "active", false))),
			bulkOp("PATCH", "/Users/bulkId:x", "", scimtest.PatchBody(scimtest.Op("replace", "active", false))),
			bulkOp("GET", "/Users", "", nil),
		)))
		want := []string{"409", "201", "409", "400", "400", "409", "400"}
		for i, r := range res {
			if r["status"] != want[i] {
				t.Errorf("operation %d: status %v, want %s: %v", i+1, r["status"], want[i], r)
			}
		}
	})

	t.Run("version acts as If-Match", func(t *testing.T) {
		id := existing.Str("id")
		stale := bulkOp("PATCH", "/Users/"+id, "", scimtest.PatchBody(scimtest.Op("replace", "title", "Boss")))
		stale["version"] = `W/"999"`
		current := bulkOp("PUT", "/Users/"+id, "", scimtest.UserBody("taken@acme.test", map[string]any{"title": "Chief"}))
		current["version"] = existing.Str("meta.version")
		res := results(t, c.Post(t, "/Bulk", bulkBody(0, stale, current,
			bulkOp("DELETE", "/Users/"+id, "", nil))))
		if res[0]["status"] != "412" || res[1]["status"] != "200" || res[2]["status"] != "204" {
			t.Fatalf("results: %v", res)
		}
		c.Get(t, "/Users/"+id).Expect(t, http.StatusNotFound)
	})

	t.Run("circular references", func(t *testing.T) {
		group := func(name, parentRef string) map[string]any {
			return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, tcGroup: map[string]any{"parent": "bulkId:" + parentRef}}
		}
		res := results(t, c.Post(t, "/Bulk", bulkBody(0,
			bulkOp("POST", "/Groups", "a", group("A", "b")),
			bulkOp("POST", "/Groups", "b", group("B", "a")),
		)))
		for _, r := range res {
			if r["status"] != "409" {
				t.Fatalf("circular reference: %v", res)
			}
		}
	})
}

func TestBulkLimits(t *testing.T) {
	c := scimtest.New(t).Client
	spc := c.Get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
	if spc.At("bulk.supported") != true || spc.At("bulk.maxOperations").(fmt.Stringer).String() != "1000" {
		t.Fatalf("bulk not advertised: %s", spc.Raw)
	}
	ops := make([]map[string]any, 1001)
	for i := range ops {
		ops[i] = bulkOp("POST", "/Users", fmt.Sprint(i), scimtest.UserBody(fmt.Sprintf("u%d@acme.test", i)))
	}
	over := c.Post(t, "/Bulk", bulkBody(0, ops...)).Expect(t, http.StatusRequestEntityTooLarge)
	if over.Str("status") != "413" || !strings.Contains(over.Str("detail"), "maxOperations") {
		t.Fatalf("too many operations: %s", over.Raw)
	}
	big := bulkBody(0, bulkOp("POST", "/Users", "x", scimtest.UserBody("big@acme.test", map[string]any{"title": strings.Repeat("x", 5<<20)})))
	c.Post(t, "/Bulk", big).Expect(t, http.StatusRequestEntityTooLarge)
	if n := c.Get(t, "/Users?count=0").At("totalResults").(fmt.Stringer).String(); n != "0" {
		t.Fatalf("over-limit requests created %s users", n)
	}
	// 1,000 operations are fine.
	res := results(t, c.Post(t, "/Bulk", bulkBody(0, ops[:1000]...)))
	for _, r := range res {
		if r["status"] != "201" {
			t.Fatalf("operation failed: %v", r)
		}
	}
	if n := c.Get(t, "/Users?count=0").At("totalResults").(fmt.Stringer).String(); n != "1000" {
		t.Fatalf("users after 1,000 operations: %s", n)
	}
}

// Seats and uniqueness hold inside a batch exactly as for single requests.
func TestBulkBatchKeepsTheRules(t *testing.T) {
	e := scimtest.New(t)
	_, c := e.NewAccount(t, "small", 3)
	c.Post(t, "/Users", scimtest.UserBody("boss@small.test", map[string]any{tcUser: map[string]any{"role": "administrator"}})).Expect(t, http.StatusCreated)
	res := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("POST", "/Users", "1", scimtest.UserBody("a@small.test")),
		bulkOp("POST", "/Users", "2", scimtest.UserBody("guest@small.test", map[string]any{tcUser: map[string]any{"role": "guest"}})),
		bulkOp("POST", "/Users", "3", scimtest.UserBody("b@small.test")),
		bulkOp("POST", "/Users", "4", scimtest.UserBody("c@small.test")),
		bulkOp("POST", "/Users", "5", scimtest.UserBody("A@small.test", map[string]any{tcUser: map[string]any{"role": "guest"}})),
	)))
	want := []string{"201", "201", "201", "403", "409"}
	for i, r := range res {
		if r["status"] != want[i] {
			t.Errorf("operation %d: %v, want %s", i+1, r, want[i])
		}
	}
	seats, err := e.Store.SeatsInUse(t.Context(), accountOf(t, e, "small"))
	if err != nil || seats != 3 {
		t.Fatalf("seats in use: %d %v", seats, err)
	}
	a, _ := e.Store.AccountByName(t.Context(), "small")
	if a.SeatsUsed != 3 {
		t.Fatalf("seat counter %d, want 3", a.SeatsUsed)
	}
}

// BenchmarkBulkImport measures importing users through Bulk, 1,000
// operations per request: go test -bench BulkImport ./scim/
func BenchmarkBulkImport(b *testing.B) {
	c := scimtest.New(b).Client
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ops := make([]map[string]any, 1000)
		for k := range ops {
			n++
			ops[k] = bulkOp("POST", "/Users", fmt.Sprint(k), scimtest.UserBody(fmt.Sprintf("bench%d@acme.test", n), map[string]any{
				"name":   map[string]any{"givenName": "Bench", "familyName": fmt.Sprint(n)},
				"emails": []any{map[string]any{"value": fmt.Sprintf("bench%d@acme.test", n), "type": "work", "primary": true}},
			}))
		}
		r := c.Post(b, "/Bulk", bulkBody(0, ops...))
		if r.Status != http.StatusOK {
			b.Fatalf("bulk: %d %s", r.Status, r.Raw)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkCreateUserOneByOne is the baseline for BenchmarkBulkImport: the
// same users, one POST each.
func BenchmarkCreateUserOneByOne(b *testing.B) {
	c := scimtest.New(b).Client
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := c.Post(b, "/Users", scimtest.UserBody(fmt.Sprintf("single%d@acme.test", i), map[string]any{
			"name":   map[string]any{"givenName": "Bench", "familyName": fmt.Sprint(i)},
			"emails": []any{map[string]any{"value": fmt.Sprintf("single%d@acme.test", i), "type": "work", "primary": true}},
		}))
		if r.Status != http.StatusCreated {
			b.Fatalf("create: %d %s", r.Status, r.Raw)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

// Bulk runs Entra ID's shapes through the same code as single requests:
// app roles on create, the manager as a one-reference list at path
// "manager", a filtered sub-attribute cleared.
func TestBulkEntraShapes(t *testing.T) {
	c := scimtest.New(t).Client
	ops := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("POST", "/Users", "boss", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "boss@contoso.example", "active": "True",
			"roles": []any{map[string]any{"primary": true, "type": "WindowsAzureActiveDirectoryRole", "value": "Supervisor"}},
		}),
		bulkOp("POST", "/Users", "emp", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": "emp@contoso.example",
			"phoneNumbers": []any{map[string]any{"type": "mobile", "value": "+1 555 0101"}},
		}),
		bulkOp("PATCH", "/Users/bulkId:emp", "", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{
				map[string]any{"op": "Add", "path": "manager", "value": []any{map[string]any{"$ref": nil, "value": "bulkId:boss"}}},
				map[string]any{"op": "Remove", "path": `phoneNumbers[type eq "mobile"].value`},
			},
		}),
	)))
	for i, op := range ops {
		if s := fmt.Sprint(op["status"]); s != "201" && s != "200" {
			t.Fatalf("operation %d: %v", i, op)
		}
	}
	boss, emp := idOf(ops[0]["location"]), idOf(ops[1]["location"])
	b := c.Get(t, "/Users/"+boss).Expect(t, http.StatusOK)
	if b.Str("urn:ietf:params:scim:schemas:extension:timecamp:2.0:User.role") != "supervisor" {
		t.Fatalf("role from roles: %s", b.Raw)
	}
	e := c.Get(t, "/Users/"+emp).Expect(t, http.StatusOK)
	if e.Str("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value") != boss || e.At("phoneNumbers") != nil {
		t.Fatalf("manager or phone numbers: %s", e.Raw)
	}
}
