package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Attributes are stored as JSON that keeps the Go types the rest of the
// server uses: an integer (int64) is written without a fraction and a
// float64 always with one ("3.0"), so that a decimal 3 reads back as a
// float64 and an integer 2^53+1 as that exact int64. SQLite's JSON
// functions read the same text.

// encodeJSON writes a JSON-shaped value: maps with string keys, slices,
// strings, booleans, nil, integers and floats.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := writeJSON(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		writeString(b, x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case int32:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("cannot store the number %v", x)
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		b.WriteString(s)
	case time.Time:
		writeString(b, x.UTC().Format(time.RFC3339Nano))
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeJSON(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, el); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return fmt.Errorf("cannot store a value of type %T", v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	// encoding/json escapes what JSON needs (and <, >, & for HTML, which
	// does no harm); a string always encodes.
	enc, _ := json.Marshal(s)
	b.Write(enc)
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
