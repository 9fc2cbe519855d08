package scim

// The activity log, as the SCIM API feeds it: every change a client made
// (which token, which resource, which operation, the names of the
// attributes it set — never their values) and every request the server
// refused, with the error detail the client got. The admin console shows
// it; it is where an administrator looks first when Entra ID or Okta
// reports a provisioning failure.
//
// It is a middleware behind authentication, so only requests whose
// account is known are recorded (a request with a wrong token belongs to
// no account). What it needs from the handlers is in the request's
// requestInfo: the token, and the decoded body (decodeObject keeps it).

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// ActivityFunc receives the activity entries of a request once it was
// answered (Options.Activity).
type ActivityFunc func(ctx context.Context, entries []*store.ActivityEntry)

// maxCapturedResponse bounds how much of a response the recorder keeps to
// read error details, created ids and names from (a Bulk response of
// 1,000 operations fits).
const maxCapturedResponse = 1 << 20

// tokenUseInterval is how often a token's last use is written at most.
const tokenUseInterval = time.Minute

// actorKey carries the actor of a request served in process (see
// InProcessClient), which has no token.
type actorKey struct{}

func (s *Server) recordActivity(next http.Handler) http.Handler {
	if s.activity == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
		rec := &capture{ResponseWriter: w, status: http.StatusOK, keep: r.Method != http.MethodGet && r.Method != http.MethodHead, info: info}
		next.ServeHTTP(rec, r)
		account := accountID(r.Context())
		if account == "" || info == nil {
			return
		}
		actor, ok := r.Context().Value(actorKey{}).(store.Actor)
		if !ok && info.token != nil {
			actor = store.Actor{Kind: store.ActorToken, ID: info.token.ID, Name: info.token.Name}
		}
		entries := activityOf(r, info, rec)
		for _, e := range entries {
			e.Account, e.Actor, e.RequestID = account, actor, info.id
		}
		if len(entries) > 0 {
			s.activity(context.WithoutCancel(r.Context()), entries)
		}
	})
}

// noteTokenUse records a token's use, at most once per tokenUseInterval.
func (s *Server) noteTokenUse(ctx context.Context, t *store.Token) {
	now := time.Now()
	if now.Sub(t.LastUsed) < tokenUseInterval {
		return
	}
	if err := s.store.TouchToken(ctx, t.Account, t.ID, now); err != nil {
		s.log.WarnContext(ctx, "could not record a token's use", "token", t.ID, "error", err)
	}
}

// capture passes a response on and keeps a copy of its body (up to
// maxCapturedResponse) when it is an error, or answers a write whose
// handler did not name the resource it wrote (requestInfo.written).
type capture struct {
	http.ResponseWriter
	status    int
	keep      bool
	info      *requestInfo
	body      bytes.Buffer
	truncated bool
}

func (c *capture) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status >= 400 || c.keep && (c.info == nil || c.info.written == "") {
		if c.body.Len()+len(b) <= maxCapturedResponse {
			c.body.Write(b)
		} else {
			c.truncated = true
		}
	}
	return c.ResponseWriter.Write(b)
}

// responseObject decodes the captured response (nil when it was cut or is
// not a JSON object).
func (c *capture) responseObject() map[string]any {
	if c.truncated || c.body.Len() == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(c.body.Bytes(), &m) != nil {
		return nil
	}
	return m
}

// activityOf turns an answered request into entries: one per change or
// refusal (a Bulk request gives one per operation), none for a successful
// read.
func activityOf(r *http.Request, info *requestInfo, c *capture) []*store.ActivityEntry {
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	refused := c.status >= 400
	resp := c.responseObject() // nil when nothing was kept
	if path == "/Bulk" && r.Method == http.MethodPost && !refused {
		return bulkActivity(info.body, resp)
	}
	write := r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete
	if strings.HasSuffix(path, "/.search") {
		write = false
	}
	if !write && !refused {
		return nil
	}
	e := &store.ActivityEntry{Method: r.Method, Path: Prefix + path, Status: c.status, Outcome: store.OutcomeOK}
	rt, id := resourceOfPath(path)
	e.ResourceID = id
	if rt != nil {
		e.ResourceType = rt.Name
	}
	e.Operation = operationOf(r.Method, path)
	if write {
		e.Attributes = changedAttributes(r.Method, info.body)
		e.Resource = displayOf(info.body)
	}
	if refused {
		e.Outcome, e.Detail = store.OutcomeRefused, detailOf(resp, c.status)
	} else {
		if e.ResourceID == "" {
			e.ResourceID = idFromLocation(c.Header().Get("Location"))
		}
		if e.Resource == "" {
			e.Resource = info.written
		}
		if e.Resource == "" {
			e.Resource = displayOf(resp)
		}
	}
	return []*store.ActivityEntry{e}
}

