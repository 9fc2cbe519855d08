package jsonvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"
)

// Append writes what encoding/json writes (without HTML escaping).
func TestAgreesWithEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", "quote\" backslash\\ slash/", "tab\tnew\nline\r\b\f\x00\x1f",
		"<html> & ünïcödé ✓ 😀", "\u2028\u2029", "bad \xff utf-8 \xc3", int64(0), int64(-42), int64(1<<53 + 1), int64(math.MaxInt64),
		0.0, 2.5, 3.0, -1e-7, 1e-6, 1e21, 123456789.125, 1e300, -0.000001234, 1e20,
		json.Number("12"), json.Number("-3.5e10"),
		[]any{}, []any{int64(1), "two", nil, []any{map[string]any{}}},
		map[string]any{"b": int64(1), "a": []any{"x"}, "é": true, "$ref": "../Users/1", "": "empty key"},
		[]string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		struct {
			A int `json:"a"`
		}{7},
	}
	for _, v := range values {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		got, err := Append(nil, v, Options{})
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if string(got) != string(bytes.TrimRight(want.Bytes(), "\n")) {
			t.Errorf("%#v:\n got  %s\n want %s", v, got, want.Bytes())
		}
	}
}

// With KeepFloats a float always reads back as a float.
func TestKeepFloats(t *testing.T) {
	for f, want := range map[float64]string{3: "3.0", 0: "0.0", -2: "-2.0", 2.5: "2.5", 1e21: "1e+21", 1e-9: "1e-9"} {
		got, err := Append(nil, f, Options{KeepFloats: true})
		if err != nil || string(got) != want {
			t.Errorf("%v: %s, %v; want %s", f, got, err, want)
		}
	}
	if _, err := Append(nil, math.NaN(), Options{}); err == nil {
		t.Error("NaN written")
	}
}

func FuzzString(f *testing.F) {
	f.Add("plain")
	f.Add("\xff\u2028\"\\\n<>&")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		want = bytes.ReplaceAll(want, []byte(`\u003c`), []byte("<"))
		want = bytes.ReplaceAll(want, []byte(`\u003e`), []byte(">"))
		want = bytes.ReplaceAll(want, []byte(`\u0026`), []byte("&"))
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	})
}

func BenchmarkAppend(b *testing.B) {
	v := map[string]any{"userName": "bjensen@example.com", "active": true, "name": map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails": []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
		"meta":   map[string]any{"resourceType": "User", "version": `W/"3"`, "location": "https://scim.example.com/scim/v2/Users/2819c223"}}
	b.Run("jsonvalue", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = Append(buf[:0], v, Options{})
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(v)
		}
	})
}

// Write writes what Append appends, in pieces.
func TestWriteInPieces(t *testing.T) {
	var members []any
	for i := range 20000 {
		members = append(members, map[string]any{"value": strconv.Itoa(i), "display": "user" + strconv.Itoa(i) + "@example.com", "type": "User"})
	}
	v := map[string]any{"displayName": "Huge", "members": members}
	want, err := Append(nil, v, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &pieces{}
	if err := Write(w, v, Options{}); err != nil {
		t.Fatal(err)
	}
	if w.String() != string(want) {
		t.Fatal("Write and Append differ")
	}
	if w.writes < 2 || w.largest > 2*flushAt+1024 {
		t.Fatalf("%d writes, the largest %d bytes: not written in pieces", w.writes, w.largest)
	}
}

type pieces struct {
	bytes.Buffer
	writes, largest int
}

func (p *pieces) Write(b []byte) (int, error) {
	p.writes++
	p.largest = max(p.largest, len(b))
	return p.Buffer.Write(b)
}
