package csvimport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SCIM message schemas and resource schemas the importer sends.
const (
	bulkRequestURN   = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	searchRequestURN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	patchOpURN       = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	userURN          = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupURN         = "urn:ietf:params:scim:schemas:core:2.0:Group"
	tcUserURN        = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User"
	tcGroupURN       = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"
)

// apiPrefix is where a timecamp-scim server mounts SCIM under its base URL.
const apiPrefix = "/scim/v2"

// Default Bulk limits, used when the server does not advertise its own;
// the importer never goes beyond 1,000 operations per request.
const (
	defaultMaxOperations = 1000
	defaultMaxPayload    = 4 << 20
	// pageSize is the most resources asked for per list page, and the most
	// addresses (or names) per search filter.
	pageSize = 1000
)

// client speaks SCIM to one server with one token.
type client struct {
	base       string // ends in /scim/v2
	token      string
	http       *http.Client
	maxOps     int
	maxPayload int
	requests   int // requests sent, for the summary
}

// apiBase turns the server's base URL (as in SCIM_BASE_URL) into the URL
// of its SCIM API; a URL that already ends in /scim/v2 is taken as is.
func apiBase(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url must be the server's base URL, such as https://scim.example.com (got %q)", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--url must not have a query or fragment (got %q)", raw)
	}
	u.User = nil
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(strings.ToLower(p), apiPrefix) {
		p += apiPrefix
	}
	u.Path, u.RawPath = p, ""
	return u.String(), nil
}

func newClient(rawURL, token string, hc *http.Client) (*client, error) {
	base, err := apiBase(rawURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("no SCIM token: set SCIM_TOKEN (or pass --token)")
	}
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 15 * time.Minute, // a Bulk request on a slow database
		}}
	}
	return &client{base: base, token: strings.TrimSpace(token), http: hc, maxOps: defaultMaxOperations, maxPayload: defaultMaxPayload}, nil
}

// apiError is a non-success answer of the server.
type apiError struct {
	Method, Path string
	Status       int
	Detail       string
}

func (e *apiError) Error() string {
	switch e.Status {
	case http.StatusUnauthorized:
		return "the server refused the SCIM token (401): check SCIM_TOKEN or --token"
	case http.StatusForbidden:
		if e.Detail == "" {
			return "the token may not do this (403)"
		}
	}
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// do sends a request with a JSON body (raw bytes are sent as they are) and
// decodes a JSON answer into out.
func (c *client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return err
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/scim+json, application/json")
	req.Header.Set("User-Agent", "timecamp-scim-import")
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	c.requests++
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The error names the URL, never the token.
		return fmt.Errorf("cannot reach the SCIM server: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode}
		var body struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(raw, &body) == nil {
			e.Detail = body.Detail
		}
		if resp.StatusCode == http.StatusNotFound && e.Detail == "" {
			e.Detail = "no SCIM API here; --url must be the server's base URL (the importer adds " + apiPrefix + ")"
		}
		return e
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: the answer is not SCIM JSON (is --url a timecamp-scim server?): %v", method, path, err)
	}
	return nil
}

// discover checks the URL and token and reads the server's Bulk limits.
func (c *client) discover(ctx context.Context) error {
	var spc map[string]any
	if err := c.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, &spc); err != nil {
		return err
	}
	bulk, _ := lookup(spc, "bulk").(map[string]any)
	if supported, _ := lookup(bulk, "supported").(bool); !supported {
		return fmt.Errorf("the server at %s does not support SCIM Bulk, which the importer needs", c.base)
	}
	if n := number(lookup(bulk, "maxOperations")); n > 0 && n < c.maxOps {
		c.maxOps = n
	}
	if n := number(lookup(bulk, "maxPayloadSize")); n > 0 && n < c.maxPayload {
		c.maxPayload = n
	}
	return nil
}

// search returns every resource of an endpoint that matches a filter,
// page by page.
func (c *client) search(ctx context.Context, endpoint, filter string, attributes, excluded []string) ([]map[string]any, error) {
	var all []map[string]any
	for start := 1; ; {
		body := map[string]any{"schemas": []string{searchRequestURN}, "filter": filter, "startIndex": start, "count": pageSize}
		if len(attributes) > 0 {
			body["attributes"] = attributes
		}
		if len(excluded) > 0 {
			body["excludedAttributes"] = excluded
		}
		var page struct {
			TotalResults json.Number      `json:"totalResults"`
			Resources    []map[string]any `json:"Resources"`
		}
		if err := c.do(ctx, http.MethodPost, endpoint+"/.search", body, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Resources...)
		total, _ := strconv.Atoi(page.TotalResults.String())
		if len(page.Resources) == 0 || len(all) >= total {
			return all, nil
		}
		start += len(page.Resources)
	}
}

// bulkOp is one operation of a Bulk request.
type bulkOp struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	BulkID string `json:"bulkId,omitempty"`
	Data   any    `json:"data,omitempty"`
}

// bulkResult is the server's answer to one operation.
type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId"`
	Location string          `json:"location"`
	Status   json.RawMessage `json:"status"`
	Response *struct {
		Detail string `json:"detail"`
	} `json:"response"`
}

