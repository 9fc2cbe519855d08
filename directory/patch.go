package directory

import (
	"context"
	"reflect"
	"sort"
	"strings"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
)

// PatchOp is one PATCH operation as the client sent it (RFC 7644 §3.5.2).
type PatchOp struct {
	Op    string // add, replace or remove, in any letter case (Entra sends "Replace")
	Path  string // optional attribute path
	Value any
}

// patcher applies PATCH operations to a copy of a resource's attributes.
// Attributes kept outside the resource document (a group's members) are
// collected as a delta instead, so that a large group is never loaded to
// add or remove one member.
type patcher struct {
	ctx   context.Context // for reading member references ($ref)
	rt    *schemas.ResourceType
	attrs map[string]any
	// members collects membership changes when the resource is a group.
	members *memberDelta
	// password holds a new password set by the operations;
	// removePassword is set when they remove it.
	password       *string
	removePassword bool
	// touched are the top-level attributes the operations set or removed
	// (by Attr.Name without a sub-attribute; an extension by its URN).
	touched map[string]bool
	// owned are a user's own projects before the operations.
	owned map[string]bool
}

func newPatcher(ctx context.Context, rt *schemas.ResourceType, attrs map[string]any, members *memberDelta) *patcher {
	owned := map[string]bool{}
	for _, id := range projectIDs(asList(extension(attrs, schemas.TimeCampUserURN)["projects"])) {
		owned[id] = true
	}
	return &patcher{ctx: ctx, rt: rt, attrs: schemas.CopyAttributes(attrs), members: members, touched: map[string]bool{}, owned: owned}
}

// sentSetting reports whether the operations set or removed a TimeCamp
// user setting (see write).
func (p *patcher) sentSetting(name string) bool {
	return p.touched[schemas.TimeCampUserURN] || p.touched[schemas.TimeCampUserURN+":"+name]
}

// touch records that an operation reaches attribute a.
func (p *patcher) touch(a schemas.Attr) {
	if a.WholeExtension {
		p.touched[a.Ext.Schema.ID] = true
		return
	}
	top := a
	top.Sub = nil
	p.touched[top.Name()] = true
}

func (p *patcher) apply(op PatchOp) error {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	switch kind {
	case "add", "replace", "remove":
	default:
		return failure.InvalidSyntax("\"op\" must be add, replace or remove, got %q", op.Op)
	}
	if strings.TrimSpace(op.Path) == "" {
		if kind == "remove" {
			return failure.NoTarget("remove needs a \"path\" naming what to remove")
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return failure.InvalidValue("%s without a \"path\" needs a \"value\" object of attributes", kind)
		}
		return p.applyObject(kind, obj)
	}
	path, err := scimfilter.ParsePath(op.Path)
	if err != nil {
		return err
	}
	return p.applyPath(kind, path, op.Value, false)
}

// applyObject applies a path-less add or replace: each key is an attribute
// path ("name.givenName", an extension attribute's full URN path) or an
// extension URN holding an object of that extension's attributes.
func (p *patcher) applyObject(kind string, obj map[string]any) error {
	for _, key := range sortedKeys(obj) {
		v := obj[key]
		switch {
		case strings.EqualFold(key, schemas.AttrSchemas), strings.EqualFold(key, schemas.AttrID), strings.EqualFold(key, schemas.AttrMeta):
			continue // Okta repeats the id; neither it nor meta can change
		}
		if ext, ok := p.rt.Extension(key); ok {
			inner, ok := v.(map[string]any)
			if !ok {
				if v == nil {
					continue
				}
				return failure.InvalidValue("%s must be an object of the extension's attributes", ext.Schema.ID)
			}
			for _, k := range sortedKeys(inner) {
				if err := p.applyKey(kind, ext.Schema.ID+":"+k, inner[k]); err != nil {
					return err
				}
			}
			continue
		}
		if err := p.applyKey(kind, key, v); err != nil {
			return err
		}
	}
	return nil
}

