// Command elimity is the peer timecamp-scim is measured against
// (docs/performance.md, "Peers"): the smallest honest SCIM server on
// github.com/elimity-com/scim — its router, request validation and filter
// evaluator over an in-memory map, as its own tests and examples build
// one. No persistence, no token check, no logging. It is a module of its
// own so that nothing of it reaches the product binary.
//
//	go run . -addr 127.0.0.1:8081   # SCIM at http://127.0.0.1:8081/scim/v2
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	users := newMemory(true)
	groups := newMemory(false)
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{MaxResults: 1000, SupportFiltering: true, SupportPatch: true},
		ResourceTypes: []scim.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Schema:           schema.CoreUserSchema(),
				SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          users,
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Schema:  schema.CoreGroupSchema(),
				Handler: groups,
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/scim/", http.StripPrefix("/scim", srv))
	log.Printf("elimity-com/scim peer: http://%s/scim/v2", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}

// stored is one resource. Its attributes are never changed in place once
// stored (a write stores a new map), so that a response being encoded
// outside the lock never sees a write.
type stored struct {
	attrs   scim.ResourceAttributes
	created time.Time
	updated time.Time
	version int
}

// memory is one resource type's resources: a map by id, the ids in
// creation order (for pages), and for users the userNames taken (unique
// without regard to case, RFC 7643 §4.1.1).
type memory struct {
	mu        sync.RWMutex
	byID      map[string]*stored
	order     []string
	userNames map[string]string // lower-cased userName → id (users only)
}

