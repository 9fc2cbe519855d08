package jsonvalue

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// decodeCases are JSON texts with what Decode must read, among them the
// strings it leaves to encoding/json.
var decodeCases = map[string]any{
	`null`: nil, `true`: true, ` false `: false, `0`: int64(0), `-0`: int64(0), `-42`: int64(-42),
	`9007199254740993`: int64(1<<53 + 1), `9223372036854775807`: int64(math.MaxInt64),
	`9223372036854775808`: 9223372036854775808.0, `3.0`: 3.0, `2.5e3`: 2500.0, `1E-2`: 0.01, `-1e400`: math.Inf(-1),
	`""`: "", `"plain"`: "plain", `"ünïcödé ✓ 😀"`: "ünïcödé ✓ 😀",
	`"q\" b\\ s\/ \b\f\n\r\t \u0000 \u00e9 \ud83d\ude00"`: "q\" b\\ s/ \b\f\n\r\t \x00 é 😀",
	"\"bad \xff utf-8\"": "bad \ufffd utf-8", `"lone \ud800 surrogate"`: "lone \ufffd surrogate",
	`"\udc00\u0041"`: "\ufffdA", `"\ud800\u0041"`: "\ufffdA",
	`[]`: []any{}, `{}`: map[string]any{}, ` [ 1 , "two" , null , [ { } ] ] `: []any{int64(1), "two", nil, []any{map[string]any{}}},
	`{"b":1,"a":["x"],"é":true,"":"empty key","b":2}`: map[string]any{"b": int64(2), "a": []any{"x"}, "é": true, "": "empty key"},
}

func TestDecode(t *testing.T) {
	for text, want := range decodeCases {
		got, err := Decode([]byte(text))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %#v, %v; want %#v", text, got, err, want)
		}
		if owned, err := DecodeOwned([]byte(text)); err != nil || !reflect.DeepEqual(owned, want) {
			t.Errorf("%s owned: %#v, %v; want %#v", text, owned, err, want)
		}
		if slow, err := decodeSlow([]byte(text)); err != nil || !reflect.DeepEqual(slow, want) {
			t.Errorf("%s through encoding/json: %#v, %v; want %#v", text, slow, err, want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, text := range []string{``, ` `, `{`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `1e`, `-`, `+1`,
		`tru`, `nul`, `"open`, "\"ctl \x01\"", `"\x"`, `"\u12"`, `"\ud800\uzzzz"`, `[1] 2`, `{} x`, `[` + strings.Repeat(`[`, maxDepth) + strings.Repeat(`]`, maxDepth+1)} {
		if v, err := Decode([]byte(text)); err == nil {
			t.Errorf("%q read as %#v", text, v)
		}
	}
}

// What Append writes with KeepFloats, Decode reads back as it was.
func TestDecodeRoundTrip(t *testing.T) {
	v := map[string]any{"userName": "bjensen@example.com", "active": true, "n": int64(1<<53 + 1), "f": 3.0, "g": -2.5e-7, "nil": nil,
		"emails": []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}}, "s": "tab\t\"q\" \u2028 <>&"}
	text, err := Append(nil, v, Options{KeepFloats: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Decode(text); err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("%s read back as %#v, %v", text, got, err)
	}
}

// Whatever Decode reads, encoding/json reads the same.
func FuzzDecode(f *testing.F) {
	for text := range decodeCases {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := Decode([]byte(text))
		if err != nil {
			return
		}
		want, err := decodeSlow([]byte(text))
		if err != nil {
			t.Fatalf("%q: Decode read %#v, encoding/json refused: %v", text, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: Decode read %#v, encoding/json %#v", text, got, want)
		}
		if owned, err := DecodeOwned([]byte(text)); err != nil || !reflect.DeepEqual(owned, want) {
			t.Fatalf("%q: DecodeOwned read %#v, %v; encoding/json %#v", text, owned, err, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	v := map[string]any{"userName": "bjensen@example.com", "active": true, "name": map[string]any{"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
		"emails":     []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
		"externalId": "8d9f1c7e-0c4b-4f7e-9a3e-1f2d3c4b5a69", "displayName": "Barbara Jensen", "timezone": "Europe/Warsaw"}
	text, _ := Append(nil, v, Options{KeepFloats: true})
	b.Run("jsonvalue", func(b *testing.B) {
		for b.Loop() {
			_, _ = Decode(text)
		}
	})
	b.Run("jsonvalue-owned", func(b *testing.B) {
		for b.Loop() {
			_, _ = DecodeOwned(append([]byte(nil), text...))
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = decodeSlow(text)
		}
	})
}
