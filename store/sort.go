package store

import (
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// SortKey is the attribute a query sorts by, checked.
type SortKey struct {
	Attr schemas.Attr
	// Lower: the attribute is a case-insensitive string, compared by its
	// lower-cased value.
	Lower bool
	// AlwaysThere: every resource has a value (creation and modification
	// times, id, required attributes such as userName), so no resource
	// sorts among those without one.
	AlwaysThere bool
}

// ResolveSort checks a sortBy attribute path: a single-valued attribute
// that is not secret. Resources without a value come last in ascending
// order and first in descending order (RFC 7644 §3.4.2.3); ties are broken
// by id so that pages never overlap.
func ResolveSort(rt *schemas.ResourceType, sortBy string) (SortKey, error) {
	a, err := rt.ResolveString(sortBy)
	if err != nil {
		if f, ok := failure.As(err); ok {
			return SortKey{}, failure.InvalidValue("sortBy: %s", f.Detail)
		}
		return SortKey{}, err
	}
	leaf := a.Leaf()
	switch {
	case a.WholeExtension || leaf.AttributeType() == "complex":
		return SortKey{}, failure.InvalidValue("sortBy must name a single-valued attribute such as name.familyName; %s is complex", a.Name())
	case a.Def.MultiValued() || (a.Sub != nil && a.Sub.MultiValued()):
		return SortKey{}, failure.InvalidValue("sortBy must name a single-valued attribute; %s has many values", a.Name())
	case schemas.IsNeverReturned(leaf):
		return SortKey{}, failure.InvalidValue("sortBy cannot use %s", a.Name())
	}
	k := SortKey{Attr: a, Lower: leaf.AttributeType() == "string" && !leaf.CaseExact()}
	if a.Common {
		switch CommonField(a) {
		case FieldID, FieldCreated, FieldModified:
			k.AlwaysThere, k.Lower = true, false
		case FieldExternalID:
		default:
			return SortKey{}, failure.InvalidValue("sortBy: %s cannot be used here", a.Name())
		}
		return k, nil
	}
	k.AlwaysThere = a.Ext == nil && a.Sub == nil && a.Def.Required() // userName, a group's displayName
	return k, nil
}

// Fields of a resource that are not SCIM attributes of its own, for
// CommonField.
const (
	FieldID         = "id"
	FieldExternalID = "externalId"
	FieldCreated    = "created"
	FieldModified   = "modified"
)

// CommonField names the stored field of a common attribute (id,
// externalId, meta.created, meta.lastModified); "" for the others
// (meta.resourceType, meta.location, meta.version), which no store keeps.
func CommonField(a schemas.Attr) string {
	switch a.Def.Name() {
	case schemas.AttrID:
		return FieldID
	case schemas.AttrExternalID:
		return FieldExternalID
	case schemas.AttrMeta:
		switch a.Sub.Name() {
		case "created":
			return FieldCreated
		case "lastModified":
			return FieldModified
		}
	}
	return ""
}
