package directory

import (
	"strconv"
	"strings"
)

// ETag is a resource version as an HTTP entity tag and SCIM meta.version.
// It is weak: two representations of one version may differ in computed
// attributes (a user's groups) and in attribute selection.
func ETag(version int64) string {
	return `W/"` + strconv.FormatInt(version, 10) + `"`
}

// VersionMatches reports whether an If-Match or If-None-Match header value
// (a list of entity tags, or "*") names the version. Tags compare weakly
// (RFC 9110 §8.8.3.2): W/"3" and "3" are the same version.
func VersionMatches(header string, version int64) bool {
	want := strconv.FormatInt(version, 10)
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.TrimPrefix(tag, "W/")
		tag = strings.TrimPrefix(strings.TrimSuffix(tag, `"`), `"`)
		if tag == want {
			return true
		}
	}
	return false
}
