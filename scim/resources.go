package scim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// resourceHandler serves one resource type's endpoints.
type resourceHandler struct {
	s  *Server
	rt *schemas.ResourceType
}

// listParams are the query parameters of a list or search (RFC 7644 §3.4).
type listParams struct {
	filter     string
	sortBy     string
	descending bool
	startIndex int
	count      int
	attributes []string
	excluded   []string
}

func (h *resourceHandler) list(w http.ResponseWriter, r *http.Request) error {
	p, err := listParamsFromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	return h.respondList(w, r, p)
}

func (h *resourceHandler) search(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	p, err := listParamsFromSearch(body)
	if err != nil {
		return err
	}
	return h.respondList(w, r, p)
}

func (h *resourceHandler) respondList(w http.ResponseWriter, r *http.Request, p listParams) error {
	q := store.Query{SortBy: p.sortBy, Descending: p.descending, StartIndex: p.startIndex, Count: p.count}
	if p.filter != "" {
		expr, err := scimfilter.Parse(p.filter)
		if err != nil {
			return err
		}
		q.Filter = expr
	}
	page, err := h.s.dir.List(r.Context(), accountID(r.Context()), h.rt, q)
	if err != nil {
		return err
	}
	proj := newProjection(h.rt, p.attributes, p.excluded)
	if err := h.s.dir.Expand(r.Context(), page.Resources, proj.wants); err != nil {
		return err
	}
	resources := make([]any, 0, len(page.Resources))
	for _, res := range page.Resources {
		resources = append(resources, proj.apply(h.s.representation(r, res)))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{schemas.ListResponseURN},
		"totalResults": page.Total,
		"startIndex":   p.startIndex,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	})
	return nil
}

func (h *resourceHandler) get(w http.ResponseWriter, r *http.Request) error {
	res, err := h.s.dir.Get(r.Context(), accountID(r.Context()), h.rt, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && directory.VersionMatches(inm, res.Version) {
		w.Header().Set("ETag", directory.ETag(res.Version))
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return h.respond(w, r, res, http.StatusOK)
}

func (h *resourceHandler) create(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	res, err := h.s.dir.Create(r.Context(), accountID(r.Context()), h.rt, body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(h.s.base(r), h.rt, res.ID))
	return h.respond(w, r, res, http.StatusCreated)
}

func (h *resourceHandler) replace(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	res, err := h.s.dir.Replace(r.Context(), accountID(r.Context()), h.rt, mux.Vars(r)["id"], body, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	return h.respond(w, r, res, http.StatusOK)
}

func (h *resourceHandler) patch(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	ops, err := patchOperations(body)
	if err != nil {
		return err
	}
	res, err := h.s.dir.Patch(r.Context(), accountID(r.Context()), h.rt, mux.Vars(r)["id"], ops, r.Header.Get("If-Match"))
	if err != nil {
		return err
	}
	if h.rt == schemas.Group && touchesMembers(ops) && !h.projection(r).given() {
		// Returning the group would mean reading all its members, which for
		// a large group costs far more than the change; RFC 7644 §3.5.2
		// allows 204. Ask with ?attributes= or ?excludedAttributes= to get
		// the group back.
		w.Header().Set("ETag", directory.ETag(res.Version))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return h.respond(w, r, res, http.StatusOK)
}

func (h *resourceHandler) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.s.dir.Delete(r.Context(), accountID(r.Context()), h.rt, mux.Vars(r)["id"], r.Header.Get("If-Match")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *resourceHandler) projection(r *http.Request) projection {
	q := r.URL.Query()
	return newProjection(h.rt, splitList(q.Get("attributes")), splitList(q.Get("excludedAttributes")))
}

// respond writes one resource, with the request's attribute selection. A
// group's members are streamed from the store as they are read (see
// writeWithMembers), not expanded first.
func (h *resourceHandler) respond(w http.ResponseWriter, r *http.Request, res *store.Resource, status int) error {
	proj := h.projection(r)
	expand := h.s.dir.Expand
	if status == http.StatusCreated {
		expand = h.s.dir.ExpandNew
	}
	streamMembers := res.Type == schemas.Group && proj.wants("members")
	want := proj.wants
	if streamMembers {
		want = func(attr string) bool { return attr != "members" && proj.wants(attr) }
	}
	if err := expand(r.Context(), []*store.Resource{res}, want); err != nil {
		return err
	}
	w.Header().Set("ETag", directory.ETag(res.Version))
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok && r.Method != http.MethodGet {
		info.written = displayOf(res.Attributes)
	}
	body := proj.apply(h.s.representation(r, res))
	if streamMembers {
		h.s.writeWithMembers(w, r, status, body, res, proj)
		return nil
	}
	writeJSON(w, status, body)
	return nil
}

// touchesMembers reports whether PATCH operations change group members.
func touchesMembers(ops []directory.PatchOp) bool {
	for _, op := range ops {
		p := strings.ToLower(strings.TrimSpace(op.Path))
		if strings.HasPrefix(p, "members") {
			return true
		}
		if p == "" {
			if m, ok := op.Value.(map[string]any); ok {
				for k := range m {
					if strings.EqualFold(k, "members") {
						return true
					}
				}
			}
		}
	}
	return false
}

func listParamsFromQuery(q url.Values) (listParams, error) {
	p := listParams{
		filter:     q.Get("filter"),
		sortBy:     strings.TrimSpace(q.Get("sortBy")),
		attributes: splitList(q.Get("attributes")),
		excluded:   splitList(q.Get("excludedAttributes")),
	}
	var err error
	if p.startIndex, err = intParam(q.Get("startIndex"), "startIndex", 1); err != nil {
		return p, err
	}
	if p.count, err = intParam(q.Get("count"), "count", MaxResults); err != nil {
		return p, err
	}
	if p.descending, err = sortOrder(q.Get("sortOrder")); err != nil {
		return p, err
	}
	p.clamp()
	return p, nil
}

// clamp applies RFC 7644 §3.4.2.4: startIndex below 1 means 1, a negative
// count means 0, and no page is larger than MaxResults.
func (p *listParams) clamp() {
	p.startIndex = max(p.startIndex, 1)
	p.count = min(max(p.count, 0), MaxResults)
}

func intParam(s, name string, def int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, failure.InvalidValue("%s must be an integer, got %q", name, s)
	}
	return n, nil
}

func sortOrder(s string) (descending bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ascending":
		return false, nil
	case "descending":
		return true, nil
	}
	return false, failure.InvalidValue("sortOrder must be \"ascending\" or \"descending\", got %q", s)
}

// listParamsFromSearch reads a POST .search body (RFC 7644 §3.4.3).
func listParamsFromSearch(body map[string]any) (listParams, error) {
	p := listParams{startIndex: 1, count: MaxResults}
	if err := requireSchema(body, schemas.SearchRequestURN); err != nil {
		return p, err
	}
	for k, v := range body {
		var err error
		switch strings.ToLower(k) {
		case "filter":
			p.filter, err = stringField(k, v)
		case "sortby":
			p.sortBy, err = stringField(k, v)
		case "sortorder":
			var s string
			if s, err = stringField(k, v); err == nil {
				p.descending, err = sortOrder(s)
			}
		case "startindex":
			p.startIndex, err = intField(k, v)
		case "count":
			p.count, err = intField(k, v)
		case "attributes":
			p.attributes, err = listField(k, v)
		case "excludedattributes":
			p.excluded, err = listField(k, v)
		}
		if err != nil {
			return p, err
		}
	}
	p.clamp()
	return p, nil
}

func stringField(name string, v any) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", failure.InvalidValue("%s must be a string", name)
	}
	return strings.TrimSpace(s), nil
}

