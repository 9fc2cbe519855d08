package schemas

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"

	"github.com/timecamp/timecamp-scim/failure"
)

// TimeFormat is how every dateTime is stored and returned: UTC with
// milliseconds, fixed width, so that text order is time order and a value a
// client read back compares equal to the stored one.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// FormatTime renders t in TimeFormat.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// ParseTime reads an xsd:dateTime as RFC 7643 §2.3.5 allows (with or without
// fractional seconds; a missing zone is UTC).
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a dateTime")
}

// Normalize checks a resource body (POST, PUT, Bulk) and returns its
// attributes in canonical form: known attributes only, canonical names,
// typed values, extension attributes under their schema URN. id, meta,
// schemas and readOnly attributes are dropped (RFC 7643 §7: the service
// provider ignores them); null, empty lists and empty objects count as
// absent (RFC 7643 §2.5), while an empty string is kept as a value (Okta
// sends "middleName": ""). Required attributes must be present and not
// blank.
func (rt *ResourceType) Normalize(body map[string]any) (map[string]any, error) {
	if err := rt.checkSchemas(body); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for key, v := range body {
		switch {
		case strings.EqualFold(key, AttrSchemas), strings.EqualFold(key, AttrID), strings.EqualFold(key, AttrMeta):
			continue
		case strings.EqualFold(key, AttrExternalID):
			s, err := normalizeSingular(commonExternalID(), v, AttrExternalID)
			if err != nil {
				return nil, err
			}
			setIfPresent(out, AttrExternalID, s)
			continue
		}
		if ext, ok := rt.Extension(key); ok {
			obj, ok := v.(map[string]any)
			if v == nil {
				continue
			}
			if !ok {
				return nil, failure.InvalidValue("%s must be an object holding the extension's attributes", ext.Schema.ID)
			}
			m, err := normalizeAttributes(ext.Schema.Attributes, obj, ext.Schema.ID+":")
			if err != nil {
				return nil, err
			}
			if len(m) > 0 {
				mergeInto(out, ext.Schema.ID, m)
			}
			continue
		}
		if strings.HasPrefix(strings.ToLower(key), "urn:") {
			// An extension attribute written with its full path as the key.
			a, err := rt.ResolveString(key)
			if err != nil || a.Ext == nil || a.Sub != nil {
				continue // unknown schema: ignored like any unknown attribute
			}
			if isReadOnly(a.Def) {
				continue
			}
			nv, err := NormalizeValue(a.Def, v, a.Name())
			if err != nil {
				return nil, err
			}
			if nv != nil {
				a.Container(out, true)[a.Def.Name()] = nv
			}
			continue
		}
		def, ok := rt.Schema.Attributes.ContainsAttribute(key)
		var ext *Extension
		if !ok {
			// An extension attribute named without its schema URN, as a
			// PATCH path may name it ("manager").
			ext, def, ok = rt.extensionAttribute(key)
		}
		if !ok || isReadOnly(def) || (ext != nil && v == nil) {
			continue // unknown and read-only attributes are ignored
		}
		container, path := out, def.Name()
		if ext != nil {
			container, _ = out[ext.Schema.ID].(map[string]any)
			path = ext.Schema.ID + ":" + def.Name()
		}
		if _, dup := container[def.Name()]; dup {
			return nil, failure.InvalidSyntax("attribute %q appears more than once (names are case-insensitive)", path)
		}
		nv, err := NormalizeValue(def, v, path)
		if err != nil {
			return nil, err
		}
		if nv == nil {
			continue
		}
		if ext != nil && container == nil {
			container = map[string]any{}
			out[ext.Schema.ID] = container
		}
		container[def.Name()] = nv
	}
	if err := rt.checkRequired(out); err != nil {
		return nil, err
	}
	if err := rt.CheckLimits(out); err != nil {
		return nil, err
	}
	return out, nil
}

func mergeInto(out map[string]any, key string, m map[string]any) {
	existing, _ := out[key].(map[string]any)
	if existing == nil {
		out[key] = m
		return
	}
	for k, v := range m {
		existing[k] = v
	}
}

func (rt *ResourceType) checkSchemas(body map[string]any) error {
	var raw any
	for k, v := range body {
		if strings.EqualFold(k, AttrSchemas) {
			raw = v
		}
	}
	list, ok := raw.([]any)
	if !ok {
		return failure.InvalidSyntax("the body must list its schemas, e.g. \"schemas\": [%q]", rt.Schema.ID)
	}
	for _, s := range list {
		if str, ok := s.(string); ok && (strings.EqualFold(str, rt.Schema.ID) || (rt == User && isLegacyCoreURN(str))) {
			return nil
		}
	}
	return failure.InvalidSyntax("\"schemas\" must include %q for a %s", rt.Schema.ID, rt.Name)
}