func (p *patcher) applyKey(kind, key string, v any) error {
	path, err := scimfilter.ParsePath(key)
	if err != nil {
		return err
	}
	return p.applyPath(kind, path, v, true)
}

// applyPath applies one operation at a parsed path. inObject is set for the
// keys of a path-less value, where read-only attributes are skipped rather
// than refused (clients echo them back).
func (p *patcher) applyPath(kind string, path filter.Path, value any, inObject bool) error {
	a, err := p.rt.Resolve(path.AttributePath)
	if err != nil {
		if inObject {
			return nil // unknown attributes in a value object are ignored, as on POST
		}
		return err
	}
	if a.WholeExtension {
		return p.applyExtension(kind, a, value)
	}
	if a.Common && a.Def.Name() != schemas.AttrExternalID {
		if inObject {
			return nil
		}
		return failure.Mutability("%s is set by the server and cannot be changed", a.Name())
	}
	if schemas.IsReadOnly(a.Def) || (a.Sub != nil && schemas.IsReadOnly(*a.Sub)) {
		if inObject {
			return nil
		}
		return failure.Mutability("%s is read-only: the server sets it", a.Name())
	}
	if err := checkUnassign(kind, a, path, value); err != nil {
		return err
	}
	p.touch(a)
	if kind != "remove" && a.Sub == nil && path.ValueExpression == nil && p.rt == schemas.User && a.Name() == schemas.TimeCampUserURN+":projects" {
		value = withoutEchoedGrants(value, p.owned)
	}
	if p.members != nil && a.Is("members") {
		return p.members.apply(p.ctx, kind, path, value)
	}
	if a.Is("password") {
		return p.setPassword(kind, value)
	}
	if path.ValueExpression != nil {
		return p.applyFiltered(kind, a, path, value)
	}
	if a.Sub != nil {
		return p.applySub(kind, a, value)
	}
	return p.applyAttribute(kind, a, value)
}

// checkUnassign refuses an operation that would leave a required
// attribute (or sub-attribute) unassigned: a remove of it, or a replace
// with null (RFC 7644 §3.5.2.2: 400 mutability).
func checkUnassign(kind string, a schemas.Attr, path filter.Path, value any) error {
	required := a.Leaf().Required()
	if name := path.SubAttributeName(); name != "" && a.Sub == nil {
		if sub, ok := schemas.SubAttribute(a.Def, name); ok {
			required = sub.Required()
		}
	} else if path.ValueExpression != nil {
		required = false // removes some values, not the attribute
	}
	if !required || (kind != "remove" && value != nil) {
		return nil
	}
	return failure.Mutability("%s is required and cannot be removed; replace it with another value", a.Name())
}

func (p *patcher) setPassword(kind string, value any) error {
	if kind == "remove" {
		p.password, p.removePassword = nil, true
		return nil
	}
	p.removePassword = false
	s, ok := value.(string)
	if !ok {
		return failure.InvalidValue("password must be a string")
	}
	p.password = &s
	return nil
}

