package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
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

// numbers turns json.Number values into int64 (no fraction or exponent)
// or float64, in place.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case map[string]any:
		for k, el := range x {
			x[k] = numbers(el)
		}
	case []any:
		for i, el := range x {
			x[i] = numbers(el)
		}
	}
	return v
}