// isLegacyCoreURN recognises the core schema URNs of SCIM 1.1 and of
// OneLogin's SCIM templates ("urn:scim:schemas:core:1.0", and
// "urn:scim:schemas:core:2.0" as OneLogin's SCIM v2 connector guides
// write it) in a User's "schemas": OneLogin sends its JSON template's
// "schemas" as the administrator pasted it from OneLogin's documentation.
// The attributes are read as SCIM 2.0 User attributes either way.
func isLegacyCoreURN(urn string) bool {
	return strings.EqualFold(urn, "urn:scim:schemas:core:1.0") || strings.EqualFold(urn, "urn:scim:schemas:core:2.0")
}

// CheckRequired reports the first required attribute missing from attrs.
func (rt *ResourceType) checkRequired(attrs map[string]any) error {
	for _, def := range rt.Schema.Attributes {
		if def.Required() && !isReadOnly(def) && isEmpty(attrs[def.Name()]) {
			return failure.InvalidValue("attribute %q is required for a %s", def.Name(), rt.Name)
		}
	}
	for _, ext := range rt.Extensions {
		m, _ := attrs[ext.Schema.ID].(map[string]any)
		if m == nil && !ext.Required {
			continue
		}
		for _, def := range ext.Schema.Attributes {
			if def.Required() && !isReadOnly(def) && isEmpty(m[def.Name()]) {
				return failure.InvalidValue("attribute %q is required", ext.Schema.ID+":"+def.Name())
			}
		}
	}
	return nil
}

// CheckRequired reports a required attribute missing from a resource's
// attributes (used after PATCH, which may remove one).
func (rt *ResourceType) CheckRequired(attrs map[string]any) error { return rt.checkRequired(attrs) }

func normalizeAttributes(defs schema.Attributes, obj map[string]any, prefix string) (map[string]any, error) {
	out := map[string]any{}
	for key, v := range obj {
		def, ok := defs.ContainsAttribute(key)
		if !ok || isReadOnly(def) {
			continue
		}
		if _, dup := out[def.Name()]; dup {
			return nil, failure.InvalidSyntax("attribute %q appears more than once (names are case-insensitive)", prefix+def.Name())
		}
		nv, err := NormalizeValue(def, v, prefix+def.Name())
		if err != nil {
			return nil, err
		}
		setIfPresent(out, def.Name(), nv)
	}
	return out, nil
}

// NormalizeValue checks a value for an attribute and returns it in canonical
// form, or nil when the value counts as absent. path names the attribute in
// error details.
func NormalizeValue(def schema.CoreAttribute, v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !def.MultiValued() {
		return normalizeSingular(def, v, path)
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v} // a single value for a multi-valued attribute
	}
	if len(list) > MaxValues && countedValues(def) {
		return nil, failure.InvalidValue("%q has %d values; at most %d are allowed", path, len(list), MaxValues)
	}
	out := make([]any, 0, len(list))
	for i, el := range list {
		nv, err := normalizeSingular(def, el, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		if nv != nil {
			out = append(out, nv)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := CheckOnePrimary(def, out, path); err != nil {
		return nil, err
	}
	return out, nil
}

// NormalizeElement checks one value of a multi-valued attribute (or the value
// of a singular one).
func NormalizeElement(def schema.CoreAttribute, v any, path string) (any, error) {
	return normalizeSingular(def, v, path)
}

// CheckOnePrimary enforces RFC 7643 §2.4: "primary" is true on at most one
// value of a multi-valued attribute.
func CheckOnePrimary(def schema.CoreAttribute, values []any, path string) error {
	n := 0
	for _, el := range values {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			n++
		}
	}
	if n > 1 {
		return failure.InvalidValue("at most one value of %q may have \"primary\": true (%d do)", path, n)
	}
	return nil
}

func normalizeSingular(def schema.CoreAttribute, v any, path string) (any, error) {
	if v == nil || blankNonText(def, v) {
		return nil, nil
	}
	switch def.AttributeType() {
	case "complex":
		if list, isList := v.([]any); isList && !def.MultiValued() {
			// Entra ID sends the manager as a list of one reference:
			// [{"$ref": "…/Users/id", "value": "id"}].
			switch len(list) {
			case 0:
				return nil, nil
			case 1:
				v = list[0]
			default:
				return nil, failure.InvalidValue("%q has one value, got a list of %d", path, len(list))
			}
		}
		obj, ok := v.(map[string]any)
		if !ok {
			// Entra sends a manager as a plain id: treat a scalar as the value.
			if _, hasValue := SubAttribute(def, "value"); hasValue && isScalar(v) {
				obj = map[string]any{"value": v}
			} else {
				return nil, failure.InvalidValue("%q must be an object, got %s", path, describe(v))
			}
		}
		m, err := normalizeAttributes(def.SubAttributes(), obj, path+".")
		if err != nil {
			return nil, err
		}
		if _, isRef := SubAttribute(def, "$ref"); isRef {
			if s, ok := m["value"].(string); ok && strings.TrimSpace(s) == "" {
				delete(m, "value") // a reference to nothing (OneLogin: "manager": {"value": ""})
			}
		}
		if len(m) == 0 {
			return nil, nil
		}
		return m, nil
	case "string", "reference":
		s, ok := v.(string)
		if !ok {
			return nil, failure.InvalidValue("%q must be a string, got %s", path, describe(v))
		}
		if err := checkLength(def, s, path); err != nil {
			return nil, err
		}
		return canonicalString(def, s, path)
	case "boolean":
		switch b := v.(type) {
		case bool:
			return b, nil
		case string: // Entra sends "True"/"False"
			if p, err := strconv.ParseBool(strings.TrimSpace(b)); err == nil {
				return p, nil
			}
		}
		return nil, failure.InvalidValue("%q must be a boolean (true or false), got %s", path, describe(v))
	case "integer":
		if n, ok := toFloat(v); ok && n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), nil
		}
		return nil, failure.InvalidValue("%q must be an integer, got %s", path, describe(v))
	case "decimal":
		if n, ok := toFloat(v); ok {
			return n, nil
		}
		return nil, failure.InvalidValue("%q must be a number, got %s", path, describe(v))
	case "dateTime":
		s, ok := v.(string)
		if ok {
			if t, err := ParseTime(s); err == nil {
				return FormatTime(t), nil
			}
		}
		return nil, failure.InvalidValue("%q must be a dateTime such as \"2026-01-31T09:00:00Z\", got %s", path, describe(v))
	case "binary":
		if s, ok := v.(string); ok {
			if err := checkLength(def, s, path); err != nil {
				return nil, err
			}
			if _, err := base64.StdEncoding.DecodeString(s); err == nil {
				return s, nil
			}
		}
		return nil, failure.InvalidValue("%q must be base64-encoded binary, got %s", path, describe(v))
	}
	return nil, failure.InvalidValue("%q has an unsupported type", path)
}

