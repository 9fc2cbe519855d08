// Package scimtest runs the SCIM server in tests: a real HTTP server
// (httptest) over a store on a real database, with an account and its
// token, and a small client that speaks SCIM JSON.
package scimtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// Env is a running server with one account.
type Env struct {
	Server  *httptest.Server
	Store   store.Store
	Account *store.Account
	Client  *Client
}

// New starts a server on a fresh database, with account "acme" (unlimited
// seats) and a token for it. options, if any, change the server's options
// (rate limits, say).
func New(t testing.TB, options ...func(*scim.Options)) *Env {
	t.Helper()
	return NewOn(t, storetest.New(t), options...)
}

// NewOn is New on a given store (a test of one store under the SCIM
// workload).
func NewOn(t testing.TB, st store.Store, options ...func(*scim.Options)) *Env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := scim.Options{Logger: log}
	for _, o := range options {
		o(&opts)
	}
	srv := scim.New(directory.New(st, log), opts)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e := &Env{Server: hs, Store: st}
	e.Account, e.Client = e.NewAccount(t, "acme", 0)
	return e
}

// NewAccount adds an account and returns it with a client using its token.
func (e *Env) NewAccount(t testing.TB, name string, seats int) (*store.Account, *Client) {
	t.Helper()
	ctx := context.Background()
	a, err := e.Store.CreateAccount(ctx, name, seats)
	if err != nil {
		t.Fatalf("create account: %v", err)
	}
	token, _, err := e.Store.CreateToken(ctx, a.ID, store.TokenSpec{Name: "test"})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	return a, &Client{Base: e.Server.URL + scim.Prefix, Token: token}
}

// Client sends SCIM requests.
type Client struct {
	Base  string // e.g. http://127.0.0.1:1234/scim/v2
	Token string
}

// Response is a SCIM response with its body decoded when it is JSON.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// Do sends a request. body is JSON-encoded unless it is a string or
// []byte; headers are "Name: value" pairs.
func (c *Client) Do(t testing.TB, method, path string, body any, headers ...string) *Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if !strings.HasPrefix(path, "http") {
		url = c.Base + path
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && raw[0] == '{' {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		_ = d.Decode(&r.Body)
	}
	return r
}

// Get, Post, Put, Patch and Delete are Do with a method.
func (c *Client) Get(t testing.TB, path string, headers ...string) *Response {
	t.Helper()
	return c.Do(t, http.MethodGet, path, nil, headers...)
}

func (c *Client) Post(t testing.TB, path string, body any, headers ...string) *Response {
	t.Helper()
	return c.Do(t, http.MethodPost, path, body, headers...)
}

func (c *Client) Put(t testing.TB, path string, body any, headers ...string) *Response {
	t.Helper()
	return c.Do(t, http.MethodPut, path, body, headers...)
}

func (c *Client) Patch(t testing.TB, path string, ops ...map[string]any) *Response {
	t.Helper()
	return c.Do(t, http.MethodPatch, path, PatchBody(ops...))
}

func (c *Client) Delete(t testing.TB, path string, headers ...string) *Response {
	t.Helper()
	return c.Do(t, http.MethodDelete, path, nil, headers...)
}

// PatchBody wraps operations in a PatchOp message.
func PatchBody(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, op := range ops {
		list[i] = op
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

// Op builds one PATCH operation; path may be empty.
func Op(op, path string, value any) map[string]any {
	m := map[string]any{"op": op}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// Expect fails the test unless the response has the status.
func (r *Response) Expect(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body: %s", r.Status, status, r.Raw)
	}
	return r
}

// Str returns a string at a dotted path of the body ("meta.version").
func (r *Response) Str(path string) string {
	s, _ := r.At(path).(string)
	return s
}

// At returns the value at a dotted path of the body; numeric segments
// index lists ("Resources.0.id"). Keys may contain dots when written whole
// (extension URNs are looked up before splitting).
func (r *Response) At(path string) any {
	return At(r.Body, path)
}

// At walks a decoded JSON value along a dotted path.
func At(v any, path string) any {
	for path != "" {
		m, isMap := v.(map[string]any)
		if isMap {
			// Try the longest key that prefixes the path (URNs hold dots).
			found := false
			for k, val := range m {
				if path == k || strings.HasPrefix(path, k+".") {
					v, path, found = val, strings.TrimPrefix(strings.TrimPrefix(path, k), "."), true
					break
				}
			}
			if !found {
				return nil
			}
			continue
		}
		l, isList := v.([]any)
		if !isList {
			return nil
		}
		seg, rest, _ := strings.Cut(path, ".")
		i := 0
		for _, c := range seg {
			if c < '0' || c > '9' {
				return nil
			}
			i = i*10 + int(c-'0')
		}
		if i >= len(l) {
			return nil
		}
		v, path = l[i], rest
	}
	return v
}

// UserBody returns a minimal User for POST.
func UserBody(userName string, extra ...map[string]any) map[string]any {
	m := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
	}
	for _, e := range extra {
		for k, v := range e {
			m[k] = v
		}
	}
	return m
}

// GroupBody returns a Group for POST with the given member ids.
func GroupBody(displayName string, memberIDs ...string) map[string]any {
	members := []any{}
	for _, id := range memberIDs {
		members = append(members, map[string]any{"value": id})
	}
	m := map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
		"displayName": displayName,
	}
	if len(members) > 0 {
		m["members"] = members
	}
	return m
}

