package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/timecamp/timecamp-scim/failure"
)

// maxJSONDepth is how deeply a request body's objects and arrays may nest.
// The deepest legitimate body, a Bulk PATCH of a user's project grants,
// nests 10 levels.
const maxJSONDepth = 32

// readBody reads a request body of at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, failure.TooLargef("the request body is larger than %d bytes", limit)
		}
		return nil, failure.InvalidSyntax("the request body could not be read: %v", err)
	}
	return raw, nil
}

// decodeObject reads a JSON object body (see decodeJSON) and keeps it for
// the activity log.
func decodeObject(r *http.Request) (map[string]any, error) {
	raw, err := readBody(r, maxBodyBytes)
	if err != nil {
		return nil, err
	}
	return keepBody(r)(decodeJSON(raw))
}

// keepBody returns a function that passes a decoded body on and keeps it
// in the request's info for the activity log.
func keepBody(r *http.Request) func(map[string]any, error) (map[string]any, error) {
	return func(m map[string]any, err error) (map[string]any, error) {
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok && err == nil {
			info.body = m
		}
		return m, err
	}
}

// decodeJSON decodes a JSON object. Numbers stay json.Number so that
// integers are not rounded through float64.
func decodeJSON(raw []byte) (map[string]any, error) {
	if jsonDepth(raw) > maxJSONDepth {
		return nil, failure.InvalidSyntax("the request body nests objects and arrays more than %d levels deep, the most allowed", maxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, failure.InvalidSyntax("the request body is empty; send a JSON object")
		}
		return nil, failure.InvalidSyntax("the request body is not valid JSON: %s", jsonErrorDetail(err))
	}
	if dec.More() {
		return nil, failure.InvalidSyntax("the request body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, failure.InvalidSyntax("the request body must be a JSON object")
	}
	return m, nil
}

// jsonDepth returns how deeply objects and arrays nest in a JSON text (or
// in what would be one: the text is not validated), or maxJSONDepth+1 as
// soon as it goes deeper than that.
func jsonDepth(raw []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > maxJSONDepth {
					return deepest
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

func jsonErrorDetail(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return err.Error()
}