func (p *patcher) applyExtension(kind string, a schemas.Attr, value any) error {
	p.touch(a)
	if kind == "remove" {
		delete(p.attrs, a.Ext.Schema.ID)
		return nil
	}
	obj, ok := value.(map[string]any)
	if !ok {
		return failure.InvalidValue("%s needs an object of the extension's attributes", a.Ext.Schema.ID)
	}
	if kind == "replace" {
		// Replacing the extension replaces its attributes as a whole.
		delete(p.attrs, a.Ext.Schema.ID)
	}
	for _, k := range sortedKeys(obj) {
		if err := p.applyKey("add", a.Ext.Schema.ID+":"+k, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

// applyAttribute handles a path naming a whole attribute.
func (p *patcher) applyAttribute(kind string, a schemas.Attr, value any) error {
	def := a.Def
	name := def.Name()
	container := a.Container(p.attrs, kind != "remove")
	if kind == "remove" {
		if container == nil {
			return nil
		}
		if def.MultiValued() && value != nil {
			// Remove only the given values (Entra: "path": "emails", "value": [...]).
			vals, err := schemas.NormalizeValue(def, value, a.Name())
			if err != nil {
				return err
			}
			container[name] = removeMatching(def, asList(container[name]), asList(vals))
		} else {
			delete(container, name)
		}
		p.tidy(a)
		return nil
	}
	switch {
	case def.MultiValued():
		vals, err := schemas.NormalizeValue(def, value, a.Name())
		if err != nil {
			return err
		}
		if kind == "replace" {
			container[name] = vals
		} else {
			container[name] = mergeValues(def, asList(container[name]), asList(vals))
		}
		if err := schemas.CheckOnePrimary(def, asList(container[name]), a.Name()); err != nil {
			return err
		}
	case def.AttributeType() == "complex":
		// add and replace both merge the given sub-attributes (RFC 7644
		// §3.5.2.3: sub-attributes not given are left unchanged).
		v, err := schemas.NormalizeElement(def, value, a.Name())
		if err != nil {
			return err
		}
		if v == nil {
			if kind == "replace" {
				delete(container, name)
			}
			break
		}
		merged, _ := container[name].(map[string]any)
		if merged == nil {
			merged = map[string]any{}
		}
		given := v.(map[string]any)
		_, hasValue := given["value"]
		_, hasRef := given["$ref"]
		if hasValue || hasRef {
			// A reference's value and $ref name one resource: either
			// given replaces both.
			delete(merged, "value")
			delete(merged, "$ref")
		}
		for k, sv := range given {
			merged[k] = sv
		}
		container[name] = merged
	default:
		v, err := schemas.NormalizeValue(def, value, a.Name())
		if err != nil {
			return err
		}
		if v == nil {
			delete(container, name)
		} else {
			container[name] = v
		}
	}
	p.tidy(a)
	return nil
}

// applySub handles "name.givenName": a sub-attribute of a singular complex
// attribute.
func (p *patcher) applySub(kind string, a schemas.Attr, value any) error {
	if a.Def.MultiValued() {
		return failure.InvalidPath("%s has many values: pick them with a filter, e.g. %s[type eq \"work\"].%s", a.Def.Name(), a.Def.Name(), a.Sub.Name())
	}
	container := a.Container(p.attrs, kind != "remove")
	if container == nil {
		return nil
	}
	obj, _ := container[a.Def.Name()].(map[string]any)
	if kind == "remove" {
		if obj != nil {
			delete(obj, a.Sub.Name())
		}
		p.tidy(a)
		return nil
	}
	v, err := schemas.NormalizeValue(*a.Sub, value, a.Name())
	if err != nil {
		return err
	}
	if obj == nil {
		obj = map[string]any{}
		container[a.Def.Name()] = obj
	}
	if v == nil {
		delete(obj, a.Sub.Name())
	} else {
		obj[a.Sub.Name()] = v
	}
	p.tidy(a)
	return nil
}

// applyFiltered handles value-filter paths: emails[type eq "work"] and
// emails[type eq "work"].value.
func (p *patcher) applyFiltered(kind string, a schemas.Attr, path filter.Path, value any) error {
	def := a.Def
	if !def.MultiValued() || def.AttributeType() != "complex" || a.Sub != nil {
		return failure.InvalidPath("%s[...] needs a multi-valued complex attribute such as emails", a.Name())
	}
	var sub *schema.CoreAttribute
	if name := path.SubAttributeName(); name != "" {
		s, ok := schemas.SubAttribute(def, name)
		if !ok {
			return failure.InvalidPath("%s has no sub-attribute %q", a.Name(), name)
		}
		if schemas.IsReadOnly(s) {
			return failure.Mutability("%s.%s is read-only", a.Name(), s.Name())
		}
		sub = &s
	}
	container := a.Container(p.attrs, kind != "remove")
	if container == nil {
		return nil
	}
	list := asList(container[def.Name()])
	match, err := scimfilter.CompileElement(def, a.Name(), path.ValueExpression)
	if err != nil {
		return invalidPathFromFilter(err)
	}
	var matched []int
	for i, el := range list {
		m, _ := el.(map[string]any)
		if match(m) {
			matched = append(matched, i)
		}
	}
	if kind == "remove" {
		if sub != nil {
			var emptied []int
			for _, i := range matched {
				el := list[i].(map[string]any)
				delete(el, sub.Name())
				if isStub(def, el) {
					emptied = append(emptied, i)
				}
			}
			// Entra ID clears a mobile number with "remove"
			// phoneNumbers[type eq "mobile"].value: a value left with only
			// its type is no value at all.
			list = removeIndexes(list, emptied)
		} else {
			list = removeIndexes(list, matched)
		}
		container[def.Name()] = list
		p.tidy(a)
		return nil
	}
	// The new value: a sub-attribute value, or a whole element.
	var subVal any
	var elem map[string]any
	if sub != nil {
		v, err := schemas.NormalizeValue(*sub, value, a.Name()+"."+sub.Name())
		if err != nil {
			return err
		}
		subVal = v
	} else {
		v, err := schemas.NormalizeElement(def, value, a.Name())
		if err != nil {
			return err
		}
		elem, _ = v.(map[string]any)
	}
	if len(matched) == 0 {
		// No value matches: create one from the filter's equalities, as
		// Entra expects for emails[type eq "work"].value on a user without a
		// work email. A filter that does not say what the value is cannot.
		seed, ok := equalities(def, path.ValueExpression)
		if !ok {
			return failure.NoTarget("no value of %s matches %s", a.Name(), path.ValueExpression)
		}
		if sub != nil {
			if subVal == nil {
				return nil
			}
			seed[sub.Name()] = subVal
		} else {
			for k, v := range elem {
				seed[k] = v
			}
		}
		list = append(list, seed)
		matched = []int{len(list) - 1}
	} else {
		for _, i := range matched {
			el := list[i].(map[string]any)
			switch {
			case sub != nil && subVal == nil:
				delete(el, sub.Name())
			case sub != nil:
				el[sub.Name()] = subVal
			case kind == "replace":
				list[i] = elem
			default:
				for k, v := range elem {
					el[k] = v
				}
			}
		}
	}
	// A value made primary takes the flag from the others (RFC 7644 §3.5.2).
	for _, i := range matched {
		if m, ok := list[i].(map[string]any); ok && m["primary"] == true {
			demoteOthers(list, list[i])
			break
		}
	}
	container[def.Name()] = list
	p.tidy(a)
	return schemas.CheckOnePrimary(def, list, a.Name())
}

// isStub reports whether a value of a multi-valued complex attribute holds
// nothing but labels: no "value" when the attribute has one (emails,
// phoneNumbers), otherwise nothing besides "type" and "primary"
// (addresses).
func isStub(def schema.CoreAttribute, el map[string]any) bool {
	if _, ok := schemas.SubAttribute(def, "value"); ok {
		return schemas.IsEmpty(el["value"])
	}
	for k, v := range el {
		if k != "type" && k != "primary" && !schemas.IsEmpty(v) {
			return false
		}
	}
	return true
}

func invalidPathFromFilter(err error) error {
	if f, ok := failure.As(err); ok {
		return failure.InvalidPath("%s", f.Detail)
	}
	return err
}

// equalities returns the sub-attribute values a value filter pins down
// (type eq "work" and primary eq true), if it is made of eq comparisons
// joined by "and" only.
func equalities(def schema.CoreAttribute, e filter.Expression) (map[string]any, bool) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		if x.Operator != filter.EQ || x.AttributePath.SubAttribute != nil || x.AttributePath.URIPrefix != nil {
			return nil, false
		}
		sub, ok := schemas.SubAttribute(def, x.AttributePath.AttributeName)
		if !ok {
			return nil, false
		}
		v, err := schemas.NormalizeValue(sub, x.CompareValue, sub.Name())
		if err != nil || v == nil {
			return nil, false
		}
		return map[string]any{sub.Name(): v}, true
	case *filter.LogicalExpression:
		if x.Operator != filter.AND {
			return nil, false
		}
		l, ok := equalities(def, x.Left)
		if !ok {
			return nil, false
		}
		r, ok := equalities(def, x.Right)
		if !ok {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}

// tidy drops what an operation left empty: an empty list, object or
// extension is the same as no value (RFC 7643 §2.5).
func (p *patcher) tidy(a schemas.Attr) {
	container := a.Container(p.attrs, false)
	if container == nil {
		return
	}
	if v, ok := container[a.Def.Name()]; ok {
		if list, isList := v.([]any); isList {
			kept := list[:0]
			for _, el := range list {
				if !schemas.IsEmpty(el) {
					kept = append(kept, el)
				}
			}
			container[a.Def.Name()] = kept
		}
		if schemas.IsEmpty(container[a.Def.Name()]) {
			delete(container, a.Def.Name())
		}
	}
	if a.Ext != nil && len(container) == 0 {
		delete(p.attrs, a.Ext.Schema.ID)
	}
}

// mergeValues adds values to a multi-valued attribute without duplicates: a
// value equal to an existing one (same "value" and "type") updates it.
func mergeValues(def schema.CoreAttribute, existing, added []any) []any {
	out := append([]any{}, existing...)
	for _, v := range added {
		idx := -1
		for i, e := range out {
			if sameValue(def, e, v) {
				idx = i
				break
			}
		}
		if idx < 0 {
			out = append(out, v)
			idx = len(out) - 1
		} else if m, ok := v.(map[string]any); ok {
			el := out[idx].(map[string]any)
			for k, sv := range m {
				el[k] = sv
			}
		}
		if m, ok := out[idx].(map[string]any); ok && m["primary"] == true {
			demoteOthers(out, out[idx])
		}
	}
	return out
}

// sameValue reports whether two values of a multi-valued attribute are the
// same value: equal "value" and "type" sub-attributes for complex ones
// (compared as the schema says: case-insensitively unless caseExact).
func sameValue(def schema.CoreAttribute, a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		return equalAs(def, a, b)
	}
	if _, hasValue := schemas.SubAttribute(def, "value"); !hasValue {
		return reflect.DeepEqual(a, b)
	}
	for _, name := range []string{"value", "type"} {
		sub, ok := schemas.SubAttribute(def, name)
		if !ok {
			continue
		}
		if !equalAs(sub, am[name], bm[name]) {
			return false
		}
	}
	return true
}

// removeMatching removes the values matching any of the given ones: every
// sub-attribute the given value has must be equal.
func removeMatching(def schema.CoreAttribute, list, remove []any) []any {
	out := list[:0:0]
	for _, el := range list {
		drop := false
		for _, r := range remove {
			if matchesGiven(def, el, r) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, el)
		}
	}
	return out
}

func matchesGiven(def schema.CoreAttribute, el, given any) bool {
	gm, gok := given.(map[string]any)
	em, eok := el.(map[string]any)
	if !gok || !eok {
		return equalAs(def, el, given)
	}
	for k, gv := range gm {
		sub, ok := schemas.SubAttribute(def, k)
		if !ok || !equalAs(sub, em[k], gv) {
			return false
		}
	}
	return len(gm) > 0
}

func equalAs(def schema.CoreAttribute, a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok && !def.CaseExact() && def.AttributeType() == "string" {
		return strings.EqualFold(as, bs)
	}
	return reflect.DeepEqual(a, b)
}

func demoteOthers(list []any, keep any) {
	for _, el := range list {
		if m, ok := el.(map[string]any); ok && !sameMap(m, keep) && m["primary"] == true {
			m["primary"] = false
		}
	}
}

func sameMap(m map[string]any, v any) bool {
	o, ok := v.(map[string]any)
	return ok && reflect.ValueOf(m).Pointer() == reflect.ValueOf(o).Pointer()
}

func removeIndexes(list []any, idx []int) []any {
	drop := map[int]bool{}
	for _, i := range idx {
		drop[i] = true
	}
	out := list[:0:0]
	for i, el := range list {
		if !drop[i] {
			out = append(out, el)
		}
	}
	return out
}

func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
