package jsonvalue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Decode reads one JSON value, the whole of data, into the shapes Append
// writes: map[string]any, []any, string, bool, nil, and numbers as int64
// when written as an integer that fits (no fraction, no exponent), else
// float64. Append with KeepFloats and Decode round-trip every value.
//
// It is about three times faster than encoding/json into an interface,
// which matters because the embedded store decodes every resource it
// reads. Strings whose bytes encoding/json would repair (invalid UTF-8,
// lone surrogate escapes) are left to encoding/json, so the result is
// always what encoding/json would give.
func Decode(data []byte) (any, error) {
	return decode(data, false)
}

// DecodeOwned is Decode for data the caller hands over and never changes
// again: the result's strings share data's memory instead of being copied
// (a stored user decodes with about half the allocations).
func DecodeOwned(data []byte) (any, error) {
	return decode(data, true)
}

func decode(data []byte, owned bool) (any, error) {
	d := decoder{data: data, owned: owned}
	v, err := d.value(0)
	if err == nil {
		d.space()
		if d.pos < len(d.data) {
			err = d.syntax("after the value")
		}
	}
	if errors.Is(err, errRepair) {
		return decodeSlow(data)
	}
	return v, err
}

// maxDepth is how deeply values may nest, as in encoding/json.
const maxDepth = 10000

// errRepair marks input that is valid JSON but whose strings encoding/json
// repairs; Decode hands it to encoding/json.
var errRepair = errors.New("string needs repair")

type decoder struct {
	data []byte
	pos  int
	// owned: strings without escapes are views of data (DecodeOwned).
	owned bool
}

func (d *decoder) syntax(what string) error {
	return fmt.Errorf("invalid JSON at offset %d: unexpected %s", d.pos, what)
}

func (d *decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, error) {
	d.space()
	if d.pos >= len(d.data) {
		return nil, d.syntax("end of input")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return d.string()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case d.literal("true"):
		return true, nil
	case d.literal("false"):
		return false, nil
	case d.literal("null"):
		return nil, nil
	default:
		return nil, d.syntax(fmt.Sprintf("character %q", c))
	}
}

func (d *decoder) literal(word string) bool {
	if bytes.HasPrefix(d.data[d.pos:], []byte(word)) {
		d.pos += len(word)
		return true
	}
	return false
}

func (d *decoder) object(depth int) (any, error) {
	if depth > maxDepth {
		return nil, d.syntax("nesting deeper than 10000")
	}
	d.pos++ // {
	m := map[string]any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.syntax("input where a key was expected")
		}
		k, err := d.string()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.syntax("input where ':' was expected")
		}
		d.pos++
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.space()
		if d.pos < len(d.data) {
			switch d.data[d.pos] {
			case ',':
				d.pos++
				continue
			case '}':
				d.pos++
				return m, nil
			}
		}
		return nil, d.syntax("input where ',' or '}' was expected")
	}
}

func (d *decoder) array(depth int) (any, error) {
	if depth > maxDepth {
		return nil, d.syntax("nesting deeper than 10000")
	}
	d.pos++ // [
	list := []any{}
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return list, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		d.space()
		if d.pos < len(d.data) {
			switch d.data[d.pos] {
			case ',':
				d.pos++
				continue
			case ']':
				d.pos++
				return list, nil
			}
		}
		return nil, d.syntax("input where ',' or ']' was expected")
	}
}

// string reads a string; d.data[d.pos] is its opening quote.
func (d *decoder) string() (string, error) {
	d.pos++
	start := d.pos
	ascii := true
	// The common case: no escapes, the bytes are the string.
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.data[start:d.pos]
			d.pos++
			if !ascii && !utf8.Valid(s) {
				return "", errRepair
			}
			if d.owned && len(s) > 0 {
				return unsafe.String(&s[0], len(s)), nil
			}
			return string(s), nil
		case c == '\\':
			return d.escapedString(start)
		case c < 0x20:
			return "", d.syntax("control character in a string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.pos++
	}
	return "", d.syntax("end of input in a string")
}

// escapedString reads the rest of a string that has escapes, from start
// (just after its opening quote); d.pos is at the first backslash.
func (d *decoder) escapedString(start int) (string, error) {
	var b strings.Builder
	b.Write(d.data[start:d.pos])
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			s := b.String()
			if !utf8.ValidString(s) {
				return "", errRepair
			}
			return s, nil
		case c < 0x20:
			return "", d.syntax("control character in a string")
		case c != '\\':
			b.WriteByte(c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			break
		}
		e := d.data[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.syntax("escape in a string")
			}
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by a low one is a
				// character; encoding/json repairs anything else.
				if d.pos+1 >= len(d.data) || d.data[d.pos] != '\\' || d.data[d.pos+1] != 'u' {
					return "", errRepair
				}
				d.pos += 2
				r2, ok := d.hex4()
				if !ok {
					return "", d.syntax("escape in a string")
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", errRepair
				}
			}
			b.WriteRune(r)
		default:
			return "", d.syntax("escape in a string")
		}
	}
	return "", d.syntax("end of input in a string")
}

// hex4 reads the four hex digits of a \u escape.
func (d *decoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.data) {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.pos += 4
	return r, true
}

// number reads a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() (any, error) {
	start := d.pos
	integer := true
	if d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos < len(d.data) && d.data[d.pos] == '0':
		d.pos++
	case d.digits() == 0:
		return nil, d.syntax("input in a number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		integer = false
		d.pos++
		if d.digits() == 0 {
			return nil, d.syntax("input in a number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		integer = false
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return nil, d.syntax("input in a number")
		}
	}
	return number(string(d.data[start:d.pos]), integer), nil
}

func (d *decoder) digits() int {
	start := d.pos
	for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
		d.pos++
	}
	return d.pos - start
}

// number is the Go value of a JSON number: int64 when it is written as an
// integer that fits, else float64 (±Inf beyond float64's range, as
// strconv gives).
func number(s string, integer bool) any {
	if integer {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// decodeSlow is Decode through encoding/json, for the strings it repairs.
func decodeSlow(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

// numbers turns json.Number values into int64 or float64, in place.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		return number(s, !strings.ContainsAny(s, ".eE"))
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