func intField(name string, v any) (int, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, failure.InvalidValue("%s must be an integer", name)
	}
	i, err := strconv.Atoi(n.String())
	if err != nil {
		return 0, failure.InvalidValue("%s must be an integer, got %s", name, n)
	}
	return i, nil
}

// listField reads a list of attribute names: a JSON array, or a
// comma-separated string as in the query form.
func listField(name string, v any) ([]string, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return splitList(x), nil
	case []any:
		var out []string
		for _, el := range x {
			s, ok := el.(string)
			if !ok {
				return nil, failure.InvalidValue("%s must list attribute names", name)
			}
			out = append(out, splitList(s)...)
		}
		return out, nil
	}
	return nil, failure.InvalidValue("%s must list attribute names", name)
}

// requireSchema checks that a message body names its message schema.
func requireSchema(body map[string]any, urn string) error {
	for k, v := range body {
		if !strings.EqualFold(k, "schemas") {
			continue
		}
		list, _ := v.([]any)
		for _, s := range list {
			if str, ok := s.(string); ok && strings.EqualFold(str, urn) {
				return nil
			}
		}
	}
	return failure.InvalidSyntax("the body must name its message schema: \"schemas\": [%q]", urn)
}

// patchOperations reads a PatchOp message (RFC 7644 §3.5.2).
func patchOperations(body map[string]any) ([]directory.PatchOp, error) {
	if err := requireSchema(body, schemas.PatchOpURN); err != nil {
		return nil, err
	}
	var raw any
	for k, v := range body {
		if strings.EqualFold(k, "Operations") {
			raw = v
		}
	}
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return nil, failure.InvalidValue("a PATCH needs \"Operations\": a list of {\"op\", \"path\", \"value\"}")
	}
	ops := make([]directory.PatchOp, 0, len(list))
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, failure.InvalidSyntax("Operations[%d] must be an object", i)
		}
		var op directory.PatchOp
		for k, v := range m {
			switch strings.ToLower(k) {
			case "op":
				op.Op, _ = v.(string)
			case "path":
				if v != nil {
					s, ok := v.(string)
					if !ok {
						return nil, failure.InvalidPath("Operations[%d].path must be a string", i)
					}
					op.Path = s
				}
			case "value":
				op.Value = v
			}
		}
		if op.Op == "" {
			return nil, failure.InvalidSyntax("Operations[%d] needs an \"op\": add, replace or remove", i)
		}
		ops = append(ops, op)
	}
	return ops, nil
}
