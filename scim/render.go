package scim

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/jsonvalue"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// representation renders a stored resource as its full SCIM JSON. The
// result shares the attribute values below the top level with res (a
// resource read for this request, rendered once): they are not copied,
// and projection.apply copies those it changes.
func (s *Server) representation(r *http.Request, res *store.Resource) map[string]any {
	rt := res.Type
	base := s.base(r)
	out := make(map[string]any, len(res.Attributes)+3)
	for k, v := range res.Attributes {
		out[k] = v
	}
	ids := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := out[e.Schema.ID]; ok {
			ids = append(ids, e.Schema.ID)
		}
	}
	out[schemas.AttrSchemas] = ids
	out[schemas.AttrID] = res.ID
	out[schemas.AttrMeta] = map[string]any{
		"resourceType": rt.Name,
		"created":      schemas.FormatTime(res.Created),
		"lastModified": schemas.FormatTime(res.Modified),
		"location":     location(base, rt, res.ID),
		"version":      directory.ETag(res.Version),
	}
	return out
}

func location(base string, rt *schemas.ResourceType, id string) string {
	return base + rt.Endpoint + "/" + id
}

// writeWithMembers writes a group's representation (body, without its
// members) followed by its members, read from the store in batches as
// they are written: a group of 100,000 members is never held whole, as
// values or as text. Each member is written as Expand makes
// one for a list of groups: value, display (when the user has a name),
// type and $ref, less what the request's attribute selection leaves out.
//
// The status is sent before the members are read: a database failure
// half-way can no longer become an error response, so the connection is
// cut (http.ErrAbortHandler) and the client sees a truncated response,
// never one that looks complete.
func (s *Server) writeWithMembers(w http.ResponseWriter, r *http.Request, status int, body map[string]any, res *store.Resource, proj projection) {
	fields := memberFieldsOf(proj)
	// "$ref" is the users' location followed by the id (directory.RefPrefix):
	// the location is escaped once, without its closing quote.
	var refPrefix []byte
	if p := directory.RefPrefix(r.Context(), schemas.User); p == "" {
		fields.ref = false
	} else {
		refPrefix = jsonvalue.AppendString(nil, p)
		refPrefix = refPrefix[:len(refPrefix)-1]
	}
	buf, _ := jsonvalue.Append(make([]byte, 0, 64<<10), body, jsonvalue.Options{}) // an object: ends with '}'
	buf = buf[:len(buf)-1]
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	n := 0
	err := s.dir.EachMember(r.Context(), res.Account, res.ID, func(id, display string) error {
		if n == 0 {
			buf = append(buf, `,"members":[`...)
		} else {
			buf = append(buf, ',')
		}
		n++
		buf = fields.appendMember(buf, refPrefix, id, display)
		if len(buf) >= 64<<10 {
			if _, err := w.Write(buf); err != nil {
				return errClientGone
			}
			buf = buf[:0]
		}
		return nil
	})
	if err != nil {
		if err != errClientGone {
			s.log.ErrorContext(r.Context(), "reading a group's members while writing them; the response is cut", "group", res.ID, "error", err)
		}
		panic(http.ErrAbortHandler)
	}
	if n > 0 {
		buf = append(buf, ']')
	}
	_, _ = w.Write(append(buf, "}\n"...))
}

// errClientGone stops reading members for a client that no longer reads.
var errClientGone = errors.New("the client went away")

// memberFields are the sub-attributes of a group's members a request
// selected (RFC 7644 §3.9: "members.display" in attributes or
// excludedAttributes).
type memberFields struct{ ref, display, typ, value bool }

func memberFieldsOf(p projection) memberFields {
	wants := func(sub string) bool {
		if len(p.include) > 0 {
			for _, a := range p.include {
				if a.Is("members") && (a.Sub == nil || a.Sub.Name() == sub) {
					return true
				}
			}
			return false
		}
		for _, a := range p.exclude {
			if a.Is("members") && a.Sub != nil && a.Sub.Name() == sub {
				return false
			}
		}
		return true
	}
	return memberFields{ref: wants("$ref"), display: wants("display"), typ: wants("type"), value: wants("value")}
}

// appendMember writes one member, its keys sorted as jsonvalue writes a
// map's (the form of members in a list of groups).
func (f memberFields) appendMember(b, refPrefix []byte, id, display string) []byte {
	b = append(b, '{')
	comma := false
	field := func(key string) {
		if comma {
			b = append(b, ',')
		}
		comma = true
		b = append(b, key...)
	}
	if f.ref {
		field(`"$ref":`)
		b = append(b, refPrefix...)
		start := len(b)
		b = jsonvalue.AppendString(b, url.PathEscape(id))
		b = append(b[:start], b[start+1:]...) // drop the id's opening quote
	}
	if f.display && display != "" {
		field(`"display":`)
		b = jsonvalue.AppendString(b, display)
	}
	if f.typ {
		field(`"type":"User"`)
	}
	if f.value {
		field(`"value":`)
		b = jsonvalue.AppendString(b, id)
	}
	return append(b, '}')
}

