package schemas

import (
	"unicode/utf8"

	"github.com/elimity-com/scim/schema"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/jsonvalue"
)

// Limits on what a resource may hold. Identity providers send short values
// (Entra ID's longest user attributes take a few hundred characters); the
// limits keep a client from storing megabytes in one attribute, which
// every later read, list and index would carry.
const (
	// MaxStringLength is the most characters in a string or reference
	// value (2,048 is also the longest URL browsers and proxies agree on).
	MaxStringLength = 2048
	// MaxBinaryLength is the most characters in a binary (base64) value,
	// such as an X.509 certificate.
	MaxBinaryLength = 64 << 10
	// MaxValues is the most values of one multi-valued attribute. A
	// group's members are not counted: each is stored on its own, and the
	// request size bounds how many one request adds.
	MaxValues = 1000
	// MaxResourceBytes bounds a resource's attributes, as JSON, group
	// members left out.
	MaxResourceBytes = 1 << 20
)

// checkLength refuses a string value over its type's limit.
func checkLength(def schema.CoreAttribute, s, path string) error {
	limit := MaxStringLength
	if def.AttributeType() == "binary" {
		limit = MaxBinaryLength
	}
	if len(s) <= limit { // bytes ≥ characters: most values stop here
		return nil
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return failure.InvalidValue("%q is %d characters long; at most %d are allowed", path, n, limit)
	}
	return nil
}

// countedValues reports whether the number of values of an attribute is
// limited (see MaxValues).
func countedValues(def schema.CoreAttribute) bool { return def.Name() != "members" }

// CheckLimits checks a resource's attributes against MaxValues and
// MaxResourceBytes: after a PATCH, whose additions accumulate, and after
// Normalize.
func (rt *ResourceType) CheckLimits(attrs map[string]any) error {
	sized := make(map[string]any, len(attrs))
	for k, v := range attrs {
		if rt == Group && k == "members" {
			continue
		}
		sized[k] = v
		if err := checkCount(k, v); err != nil {
			return err
		}
		if ext, ok := v.(map[string]any); ok {
			if _, isExt := rt.Extension(k); isExt {
				for ek, ev := range ext {
					if err := checkCount(k+":"+ek, ev); err != nil {
						return err
					}
				}
			}
		}
	}
	// As stored (jsonvalue, 4× encoding/json on these values).
	raw, err := jsonvalue.Append(nil, sized, jsonvalue.Options{KeepFloats: true})
	if err != nil {
		return failure.InvalidValue("the %s's attributes cannot be stored: %v", rt.Name, err)
	}
	if len(raw) > MaxResourceBytes {
		return failure.TooLargef("the %s's attributes take %d bytes as JSON; at most %d are allowed", rt.Name, len(raw), MaxResourceBytes)
	}
	return nil
}

func checkCount(path string, v any) error {
	if list, ok := v.([]any); ok && len(list) > MaxValues {
		return failure.InvalidValue("%q has %d values; at most %d are allowed", path, len(list), MaxValues)
	}
	return nil
}
