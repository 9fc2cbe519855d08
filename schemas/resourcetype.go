// Package schemas holds the SCIM schemas and resource types this server
// serves (RFC 7643): their definitions, how an attribute path resolves to a
// definition, and how a client's JSON is checked and put into canonical form.
//
// Definitions use github.com/elimity-com/scim/schema so that /Schemas renders
// them in the RFC's format; everything else in the server reads attribute
// characteristics (type, caseExact, mutability, returned) from here, so each
// decision about an attribute is made once.
package schemas

import (
	"fmt"
	"strings"

	"github.com/elimity-com/scim/schema"
)

// Schema URNs.
const (
	UserURN           = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupURN          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

	ListResponseURN  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpURN       = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SearchRequestURN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
	ErrorURN         = "urn:ietf:params:scim:api:messages:2.0:Error"
	BulkRequestURN   = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	BulkResponseURN  = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"

	ServiceProviderConfigURN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	ResourceTypeURN          = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaURN                = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Extension is a schema extension of a resource type.
type Extension struct {
	Schema   schema.Schema
	Required bool
}

// ResourceType is a kind of resource served under its own endpoint.
type ResourceType struct {
	Name        string // "User"
	Endpoint    string // "/Users"
	Description string
	Schema      schema.Schema
	Extensions  []Extension
}

// Extension returns the extension with the given URN (compared
// case-insensitively, as attribute names are).
func (rt *ResourceType) Extension(urn string) (*Extension, bool) {
	for i := range rt.Extensions {
		if strings.EqualFold(rt.Extensions[i].Schema.ID, urn) {
			return &rt.Extensions[i], true
		}
	}
	return nil, false
}

// SchemaIDs returns the core schema URN followed by the extension URNs.
func (rt *ResourceType) SchemaIDs() []string {
	ids := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		ids = append(ids, e.Schema.ID)
	}
	return ids
}

// Attribute returns the top-level core attribute with the given name.
func (rt *ResourceType) Attribute(name string) (schema.CoreAttribute, bool) {
	return rt.Schema.Attributes.ContainsAttribute(name)
}

// The resource types this server serves, in the order /ResourceTypes lists them.
var (
	User = &ResourceType{
		Name:        "User",
		Endpoint:    "/Users",
		Description: "A person with access to the TimeCamp account",
		Schema:      userSchema(),
		Extensions: []Extension{
			{Schema: enterpriseUserSchema()},
			{Schema: timeCampUserSchema()},
		},
	}
	Group = &ResourceType{
		Name:        "Group",
		Endpoint:    "/Groups",
		Description: "A group of users in the account's group tree",
		Schema:      groupSchema(),
		Extensions: []Extension{
			{Schema: timeCampGroupSchema()},
		},
	}
	Project = &ResourceType{
		Name:        "Project",
		Endpoint:    "/Projects",
		Description: "A TimeCamp project users get access to",
		Schema:      projectSchema(),
	}
)

// ResourceTypes lists every resource type, for discovery and routing.
func ResourceTypes() []*ResourceType {
	return []*ResourceType{User, Group, Project}
}

// ByName returns the resource type with the given name ("User").
func ByName(name string) (*ResourceType, bool) {
	for _, rt := range ResourceTypes() {
		if rt.Name == name {
			return rt, true
		}
	}
	return nil, false
}