func newMemory(users bool) *memory {
	m := &memory{byID: map[string]*stored{}}
	if users {
		m.userNames = map[string]string{}
	}
	return m
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (s *stored) resource(id string) scim.Resource {
	c, u := s.created, s.updated
	r := scim.Resource{ID: id, Attributes: s.attrs, Meta: scim.Meta{Created: &c, LastModified: &u, Version: fmt.Sprintf(`W/"%d"`, s.version)}}
	if ext, ok := s.attrs["externalId"].(string); ok {
		r.ExternalID = optional.NewString(ext)
	}
	return r
}

func userName(attrs scim.ResourceAttributes) string {
	s, _ := attrs["userName"].(string)
	return strings.ToLower(s)
}

func (m *memory) Create(r *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := newID()
	if m.userNames != nil {
		name := userName(attrs)
		if _, taken := m.userNames[name]; taken {
			return scim.Resource{}, scimerrors.ScimErrorUniqueness
		}
		m.userNames[name] = id
	}
	attrs["id"] = id // for filters on id; the response sets it anyway
	now := time.Now()
	s := &stored{attrs: attrs, created: now, updated: now, version: 1}
	m.byID[id] = s
	m.order = append(m.order, id)
	return s.resource(id), nil
}

func (m *memory) Get(r *http.Request, id string) (scim.Resource, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s, ok := m.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return s.resource(id), nil
}

// GetAll pages through the resources in creation order, keeping those
// that pass the filter (the library's evaluator).
func (m *memory) GetAll(r *http.Request, p scim.ListRequestParams) (scim.Page, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	page := scim.Page{Resources: []scim.Resource{}}
	if p.FilterValidator == nil {
		page.TotalResults = len(m.order)
		from := min(max(p.StartIndex-1, 0), len(m.order))
		to := min(from+p.Count, len(m.order))
		for _, id := range m.order[from:to] {
			page.Resources = append(page.Resources, m.byID[id].resource(id))
		}
		return page, nil
	}
	for _, id := range m.order {
		s := m.byID[id]
		if p.FilterValidator.PassesFilter(s.attrs) != nil {
			continue
		}
		page.TotalResults++
		if page.TotalResults >= p.StartIndex && len(page.Resources) < p.Count {
			page.Resources = append(page.Resources, s.resource(id))
		}
	}
	return page, nil
}

func (m *memory) Replace(r *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return m.store(id, s, attrs)
}

func (m *memory) Delete(r *http.Request, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byID[id]
	if !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(m.byID, id)
	if m.userNames != nil {
		delete(m.userNames, userName(s.attrs))
	}
	for i, o := range m.order {
		if o == id {
			m.order = append(m.order[:i:i], m.order[i+1:]...)
			break
		}
	}
	return nil
}

// Patch applies the operations the library validated: add, replace and
// remove of an attribute or sub-attribute, add to and remove from a
// multi-valued attribute (members[value eq "…"]).
func (m *memory) Patch(r *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	attrs := make(scim.ResourceAttributes, len(s.attrs))
	for k, v := range s.attrs {
		attrs[k] = v
	}
	for _, op := range ops {
		if op.Path == nil {
			values, _ := op.Value.(map[string]any)
			for k, v := range values {
				set(attrs, k, "", v, op.Op == scim.PatchOperationAdd)
			}
			continue
		}
		name := op.Path.AttributePath.AttributeName
		if op.Path.AttributePath.URI() != "" {
			name = op.Path.AttributePath.URI() + ":" + name
		}
		sub := ""
		if op.Path.AttributePath.SubAttribute != nil {
			sub = *op.Path.AttributePath.SubAttribute
		}
		switch op.Op {
		case scim.PatchOperationRemove:
			if op.Path.ValueExpression != nil {
				list, _ := attrs[name].([]any)
				var keep []any
				for _, el := range list {
					if !matches(op.Path.ValueExpression, el) {
						keep = append(keep, el)
					}
				}
				attrs[name] = keep
				continue
			}
			if sub != "" {
				if c, ok := attrs[name].(map[string]any); ok {
					c = copyMap(c)
					delete(c, sub)
					attrs[name] = c
				}
				continue
			}
			delete(attrs, name)
		default:
			set(attrs, name, sub, op.Value, op.Op == scim.PatchOperationAdd)
		}
	}
	return m.store(id, s, attrs)
}

// store writes new attributes over a resource (s), keeping userNames
// unique; m.mu is held.
func (m *memory) store(id string, s *stored, attrs scim.ResourceAttributes) (scim.Resource, error) {
	if m.userNames != nil {
		old, name := userName(s.attrs), userName(attrs)
		if other, taken := m.userNames[name]; taken && other != id {
			return scim.Resource{}, scimerrors.ScimErrorUniqueness
		}
		delete(m.userNames, old)
		m.userNames[name] = id
	}
	attrs["id"] = id
	n := &stored{attrs: attrs, created: s.created, updated: time.Now(), version: s.version + 1}
	m.byID[id] = n
	return n.resource(id), nil
}

// set writes a value; add appends to a multi-valued attribute (RFC 7644
// §3.5.2.1), replace overwrites.
func set(attrs scim.ResourceAttributes, name, sub string, v any, add bool) {
	if sub != "" {
		c, _ := attrs[name].(map[string]any)
		c = copyMap(c)
		c[sub] = v
		attrs[name] = c
		return
	}
	if list, ok := attrs[name].([]any); ok && add {
		// Appending never changes the elements a reader of the old list
		// sees, so the list is shared, not copied.
		if more, ok := v.([]any); ok {
			attrs[name] = append(list, more...)
		} else {
			attrs[name] = append(list, v)
		}
		return
	}
	attrs[name] = v
}

func copyMap(c map[string]any) map[string]any {
	out := make(map[string]any, len(c)+1)
	for k, v := range c {
		out[k] = v
	}
	return out
}

// matches evaluates a value filter (members[value eq "…"]) on one element:
// the equality comparisons, and/or/not, which is what clients send there.
func matches(e filter.Expression, el any) bool {
	m, _ := el.(map[string]any)
	switch x := e.(type) {
	case *filter.AttributeExpression:
		v := m[x.AttributePath.AttributeName]
		switch x.Operator {
		case filter.EQ:
			return fmt.Sprint(v) == fmt.Sprint(x.CompareValue)
		case filter.NE:
			return fmt.Sprint(v) != fmt.Sprint(x.CompareValue)
		case filter.PR:
			return v != nil
		}
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return matches(x.Left, el) && matches(x.Right, el)
		}
		return matches(x.Left, el) || matches(x.Right, el)
	case *filter.NotExpression:
		return !matches(x.Expression, el)
	}
	return false
}
