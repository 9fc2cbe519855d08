package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// Helpers for the replayed identity-provider flows (entra_test.go,
// okta_test.go): request bodies are JSON fixtures under testdata/ shaped as
// the identity provider sends them, with {{name}} placeholders for the ids
// and names an earlier step produced.

// vars fills the placeholders of a fixture.
type vars map[string]string

var placeholder = regexp.MustCompile(`\{\{(\w+)\}\}`)

// fixture reads testdata/<name> and fills its placeholders. Values are
// inserted JSON-escaped (placeholders sit inside JSON strings). It fails
// the test on an unknown placeholder or a body that is not JSON.
func fixture(t *testing.T, name string, v vars) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	var missing []string
	out := placeholder.ReplaceAllFunc(raw, func(m []byte) []byte {
		key := string(m[2 : len(m)-2])
		val, ok := v[key]
		if !ok {
			missing = append(missing, key)
			return m
		}
		esc, _ := json.Marshal(val)
		return esc[1 : len(esc)-1]
	})
	if len(missing) > 0 {
		t.Fatalf("fixture %s: no value for %v", name, missing)
	}
	if !json.Valid(out) {
		t.Fatalf("fixture %s is not valid JSON after filling in: %s", name, out)
	}
	return out
}

// idpClient sends requests the way one identity provider does: its
// Content-Type and Accept headers on every request.
type idpClient struct {
	c           *scimtest.Client
	contentType string
	accept      string
}

// do sends a request with a fixture body (name "" for none) and checks what
// every response must be: a JSON body is SCIM JSON with the SCIM media
// type, and an error has the SCIM error shape.
func (p idpClient) do(t *testing.T, method, path, name string, v vars, headers ...string) *scimtest.Response {
	t.Helper()
	var body any
	hs := []string{"Accept: " + p.accept}
	if name != "" {
		body = fixture(t, name, v)
		hs = append(hs, "Content-Type: "+p.contentType)
	}
	r := p.c.Do(t, method, path, body, append(hs, headers...)...)
	checkResponse(t, r)
	return r
}

// send is do with a body built in the test (one whose shape varies with
// the step, such as a group's full member list) rather than a fixture.
func (p idpClient) send(t *testing.T, method, path string, body any) *scimtest.Response {
	t.Helper()
	r := p.c.Do(t, method, path, body, "Accept: "+p.accept, "Content-Type: "+p.contentType)
	checkResponse(t, r)
	return r
}

func (p idpClient) get(t *testing.T, path string) *scimtest.Response {
	t.Helper()
	return p.do(t, http.MethodGet, path, "", nil)
}

// checkResponse checks the media type of a response with a body, and that
// 204 has none.
func checkResponse(t *testing.T, r *scimtest.Response) {
	t.Helper()
	if r.Status == http.StatusNoContent {
		if len(bytes.TrimSpace(r.Raw)) != 0 {
			t.Fatalf("204 with a body: %s", r.Raw)
		}
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Fatalf("Content-Type %q, want application/scim+json; status %d, body %s", ct, r.Status, r.Raw)
	}
	if r.Body == nil {
		t.Fatalf("status %d without a JSON object body: %q", r.Status, r.Raw)
	}
	if r.Status >= 400 {
		checkErrorBody(t, r, r.Status)
	}
}

// flow runs the steps of a replayed flow in order; a failed step stops the
// flow, since later steps use what it created.
func flow(t *testing.T) func(name string, step func(t *testing.T)) {
	return func(name string, step func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, step) {
			t.FailNow()
		}
	}
}

// expectEmptyList checks the answer to a query that matches nothing, as
// both identity providers expect it before a create: 200, a ListResponse
// with totalResults 0 and an empty (not missing, not null) Resources array.
func expectEmptyList(t *testing.T, r *scimtest.Response) {
	t.Helper()
	r.Expect(t, http.StatusOK)
	expectListShape(t, r)
	if n := num(r, "totalResults"); n != 0 {
		t.Fatalf("totalResults %d, want 0: %s", n, r.Raw)
	}
	if list, ok := r.Body["Resources"].([]any); !ok || len(list) != 0 {
		t.Fatalf("Resources must be an empty array: %s", r.Raw)
	}
	if n := num(r, "itemsPerPage"); n != 0 {
		t.Fatalf("itemsPerPage %d, want 0: %s", n, r.Raw)
	}
}

