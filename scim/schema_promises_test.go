package scim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// TestSchemaPromises reads /ResourceTypes and /Schemas the way a generic
// SCIM client does, and checks, attribute by attribute, that what the
// schema promises is what the server does (issue 18):
//   - readOnly: a PATCH naming it answers 400 mutability; sent in a PUT
//     (the representation read, sent back with the attribute changed) or
//     in a path-less PATCH value, it changes nothing;
//   - required: it cannot be removed (400 mutability) nor left out of a POST;
//   - returned never: it comes back in no response;
//   - optional and writable: a PATCH remove — plain, value-path, and
//     inside /Bulk — unassigns it: no longer returned, and a filter
//     "<attr> pr" no longer finds the resource;
//   - references (referenceTypes naming a resource type): a missing
//     resource, a $ref to another server or resource type, or a $ref
//     that disagrees with value, answer 400 invalidValue; a good $ref is
//     accepted and returned;
//   - uniqueness server: a second resource with the value answers 409;
//   - canonical values marked binding: anything else answers 400, any
//     letter case is stored canonical;
//   - type: a value of another JSON type answers 400 invalidValue.
//
// Values come from the schema, as a schema-driven client makes them; a
// few attributes need a meaningful one (an email, an existing project).
func TestSchemaPromises(t *testing.T) {
	e := scimtest.New(t)
	// No invitation emails: each would be one more write per user, and
	// the walk creates hundreds (slow on FerretDB).
	if err := e.Store.SetInvitations(context.Background(), e.Account.ID, false); err != nil {
		t.Fatal(err)
	}
	w := &walker{t: t, c: e.Client, base: e.Client.Base, targets: map[string]string{}}
	w.discover()
	if len(w.types) != 3 {
		t.Fatalf("resource types %v", w.types)
	}
	w.checkDerivedAreReadOnly()
	for _, rt := range w.types {
		t.Run(rt.Name, func(t *testing.T) {
			w := w.on(t)
			w.checkReturnedNever(rt)
			w.checkReadOnly(rt)
			w.checkRequired(rt)
			w.checkRemove(rt)
			w.checkRemoveInBulk(rt)
			w.checkReferences(rt)
			w.checkUniqueness(rt)
			w.checkCanonicalValues(rt)
			w.checkTypes(rt)
		})
	}
}

// attribute is an attribute definition as /Schemas serves it.
type attribute struct {
	Name            string      `json:"name"`
	Type            string      `json:"type"`
	MultiValued     bool        `json:"multiValued"`
	Required        bool        `json:"required"`
	Mutability      string      `json:"mutability"`
	Returned        string      `json:"returned"`
	Uniqueness      string      `json:"uniqueness"`
	CanonicalValues []string    `json:"canonicalValues"`
	ReferenceTypes  []string    `json:"referenceTypes"`
	Description     string      `json:"description"`
	SubAttributes   []attribute `json:"subAttributes"`
}

func (a attribute) sub(name string) (attribute, bool) {
	for _, s := range a.SubAttributes {
		if s.Name == name {
			return s, true
		}
	}
	return attribute{}, false
}

func (a attribute) writable() bool { return a.Mutability != "readOnly" }

// refersTo is the resource type a complex attribute refers to through its
// $ref, "" when it is no reference to a resource of this server.
func (a attribute) refersTo(types []*resourceType) *resourceType {
	ref, ok := a.sub("$ref")
	if !ok || len(ref.ReferenceTypes) != 1 {
		return nil
	}
	for _, rt := range types {
		if rt.Name == ref.ReferenceTypes[0] {
			return rt
		}
	}
	return nil
}

// strict reports whether the canonical values are the only ones allowed
// (the schema's description says so).
func (a attribute) strict() bool {
	return len(a.CanonicalValues) > 0 && strings.HasSuffix(a.Description, "(one of the canonical values)")
}

// attr is an attribute of a resource type: its definition and where it
// lives (ext: the extension's URN, "" for the core schema).
type attr struct {
	ext string
	def attribute
}

// path is the attribute path ("emails", "urn:...:User:role").
func (a attr) path() string {
	if a.ext == "" {
		return a.def.Name
	}
	return a.ext + ":" + a.def.Name
}

