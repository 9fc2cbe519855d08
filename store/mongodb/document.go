package mongodb

import (
	"strings"
	"time"

	"github.com/elimity-com/scim/schema"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// kind is how one resource type is stored.
type kind struct {
	rt         *schemas.ResourceType
	collection string
	store.Kind
	extraIndexes []bson.D
}

var kinds = map[string]*kind{
	"User": {
		rt: schemas.User, collection: "users", Kind: store.KindOf(schemas.User),
		extraIndexes: []bson.D{
			{{Key: "account", Value: 1}, {Key: "n.emails.value", Value: 1}},
			// Accept links look the user up by the hash of their token;
			// the expiry sweep finds pending invitations past their expiry.
			{{Key: "inv.hash", Value: 1}},
			{{Key: "inv.status", Value: 1}, {Key: "inv.expiresAt", Value: 1}},
			// Counting the seats in use; finding who has access to a
			// project (deleting it).
			{{Key: "account", Value: 1}, {Key: countsTowardSeatsField, Value: 1}},
			{{Key: "account", Value: 1}, {Key: "a." + storageKey(schemas.TimeCampUserURN) + ".projects.value", Value: 1}},
		},
	},
	"Group": {
		rt: schemas.Group, collection: "groups", Kind: store.KindOf(schemas.Group),
		extraIndexes: []bson.D{
			{{Key: "account", Value: 1}, {Key: "a." + storageKey(schemas.TimeCampGroupURN) + ".projects.value", Value: 1}},
		},
	},
	"Project": {
		rt: schemas.Project, collection: "projects",
	},
}

func kindOf(rt *schemas.ResourceType) *kind {
	k, ok := kinds[rt.Name]
	if !ok {
		panic("store: no storage for resource type " + rt.Name)
	}
	return k
}

func (k *kind) indexes() []index {
	ixs := []index{
		{k.collection, bson.D{{Key: "account", Value: 1}, {Key: "created", Value: 1}}, false},
		{k.collection, bson.D{{Key: "account", Value: 1}, {Key: "modified", Value: 1}}, false},
		{k.collection, bson.D{{Key: "account", Value: 1}, {Key: "a.externalId", Value: 1}}, false},
	}
	if k.Unique != "" {
		ixs = append(ixs, index{k.collection, bson.D{{Key: "account", Value: 1}, {Key: "n." + k.Unique, Value: 1}}, true})
	}
	for _, keys := range k.extraIndexes {
		ixs = append(ixs, index{k.collection, keys, false})
	}
	return ixs
}

// document is a resource as stored.
type document struct {
	ID       string         `bson:"_id"`
	Account  string         `bson:"account"`
	Version  int64          `bson:"version"`
	Created  time.Time      `bson:"created"`
	Modified time.Time      `bson:"modified"`
	A        map[string]any `bson:"a"`
	N        map[string]any `bson:"n,omitempty"`
	Password string         `bson:"pw,omitempty"`
	// Inv is a user's invitation, kept outside the SCIM attributes (its
	// token hash is a secret); the attributes carry what clients see.
	Inv *store.Invitation `bson:"inv,omitempty"`
}

// Field names in stored attributes. MongoDB field names cannot hold dots
// (extension URNs contain "2.0") and FerretDB refuses names starting with
// "$" ($ref), so both are rewritten on the way in and back on the way out.
const refKey, storedRefKey = "$ref", "_ref"

func storageKey(urn string) string { return strings.ReplaceAll(urn, ".", "_") }

func toDocument(r *store.Resource) *document {
	return &document{
		ID: r.ID, Account: r.Account, Version: r.Version, Created: r.Created, Modified: r.Modified,
		A:        encodeAttributes(r.Type, r.Attributes),
		N:        lowered(r.Type, r.Attributes),
		Password: r.PasswordHash,
		Inv:      r.Invitation,
	}
}

func fromDocument(rt *schemas.ResourceType, d *document) *store.Resource {
	return &store.Resource{
		Type: rt, ID: d.ID, Account: d.Account, Version: d.Version,
		Created: d.Created.UTC(), Modified: d.Modified.UTC(),
		Attributes:   decodeAttributes(rt, d.A),
		PasswordHash: d.Password,
		Invitation:   d.Inv,
	}
}

func encodeAttributes(rt *schemas.ResourceType, attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if _, ok := rt.Extension(k); ok {
			k = storageKey(k)
		}
		out[k] = renameKeys(v, refKey, storedRefKey)
	}
	return out
}

func decodeAttributes(rt *schemas.ResourceType, stored map[string]any) map[string]any {
	out := make(map[string]any, len(stored))
	for k, v := range stored {
		for _, e := range rt.Extensions {
			if storageKey(e.Schema.ID) == k {
				k = e.Schema.ID
			}
		}
		out[k] = renameKeys(plain(v), storedRefKey, refKey)
	}
	return out
}

// renameKeys copies v, renaming object keys from → to at every depth.
func renameKeys(v any, from, to string) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, el := range x {
			if k == from {
				k = to
			}
			m[k] = renameKeys(el, from, to)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, el := range x {
			l[i] = renameKeys(el, from, to)
		}
		return l
	}
	return v
}

// plain converts decoded BSON into the JSON-shaped values the rest of the
// server uses: []any, map[string]any, int64, float64, string, bool.
func plain(v any) any {
	switch x := v.(type) {
	case bson.A:
		return plain([]any(x))
	case []any:
		l := make([]any, len(x))
		for i, el := range x {
			l[i] = plain(el)
		}
		return l
	case bson.M:
		return plain(map[string]any(x))
	case bson.D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = plain(e.Value)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, el := range x {
			m[k] = plain(el)
		}
		return m
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case bson.DateTime:
		return x.Time().UTC()
	}
	return v
}

// lowered returns the lower-cased copy of the attributes' case-insensitive
// strings, shaped like the attributes, stored as "n": case-insensitive
// equality and the unique indexes use it instead of a case-insensitive regex
// or a collation (neither of which an index can serve on both databases).
func lowered(rt *schemas.ResourceType, attrs map[string]any) map[string]any {
	out := lowerObject(rt.Schema.Attributes, attrs)
	for _, e := range rt.Extensions {
		if m, ok := attrs[e.Schema.ID].(map[string]any); ok {
			if l := lowerObject(e.Schema.Attributes, m); len(l) > 0 {
				out[storageKey(e.Schema.ID)] = l
			}
		}
	}
	return out
}

func lowerObject(defs schema.Attributes, obj map[string]any) map[string]any {
	out := map[string]any{}
	for _, def := range defs {
		v, ok := obj[def.Name()]
		if !ok {
			continue
		}
		if l := lowerValue(def, v); l != nil {
			out[def.Name()] = l
		}
	}
	return out
}

func lowerValue(def schema.CoreAttribute, v any) any {
	if list, ok := v.([]any); ok {
		var out []any
		for _, el := range list {
			if l := lowerSingle(def, el); l != nil {
				out = append(out, l)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return lowerSingle(def, v)
}

func lowerSingle(def schema.CoreAttribute, v any) any {
	switch def.AttributeType() {
	case "complex":
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if l := lowerObject(def.SubAttributes(), m); len(l) > 0 {
			return l
		}
	case "string":
		if s, ok := v.(string); ok && !def.CaseExact() {
			return strings.ToLower(s)
		}
	}
	return nil
}
