// Package jsonvalue writes the JSON-shaped values the server handles —
// maps with string keys, lists, strings, numbers, booleans and null —
// several times faster than encoding/json, which reflects on each value
// and sorts map keys through reflection: every SCIM response and every
// stored resource is such a value.
//
// The output is what encoding/json writes with SetEscapeHTML(false): keys
// sorted, strings escaped the same way (invalid UTF-8 as U+FFFD, U+2028
// and U+2029 escaped), numbers in the same form. A value of another type
// (a struct) is written by encoding/json.
package jsonvalue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Options change how values are written.
type Options struct {
	// KeepFloats writes every float64 with a fraction or an exponent
	// ("3.0", not "3"), so that reading it back can tell a float64 from
	// an integer (the embedded store relies on it).
	KeepFloats bool
}

// Write writes the JSON text of v to w, in pieces of about 64 KiB: a large
// value (a group of 100,000 members) is never held whole as text.
func Write(w io.Writer, v any, o Options) error {
	e := &encoder{w: w, buf: make([]byte, 0, 2*flushAt)}
	b, err := e.append(e.buf, v, o)
	if err != nil {
		return err
	}
	if e.err == nil {
		_, e.err = w.Write(b)
	}
	return e.err
}

// flushAt is the size at which Write passes what it has to its writer.
const flushAt = 64 << 10

// encoder is Append with a writer to hand full pieces to.
type encoder struct {
	w   io.Writer
	buf []byte
	err error
}

// flush writes b out when it is large and returns it emptied.
func (e *encoder) flush(b []byte) []byte {
	if e == nil || len(b) < flushAt || e.err != nil {
		return b
	}
	_, e.err = e.w.Write(b)
	return b[:0]
}

// Append appends the JSON text of v to b.
func Append(b []byte, v any, o Options) ([]byte, error) {
	var e *encoder
	return e.append(b, v, o)
}

func (e *encoder) append(b []byte, v any, o Options) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return AppendString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float64:
		return appendFloat(b, x, o)
	case json.Number:
		if x == "" {
			return append(b, '0'), nil
		}
		if !json.Valid([]byte(x)) {
			return nil, fmt.Errorf("invalid number %q", string(x))
		}
		return append(b, x...), nil
	case time.Time:
		return AppendString(b, x.Format(time.RFC3339Nano)), nil
	case map[string]any:
		var small [16]string // most objects: their keys sorted without an allocation
		keys := small[:0]
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		var err error
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			if b, err = e.append(b, x[k], o); err != nil {
				return nil, err
			}
		}
		return e.flush(append(b, '}')), nil
	case []any:
		b = append(b, '[')
		var err error
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = e.append(b, el, o); err != nil {
				return nil, err
			}
		}
		return e.flush(append(b, ']')), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, s)
		}
		return append(b, ']'), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// appendFloat writes a float as encoding/json does (or, with KeepFloats,
// always with a fraction or an exponent).
func appendFloat(b []byte, f float64, o Options) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("unsupported number %v", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		n := len(b)
		if n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	if o.KeepFloats && !bytes.ContainsAny(b[start:], ".eE") {
		b = append(b, ".0"...)
	}
	return b, nil
}

const hex = "0123456789abcdef"

// plain holds the ASCII bytes a JSON string needs no escape for.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