// get returns the attribute's value in a representation.
func (a attr) get(rep map[string]any) any {
	if a.ext == "" {
		return rep[a.def.Name]
	}
	m, _ := rep[a.ext].(map[string]any)
	return m[a.def.Name]
}

// set puts a value into a body (nil: leaves it out).
func (a attr) set(body map[string]any, v any) {
	if a.ext == "" {
		if v == nil {
			delete(body, a.def.Name)
		} else {
			body[a.def.Name] = v
		}
		return
	}
	m, _ := body[a.ext].(map[string]any)
	if m == nil {
		m = map[string]any{}
		body[a.ext] = m
	}
	if v == nil {
		delete(m, a.def.Name)
	} else {
		m[a.def.Name] = v
	}
}

type resourceType struct {
	Name     string
	Endpoint string
	Schema   string
	attrs    []attr
}

type walker struct {
	t     *testing.T
	c     *scimtest.Client
	base  string
	types []*resourceType
	n     int // for unique values
	// targets are resources the bodies refer to, one per resource type,
	// made once.
	targets map[string]string
}

func (w *walker) on(t *testing.T) *walker { c := *w; c.t = t; return &c }

// do sends a request and checks that nothing returned:"never" comes back
// from a resource endpoint.
func (w *walker) do(method, path string, body any) *scimtest.Response {
	w.t.Helper()
	r := w.c.Do(w.t, method, path, body)
	if strings.HasPrefix(path, "/Schemas") || strings.HasPrefix(path, "/ResourceTypes") {
		return r
	}
	for _, name := range []string{`"password"`, `"sendInvitation"`, `"resendInvitation"`} {
		if strings.Contains(string(r.Raw), name) {
			w.t.Fatalf("%s %s returned %s, which the schema says is never returned: %.2000s", method, path, name, r.Raw)
		}
	}
	return r
}

