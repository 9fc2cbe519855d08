package directory

// References between resources of this server: a group's members, a
// user's or group's projects, a group's or project's parent, a user's
// manager. Each is {"value": <id>, "$ref": <URI>} (RFC 7643 §2.3.7, as the
// RFC writes members and manager). The value is what is stored; "$ref" is
// derived from it when a resource is returned. A client may send either or
// both: a $ref is read here — it must point at this server's endpoint of
// the right resource type and, next to a value, name the same resource —
// and replaced by the value it names, before the directory's rules check
// that the resource exists.

import (
	"context"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/elimity-com/scim/schema"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

type baseURLKey struct{}

// WithBaseURL returns a context in which references ($ref) are read
// against the URL the SCIM API is reached at (".../scim/v2"): a $ref
// must point at it. Without one (the admin console's own writes), a $ref
// is read by its path alone.
func WithBaseURL(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseURLKey{}, strings.TrimRight(base, "/"))
}

// refID returns the id a $ref names, checking that it points at this
// server's endpoint of resource type to. path names the attribute in
// error details.
func refID(ctx context.Context, to *schemas.ResourceType, ref, path string) (string, error) {
	base, _ := ctx.Value(baseURLKey{}).(string)
	bad := func(why string) error {
		want := "<base>" + to.Endpoint + "/<id>"
		if base != "" {
			want = base + to.Endpoint + "/<id>"
		}
		return failure.InvalidValue("%s %q %s: it must be the URI of a %s of this server, %s", path, ref, why, to.Name, want)
	}
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil || ref == "" {
		return "", bad("is not a URI")
	}
	var rest string
	if base == "" {
		// No base to resolve against: the path's last two segments.
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) < 2 {
			return "", bad("does not name a resource")
		}
		rest = strings.Join(segs[len(segs)-2:], "/")
	} else {
		b, err := url.Parse(base + "/")
		if err != nil {
			return "", err
		}
		abs := b.ResolveReference(u)
		if !strings.EqualFold(abs.Host, b.Host) {
			return "", bad("points at another server")
		}
		if len(abs.Path) < len(b.Path) || !strings.EqualFold(abs.Path[:len(b.Path)], b.Path) {
			return "", bad("is not under this server's SCIM API")
		}
		rest = abs.Path[len(b.Path):]
	}
	endpoint, id, _ := strings.Cut(strings.Trim(rest, "/"), "/")
	if !strings.EqualFold("/"+endpoint, to.Endpoint) {
		return "", bad("points at another resource type")
	}
	if id == "" || strings.Contains(id, "/") {
		return "", bad("does not name one resource")
	}
	return id, nil
}

// readRef replaces the "$ref" of one reference value by the id it names:
// the value becomes that id, and a value given beside it must be the same.
// A null or empty $ref (Entra ID sends "$ref": null) is no reference. It
// reports whether the value had a $ref.
func readRef(ctx context.Context, to *schemas.ResourceType, m map[string]any, path string) (bool, error) {
	var ref any
	key := ""
	for k, v := range m {
		if strings.EqualFold(k, "$ref") {
			key, ref = k, v
		}
	}
	if key == "" {
		return false, nil
	}
	delete(m, key)
	s, ok := ref.(string)
	if ref == nil || (ok && strings.TrimSpace(s) == "") {
		return false, nil
	}
	if !ok {
		return false, failure.InvalidValue("%s.$ref must be a string (a URI)", path)
	}
	id, err := refID(ctx, to, s, path+".$ref")
	if err != nil {
		return false, err
	}
	var value any
	for k, v := range m {
		if strings.EqualFold(k, "value") {
			value = v
			delete(m, k)
		}
	}
	if value != nil && value != id {
		return false, failure.InvalidValue("%s: $ref names %s %q but value is %q; send one of them, or both naming the same %s", path, to.Name, id, value, to.Name)
	}
	m["value"] = id
	return true, nil
}

// resolveRefs reads the $refs of a resource's reference attributes
// (schemas.ReferenceTo) that a write sets — those differing from cur's
// (nil for a create) — and checks that the resources they name exist. A
// manager's value is stored as sent (identity providers such as Okta send
// their own manager id), so a manager is checked only when it came with a
// $ref.
func (s *Service) resolveRefs(ctx context.Context, account string, rt *schemas.ResourceType, cur, next map[string]any) error {
	for _, ref := range referenceAttributes(rt) {
		container := ref.attr.Container(next, false)
		if container == nil {
			continue
		}
		v, ok := container[ref.attr.Def.Name()]
		if !ok {
			continue
		}
		var old any
		if c := ref.attr.Container(cur, false); c != nil {
			old = c[ref.attr.Def.Name()]
		}
		var check []string
		for i, el := range asList(v) {
			m, ok := el.(map[string]any)
			if !ok || containsEqual(asList(old), el) {
				continue
			}
			path := ref.attr.Name()
			if ref.attr.Def.MultiValued() {
				path += "[" + strconv.Itoa(i) + "]"
			}
			had, err := readRef(ctx, ref.to, m, path)
			if err != nil {
				return err
			}
			if had && ref.weak {
				check = append(check, str(m["value"]))
			}
		}
		if len(check) > 0 {
			found, err := s.store.Existing(ctx, ref.to, account, check)
			if err != nil {
				return err
			}
			for _, id := range check {
				if !found[id] {
					return failure.InvalidValue("%s: there is no %s with id %q in this account", ref.attr.Name(), ref.to.Name, id)
				}
			}
		}
	}
	return nil
}

