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
			{Schema: schema.ExtensionEnterpriseUser()},
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
	// userName compares case-insensitively (RFC 7643 §4.1.1); the library
	// already declares it caseExact=false. Nothing to change here beyond
	// documenting that the definition is the RFC's.
	return s
}

func groupSchema() schema.Schema {
	s := schema.CoreGroupSchema()
	// Members are edited one by one through PATCH (add/remove a member); the
	// RFC declares the sub-attributes immutable only in the sense that a
	// member's value is not edited in place, which PATCH on members honours.
	return s
}
