package schemas

import (
	"strings"

	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
)

// Common attribute names (RFC 7643 §3.1).
const (
	AttrID         = "id"
	AttrExternalID = "externalId"
	AttrMeta       = "meta"
	AttrSchemas    = "schemas"
)

var commonAttributes = schema.CommonAttributes()

// Attr is an attribute path resolved against a resource type: a top-level
// attribute of the core schema, of an extension, or a common attribute
// (id, externalId, meta), optionally with one of its sub-attributes.
type Attr struct {
	// Ext is the extension holding the attribute, nil for core and common.
	Ext *Extension
	// Def is the top-level attribute.
	Def schema.CoreAttribute
	// Sub is the sub-attribute the path names, if any.
	Sub *schema.CoreAttribute
	// Common is set for id, externalId and meta.
	Common bool
	// WholeExtension is set when the path is an extension URN itself; Def is
	// then unset.
	WholeExtension bool
}

// Leaf is the attribute the path ends at: the sub-attribute if named.
func (a Attr) Leaf() schema.CoreAttribute {
	if a.Sub != nil {
		return *a.Sub
	}
	return a.Def
}

// Name is the canonical path: "name.givenName", or URN-qualified for
// extension attributes.
func (a Attr) Name() string {
	if a.WholeExtension {
		return a.Ext.Schema.ID
	}
	n := a.Def.Name()
	if a.Ext != nil {
		n = a.Ext.Schema.ID + ":" + n
	}
	if a.Sub != nil {
		n += "." + a.Sub.Name()
	}
	return n
}

// Is reports whether the path names the given top-level attribute of the
// core schema or the common attributes (and no extension).
func (a Attr) Is(name string) bool {
	return a.Ext == nil && !a.WholeExtension && a.Def.Name() == name
}

// Container returns the map holding the top-level attribute within a
// resource's attributes: the attributes themselves for core attributes, the
// extension's object for extension attributes. With create set, a missing
// extension object is added.
func (a Attr) Container(attrs map[string]any, create bool) map[string]any {
	if a.Ext == nil {
		return attrs
	}
	m, ok := attrs[a.Ext.Schema.ID].(map[string]any)
	if !ok && create {
		m = map[string]any{}
		attrs[a.Ext.Schema.ID] = m
	}
	return m
}

// SubAttribute returns the sub-attribute of a complex attribute by name,
// compared case-insensitively.
func SubAttribute(def schema.CoreAttribute, name string) (schema.CoreAttribute, bool) {
	return def.SubAttributes().ContainsAttribute(name)
}

// Resolve resolves a parsed attribute path (as in a filter or a PATCH path).
func (rt *ResourceType) Resolve(p filter.AttributePath) (Attr, error) {
	return rt.resolve(p.URI(), p.AttributeName, p.SubAttributeName())
}

// ResolveString resolves an attribute path written as text
// ("name.givenName", "urn:...:User:department", "meta.lastModified", or an
// extension URN on its own).
func (rt *ResourceType) ResolveString(path string) (Attr, error) {
	if ext, ok := rt.Extension(path); ok {
		return Attr{Ext: ext, WholeExtension: true}, nil
	}
	p, err := filter.ParseAttrPath([]byte(path))
	if err != nil {
		return Attr{}, failure.InvalidPath("%q is not an attribute path", path)
	}
	return rt.Resolve(p)
}

func (rt *ResourceType) resolve(uri, name, sub string) (Attr, error) {
	var a Attr
	switch {
	case uri == "" || strings.EqualFold(uri, rt.Schema.ID):
		if def, ok := rt.Schema.Attributes.ContainsAttribute(name); ok {
			a.Def = def
		} else if def, ok := schema.Attributes(commonAttributes).ContainsAttribute(name); ok {
			a.Def, a.Common = def, true
		} else if uri == "" {
			// "urn:...:2.0:User" parses as URI "urn:...:2.0" + name "User".
			if ext, ok := rt.Extension(name); ok && sub == "" {
				return Attr{Ext: ext, WholeExtension: true}, nil
			}
			ext, def, ok := rt.extensionAttribute(name)
			if !ok {
				return Attr{}, unknownAttribute(rt, name)
			}
			a.Ext, a.Def = ext, def
		} else {
			return Attr{}, unknownAttribute(rt, uri+":"+name)
		}
	default:
		ext, ok := rt.Extension(uri)
		if !ok {
			if ext, ok := rt.Extension(uri + ":" + name); ok && sub == "" {
				return Attr{Ext: ext, WholeExtension: true}, nil
			}
			return Attr{}, unknownAttribute(rt, uri+":"+name)
		}
		def, ok := ext.Schema.Attributes.ContainsAttribute(name)
		if !ok {
			return Attr{}, unknownAttribute(rt, uri+":"+name)
		}
		a.Ext, a.Def = ext, def
	}
	if sub != "" {
		s, ok := SubAttribute(a.Def, sub)
		if !ok {
			return Attr{}, unknownAttribute(rt, a.Name()+"."+sub)
		}
		a.Sub = &s
	}
	return a, nil
}

// extensionAttribute finds an extension attribute named without its schema
// URN, when exactly one extension has it. RFC 7643 asks for the URN, but
// Entra ID sends {"op": "Add", "path": "manager", ...} for the enterprise
// extension's manager.
func (rt *ResourceType) extensionAttribute(name string) (*Extension, schema.CoreAttribute, bool) {
	var found *Extension
	var def schema.CoreAttribute
	for i := range rt.Extensions {
		if d, ok := rt.Extensions[i].Schema.Attributes.ContainsAttribute(name); ok {
			if found != nil {
				return nil, schema.CoreAttribute{}, false
			}
			found, def = &rt.Extensions[i], d
		}
	}
	return found, def, found != nil
}

func unknownAttribute(rt *ResourceType, path string) error {
	return failure.InvalidPath("%s has no attribute %q", rt.Name, path)
}