// status reads the status, a string in RFC 7644 but a number for some
// servers.
func (r *bulkResult) status() int {
	s := strings.Trim(string(r.Status), `"`)
	n, _ := strconv.Atoi(s)
	return n
}

func (r *bulkResult) ok() bool { return r.status() >= 200 && r.status() <= 299 }

// id is the id of the resource the operation created or changed: the last
// segment of its location.
func (r *bulkResult) id() string {
	loc := strings.TrimRight(r.Location, "/")
	return loc[strings.LastIndex(loc, "/")+1:]
}

func (r *bulkResult) detail() string {
	if r.Response != nil && r.Response.Detail != "" {
		return r.Response.Detail
	}
	return fmt.Sprintf("status %d", r.status())
}

// encodedOp is an operation ready to send, with what it is for.
type encodedOp[T any] struct {
	raw    []byte
	bulkID string
	of     T
}

// batches splits operations into Bulk requests within the server's limits
// (operations and payload); ops too large on their own are an error.
func batches[T any](c *client, ops []encodedOp[T]) ([][]encodedOp[T], error) {
	const envelope = 256 // {"schemas":[...],"Operations":[ ... ]}
	var out [][]encodedOp[T]
	var cur []encodedOp[T]
	size := envelope
	for _, op := range ops {
		if envelope+len(op.raw)+1 > c.maxPayload {
			return nil, fmt.Errorf("one Bulk operation is %d bytes, more than the server's maxPayloadSize (%d)", len(op.raw), c.maxPayload)
		}
		if len(cur) > 0 && (len(cur) == c.maxOps || size+len(op.raw)+1 > c.maxPayload) {
			out = append(out, cur)
			cur, size = nil, envelope
		}
		cur = append(cur, op)
		size += len(op.raw) + 1
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

func encodeOp[T any](op bulkOp, of T) (encodedOp[T], error) {
	raw, err := json.Marshal(op)
	return encodedOp[T]{raw: raw, bulkID: op.BulkID, of: of}, err
}

// bulk sends one Bulk request (without failOnErrors: every operation runs)
// and returns the results in the order of the operations.
func bulk[T any](ctx context.Context, c *client, ops []encodedOp[T]) ([]bulkResult, error) {
	var b bytes.Buffer
	b.WriteString(`{"schemas":["` + bulkRequestURN + `"],"Operations":[`)
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(op.raw)
	}
	b.WriteString("]}")
	var resp struct {
		Operations []bulkResult `json:"Operations"`
	}
	if err := c.do(ctx, http.MethodPost, "/Bulk", b.Bytes(), &resp); err != nil {
		return nil, err
	}
	if len(resp.Operations) != len(ops) {
		return nil, fmt.Errorf("POST /Bulk: the server answered %d results for %d operations", len(resp.Operations), len(ops))
	}
	// Results come in the order of the operations; a server that orders
	// them otherwise still names each POST's bulkId.
	byBulkID := map[string]bulkResult{}
	inOrder := true
	for i, r := range resp.Operations {
		byBulkID[r.BulkID] = r
		if ops[i].bulkID != "" && r.BulkID != ops[i].bulkID {
			inOrder = false
		}
	}
	if inOrder {
		return resp.Operations, nil
	}
	out := make([]bulkResult, len(ops))
	for i, op := range ops {
		r, ok := byBulkID[op.bulkID]
		if op.bulkID == "" || !ok {
			return nil, errors.New("POST /Bulk: the results do not match the operations")
		}
		out[i] = r
	}
	return out, nil
}

// lookup reads a key of a JSON object without regard to case (SCIM
// attribute names are case-insensitive).
func lookup(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func number(v any) int {
	switch x := v.(type) {
	case json.Number:
		n, _ := strconv.Atoi(x.String())
		return n
	case float64:
		return int(x)
	}
	return 0
}

func text(v any) string {
	s, _ := v.(string)
	return s
}

// refID reads the id a reference attribute holds: {"value": id, "$ref":
// …} (a plain id from servers before references carried $ref).
func refID(v any) string {
	if m, ok := v.(map[string]any); ok {
		return text(lookup(m, "value"))
	}
	return text(v)
}

// quote writes a string as a SCIM filter literal (a JSON string).
func quote(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

// maxFilterBytes keeps each search filter within the server's limit on a
// filter's length (256 KiB), with room to spare.
const maxFilterBytes = 200 << 10

// eqFilters returns filters "attr eq v1 or attr eq v2 or …" that together
// look up every value, each with at most perFilter terms and
// maxFilterBytes bytes.
func eqFilters(attr string, values []string, perFilter int) []string {
	var filters []string
	var b strings.Builder
	n := 0
	for _, v := range values {
		term := attr + " eq " + quote(v)
		if n > 0 && (n == perFilter || b.Len()+len(" or ")+len(term) > maxFilterBytes) {
			filters = append(filters, b.String())
			b.Reset()
			n = 0
		}
		if n > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(term)
		n++
	}
	if n > 0 {
		filters = append(filters, b.String())
	}
	return filters
}