// blankNonText reports an empty string sent for an attribute whose values
// are not free text (a boolean, a number, a date, binary, a reference, or
// a string limited to its canonical values): it is no value, as null is.
// OneLogin fills its JSON template with "" for every parameter the user
// has no value for ("timeTrackingAdmin": "", "role": ""); refusing those
// would refuse every such user. An empty free-text string stays a value
// (Okta sends "middleName": "").
func blankNonText(def schema.CoreAttribute, v any) bool {
	s, ok := v.(string)
	if !ok || strings.TrimSpace(s) != "" {
		return false
	}
	switch def.AttributeType() {
	case "string":
		return strictCanonical(def)
	case "complex":
		return true
	}
	return true
}

// canonicalString applies an attribute's canonical values when the schema
// makes them binding (see strictCanonical): the value is matched
// case-insensitively and stored in its canonical spelling.
func canonicalString(def schema.CoreAttribute, s, path string) (any, error) {
	values := def.CanonicalValues()
	if len(values) == 0 || !strictCanonical(def) {
		return s, nil
	}
	for _, c := range values {
		if strings.EqualFold(c, strings.TrimSpace(s)) {
			return c, nil
		}
	}
	return nil, failure.InvalidValue("%q must be one of %s, got %q", path, strings.Join(values, ", "), s)
}

// strictCanonical reports whether an attribute's canonical values are the
// only values allowed. The RFC's canonical values are suggestions
// (emails.type may be anything); this server's own enumerations are binding.
// Their definitions say so with a description ending in "(one of the
// canonical values)".
func strictCanonical(def schema.CoreAttribute) bool {
	return strings.HasSuffix(def.Description(), StrictCanonicalMarker)
}

// StrictCanonicalMarker ends the description of an attribute whose canonical
// values are the only values allowed.
const StrictCanonicalMarker = "(one of the canonical values)"

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case string: // Entra sends numbers as strings too
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil
	}
	return 0, false
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, json.Number, float64, int64, int:
		return true
	}
	return false
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return strconv.Quote(x)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case json.Number, float64, int64, int:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func isReadOnly(def schema.CoreAttribute) bool { return def.Mutability() == "readOnly" }

// IsReadOnly reports whether clients may not set the attribute.
func IsReadOnly(def schema.CoreAttribute) bool { return isReadOnly(def) }

// IsNeverReturned reports whether the attribute is never returned (password).
func IsNeverReturned(def schema.CoreAttribute) bool { return def.Returned() == "never" }

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// IsEmpty reports whether a value counts as unassigned (RFC 7643 §2.5).
func IsEmpty(v any) bool { return isEmpty(v) }

func setIfPresent(m map[string]any, k string, v any) {
	if v != nil {
		m[k] = v
	}
}

func commonExternalID() schema.CoreAttribute {
	def, _ := schema.Attributes(commonAttributes).ContainsAttribute(AttrExternalID)
	return def
}

// Copy returns a deep copy of attribute values (JSON-shaped: maps, lists
// and scalars), so that a change computed on the copy leaves the original
// as it was.
func Copy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return CopyAttributes(x)
	case []any:
		l := make([]any, len(x))
		for i, el := range x {
			l[i] = Copy(el)
		}
		return l
	}
	return v
}

// CopyAttributes returns a deep copy of a resource's attributes.
func CopyAttributes(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = Copy(v)
	}
	return out
}
