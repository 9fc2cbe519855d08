package scim

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/elimity-com/scim/schema"
	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// serviceProviderConfig tells clients what this server supports
// (RFC 7643 §5). Each flag is true only where the feature works.
func (s *Server) serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	base := s.base(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{schemas.ServiceProviderConfigURN},
		"documentationUri": "https://github.com/timecamp/timecamp-scim/blob/main/docs/scim.md",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": BulkMaxOperations, "maxPayloadSize": BulkMaxPayload},
		"filter":           map[string]any{"supported": true, "maxResults": MaxResults},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type":             "oauthbearertoken",
			"name":             "OAuth Bearer Token",
			"description":      "Authentication with a SCIM token of the account, sent as \"Authorization: Bearer <token>\".",
			"specUri":          "https://www.rfc-editor.org/info/rfc6750",
			"documentationUri": "https://github.com/timecamp/timecamp-scim/blob/main/docs/operations.md#accounts-and-tokens",
			"primary":          true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     base + "/ServiceProviderConfig",
		},
	})
}

func resourceTypeJSON(base string, rt *schemas.ResourceType) map[string]any {
	exts := []any{}
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.Schema.ID, "required": e.Required})
	}
	return map[string]any{
		"schemas":          []string{schemas.ResourceTypeURN},
		"id":               rt.Name,
		"name":             rt.Name,
		"endpoint":         rt.Endpoint,
		"description":      rt.Description,
		"schema":           rt.Schema.ID,
		"schemaExtensions": exts,
		"meta": map[string]any{
			"resourceType": "ResourceType",
			"location":     base + "/ResourceTypes/" + rt.Name,
		},
	}
}

func (s *Server) resourceTypes(w http.ResponseWriter, r *http.Request) {
	var list []any
	for _, rt := range schemas.ResourceTypes() {
		list = append(list, resourceTypeJSON(s.base(r), rt))
	}
	writeList(w, list)
}

func (s *Server) resourceType(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	for _, rt := range schemas.ResourceTypes() {
		if strings.EqualFold(rt.Name, name) {
			writeJSON(w, http.StatusOK, resourceTypeJSON(s.base(r), rt))
			return
		}
	}
	s.writeError(w, r, failure.NotFoundf("there is no resource type %q", name))
}

func schemaJSON(base string, sc schema.Schema) map[string]any {
	m := sc.ToMap()
	m["meta"] = map[string]any{
		"resourceType": "Schema",
		"location":     base + "/Schemas/" + sc.ID,
	}
	return m
}

func (s *Server) schemas(w http.ResponseWriter, r *http.Request) {
	var list []any
	for _, sc := range schemas.All() {
		list = append(list, schemaJSON(s.base(r), sc))
	}
	writeList(w, list)
}

func (s *Server) schema(w http.ResponseWriter, r *http.Request) {
	id, err := url.PathUnescape(mux.Vars(r)["id"])
	if err != nil {
		id = mux.Vars(r)["id"]
	}
	for _, sc := range schemas.All() {
		if strings.EqualFold(sc.ID, id) {
			writeJSON(w, http.StatusOK, schemaJSON(s.base(r), sc))
			return
		}
	}
	s.writeError(w, r, failure.NotFoundf("there is no schema %q", id))
}

// writeList writes a complete (unpaged) list response.
func writeList(w http.ResponseWriter, list []any) {
	if list == nil {
		list = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{schemas.ListResponseURN},
		"totalResults": len(list),
		"startIndex":   1,
		"itemsPerPage": len(list),
		"Resources":    list,
	})
}
