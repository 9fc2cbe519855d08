package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// Stored resources, in canonical form, for PATCH to work on.
func fuzzUser() map[string]any {
	return map[string]any{
		"userName": "bjensen@example.com",
		"active":   true,
		"name":     map[string]any{"givenName": "Barbara", "familyName": "Jensen"},
		"emails": []any{
			map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true},
			map[string]any{"value": "babs@home.example", "type": "home"},
		},
		"phoneNumbers":            []any{map[string]any{"value": "555-555-8377", "type": "mobile"}},
		"addresses":               []any{map[string]any{"streetAddress": "100 Universal City Plaza", "type": "work"}},
		"roles":                   []any{map[string]any{"value": "user", "primary": true}},
		schemas.EnterpriseUserURN: map[string]any{"department": "Tour Operations", "manager": map[string]any{"value": "26118915"}},
		schemas.TimeCampUserURN: map[string]any{
			"role":     "user",
			"projects": []any{map[string]any{"value": "p1", "role": "member"}, map[string]any{"value": "p2", "role": "manager", "inherited": true}},
		},
	}
}

func fuzzGroup() map[string]any {
	return map[string]any{
		"displayName":            "Engineering",
		schemas.TimeCampGroupURN: map[string]any{"grantsRole": "supervisor", "projects": []any{map[string]any{"value": "p1", "role": "member"}}},
	}
}

// FuzzPatch applies arbitrary PATCH operations to a user and a group in
// memory: never a panic, only client errors, the stored resource left as
// it was, and a result that is the canonical form of itself.
func FuzzPatch(f *testing.F) {
	for _, seed := range []string{
		`[{"op": "replace", "path": "name.givenName", "value": "Babs"}]`,
		`[{"op": "add", "path": "emails[type eq \"home\"].value", "value": "b@home.example"}, {"op": "replace", "path": "active", "value": false}]`,
		`[{"op": "Replace", "path": "active", "value": "False"}]`,
		`[{"op": "remove", "path": "phoneNumbers[type eq \"mobile\"].value"}]`,
		`[{"op": "add", "value": {"name.familyName": "J", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops", "externalId": "e1"}}]`,
		`[{"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": [{"$ref": null, "value": "m2"}]}]`,
		`[{"op": "add", "path": "roles", "value": [{"value": "{\"id\":\"x\",\"value\":\"supervisor\"}", "primary": true}]}]`,
		`[{"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]}, {"op": "remove", "path": "members[value eq \"u1\"]"}]`,
		`[{"op": "replace", "path": "members", "value": []}, {"op": "replace", "path": "displayName", "value": "Eng"}]`,
		`[{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User:projects", "value": [{"value": "p3", "role": "guest"}]}]`,
		`[{"op": "remove", "path": "emails", "value": [{"value": "babs@home.example"}]}]`,
		`[{"op": "remove", "path": "userName"}]`,
		`[{"op": "move", "path": "x"}]`,
		`[{"op": "add", "path": "addresses[type eq \"work\" and primary eq true].locality", "value": "Hollywood"}]`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ops, ok := fuzzOps(raw)
		if !ok {
			return
		}
		start := time.Now()
		watchdog := time.AfterFunc(10*time.Second, func() { panic("PATCH hangs: " + raw) })
		defer watchdog.Stop()
		for _, rt := range []*schemas.ResourceType{schemas.User, schemas.Group} {
			stored := fuzzUser()
			if rt == schemas.Group {
				stored = fuzzGroup()
			}
			var members *memberDelta
			if rt == schemas.Group {
				members = newMemberDelta()
			}
			attrs := stored
			if rt == schemas.User {
				attrs = ownView(stored)
			}
			p := newPatcher(context.Background(), rt, attrs, members)
			var err error
			for _, op := range ops {
				if err = p.apply(op); err != nil {
					break
				}
			}
			if err == nil {
				if err = rt.CheckRequired(p.attrs); err == nil {
					err = rt.CheckLimits(p.attrs)
				}
			}
			if err != nil {
				if f, ok := failure.As(err); !ok || (f.Kind != failure.Invalid && f.Kind != failure.TooLarge) || f.Detail == "" {
					t.Fatalf("%s: %v is not a client error with a detail", rt.Name, err)
				}
			}
			if want := map[*schemas.ResourceType]map[string]any{schemas.User: fuzzUser(), schemas.Group: fuzzGroup()}[rt]; !reflect.DeepEqual(stored, want) {
				t.Fatalf("%s: PATCH changed the stored resource it read", rt.Name)
			}
			if err == nil {
				canonical(t, rt, p.attrs)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%d operations took %v", len(ops), d)
		}
	})
}

// fuzzOps reads a JSON list of operations as the scim package does.
func fuzzOps(raw string) ([]PatchOp, bool) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var list []any
	if dec.Decode(&list) != nil || len(list) == 0 || len(list) > MaxPatchOperations {
		return nil, false
	}
	var ops []PatchOp
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, false
		}
		var op PatchOp
		op.Op, _ = m["op"].(string)
		op.Path, _ = m["path"].(string)
		op.Value = m["value"]
		ops = append(ops, op)
	}
	return ops, true
}

// canonical checks that what PATCH produced is what a POST of it would
// store: Normalize keeps it as it is (read-only attributes aside, which
// the server computes).
func canonical(t *testing.T, rt *schemas.ResourceType, attrs map[string]any) {
	t.Helper()
	body := schemas.CopyAttributes(attrs)
	body["schemas"] = []any{rt.Schema.ID}
	again, err := rt.Normalize(roundTrip(t, body))
	if err != nil {
		t.Fatalf("%s: the result of PATCH is not a valid %s: %v\n%s", rt.Name, rt.Name, err, jsonOf(attrs))
	}
	delete(attrs, "members")
	if got, want := jsonOf(again), jsonOf(withoutReadOnly(rt, attrs)); got != want {
		t.Fatalf("%s: PATCH stored\n%s\nwhich a POST would store as\n%s", rt.Name, want, got)
	}
}

// roundTrip passes a value through JSON, as a client would send it.
func roundTrip(t *testing.T, v map[string]any) map[string]any {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func withoutReadOnly(rt *schemas.ResourceType, attrs map[string]any) map[string]any {
	out := schemas.CopyAttributes(attrs)
	for k, v := range out {
		a, err := rt.ResolveString(k)
		if err == nil && !a.WholeExtension && schemas.IsReadOnly(a.Def) {
			delete(out, k)
		}
		if ext, ok := v.(map[string]any); ok {
			if _, isExt := rt.Extension(k); isExt {
				for ek := range ext {
					if a, err := rt.ResolveString(k + ":" + ek); err == nil && schemas.IsReadOnly(a.Def) {
						delete(ext, ek)
					}
				}
			}
		}
	}
	return out
}

func jsonOf(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}