// expectListShape checks a ListResponse's envelope.
func expectListShape(t *testing.T, r *scimtest.Response) {
	t.Helper()
	if sch, _ := r.At("schemas").([]any); len(sch) != 1 || sch[0] != listURN {
		t.Fatalf("schemas %v, want [%s]", r.At("schemas"), listURN)
	}
	for _, k := range []string{"totalResults", "startIndex", "itemsPerPage"} {
		if num(r, k) < 0 {
			t.Fatalf("%s is not a number: %s", k, r.Raw)
		}
	}
	if _, ok := r.Body["Resources"].([]any); !ok {
		t.Fatalf("no Resources array: %s", r.Raw)
	}
}

// expectOne checks that a list response holds exactly the resource id and
// returns it.
func expectOne(t *testing.T, r *scimtest.Response, id string) obj {
	t.Helper()
	r.Expect(t, http.StatusOK)
	expectListShape(t, r)
	got := listIDs(t, r)
	if len(got) != 1 || got[0] != id || num(r, "totalResults") != 1 {
		t.Fatalf("want exactly %s, got %v: %s", id, got, r.Raw)
	}
	return resources(t, r)[0]
}

// expectCreated checks a 201 answer to a POST: the resource with an id, its
// Location header and version.
func expectCreated(t *testing.T, r *scimtest.Response, base, endpoint string) string {
	t.Helper()
	r.Expect(t, http.StatusCreated)
	id := r.Str("id")
	if id == "" {
		t.Fatalf("created without id: %s", r.Raw)
	}
	if loc := r.Header.Get("Location"); loc != base+endpoint+"/"+id || r.Str("meta.location") != loc {
		t.Fatalf("Location %q, meta.location %q, want %s", loc, r.Str("meta.location"), base+endpoint+"/"+id)
	}
	if r.Header.Get("ETag") == "" || r.Str("meta.version") != r.Header.Get("ETag") {
		t.Fatalf("ETag %q, meta.version %q", r.Header.Get("ETag"), r.Str("meta.version"))
	}
	return id
}

// noPassword fails when a response shows a password anywhere.
func noPassword(t *testing.T, r *scimtest.Response) {
	t.Helper()
	if strings.Contains(strings.ToLower(string(r.Raw)), "password") {
		t.Fatalf("a response shows the password: %s", r.Raw)
	}
}

// tc reads a TimeCamp extension attribute of a user.
func tc(r *scimtest.Response, attr string) any {
	return r.At(timecampUserURN + "." + attr)
}

// ent reads an enterprise extension attribute of a user.
func ent(r *scimtest.Response, attr string) any {
	return r.At(enterpriseURN + "." + attr)
}

// typed returns the values of a multi-valued attribute as "type:value"
// strings, sorted (sub names as in attr, e.g. "streetAddress").
func typed(v any, sub string) []string {
	var out []string
	list, _ := v.([]any)
	for _, el := range list {
		m, _ := el.(map[string]any)
		out = append(out, fmt.Sprintf("%v:%v", m["type"], m[sub]))
	}
	sort.Strings(out)
	return out
}

// same reports whether two string lists are equal (after sorting).
func same(got []string, want ...string) bool {
	return fmt.Sprint(sorted(got...)) == fmt.Sprint(sorted(want...))
}

// timecampGroupURN is the TimeCamp group extension.
const timecampGroupURN = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"

// startIdPServer starts the server a replayed identity-provider flow runs
// against: on a fresh database of the test MongoDB server when
// SCIM_TEST_STORE=mongodb, else on the embedded database.
func startIdPServer(t *testing.T) *server {
	t.Helper()
	if storetest.Kind() != "mongodb" {
		return startServer(t)
	}
	uri, err := storetest.URI()
	if err != nil {
		t.Fatalf("test MongoDB: %v", err)
	}
	return startServer(t, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
}
