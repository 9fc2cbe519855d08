package scim

import (
	"net/http"
	"strings"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// representation renders a stored resource as its full SCIM JSON.
func (s *Server) representation(r *http.Request, res *store.Resource) map[string]any {
	rt := res.Type
	base := s.base(r)
	out := schemas.CopyAttributes(res.Attributes)
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
	if a.Sub == nil {
		delete(c, a.Def.Name())
		return
	}
	switch x := c[a.Def.Name()].(type) {
	case map[string]any:
		delete(x, a.Sub.Name())
	case []any:
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				delete(m, a.Sub.Name())
			}
		}
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