// projection is the attribute selection of a request (RFC 7644 §3.9):
// "attributes" lists what to return (with the always-returned ones), or
// "excludedAttributes" what to leave out. Unknown names are ignored.
type projection struct {
	include []schemas.Attr
	exclude []schemas.Attr
}

func newProjection(rt *schemas.ResourceType, attributes, excluded []string) projection {
	var p projection
	for _, name := range attributes {
		if a, err := rt.ResolveString(name); err == nil {
			p.include = append(p.include, a)
		}
	}
	if len(p.include) > 0 {
		return p
	}
	for _, name := range excluded {
		if a, err := rt.ResolveString(name); err == nil {
			p.exclude = append(p.exclude, a)
		}
	}
	return p
}

// given reports whether the request selected attributes at all.
func (p projection) given() bool { return len(p.include) > 0 || len(p.exclude) > 0 }

// wants reports whether a top-level core attribute will be returned, so
// that computed attributes are only computed when needed.
func (p projection) wants(name string) bool {
	if len(p.include) > 0 {
		for _, a := range p.include {
			if a.Is(name) {
				return true
			}
		}
		return false
	}
	for _, a := range p.exclude {
		if a.Is(name) && a.Sub == nil {
			return false
		}
	}
	return true
}

// apply selects attributes from a full representation.
func (p projection) apply(full map[string]any) map[string]any {
	if len(p.include) > 0 {
		out := map[string]any{schemas.AttrSchemas: full[schemas.AttrSchemas], schemas.AttrID: full[schemas.AttrID]}
		for _, a := range p.include {
			copyPath(full, out, a)
		}
		return out
	}
	for _, a := range p.exclude {
		if a.Is(schemas.AttrID) || a.Is(schemas.AttrSchemas) || (a.Sub == nil && a.Def.Returned() == "always") {
			continue // returned always (RFC 7643 §7), whatever excludedAttributes says
		}
		removePath(full, a)
	}
	return full
}

func copyPath(src, dst map[string]any, a schemas.Attr) {
	if a.WholeExtension {
		if v, ok := src[a.Ext.Schema.ID]; ok {
			dst[a.Ext.Schema.ID] = v
		}
		return
	}
	sc := a.Container(src, false)
	if sc == nil {
		return
	}
	v, ok := sc[a.Def.Name()]
	if !ok {
		return
	}
	dc := a.Container(dst, true)
	if a.Sub == nil {
		dc[a.Def.Name()] = v
		return
	}
	sub := a.Sub.Name()
	switch x := v.(type) {
	case map[string]any:
		if sv, ok := x[sub]; ok {
			m, _ := dc[a.Def.Name()].(map[string]any)
			if m == nil {
				m = map[string]any{}
				dc[a.Def.Name()] = m
			}
			m[sub] = sv
		}
	case []any:
		existing, _ := dc[a.Def.Name()].([]any)
		out := make([]any, len(x))
		for i, el := range x {
			m := map[string]any{}
			if i < len(existing) {
				if em, ok := existing[i].(map[string]any); ok {
					m = em
				}
			}
			if em, ok := el.(map[string]any); ok {
				if sv, ok := em[sub]; ok {
					m[sub] = sv
				}
			}
			out[i] = m
		}
		dc[a.Def.Name()] = out
	}
}

func removePath(dst map[string]any, a schemas.Attr) {
	if a.WholeExtension {
		delete(dst, a.Ext.Schema.ID)
		return
	}
	c := a.Container(dst, false)
	if c == nil {
		return
	}
	// The values below the top level are the stored resource's (see
	// representation): what changes is changed in a copy.
	if a.Ext != nil {
		c = maps.Clone(c)
		dst[a.Ext.Schema.ID] = c
	}
	if a.Sub == nil {
		delete(c, a.Def.Name())
		return
	}
	switch x := c[a.Def.Name()].(type) {
	case map[string]any:
		x = schemas.CopyAttributes(x)
		delete(x, a.Sub.Name())
		c[a.Def.Name()] = x
	case []any:
		x = schemas.Copy(x).([]any)
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				delete(m, a.Sub.Name())
			}
		}
		c[a.Def.Name()] = x
	}
}

// splitList reads a comma-separated query parameter.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