// All returns every schema served at /Schemas (resource schemas and
// extensions), each once.
func All() []schema.Schema {
	var out []schema.Schema
	seen := map[string]bool{}
	for _, rt := range ResourceTypes() {
		for _, s := range append([]schema.Schema{rt.Schema}, extensionSchemas(rt)...) {
			if !seen[s.ID] {
				seen[s.ID] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func extensionSchemas(rt *ResourceType) []schema.Schema {
	var out []schema.Schema
	for _, e := range rt.Extensions {
		out = append(out, e.Schema)
	}
	return out
}

func userSchema() schema.Schema {
	s := schema.CoreUserSchema()
	// The RFC's definitions, with what this server does in the
	// descriptions where it decides something: userName compares
	// case-insensitively (caseExact false, uniqueness server, as the RFC
	// has them).
	s.Attributes = replaceAttributes(s.Attributes, map[string]func(schema.CoreAttribute) schema.CoreAttribute{
		"userName": func(a schema.CoreAttribute) schema.CoreAttribute {
			return a.WithDescription(desc("Unique per account, compared without regard to case (409 uniqueness otherwise). Required: a PATCH cannot remove it (400 mutability)."))
		},
		"active": func(a schema.CoreAttribute) schema.CoreAttribute {
			return a.WithDescription(desc("Whether the user may use TimeCamp. false deactivates: the data is kept, the seat freed, a pending invitation revoked; the account owner cannot be deactivated. " + fmt.Sprintf(Unassigned, "true", "its default: the user is active")))
		},
		"password": func(a schema.CoreAttribute) schema.CoreAttribute {
			return a.WithDescription(desc("The user's password for signing in to TimeCamp, 8 characters to 72 bytes; stored hashed, never returned. A PATCH remove deletes it."))
		},
		"roles": func(a schema.CoreAttribute) schema.CoreAttribute {
			return a.WithDescription(desc("Stored as sent. A value naming an account role (guest, user, supervisor or administrator, or Entra ID's app-role JSON) sets the TimeCamp extension's role, unless the same write sets role itself."))
		},
		"groups": func(schema.CoreAttribute) schema.CoreAttribute {
			return schema.ComplexCoreAttribute(schema.ComplexParams{
				Name: "groups", MultiValued: true, Mutability: schema.AttributeMutabilityReadOnly(),
				Description: desc("The groups the user is a direct member of. Change them through the groups' members. " + ReadOnlyRule),
				SubAttributes: []schema.SimpleParams{
					readOnlySub(schema.StringParams{Name: "value", CaseExact: true, Description: desc("The id of the Group.")}),
					schema.SimpleReferenceParams(schema.ReferenceParams{Name: "$ref", Mutability: schema.AttributeMutabilityReadOnly(), ReferenceTypes: []schema.AttributeReferenceType{"Group"}, Description: desc("The URI of the Group.")}),
					readOnlySub(schema.StringParams{Name: "display", Description: desc("The group's displayName.")}),
					readOnlySub(schema.StringParams{Name: "type", CanonicalValues: []string{"direct"}, Description: desc("direct: this server lists the groups a user is a member of itself.")}),
				},
			})
		},
	})
	return s
}

// enterpriseUserSchema is RFC 7643's enterprise extension; its manager is
// a reference whose value is stored as the client sends it.
func enterpriseUserSchema() schema.Schema {
	s := schema.ExtensionEnterpriseUser()
	s.Attributes = replaceAttributes(s.Attributes, map[string]func(schema.CoreAttribute) schema.CoreAttribute{
		"manager": func(a schema.CoreAttribute) schema.CoreAttribute {
			return schema.ComplexCoreAttribute(schema.ComplexParams{
				Name:        "manager",
				Description: desc("The user's manager. Stored as sent, also as a plain id or a one-element list (as Entra ID sends it); filter with manager eq \"<id>\"."),
				SubAttributes: []schema.SimpleParams{
					schema.SimpleStringParams(schema.StringParams{Name: "value", Description: desc("The id of the manager's User. Not checked against the account's users: identity providers such as Okta send their own manager id here.")}),
					schema.SimpleReferenceParams(schema.ReferenceParams{Name: "$ref", ReferenceTypes: []schema.AttributeReferenceType{"User"}, Description: desc("The URI of the manager's User on this server; returned when value is the id of a user of the account. A $ref sent must name an existing user of this server and agree with value (400 invalidValue otherwise).")}),
					readOnlySub(schema.StringParams{Name: "displayName", Description: desc("The manager's displayName. Read-only, and not returned by this server; sending it has no effect.")}),
				},
			})
		},
	})
	return s
}

func groupSchema() schema.Schema {
	s := schema.CoreGroupSchema()
	s.Attributes = replaceAttributes(s.Attributes, map[string]func(schema.CoreAttribute) schema.CoreAttribute{
		"displayName": func(schema.CoreAttribute) schema.CoreAttribute {
			return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "displayName", Required: true, Uniqueness: schema.AttributeUniquenessServer(),
				Description: desc("The group's name, unique per account compared without regard to case (409 uniqueness otherwise). Required: a PATCH cannot remove it (400 mutability)."),
			}))
		},
		// Members are users, added and removed one by one (a member's
		// value is never edited in place: immutable); what the server
		// derives from the value is read-only.
		"members": func(schema.CoreAttribute) schema.CoreAttribute {
			return schema.ComplexCoreAttribute(schema.ComplexParams{
				Name: "members", MultiValued: true,
				Description: desc("The users in the group (groups cannot be members). Each is added by its value or $ref and removed by its value; PATCH members[value eq \"<id>\"] picks one. A member that is not a user of the account answers 400 invalidValue."),
				SubAttributes: []schema.SimpleParams{
					schema.SimpleStringParams(schema.StringParams{Name: "value", Mutability: schema.AttributeMutabilityImmutable(), Description: desc("The id of the User. " + RefRule)}),
					schema.SimpleReferenceParams(schema.ReferenceParams{Name: "$ref", Mutability: schema.AttributeMutabilityImmutable(), ReferenceTypes: []schema.AttributeReferenceType{"User"}, Description: desc("The URI of the User. " + RefRule)}),
					readOnlySub(schema.StringParams{Name: "type", CanonicalValues: []string{"User"}, Description: desc("User: every member is a user. " + ReadOnlyRule)}),
					readOnlySub(schema.StringParams{Name: "display", Description: desc("The member's displayName, else userName. " + ReadOnlyRule)}),
				},
			})
		},
	})
	return s
}

func readOnlySub(p schema.StringParams) schema.SimpleParams {
	p.Mutability = schema.AttributeMutabilityReadOnly()
	return schema.SimpleStringParams(p)
}

// replaceAttributes returns attrs with the named ones rebuilt.
func replaceAttributes(attrs schema.Attributes, with map[string]func(schema.CoreAttribute) schema.CoreAttribute) schema.Attributes {
	out := make(schema.Attributes, len(attrs))
	for i, a := range attrs {
		if f, ok := with[a.Name()]; ok {
			a = f(a)
			delete(with, a.Name())
		}
		out[i] = a
	}
	if len(with) > 0 {
		panic(fmt.Sprintf("schemas: no attributes %v to replace", with))
	}
	return out
}
