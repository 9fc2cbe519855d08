package sqlite

import (
	"fmt"

	"github.com/timecamp/timecamp-scim/jsonvalue"
)

// Attributes are stored as JSON that keeps the Go types the rest of the
// server uses: an integer (int64) is written without a fraction and a
// float64 always with one ("3.0"), so that a decimal 3 reads back as a
// float64 and an integer 2^53+1 as that exact int64. SQLite's JSON
// functions read the same text.

// encodeJSON writes a JSON-shaped value, floats always with a fraction.
func encodeJSON(v any) ([]byte, error) {
	return jsonvalue.Append(nil, v, jsonvalue.Options{KeepFloats: true})
}

// decodeJSON reads what encodeJSON wrote.
func decodeJSON(data []byte) (any, error) {
	return jsonvalue.Decode(data)
}

// decodeObject reads a stored JSON object.
func decodeObject(data []byte) (map[string]any, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("stored attributes are not an object")
	}
	return m, nil
}