// CreateUsers creates n users named prefix<i>@example.com through /Bulk
// (1,000 per request) and returns their ids in order.
func (c *Client) CreateUsers(t testing.TB, n int, prefix string) []string {
	t.Helper()
	var ids []string
	for start := 0; start < n; start += 1000 {
		var ops []any
		for i := start; i < min(start+1000, n); i++ {
			ops = append(ops, map[string]any{
				"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i),
				"data": UserBody(fmt.Sprintf("%s%d@example.com", prefix, i)),
			})
		}
		r := c.Post(t, "/Bulk", map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
			"Operations": ops,
		}).Expect(t, http.StatusOK)
		results, _ := r.At("Operations").([]any)
		for _, res := range results {
			m, _ := res.(map[string]any)
			if status, _ := m["status"].(string); status != "201" {
				t.Fatalf("bulk create: %v", m)
			}
			loc, _ := m["location"].(string)
			ids = append(ids, loc[strings.LastIndex(loc, "/")+1:])
		}
	}
	return ids
}

// HotRequest is one of the requests an identity provider repeats most.
type HotRequest struct {
	Name string
	Do   func()
}

// HotRequests makes a group of size members in the client's account (and
// users around it), and returns the requests an identity provider repeats
// most, in this order: Entra ID's create (a lookup by userName that finds
// nobody, then the POST), a page of 100 users, a GET of the group with its
// members, a PATCH of a user, adding one member to the group and deleting
// the group. The stores' tests count what each sends to the database
// (store/sqlite's TestStatements, store/mongodb's TestRoundTrips).
func HotRequests(t testing.TB, c *Client, size int) []HotRequest {
	t.Helper()
	users := c.CreateUsers(t, size+150, fmt.Sprintf("n%d-", size))
	group := c.Post(t, "/Groups", GroupBody("Big", users[:size]...)).Expect(t, http.StatusCreated).Str("id")
	outsider := users[size+100]
	newName := fmt.Sprintf("new%d@example.com", size)
	return []HotRequest{
		{"GET a user by userName, not found", func() {
			r := c.Get(t, "/Users?filter="+url.QueryEscape(`userName eq "`+newName+`"`)).Expect(t, http.StatusOK)
			if fmt.Sprint(r.At("totalResults")) != "0" {
				t.Fatalf("lookup of a new user: %s", r.Raw)
			}
		}},
		{"POST a user", func() {
			c.Post(t, "/Users", UserBody(newName, map[string]any{
				"externalId": "ext-" + newName, "active": true,
				"name":   map[string]any{"givenName": "Given", "familyName": "Family"},
				"emails": []any{map[string]any{"value": newName, "type": "work", "primary": true}},
			})).Expect(t, http.StatusCreated)
		}},
		{"GET a page of 100 users", func() {
			r := c.Get(t, "/Users?startIndex=1&count=100").Expect(t, http.StatusOK)
			if n := len(r.At("Resources").([]any)); n != 100 {
				t.Fatalf("page of %d users, want 100", n)
			}
		}},
		{"GET a group with its members", func() {
			r := c.Get(t, "/Groups/"+group).Expect(t, http.StatusOK)
			if n := len(r.At("members").([]any)); n != size {
				t.Fatalf("group of %d members, want %d", n, size)
			}
		}},
		{"PATCH a user", func() {
			c.Patch(t, "/Users/"+outsider,
				Op("replace", "name.givenName", "Babs"),
				Op("replace", "active", false),
			).Expect(t, http.StatusOK)
		}},
		{"PATCH a group: add one member", func() {
			c.Patch(t, "/Groups/"+group, Op("add", "members", []any{map[string]any{"value": users[size]}})).Expect(t, http.StatusNoContent)
		}},
		{"DELETE the group", func() {
			c.Delete(t, "/Groups/"+group).Expect(t, http.StatusNoContent)
		}},
	}
}

// CountHotRequests runs the requests start makes (HotRequests, perhaps
// with more) on a fresh server for each group size, and counts what each
// sends to the database: sent returns what the store was sent since it
// was last called. It fails when a request sends more than most[its
// name], the count when the test was written (more is a regression), or
// when its count changes with the group's size (nothing may be read or
// written per member or per row). It returns what each request sent at
// the last size, in order; unit names what is counted.
func CountHotRequests(t *testing.T, unit string, most map[string]int, sizes []int, start func(size int) (requests []HotRequest, sent func() []string)) [][]string {
	t.Helper()
	counts := map[string][]int{}
	var names []string
	var last [][]string
	for _, size := range sizes {
		requests, sent := start(size)
		sent()
		last = last[:0]
		names = names[:0]
		for _, r := range requests {
			r.Do()
			s := sent()
			counts[r.Name] = append(counts[r.Name], len(s))
			names, last = append(names, r.Name), append(last, s)
		}
	}
	for i, name := range names {
		c := counts[name]
		t.Logf("%s: %v %s at %v members:\n\t%s", name, c, unit, sizes, strings.Join(last[i], "\n\t"))
		if c[len(c)-1] > most[name] {
			t.Errorf("%s: %d %s, more than the %d it took when this test was written", name, c[len(c)-1], unit, most[name])
		}
		for k := range c {
			if c[k] != c[0] {
				t.Errorf("%s: %d %s with %d members, %d with %d: the count must not grow with the group", name, c[0], unit, sizes[0], c[k], sizes[k])
			}
		}
	}
	return last
}
