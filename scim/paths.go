package scim

import (
	"strings"

	"github.com/timecamp/timecamp-scim/schemas"
)

// endpointNames are the fixed path segments of the SCIM API, as the routes
// spell them.
var endpointNames = func() []string {
	names := []string{"ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me", ".search"}
	for _, rt := range schemas.ResourceTypes() {
		names = append(names, strings.TrimPrefix(rt.Endpoint, "/"))
	}
	return names
}()

// canonicalPath spells the prefix and the endpoint names of a SCIM path as
// the routes do, so that they match in any letter case: RFC 7644 writes
// /Users, but clients differ (Microsoft's published SCIM test collection
// sends /scim/v2/users). Ids and other segments are left as they are.
func canonicalPath(p string) string {
	if len(p) < len(Prefix) || !strings.EqualFold(p[:len(Prefix)], Prefix) {
		return p
	}
	rest := p[len(Prefix):]
	if rest != "" && rest[0] != '/' {
		return p // "/scim/v2x": not the API
	}
	segs := strings.Split(rest, "/") // segs[0] is "" (rest starts with "/")
	for i := 1; i < len(segs) && i <= 2; i++ {
		if i == 2 && !strings.EqualFold(segs[i], ".search") {
			break // an id: kept as sent
		}
		for _, name := range endpointNames {
			if strings.EqualFold(segs[i], name) {
				segs[i] = name
				break
			}
		}
	}
	return Prefix + strings.Join(segs, "/")
}