func (w *walker) discover() {
	rts := w.do(http.MethodGet, "/ResourceTypes", nil).Expect(w.t, http.StatusOK)
	sch := w.do(http.MethodGet, "/Schemas", nil).Expect(w.t, http.StatusOK)
	var schemas struct {
		Resources []struct {
			ID         string      `json:"id"`
			Attributes []attribute `json:"attributes"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(sch.Raw, &schemas); err != nil {
		w.t.Fatal(err)
	}
	byID := map[string][]attribute{}
	for _, s := range schemas.Resources {
		byID[s.ID] = s.Attributes
	}
	var list struct {
		Resources []struct {
			Name       string `json:"name"`
			Endpoint   string `json:"endpoint"`
			Schema     string `json:"schema"`
			Extensions []struct {
				Schema string `json:"schema"`
			} `json:"schemaExtensions"`
		} `json:"Resources"`
	}
	if err := json.Unmarshal(rts.Raw, &list); err != nil {
		w.t.Fatal(err)
	}
	for _, r := range list.Resources {
		rt := &resourceType{Name: r.Name, Endpoint: r.Endpoint, Schema: r.Schema}
		for _, def := range byID[r.Schema] {
			rt.attrs = append(rt.attrs, attr{def: def})
		}
		for _, x := range r.Extensions {
			defs, ok := byID[x.Schema]
			if !ok {
				w.t.Fatalf("%s names extension %s, which /Schemas lacks", r.Name, x.Schema)
			}
			for _, def := range defs {
				rt.attrs = append(rt.attrs, attr{ext: x.Schema, def: def})
			}
		}
		w.types = append(w.types, rt)
	}
}

func (w *walker) rt(name string) *resourceType {
	for _, rt := range w.types {
		if rt.Name == name {
			return rt
		}
	}
	w.t.Fatalf("no resource type %s", name)
	return nil
}

func (w *walker) attr(rt *resourceType, path string) attr {
	for _, a := range rt.attrs {
		if a.path() == path {
			return a
		}
	}
	w.t.Fatalf("%s has no attribute %s", rt.Name, path)
	return attr{}
}

// checkDerivedAreReadOnly: what the server derives is advertised readOnly.
func (w *walker) checkDerivedAreReadOnly() {
	const tcU, tcG = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User", "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"
	for _, c := range []struct{ rt, path, sub string }{
		{"Group", "members", "display"}, {"Group", "members", "type"},
		{"User", tcU + ":projects", "display"}, {"User", tcU + ":projects", "inherited"},
		{"Group", tcG + ":path", ""}, {"User", "groups", ""}, {"User", tcU + ":effectiveRole", ""},
		{"User", tcU + ":accountOwner", ""}, {"User", tcU + ":countsTowardSeats", ""},
		{"User", tcU + ":invitationStatus", ""}, {"User", tcU + ":invitedAt", ""}, {"User", tcU + ":acceptedAt", ""},
	} {
		a := w.attr(w.rt(c.rt), c.path)
		def := a.def
		if c.sub != "" {
			def, _ = a.def.sub(c.sub)
		}
		if def.Mutability != "readOnly" {
			w.t.Errorf("%s %s.%s is derived by the server but advertised %q", c.rt, c.path, c.sub, def.Mutability)
		}
	}
	for _, c := range []struct{ rt, path, to string }{
		{"User", tcU + ":projects", "Project"}, {"Group", tcG + ":projects", "Project"},
		{"Group", tcG + ":parent", "Group"}, {"Project", "parent", "Project"}, {"Group", "members", "User"},
	} {
		a := w.attr(w.rt(c.rt), c.path)
		if to := a.def.refersTo(w.types); to == nil || to.Name != c.to {
			w.t.Errorf("%s %s should be a reference to %s: %+v", c.rt, c.path, c.to, a.def)
		}
	}
}

// unique returns a value no other request of the test used.
func (w *walker) unique(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

// create posts a body and returns the resource as the server answered.
func (w *walker) create(rt *resourceType, body map[string]any) map[string]any {
	w.t.Helper()
	r := w.do(http.MethodPost, rt.Endpoint, body).Expect(w.t, http.StatusCreated)
	return r.Body
}

// target returns a resource of a type for others to refer to, made once.
func (w *walker) target(rt *resourceType) string {
	w.t.Helper()
	if id, ok := w.targets[rt.Name]; ok {
		return id
	}
	id := w.create(rt, w.minimal(rt))["id"].(string)
	w.targets[rt.Name] = id
	return id
}

// another creates one more resource of a type (one that no body refers to).
func (w *walker) another(rt *resourceType) string {
	w.t.Helper()
	return w.create(rt, w.minimal(rt))["id"].(string)
}

// minimal is a body with the required attributes only.
func (w *walker) minimal(rt *resourceType) map[string]any {
	body := map[string]any{"schemas": []any{rt.Schema}}
	for _, a := range rt.attrs {
		if a.def.Required {
			a.set(body, w.value(rt, a, a.def))
		}
	}
	return body
}

// full is a body with a value for every writable attribute, but those
// never returned (a password costs a bcrypt hash per user) unless named.
func (w *walker) full(rt *resourceType, with ...attr) map[string]any {
	body := map[string]any{"schemas": []any{rt.Schema}}
	for _, a := range rt.attrs {
		if a.def.writable() && (a.def.Returned != "never" || slices.ContainsFunc(with, func(b attr) bool { return b.path() == a.path() })) {
			a.set(body, w.value(rt, a, a.def))
		}
	}
	return body
}

// value makes a valid value for an attribute (or sub-attribute) def of a.
func (w *walker) value(rt *resourceType, a attr, def attribute) any {
	if def.MultiValued && def.Type == "complex" {
		return []any{w.single(rt, a, def)}
	}
	if def.MultiValued {
		return []any{w.single(rt, a, def)}
	}
	return w.single(rt, a, def)
}

func (w *walker) single(rt *resourceType, a attr, def attribute) any {
	switch def.Type {
	case "complex":
		if to := def.refersTo(w.types); to != nil {
			if def.Name == "members" || def.Name == "manager" {
				to = w.rt("User")
			}
			m := map[string]any{"value": w.target(to)}
			for _, s := range def.SubAttributes {
				if s.writable() && s.Name != "value" && s.Name != "$ref" {
					m[s.Name] = w.single(rt, a, s)
				}
			}
			return m
		}
		m := map[string]any{}
		for _, s := range def.SubAttributes {
			if s.writable() {
				m[s.Name] = w.single(rt, a, s)
			}
		}
		if _, ok := m["primary"]; ok {
			m["primary"] = true
		}
		return m
	case "boolean":
		return true // timeTrackingAdmin, canCreateProjects and canViewRates all true agree
	case "binary":
		return "c2NpbQ=="
	case "dateTime":
		return "2026-01-02T03:04:05.000Z"
	case "integer", "decimal":
		return 7
	case "reference":
		return "https://example.com/" + w.unique("ref")
	}
	switch {
	case def.Name == "userName" || (a.def.Name == "emails" && def.Name == "value"):
		return w.unique("someone") + "@example.com"
	case def.Name == "password":
		return "Secret-pass-1"
	case len(def.CanonicalValues) > 0:
		return def.CanonicalValues[len(def.CanonicalValues)-1]
	}
	return w.unique("v")
}

func (w *walker) path(rt *resourceType, id string) string { return rt.Endpoint + "/" + id }

func (w *walker) get(rt *resourceType, id string) map[string]any {
	w.t.Helper()
	return w.do(http.MethodGet, w.path(rt, id), nil).Expect(w.t, http.StatusOK).Body
}

// patch sends operations; a group's member change answers 204.
func (w *walker) patch(rt *resourceType, id string, ops ...map[string]any) *scimtest.Response {
	w.t.Helper()
	return w.do(http.MethodPatch, w.path(rt, id), scimtest.PatchBody(ops...))
}

func (w *walker) expectError(r *scimtest.Response, status int, scimType, what string) {
	w.t.Helper()
	if r.Status != status || r.Str("scimType") != scimType {
		w.t.Errorf("%s: want %d %s, got %d: %s", what, status, scimType, r.Status, r.Raw)
	}
}

func (w *walker) checkReturnedNever(rt *resourceType) {
	var never []attr
	for _, a := range rt.attrs {
		if a.def.Returned == "never" {
			never = append(never, a)
		}
	}
	if len(never) == 0 {
		return
	}
	// w.do checks every response; these ask for them outright.
	r := w.create(rt, w.full(rt, never...))
	id := r["id"].(string)
	for _, a := range never {
		w.do(http.MethodGet, w.path(rt, id)+"?attributes="+url.QueryEscape(a.path()), nil).Expect(w.t, http.StatusOK)
		w.do(http.MethodGet, rt.Endpoint+"?attributes="+url.QueryEscape(a.path())+"&filter="+url.QueryEscape(`id eq "`+id+`"`), nil).Expect(w.t, http.StatusOK)
		w.patch(rt, id, scimtest.Op("replace", a.path(), w.value(rt, a, a.def))).Expect(w.t, http.StatusOK)
	}
}

// bogus is a valid value of def's type that differs from v.
func (w *walker) bogus(def attribute, v any) any {
	switch def.Type {
	case "boolean":
		return v != true
	case "dateTime":
		return "2001-02-03T04:05:06.000Z"
	case "complex":
		m := map[string]any{}
		for _, s := range def.SubAttributes {
			m[s.Name] = w.bogus(s, nil)
		}
		if def.MultiValued {
			return []any{m}
		}
		return m
	case "string":
		for _, c := range def.CanonicalValues {
			if c != v {
				return c
			}
		}
	}
	return w.unique("bogus")
}

func (w *walker) checkReadOnly(rt *resourceType) {
	rep := w.create(rt, w.full(rt))
	id := rep["id"].(string)
	if rt.Name == "Group" {
		rep = w.get(rt, id) // members with their display
	}
	for _, a := range rt.attrs {
		defs := []attribute{a.def}
		if a.def.writable() {
			defs = nil
			for _, s := range a.def.SubAttributes {
				if !s.writable() {
					defs = append(defs, s)
				}
			}
		}
		for _, def := range defs {
			name := a.path()
			if def.Name != a.def.Name {
				name += "." + def.Name
			}
			// A PATCH naming it is refused.
			path := name
			if def.Name != a.def.Name && a.def.MultiValued {
				path = a.path() + `[value eq "x"].` + def.Name
			}
			w.expectError(w.patch(rt, id, scimtest.Op("replace", path, w.bogus(def, nil))), http.StatusBadRequest, "mutability", "PATCH of read-only "+name)
			// Sent back changed, it changes nothing.
			before := w.get(rt, id)
			body := copyJSON(before)
			if def.Name == a.def.Name {
				a.set(body, w.bogus(def, a.get(before)))
			} else {
				for _, el := range values(a.get(body)) {
					if m, ok := el.(map[string]any); ok {
						m[def.Name] = w.bogus(def, m[def.Name])
					}
				}
			}
			after := w.do(http.MethodPut, w.path(rt, id), body).Expect(w.t, http.StatusOK).Body
			if rt.Name == "Group" {
				after = w.get(rt, id)
			}
			if !jsonEqual(a.get(before), a.get(after)) {
				w.t.Errorf("PUT with read-only %s changed it: %v → %v", name, a.get(before), a.get(after))
			}
			if def.Name == a.def.Name {
				obj := map[string]any{}
				a.set(obj, w.bogus(def, a.get(before)))
				r := w.patch(rt, id, scimtest.Op("replace", "", obj)).Expect(w.t, http.StatusOK)
				if r.Str("meta.version") != after["meta"].(map[string]any)["version"] {
					w.t.Errorf("a path-less PATCH of read-only %s changed the resource: %s", name, r.Raw)
				}
			}
		}
	}
}

func (w *walker) checkRequired(rt *resourceType) {
	rep := w.create(rt, w.minimal(rt))
	id := rep["id"].(string)
	for _, a := range rt.attrs {
		if !a.def.Required {
			continue
		}
		w.expectError(w.patch(rt, id, scimtest.Op("remove", a.path(), nil)), http.StatusBadRequest, "mutability", "remove of required "+a.path())
		w.expectError(w.patch(rt, id, scimtest.Op("replace", a.path(), nil)), http.StatusBadRequest, "mutability", "replace of required "+a.path()+" with null")
		body := w.minimal(rt)
		a.set(body, nil)
		if r := w.do(http.MethodPost, rt.Endpoint, body); r.Status != http.StatusBadRequest {
			w.t.Errorf("POST without required %s: %d %s", a.path(), r.Status, r.Raw)
		}
	}
}

// removable lists the optional writable attributes (writeOnly ones can be
// removed but not seen).
func removable(rt *resourceType) []attr {
	var out []attr
	for _, a := range rt.attrs {
		if !a.def.Required && (a.def.Mutability == "readWrite" || a.def.Mutability == "writeOnly") {
			out = append(out, a)
		}
	}
	return out
}

// expectUnassigned checks that an attribute (or a sub-attribute of every
// value) is gone from a resource, and that a filter no longer finds it.
func (w *walker) expectUnassigned(rt *resourceType, id string, a attr, sub, how string) {
	w.t.Helper()
	if a.def.Returned == "never" {
		return
	}
	got := w.get(rt, id)
	v := a.get(got)
	if sub != "" {
		for _, el := range values(v) {
			if m, ok := el.(map[string]any); ok && m[sub] != nil {
				w.t.Errorf("%s of %s.%s: still %v", how, a.path(), sub, m[sub])
			}
		}
		return
	}
	if v != nil {
		w.t.Errorf("%s of %s: still %v", how, a.path(), v)
		return
	}
	f := fmt.Sprintf(`id eq %q and %s pr`, id, a.path())
	r := w.do(http.MethodGet, rt.Endpoint+"?filter="+url.QueryEscape(f), nil).Expect(w.t, http.StatusOK)
	if n, _ := r.At("totalResults").(json.Number).Int64(); n != 0 {
		w.t.Errorf("%s of %s: the filter %s still finds it", how, a.path(), f)
	}
}

// checkRemove removes each optional attribute of one resource, checks it
// is unassigned, and gives it a value again: by its path, then (for a
// multi-valued complex one) the value a filter picks, then each of its
// writable sub-attributes.
func (w *walker) checkRemove(rt *resourceType) {
	attrs := removable(rt)
	id := w.create(rt, w.full(rt, attrs...))["id"].(string)
	for _, a := range attrs {
		w.removeOK(rt, id, a.path())
		w.expectUnassigned(rt, id, a, "", "remove")
		if a.def.Returned == "never" {
			continue // a request (sendInvitation, resendInvitation) or the password: nothing to see, nothing to restore
		}
		w.restore(rt, id, a)
		if a.def.Type != "complex" {
			continue
		}
		if a.def.MultiValued {
			filter := a.path() + "[" + pick(a.def, w.first(rt, id, a)) + "]"
			w.removeOK(rt, id, filter)
			w.expectUnassigned(rt, id, a, "", "value-path remove")
			w.restore(rt, id, a)
		}
		for _, sub := range a.def.SubAttributes {
			if !sub.writable() || sub.Name == "$ref" {
				continue
			}
			path := a.path() + "." + sub.Name
			if a.def.MultiValued {
				path = a.path() + "[" + pick(a.def, w.first(rt, id, a)) + "]." + sub.Name
			}
			r := w.patch(rt, id, scimtest.Op("remove", path, nil))
			if sub.Required || sub.Mutability == "immutable" {
				w.expectError(r, http.StatusBadRequest, "mutability", "remove of "+path)
				continue
			}
			if r.Status != http.StatusOK && r.Status != http.StatusNoContent {
				w.t.Errorf("remove %s: %d %s", path, r.Status, r.Raw)
				continue
			}
			w.expectUnassigned(rt, id, a, sub.Name, "remove")
			w.restore(rt, id, a)
		}
	}
}

func (w *walker) removeOK(rt *resourceType, id, path string) {
	w.t.Helper()
	if r := w.patch(rt, id, scimtest.Op("remove", path, nil)); r.Status != http.StatusOK && r.Status != http.StatusNoContent {
		w.t.Errorf("remove %s: %d %s", path, r.Status, r.Raw)
	}
}

// restore gives an attribute a value again.
func (w *walker) restore(rt *resourceType, id string, a attr) {
	w.t.Helper()
	if r := w.patch(rt, id, scimtest.Op("replace", a.path(), w.value(rt, a, a.def))); r.Status != http.StatusOK && r.Status != http.StatusNoContent {
		w.t.Fatalf("restore %s: %d %s", a.path(), r.Status, r.Raw)
	}
}

// first is the first value of a multi-valued attribute of a resource.
func (w *walker) first(rt *resourceType, id string, a attr) map[string]any {
	w.t.Helper()
	el, _ := values(a.get(w.get(rt, id)))[0].(map[string]any)
	return el
}

// pick is a value filter that picks el among the values of def: by its
// value, or by its type where the value cannot be filtered on (binary) or
// there is none (addresses).
func pick(def attribute, el map[string]any) string {
	if v, ok := def.sub("value"); ok && v.Type != "binary" {
		return fmt.Sprintf(`value eq %q`, el["value"])
	}
	return fmt.Sprintf(`type eq %q`, el["type"])
}

// checkRemoveInBulk removes every optional attribute of one resource
// through one /Bulk request, an operation each.
func (w *walker) checkRemoveInBulk(rt *resourceType) {
	attrs := removable(rt)
	id := w.create(rt, w.full(rt, attrs...))["id"].(string)
	var ops []any
	for _, a := range attrs {
		ops = append(ops, map[string]any{
			"method": "PATCH", "path": w.path(rt, id),
			"data": scimtest.PatchBody(scimtest.Op("remove", a.path(), nil)),
		})
	}
	r := w.do(http.MethodPost, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(w.t, http.StatusOK)
	for i, res := range values(r.At("Operations")) {
		if s := fmt.Sprint(scimtest.At(res, "status")); s != "200" && s != "204" {
			w.t.Errorf("Bulk remove of %s: %v", attrs[i].path(), res)
		}
	}
	for _, a := range attrs {
		w.expectUnassigned(rt, id, a, "", "Bulk remove")
	}
}

func (w *walker) checkReferences(rt *resourceType) {
	for _, a := range rt.attrs {
		to := a.def.refersTo(w.types)
		if to == nil || !a.def.writable() {
			continue
		}
		id := w.create(rt, w.minimal(rt))["id"].(string)
		wrap := func(m map[string]any) any {
			if a.def.MultiValued {
				return []any{m}
			}
			return m
		}
		op := "replace"
		if a.def.Name == "members" {
			op = "add"
		}
		target := w.target(to)
		other := w.rt("User")
		if to == other {
			other = w.rt("Project")
		}
		otherID := w.target(other)
		loc := w.base + to.Endpoint + "/" + target
		value, _ := a.def.sub("value")
		weak := strings.Contains(value.Description, "Not checked") // the manager: see its description
		if !weak {
			w.expectError(w.patch(rt, id, scimtest.Op(op, a.path(), wrap(map[string]any{"value": "no-such-" + to.Name}))), http.StatusBadRequest, "invalidValue", a.path()+" naming a missing "+to.Name)
		}
		for what, ref := range map[string]map[string]any{
			"a $ref to a missing " + to.Name: {"$ref": w.base + to.Endpoint + "/no-such-id"},
			"a $ref to a " + other.Name:      {"$ref": w.base + other.Endpoint + "/" + otherID},
			"a $ref to another server":       {"$ref": "https://elsewhere.example/scim/v2" + to.Endpoint + "/" + target},
			"a $ref disagreeing with value":  {"$ref": loc, "value": otherID},
		} {
			w.expectError(w.patch(rt, id, scimtest.Op(op, a.path(), wrap(ref))), http.StatusBadRequest, "invalidValue", a.path()+" with "+what)
		}
		// A good $ref alone, and relative: accepted, returned absolute.
		for _, ref := range []string{loc, strings.TrimPrefix(to.Endpoint, "/") + "/" + target} {
			r := w.patch(rt, id, scimtest.Op(op, a.path(), wrap(map[string]any{"$ref": ref})))
			if r.Status != http.StatusOK && r.Status != http.StatusNoContent {
				w.t.Errorf("%s with $ref %s: %d %s", a.path(), ref, r.Status, r.Raw)
				continue
			}
			found := false
			for _, el := range values(a.get(w.get(rt, id))) {
				if m, ok := el.(map[string]any); ok && m["value"] == target {
					found = true
					if m["$ref"] != loc {
						w.t.Errorf("%s: $ref %v, want %s", a.path(), m["$ref"], loc)
					}
				}
			}
			if !found {
				w.t.Errorf("%s set by $ref %s: not there", a.path(), ref)
			}
		}
	}
}

func (w *walker) checkUniqueness(rt *resourceType) {
	for _, a := range rt.attrs {
		if a.def.Uniqueness != "server" || a.def.Type != "string" {
			continue
		}
		body := w.minimal(rt)
		w.create(rt, body)
		dup := copyJSON(body)
		if s, ok := a.get(dup).(string); ok {
			a.set(dup, strings.ToUpper(s)) // compared without regard to case
		}
		w.expectError(w.do(http.MethodPost, rt.Endpoint, dup), http.StatusConflict, "uniqueness", "second "+rt.Name+" with the same "+a.path())
	}
}

func (w *walker) checkCanonicalValues(rt *resourceType) {
	id := w.create(rt, w.minimal(rt))["id"].(string)
	for _, a := range rt.attrs {
		if a.def.Type != "string" || !a.def.writable() || len(a.def.CanonicalValues) == 0 {
			continue
		}
		r := w.patch(rt, id, scimtest.Op("replace", a.path(), "not-one-of-them"))
		if a.def.strict() {
			w.expectError(r, http.StatusBadRequest, "invalidValue", a.path()+" outside its canonical values")
			want := a.def.CanonicalValues[len(a.def.CanonicalValues)-1]
			r = w.patch(rt, id, scimtest.Op("replace", a.path(), strings.ToUpper(want))).Expect(w.t, http.StatusOK)
			if got := a.get(r.Body); got != want {
				w.t.Errorf("%s sent in capitals: stored %v, want %s", a.path(), got, want)
			}
		} else if r.Status != http.StatusOK {
			w.t.Errorf("%s: canonical values are suggestions, yet another value answered %d", a.path(), r.Status)
		}
	}
}

func (w *walker) checkTypes(rt *resourceType) {
	id := w.create(rt, w.minimal(rt))["id"].(string)
	wrong := map[string]any{"string": map[string]any{"x": 1}, "boolean": "maybe", "dateTime": "yesterday", "binary": "%%%", "reference": 12, "complex": 12}
	for _, a := range rt.attrs {
		if !a.def.writable() || a.def.Type == "complex" && a.def.MultiValued {
			continue
		}
		v := wrong[a.def.Type]
		w.expectError(w.patch(rt, id, scimtest.Op("replace", a.path(), v)), http.StatusBadRequest, "invalidValue", fmt.Sprintf("%s (%s) set to %v", a.path(), a.def.Type, v))
	}
}

// values returns a value's elements: the list, or the one value.
func values(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func copyJSON(m map[string]any) map[string]any {
	raw, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}

func jsonEqual(a, b any) bool {
	ra, _ := json.Marshal(a)
	rb, _ := json.Marshal(b)
	return string(ra) == string(rb)
}

// TestServiceProviderConfigPromises checks each feature
// /ServiceProviderConfig calls supported, and the limits it gives, on the
// running server; and that searches are served where docs/scim.md says
// (/Users/.search: 200; the root /.search and /Me: 501).
func TestServiceProviderConfigPromises(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	spc := c.Get(t, "/ServiceProviderConfig").Expect(t, http.StatusOK)
	for _, f := range []string{"patch", "bulk", "filter", "changePassword", "sort", "etag"} {
		if spc.At(f+".supported") != true {
			t.Fatalf("%s not supported: %s", f, spc.Raw)
		}
	}
	maxOps, _ := spc.At("bulk.maxOperations").(json.Number).Int64()
	maxPayload, _ := spc.At("bulk.maxPayloadSize").(json.Number).Int64()
	maxResults, _ := spc.At("filter.maxResults").(json.Number).Int64()

	ids := c.CreateUsers(t, 3, "spc")
	// filter.maxResults bounds a page, whatever count asks for.
	c.CreateUsers(t, int(maxResults)-2, "more")
	page := c.Get(t, fmt.Sprintf("/Users?count=%d&attributes=id", maxResults+100)).Expect(t, http.StatusOK)
	if n, _ := page.At("itemsPerPage").(json.Number).Int64(); n != maxResults || page.At("totalResults") != json.Number(fmt.Sprint(maxResults+1)) {
		t.Fatalf("a page of count %d: itemsPerPage %v, totalResults %v", maxResults+100, page.At("itemsPerPage"), page.At("totalResults"))
	}
	// patch, changePassword
	c.Patch(t, "/Users/"+ids[0], scimtest.Op("replace", "password", "Another-pass-1")).Expect(t, http.StatusOK)
	// filter, sort
	list := c.Get(t, "/Users?filter="+url.QueryEscape(`userName sw "spc"`)+"&sortBy=userName&sortOrder=descending").Expect(t, http.StatusOK)
	if list.Str("Resources.0.userName") != "spc2@example.com" {
		t.Fatalf("filter and sort: %s", list.Raw)
	}
	// etag
	g := c.Get(t, "/Users/"+ids[1]).Expect(t, http.StatusOK)
	c.Get(t, "/Users/"+ids[1], "If-None-Match: "+g.Header.Get("ETag")).Expect(t, http.StatusNotModified)
	c.Put(t, "/Users/"+ids[1], scimtest.UserBody("spc1@example.com"), `If-Match: W/"999"`).Expect(t, http.StatusPreconditionFailed)
	// bulk, and its limits
	var ops []any
	for i := int64(0); i <= maxOps; i++ {
		ops = append(ops, map[string]any{"method": "DELETE", "path": "/Users/" + ids[2]})
	}
	c.Post(t, "/Bulk", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}).Expect(t, http.StatusRequestEntityTooLarge)
	big := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": []any{
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "x", "data": scimtest.UserBody("big@example.com", map[string]any{"title": strings.Repeat("x", int(maxPayload))})},
	}}
	c.Post(t, "/Bulk", big).Expect(t, http.StatusRequestEntityTooLarge)
	// Searches.
	c.Post(t, "/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}, "filter": `userName pr`}).Expect(t, http.StatusOK)
	c.Post(t, "/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}}).Expect(t, http.StatusNotImplemented)
	c.Get(t, "/Me").Expect(t, http.StatusNotImplemented)
}
