package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 18: a plain RFC 7644 client — no identity provider's habits, and
// only the requests a client that never PATCHes makes: discovery, /Bulk
// (POST with bulkId references, PUT, DELETE) and PUT of single resources
// with If-Match, references written as the schema says ({"value": id} or
// {"$ref": URI}). docs/scim-clients.md is its guide.
func TestPlainRFCClient(t *testing.T) {
	t.Parallel()
	s := startIdPServer(t)
	c := s.Client
	base := c.Base
	step := flow(t)
	bulk := func(t *testing.T, ops ...obj) []obj {
		t.Helper()
		r := c.Post(t, "/Bulk", obj{"schemas": arr{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(t, http.StatusOK)
		var out []obj
		for _, el := range r.At("Operations").([]any) {
			out = append(out, el.(map[string]any))
		}
		if len(out) != len(ops) {
			t.Fatalf("%d results for %d operations: %s", len(out), len(ops), r.Raw)
		}
		return out
	}
	idOf := func(res obj) string {
		loc, _ := res["location"].(string)
		return loc[strings.LastIndex(loc, "/")+1:]
	}
	const projectURN = "urn:timecamp:params:scim:schemas:core:2.0:Project"
	ids := map[string]string{}

	step("discovery: Bulk and ETags are supported, projects and parents are references", func(t *testing.T) {
		spc := c.Get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
		if spc.At("bulk.supported") != true || num(spc, "bulk.maxOperations") < 10 || spc.At("etag.supported") != true {
			t.Fatalf("ServiceProviderConfig: %s", spc.Raw)
		}
		sch := c.Get(t, "/Schemas/"+timecampUserURN).Expect(t, http.StatusOK)
		for _, a := range sch.At("attributes").([]any) {
			if scimtest.At(a, "name") != "projects" {
				continue
			}
			for _, sub := range scimtest.At(a, "subAttributes").([]any) {
				if scimtest.At(sub, "name") == "$ref" && scimtest.At(sub, "referenceTypes.0") == "Project" {
					return
				}
			}
		}
		t.Fatalf("the TimeCamp user's projects are not advertised as references to Project: %s", sch.Raw)
	})

	step("create everything in one Bulk request, references by bulkId", func(t *testing.T) {
		res := bulk(t,
			obj{"method": "POST", "path": "/Groups", "bulkId": "team", "data": obj{
				"schemas": arr{groupURN}, "displayName": "Apollo team",
				"members":        arr{obj{"value": "bulkId:ann"}, obj{"value": "bulkId:bob"}},
				timecampGroupURN: obj{"parent": obj{"value": "bulkId:dept"}, "projects": arr{obj{"value": "bulkId:apollo", "role": "member"}}},
			}},
			obj{"method": "POST", "path": "/Groups", "bulkId": "dept", "data": obj{"schemas": arr{groupURN}, "displayName": "Engineering"}},
			obj{"method": "POST", "path": "/Users", "bulkId": "ann", "data": obj{
				"schemas": arr{userURN}, "userName": "ann@rfc.example", "title": "Pilot", "nickName": "Annie",
				timecampUserURN: obj{"timeTrackingAdmin": true, "projects": arr{obj{"value": "bulkId:lander", "role": "manager"}}},
			}},
			obj{"method": "POST", "path": "/Users", "bulkId": "bob", "data": obj{
				"schemas": arr{userURN, enterpriseURN}, "userName": "bob@rfc.example",
				enterpriseURN: obj{"manager": obj{"value": "bulkId:ann"}},
			}},
			obj{"method": "POST", "path": "/Projects", "bulkId": "lander", "data": obj{"schemas": arr{projectURN}, "displayName": "Lander", "parent": obj{"value": "bulkId:apollo"}}},
			obj{"method": "POST", "path": "/Projects", "bulkId": "apollo", "data": obj{"schemas": arr{projectURN}, "displayName": "Apollo"}},
		)
		for _, r := range res {
			if r["status"] != "201" {
				t.Fatalf("operation %v: %v", r["bulkId"], r)
			}
			ids[r["bulkId"].(string)] = idOf(r)
		}
		team := c.Get(t, "/Groups/"+ids["team"]).Expect(t, http.StatusOK)
		if team.Str(timecampGroupURN+".parent.value") != ids["dept"] || team.Str(timecampGroupURN+".parent.$ref") != base+"/Groups/"+ids["dept"] ||
			!same(memberIDs(team.At("members")), ids["ann"], ids["bob"]) {
			t.Fatalf("group: %s", team.Raw)
		}
		ann := c.Get(t, "/Users/"+ids["ann"]).Expect(t, http.StatusOK)
		if tc(ann, "canViewRates") != true || ann.Str(timecampUserURN+".projects.0.$ref") != base+"/Projects/"+ids["lander"] {
			t.Fatalf("user: %s", ann.Raw)
		}
		bob := c.Get(t, "/Users/"+ids["bob"]).Expect(t, http.StatusOK)
		if bob.Str(enterpriseURN+".manager.$ref") != base+"/Users/"+ids["ann"] {
			t.Fatalf("manager reference: %s", bob.Raw)
		}
		if p := c.Get(t, "/Projects/"+ids["lander"]).Expect(t, http.StatusOK); p.Str("parent.$ref") != base+"/Projects/"+ids["apollo"] {
			t.Fatalf("project parent: %s", p.Raw)
		}
	})

	step("PUT what was read, changed, with If-Match; a stale version is refused", func(t *testing.T) {
		ann := c.Get(t, "/Users/"+ids["ann"]).Expect(t, http.StatusOK)
		etag := ann.Header.Get("ETag")
		body := ann.Body
		body["title"] = "Commander"
		delete(body, "nickName") // left out of a PUT: unassigned
		tcAttrs := body[timecampUserURN].(map[string]any)
		// A reference given by its $ref alone.
		tcAttrs["projects"] = arr{obj{"$ref": base + "/Projects/" + ids["apollo"], "role": "manager"}}
		r := c.Put(t, "/Users/"+ids["ann"], body, "If-Match: "+etag).Expect(t, http.StatusOK)
		if r.Str("title") != "Commander" || r.At("nickName") != nil || r.Str(timecampUserURN+".projects.0.value") != ids["apollo"] || r.Header.Get("ETag") == etag {
			t.Fatalf("replaced user: %s", r.Raw)
		}
		// The user's own entry and the one its group grants are one entry.
		if n := len(r.At(timecampUserURN + ".projects").([]any)); n != 1 {
			t.Fatalf("projects: %s", r.Raw)
		}
		expectError(t, c.Put(t, "/Users/"+ids["ann"], body, "If-Match: "+etag), http.StatusPreconditionFailed, "")
	})

	step("PUT a group with its full member list given by $ref", func(t *testing.T) {
		team := c.Get(t, "/Groups/"+ids["team"]).Expect(t, http.StatusOK)
		body := team.Body
		body["members"] = arr{obj{"$ref": base + "/Users/" + ids["bob"]}}
		r := c.Put(t, "/Groups/"+ids["team"], body, "If-Match: "+team.Header.Get("ETag")).Expect(t, http.StatusOK)
		if !same(memberIDs(r.At("members")), ids["bob"]) || r.Str(timecampGroupURN+".parent.value") != ids["dept"] {
			t.Fatalf("replaced group: %s", r.Raw)
		}
	})

	step("Bulk PUTs: each one stands alone; conflicts and foreign references are refused", func(t *testing.T) {
		res := bulk(t,
			obj{"method": "PUT", "path": "/Users/" + ids["bob"], "data": obj{"schemas": arr{userURN, enterpriseURN}, "userName": "bob@rfc.example", "title": "Engineer"}},
			obj{"method": "PUT", "path": "/Users/" + ids["ann"], "data": obj{"schemas": arr{userURN}, "userName": "ann@rfc.example",
				timecampUserURN: obj{"timeTrackingAdmin": true, "canViewRates": false}}},
			obj{"method": "PUT", "path": "/Projects/" + ids["lander"], "data": obj{"schemas": arr{projectURN}, "displayName": "Lander",
				"parent": obj{"$ref": "https://elsewhere.example/scim/v2/Projects/" + ids["apollo"]}}},
		)
		if res[0]["status"] != "200" || res[1]["status"] != "400" || res[2]["status"] != "400" {
			t.Fatalf("results: %v", res)
		}
		for _, r := range res[1:] {
			if scimtest.At(r, "response.scimType") != "invalidValue" {
				t.Fatalf("refused operation: %v", r)
			}
		}
		if d, _ := scimtest.At(res[1], "response.detail").(string); !strings.Contains(d, "timeTrackingAdmin") || !strings.Contains(d, "canViewRates") {
			t.Fatalf("conflict detail: %v", res[1])
		}
		if u := c.Get(t, "/Users/"+ids["ann"]).Expect(t, http.StatusOK); u.Str("title") != "Commander" {
			t.Fatalf("a refused PUT changed the user: %s", u.Raw)
		}
		if b := c.Get(t, "/Users/"+ids["bob"]).Expect(t, http.StatusOK); b.Str("title") != "Engineer" || b.At(enterpriseURN) != nil {
			t.Fatalf("PUT user: %s", b.Raw)
		}
	})

	step("Bulk DELETE", func(t *testing.T) {
		var ops []any
		for _, k := range []string{"team", "dept", "ann", "bob", "lander", "apollo"} {
			path := map[string]string{"team": "/Groups/", "dept": "/Groups/", "ann": "/Users/", "bob": "/Users/", "lander": "/Projects/", "apollo": "/Projects/"}[k] + ids[k]
			ops = append(ops, obj{"method": "DELETE", "path": path})
		}
		r := c.Post(t, "/Bulk", obj{"schemas": arr{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(t, http.StatusOK)
		for _, el := range r.At("Operations").([]any) {
			if scimtest.At(el, "status") != "204" {
				t.Fatalf("delete: %v", el)
			}
		}
		c.Get(t, "/Users/"+ids["ann"]).Expect(t, http.StatusNotFound)
	})
}
