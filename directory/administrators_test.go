package directory

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Every write that makes an administrator asks the context's gate first,
// with who it would make one, computed from the write's effect (the role,
// group grants inherited down the tree, memberships, reactivation, a new
// address); a refusal writes nothing. Writes that make none do not ask.
// Without a gate (the SCIM API) nothing is asked.
func TestAdministratorGate(t *testing.T) {
	f := newFixture(t)
	f.user("owner@acme.test", schemas.RoleAdministrator)
	carol := f.user("carol@acme.test", schemas.RoleUser)
	bob := f.user("bob@acme.test", schemas.RoleAdministrator)
	admins := f.create(schemas.Group, map[string]any{"schemas": []any{schemas.GroupURN}, "displayName": "Admins",
		schemas.TimeCampGroupURN: map[string]any{"grantsRole": "administrator"}})
	team := f.create(schemas.Group, map[string]any{"schemas": []any{schemas.GroupURN}, "displayName": "Team",
		"members": []any{map[string]any{"value": carol.ID}}})

	var asked [][]string
	refuse := WithAdministratorGate(ctx, func(_ context.Context, _ string, users []string) error {
		asked = append(asked, users)
		return failure.Forbiddenf("no")
	})
	userOp := func(path string, v any) []PatchOp { return []PatchOp{{Op: "replace", Path: path, Value: v}} }
	role := schemas.TimeCampUserURN + ":role"
	// check runs a write under the refusing gate: it must ask about want
	// (nil: not ask) and, when it asks, store nothing.
	check := func(name string, want []string, write func(context.Context) error) {
		t.Helper()
		asked = nil
		before := f.state()
		err := write(refuse)
		switch {
		case want == nil && (len(asked) > 0 || err != nil):
			t.Fatalf("%s: asked %v, %v; want no question", name, asked, err)
		case want != nil && (len(asked) != 1 || !slices.Equal(asked[0], want) || !failure.Is(err, failure.Forbidden)):
			t.Fatalf("%s: asked %v, %v; want %v refused", name, asked, err, want)
		case want != nil && f.state() != before:
			t.Fatalf("%s: the refused write stored something", name)
		}
	}
	patch := func(rt *schemas.ResourceType, id string, ops []PatchOp) func(context.Context) error {
		return func(ctx context.Context) error { _, err := f.dir.Patch(ctx, f.acct, rt, id, ops, ""); return err }
	}
	create := func(name, r string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := f.dir.Create(ctx, f.acct, schemas.User, map[string]any{"schemas": []any{schemas.UserURN}, "userName": name, schemas.TimeCampUserURN: map[string]any{"role": r}})
			return err
		}
	}
	addTo := func(group string, ids ...string) func(context.Context) error {
		var v []any
		for _, id := range ids {
			v = append(v, map[string]any{"value": id})
		}
		return patch(schemas.Group, group, []PatchOp{{Op: "add", Path: "members", Value: v}})
	}

	check("a new administrator", []string{"dan@acme.test"}, create("dan@acme.test", "administrator"))
	check("a new user", nil, create("eve@acme.test", "user"))
	check("a role raised to administrator", []string{"carol@acme.test"}, patch(schemas.User, carol.ID, userOp(role, "administrator")))
	check("a role raised short of it", nil, patch(schemas.User, carol.ID, userOp(role, "supervisor")))
	check("a member added to a group that grants it", []string{"carol@acme.test"}, addTo(admins.ID, carol.ID))
	check("an administrator added to it", nil, addTo(admins.ID, bob.ID))
	check("a group with members granting it", []string{"carol@acme.test"}, patch(schemas.Group, team.ID, userOp(schemas.TimeCampGroupURN+":grantsRole", "administrator")))
	check("a group moved under one that grants it", []string{"carol@acme.test"}, patch(schemas.Group, team.ID, userOp(schemas.TimeCampGroupURN+":parent", admins.ID)))
	check("a new address of an administrator", []string{"bob@acme.test"}, patch(schemas.User, bob.ID, userOp("emails", []any{map[string]any{"value": "mallory@evil.test"}})))
	check("deactivating an administrator", nil, patch(schemas.User, bob.ID, userOp("active", false)))
	check("reactivating an administrator", []string{"bob@acme.test"}, patch(schemas.User, bob.ID, userOp("active", true)))
	check("lowering an administrator", nil, patch(schemas.User, bob.ID, userOp(role, "user")))

	// A batch refuses the administrators only.
	asked = nil
	created, errs, err := f.dir.CreateUsers(refuse, f.acct, []map[string]any{
		{"schemas": []any{schemas.UserURN}, "userName": "gil@acme.test"},
		{"schemas": []any{schemas.UserURN}, "userName": "hal@acme.test", schemas.TimeCampUserURN: map[string]any{"role": "administrator"}},
	})
	if err != nil || created[0] == nil || created[1] != nil || !failure.Is(errs[1], failure.Forbidden) || len(asked) != 1 || !slices.Equal(asked[0], []string{"hal@acme.test"}) {
		t.Fatalf("batch: %v %v %v, asked %v", created, errs, err, asked)
	}

	// A plan: a new user in a group under one that grants it.
	sub := f.create(schemas.Group, map[string]any{"schemas": []any{schemas.GroupURN}, "displayName": "Night shift",
		schemas.TimeCampGroupURN: map[string]any{"parent": admins.ID}})
	check("a plan", []string{"jo@acme.test"}, func(ctx context.Context) error {
		return f.dir.AdmitPlan(ctx, f.acct, []PlannedUser{{UserName: "jo@acme.test", Groups: []string{sub.ID}}, {UserName: "kim@acme.test"}})
	})
	check("deleting a group", nil, func(ctx context.Context) error { return f.dir.Delete(ctx, f.acct, schemas.Group, sub.ID, "") })
	// Without a gate: the SCIM API's writes.
	if _, err := f.dir.Patch(ctx, f.acct, schemas.User, carol.ID, userOp(role, "administrator"), ""); err != nil {
		t.Fatal(err)
	}
}

// state is every user and group of the account, with its version.
func (f *fixture) state() string {
	f.t.Helper()
	out := ""
	for _, rt := range []*schemas.ResourceType{schemas.User, schemas.Group} {
		p, err := f.dir.List(ctx, f.acct, rt, store.Query{Count: 100})
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.dir.Expand(ctx, p.Resources, func(string) bool { return true }); err != nil {
			f.t.Fatal(err)
		}
		for _, r := range p.Resources {
			out += fmt.Sprint(r.Version) + jsonOf(r.Attributes) + "\n"
		}
	}
	return out
}