// bulkActivity gives an entry per operation of a Bulk request, with the
// operation's own outcome.
func bulkActivity(body, resp map[string]any) []*store.ActivityEntry {
	ops := listAt(body, "Operations")
	results := listAt(resp, "Operations")
	var out []*store.ActivityEntry
	for i, el := range ops {
		op, _ := el.(map[string]any)
		method := strings.ToUpper(str(valueAt(op, "method")))
		path := "/" + strings.Trim(strings.TrimPrefix(str(valueAt(op, "path")), Prefix), "/")
		data, _ := valueAt(op, "data").(map[string]any)
		e := &store.ActivityEntry{
			Method: method, Path: Prefix + "/Bulk", Operation: "bulk " + operationOf(method, path),
			Attributes: changedAttributes(method, data), Resource: displayOf(data), Outcome: store.OutcomeOK,
		}
		rt, id := resourceOfPath(path)
		if rt != nil {
			e.ResourceType = rt.Name
		}
		if !strings.HasPrefix(id, bulkRef) {
			e.ResourceID = id
		}
		if i < len(results) {
			res, _ := results[i].(map[string]any)
			e.Status, _ = strconv.Atoi(str(valueAt(res, "status")))
			if e.ResourceID == "" {
				e.ResourceID = idFromLocation(str(valueAt(res, "location")))
			}
			if e.Status >= 400 {
				detail, _ := valueAt(res, "response").(map[string]any)
				e.Outcome, e.Detail = store.OutcomeRefused, detailOf(detail, e.Status)
			}
		}
		out = append(out, e)
	}
	return out
}

// resourceOfPath reads the resource type and id from an API path such as
// /Users/123 (nil and "" when it names none).
func resourceOfPath(path string) (*schemas.ResourceType, string) {
	endpoint, id, _ := strings.Cut(strings.Trim(path, "/"), "/")
	for _, rt := range schemas.ResourceTypes() {
		if strings.EqualFold("/"+endpoint, rt.Endpoint) {
			if id == ".search" {
				id = ""
			}
			return rt, id
		}
	}
	return nil, ""
}

func operationOf(method, path string) string {
	switch {
	case strings.HasSuffix(path, "/.search"):
		return "search"
	case method == http.MethodPost:
		return "create"
	case method == http.MethodPut:
		return "replace"
	case method == http.MethodPatch:
		return "patch"
	case method == http.MethodDelete:
		return "delete"
	}
	return "read"
}

// changedAttributes lists the names of the attributes a write sets or
// removes, never their values: the top-level keys of a POST or PUT body
// (an extension's attributes by their own names), the paths of PATCH
// operations without their value filters.
func changedAttributes(method string, body map[string]any) []string {
	names := map[string]bool{}
	addKeys := func(m map[string]any) {
		for k, v := range m {
			switch lk := strings.ToLower(k); {
			case lk == "schemas" || lk == "id" || lk == "meta":
			case strings.HasPrefix(lk, "urn:"):
				if ext, ok := v.(map[string]any); ok {
					for ek := range ext {
						names[ek] = true
					}
				}
			default:
				names[k] = true
			}
		}
	}
	switch method {
	case http.MethodPost, http.MethodPut:
		addKeys(body)
	case http.MethodPatch:
		for _, el := range listAt(body, "Operations") {
			op, _ := el.(map[string]any)
			if p := str(valueAt(op, "path")); p != "" {
				names[attributeOfPath(p)] = true
			} else if v, ok := valueAt(op, "value").(map[string]any); ok {
				addKeys(v)
			}
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// attributeOfPath shortens a PATCH path to an attribute name: without a
// value filter (which may hold values) and without an extension's URN
// (emails[type eq "work"].value → emails.value; …:2.0:User:role → role).
func attributeOfPath(p string) string {
	var b strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	s := strings.TrimSpace(b.String())
	if strings.HasPrefix(strings.ToLower(s), "urn:") {
		// The attribute follows the schema URN's last colon (its version
		// has dots, never colons after it).
		if i := strings.LastIndex(s, ":"); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}

// displayOf is a resource's name in a body or response: its userName or
// displayName.
func displayOf(m map[string]any) string {
	for _, k := range []string{"userName", "displayName"} {
		if s := str(valueAt(m, k)); s != "" {
			return s
		}
	}
	return ""
}

// detailOf is the detail of a SCIM error body, or the status text.
func detailOf(m map[string]any, status int) string {
	if d := str(valueAt(m, "detail")); d != "" {
		return d
	}
	return http.StatusText(status)
}

func idFromLocation(loc string) string {
	if loc == "" {
		return ""
	}
	if u, err := url.Parse(loc); err == nil {
		loc = u.Path
	}
	return loc[strings.LastIndex(loc, "/")+1:]
}

// valueAt reads an object's member by name in any letter case.
func valueAt(m map[string]any, name string) any {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func listAt(m map[string]any, name string) []any {
	l, _ := valueAt(m, name).([]any)
	return l
}