// refAttr is an attribute holding references to resources of this server.
type refAttr struct {
	attr schemas.Attr
	to   *schemas.ResourceType
	// weak: the value is stored as the client sends it, not checked to
	// name a resource (the enterprise manager).
	weak bool
}

// referenceAttributes lists a resource type's writable reference
// attributes, other than a group's members (kept apart, see members.go).
func referenceAttributes(rt *schemas.ResourceType) []refAttr { return refAttrs[rt] }

var refAttrs = map[*schemas.ResourceType][]refAttr{}

func init() {
	for _, rt := range schemas.ResourceTypes() {
		refAttrs[rt] = findReferenceAttributes(rt)
	}
}

func findReferenceAttributes(rt *schemas.ResourceType) []refAttr {
	var out []refAttr
	add := func(ext *schemas.Extension, defs schema.Attributes) {
		for _, def := range defs {
			to, ok := schemas.ReferenceTo(def)
			if !ok || schemas.IsReadOnly(def) || def.Name() == "members" {
				continue
			}
			out = append(out, refAttr{attr: schemas.Attr{Ext: ext, Def: def}, to: to, weak: ext != nil && ext.Schema.ID == schemas.EnterpriseUserURN})
		}
	}
	add(nil, rt.Schema.Attributes)
	for i := range rt.Extensions {
		add(&rt.Extensions[i], rt.Extensions[i].Schema.Attributes)
	}
	return out
}

func containsEqual(list []any, v any) bool {
	for _, el := range list {
		if reflect.DeepEqual(el, v) {
			return true
		}
	}
	return false
}

// RefValue reads the id a stored reference attribute holds (a parent).
func RefValue(v any) string {
	if m, ok := v.(map[string]any); ok {
		return str(m["value"])
	}
	return str(v)
}

// location is the URI of a resource of this server, "" without a base URL
// in the context.
func location(ctx context.Context, rt *schemas.ResourceType, id string) string {
	prefix := RefPrefix(ctx, rt)
	if prefix == "" {
		return ""
	}
	return prefix + url.PathEscape(id)
}

// RefPrefix is what the URI of a resource of type rt starts with, before
// its id (escaped as a path segment): the "$ref" of a reference to it;
// "" without a base URL in the context (no $ref). A GET of a group writes
// its members' references with it (see EachMember).
func RefPrefix(ctx context.Context, rt *schemas.ResourceType) string {
	base, _ := ctx.Value(baseURLKey{}).(string)
	if base == "" {
		return ""
	}
	return base + rt.Endpoint + "/"
}

// expandRefs sets the "$ref" of the resources' references from their
// values (see Expand). A manager gets one only when its value is the id of
// a user of the account: that value is stored as the client sent it.
func (s *Service) expandRefs(ctx context.Context, rs []*store.Resource) error {
	refs := referenceAttributes(rs[0].Type)
	var managers []map[string]any
	for _, r := range rs {
		for _, ref := range refs {
			container := ref.attr.Container(r.Attributes, false)
			for _, el := range asList(container[ref.attr.Def.Name()]) {
				m, ok := el.(map[string]any)
				if !ok {
					continue
				}
				delete(m, "$ref") // stored by earlier versions: derived now
				if ref.weak {
					managers = append(managers, m)
				} else if id := str(m["value"]); id != "" {
					if loc := location(ctx, ref.to, id); loc != "" {
						m["$ref"] = loc
					}
				}
			}
		}
	}
	if len(managers) == 0 || location(ctx, schemas.User, "") == "" {
		return nil
	}
	ids := make([]string, 0, len(managers))
	for _, m := range managers {
		if id := str(m["value"]); id != "" {
			ids = append(ids, id)
		}
	}
	found, err := s.store.Existing(ctx, schemas.User, rs[0].Account, dedupe(ids))
	if err != nil {
		return err
	}
	for _, m := range managers {
		if id := str(m["value"]); found[id] {
			m["$ref"] = location(ctx, schemas.User, id)
		}
	}
	return nil
}
