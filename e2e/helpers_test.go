package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// SCIM URNs the tests send and expect.
const (
	userURN         = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupURN        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseURN   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	timecampUserURN = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User"
	errorURN        = "urn:ietf:params:scim:api:messages:2.0:Error"
	listURN         = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	searchURN       = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// obj is a JSON object literal.
type obj = map[string]any

// arr is a JSON array literal.
type arr = []any

// query builds "?k=v&..." from pairs, escaping values.
func query(pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return "?" + v.Encode()
}

// filterPath is the list path of an endpoint with a filter.
func filterPath(endpoint, filter string, more ...string) string {
	return endpoint + query(append([]string{"filter", filter}, more...)...)
}

// resources returns the Resources of a list response.
func resources(t *testing.T, r *scimtest.Response) []obj {
	t.Helper()
	raw, ok := r.Body["Resources"].([]any)
	if !ok {
		t.Fatalf("list response without a Resources array: %s", r.Raw)
	}
	out := make([]obj, len(raw))
	for i, el := range raw {
		m, ok := el.(map[string]any)
		if !ok {
			t.Fatalf("Resources[%d] is not an object: %s", i, r.Raw)
		}
		out[i] = m
	}
	return out
}

// listIDs returns the ids of a list response's resources, in order.
func listIDs(t *testing.T, r *scimtest.Response) []string {
	t.Helper()
	var ids []string
	for _, res := range resources(t, r) {
		id, _ := res["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// num returns a JSON number at a path as an int (-1 when absent or not a number).
func num(r *scimtest.Response, path string) int {
	switch n := r.At(path).(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return -1
		}
		return int(i)
	case float64:
		return int(n)
	}
	return -1
}

// names maps ids to readable names for failure messages.
type names map[string]string

func (n names) of(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if s, ok := n[id]; ok {
			out[i] = s
		} else {
			out[i] = id
		}
	}
	return out
}

// expectSet checks that a list response holds exactly the ids (any order),
// with a consistent totalResults and itemsPerPage.
func expectSet(t *testing.T, n names, r *scimtest.Response, want ...string) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d, want 200; body: %s", r.Status, r.Raw)
	}
	got := n.of(listIDs(t, r))
	w := n.of(want)
	sort.Strings(got)
	sort.Strings(w)
	if len(got) == 0 && len(w) == 0 {
		got, w = nil, nil
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("got %v, want %v", got, w)
	}
	if tr := num(r, "totalResults"); tr != len(want) {
		t.Fatalf("totalResults %d, want %d; body: %s", tr, len(want), r.Raw)
	}
	if ipp := num(r, "itemsPerPage"); ipp != len(want) {
		t.Fatalf("itemsPerPage %d, want %d", ipp, len(want))
	}
}

// expectOrder checks that a list response holds exactly the ids in order.
func expectOrder(t *testing.T, n names, r *scimtest.Response, want ...string) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d, want 200; body: %s", r.Status, r.Raw)
	}
	got := n.of(listIDs(t, r))
	w := n.of(want)
	if len(got) == 0 && len(w) == 0 {
		return
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("order %v, want %v", got, w)
	}
}

// expectError checks a SCIM error response (RFC 7644 §3.12): the status,
// the status repeated as a string in the body, the error schema, the
// scimType (when want is not empty) and a detail.
func expectError(t *testing.T, r *scimtest.Response, status int, scimType string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Raw)
	}
	checkErrorBody(t, r, status)
	if scimType != "" && r.Str("scimType") != scimType {
		t.Fatalf("scimType %q, want %q; body: %s", r.Str("scimType"), scimType, r.Raw)
	}
}

func checkErrorBody(t *testing.T, r *scimtest.Response, status int) {
	t.Helper()
	if r.Body == nil {
		t.Fatalf("error %d without a JSON body: %q", r.Status, r.Raw)
	}
	if s, ok := r.Body["status"].(string); !ok || s != fmt.Sprint(status) {
		t.Fatalf("error body status %#v, want the string %q; body: %s", r.Body["status"], fmt.Sprint(status), r.Raw)
	}
	sch, _ := r.Body["schemas"].([]any)
	if len(sch) != 1 || sch[0] != errorURN {
		t.Fatalf("error body schemas %v, want [%s]", r.Body["schemas"], errorURN)
	}
	if strings.TrimSpace(r.Str("detail")) == "" {
		t.Fatalf("error body without a detail: %s", r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Fatalf("error Content-Type %q", ct)
	}
	checkNoInternals(t, r)
}

// checkNoInternals fails when a response body shows Go or database internals.
func checkNoInternals(t *testing.T, r *scimtest.Response) {
	t.Helper()
	low := strings.ToLower(string(r.Raw))
	for _, bad := range []string{"mongo", "bson", "ferret", "sqlite", "goroutine", "panic", ".go:", "runtime error", "nil pointer", "e11000", "duplicate key"} {
		if strings.Contains(low, bad) {
			t.Fatalf("response shows internals (%q): %s", bad, r.Raw)
		}
	}
}

// createUser POSTs a user and returns its id.
func createUser(t *testing.T, c *scimtest.Client, userName string, extra ...obj) string {
	t.Helper()
	r := c.Post(t, "/Users", scimtest.UserBody(userName, extra...)).Expect(t, 201)
	id := r.Str("id")
	if id == "" {
		t.Fatalf("created user without id: %s", r.Raw)
	}
	return id
}

// createGroup POSTs a group and returns its id.
func createGroup(t *testing.T, c *scimtest.Client, displayName string, members ...string) string {
	t.Helper()
	r := c.Post(t, "/Groups", scimtest.GroupBody(displayName, members...)).Expect(t, 201)
	id := r.Str("id")
	if id == "" {
		t.Fatalf("created group without id: %s", r.Raw)
	}
	return id
}

// memberIDs returns the "value"s of a multi-valued reference attribute
// (members, groups), sorted.
func memberIDs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			if s, ok := m["value"].(string); ok {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

// newAccount creates another account with a token through the management
// commands and returns a client for it.
func (s *server) newAccount(t *testing.T, name string) *scimtest.Client {
	t.Helper()
	out, err := s.run("accounts", "create", "--name", name)
	if err != nil {
		t.Fatalf("accounts create: %v", err)
	}
	token, err := s.run("tokens", "create", "--account", strings.TrimSpace(out), "--name", "e2e")
	if err != nil {
		t.Fatalf("tokens create: %v", err)
	}
	return &scimtest.Client{Base: s.Client.Base, Token: strings.TrimSpace(token)}
}

// emailsOf returns a user's emails as "type:value[*]" strings (* marks the
// primary), sorted.
func emailsOf(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, el := range list {
		m, _ := el.(map[string]any)
		s := fmt.Sprintf("%v:%v", m["type"], m["value"])
		if m["primary"] == true {
			s += "*"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
