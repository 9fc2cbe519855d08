package e2e

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, point 7: group members and User.groups.
func TestGroupsAndMembers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	ann := createUser(t, c, "ann@example.com", obj{"displayName": "Ann Example"})
	ben := createUser(t, c, "ben@example.com")
	g := createGroup(t, c, "Team", ann, ben)

	t.Run("members have value, $ref, display and type", func(t *testing.T) {
		r := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		list, _ := r.At("members").([]any)
		if len(list) != 2 {
			t.Fatalf("members: %s", r.Raw)
		}
		want := map[string]string{ann: "Ann Example", ben: "ben@example.com"}
		for _, el := range list {
			m := el.(obj)
			id, _ := m["value"].(string)
			display, ok := want[id]
			if !ok {
				t.Fatalf("unexpected member %v", m)
			}
			if m["$ref"] != c.Base+"/Users/"+id {
				t.Fatalf("$ref %v, want %s", m["$ref"], c.Base+"/Users/"+id)
			}
			if m["display"] != display || m["type"] != "User" {
				t.Fatalf("member %v: want display %q and type User", m, display)
			}
			delete(want, id)
		}
	})

	t.Run("User.groups is computed", func(t *testing.T) {
		g2 := createGroup(t, c, "Second", ann)
		r := c.Get(t, "/Users/"+ann).Expect(t, http.StatusOK)
		if got := memberIDs(r.At("groups")); fmt.Sprint(got) != fmt.Sprint(sorted(g, g2)) {
			t.Fatalf("groups %v", got)
		}
		for _, el := range r.At("groups").([]any) {
			m := el.(obj)
			id := m["value"].(string)
			if m["$ref"] != c.Base+"/Groups/"+id || m["type"] != "direct" {
				t.Fatalf("group reference %v", m)
			}
			if (id == g && m["display"] != "Team") || (id == g2 && m["display"] != "Second") {
				t.Fatalf("group display %v", m)
			}
		}
		if got := memberIDs(c.Get(t, "/Users/"+ben).Expect(t, 200).At("groups")); fmt.Sprint(got) != fmt.Sprint([]string{g}) {
			t.Fatalf("ben's groups %v", got)
		}
		// In lists too.
		r = c.Get(t, filterPath("/Users", `userName eq "ann@example.com"`)).Expect(t, 200)
		if got := memberIDs(resources(t, r)[0]["groups"]); fmt.Sprint(got) != fmt.Sprint(sorted(g, g2)) {
			t.Fatalf("groups in a list %v", got)
		}
		c.Delete(t, "/Groups/"+g2).Expect(t, http.StatusNoContent)
		if got := memberIDs(c.Get(t, "/Users/"+ann).Expect(t, 200).At("groups")); fmt.Sprint(got) != fmt.Sprint([]string{g}) {
			t.Fatalf("groups after deleting one %v", got)
		}
	})

	t.Run("display follows the user", func(t *testing.T) {
		c.Patch(t, "/Users/"+ben, scimtest.Op("replace", "displayName", "Ben Renamed")).Expect(t, http.StatusOK)
		r := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		for _, el := range r.At("members").([]any) {
			m := el.(obj)
			if m["value"] == ben && m["display"] != "Ben Renamed" {
				t.Fatalf("display %v", m)
			}
		}
	})

	t.Run("User.groups is read-only", func(t *testing.T) {
		other := createGroup(t, c, "Other")
		before := c.Get(t, "/Users/"+ben).Expect(t, 200)
		for _, op := range []map[string]any{
			scimtest.Op("add", "groups", arr{obj{"value": other}}),
			scimtest.Op("replace", "groups", arr{obj{"value": other}}),
			scimtest.Op("remove", "groups", nil),
			scimtest.Op("remove", `groups[value eq "`+g+`"]`, nil),
		} {
			expectError(t, c.Patch(t, "/Users/"+ben, op), http.StatusBadRequest, "mutability")
		}
		after := c.Get(t, "/Users/"+ben).Expect(t, 200)
		if fmt.Sprint(memberIDs(after.At("groups"))) != fmt.Sprint([]string{g}) || after.Str("meta.version") != before.Str("meta.version") {
			t.Fatalf("groups changed: %s", after.Raw)
		}
		// In a POST or PUT body, groups are ignored.
		r := c.Post(t, "/Users", scimtest.UserBody("cat@example.com", obj{"groups": arr{obj{"value": other}}})).Expect(t, http.StatusCreated)
		if r.At("groups") != nil {
			t.Fatalf("POST set groups: %s", r.Raw)
		}
		r = c.Put(t, "/Users/"+ben, scimtest.UserBody("ben@example.com", obj{"groups": arr{obj{"value": other}}})).Expect(t, http.StatusOK)
		if fmt.Sprint(memberIDs(r.At("groups"))) != fmt.Sprint([]string{g}) {
			t.Fatalf("PUT changed groups: %s", r.Raw)
		}
		expectSet(t, nil, c.Get(t, filterPath("/Groups", `members eq "`+r.Str("id")+`" and displayName eq "Other"`)))
	})

	t.Run("members must be users of the account", func(t *testing.T) {
		other := s.newAccount(t, "Members Elsewhere")
		foreign := createUser(t, other, "foreign@example.com")
		someGroup := createGroup(t, c, "Not a user")
		for name, id := range map[string]string{"unknown id": "7b0cdbd6-0000-4000-8000-000000000000", "another account's user": foreign, "a group": someGroup} {
			t.Run(name, func(t *testing.T) {
				r := c.Post(t, "/Groups", scimtest.GroupBody("Invalid "+name, ann, id))
				expectError(t, r, http.StatusBadRequest, "invalidValue")
				expectSet(t, nil, c.Get(t, filterPath("/Groups", `displayName eq "Invalid `+name+`"`)))

				r = c.Put(t, "/Groups/"+g, scimtest.GroupBody("Team renamed", id))
				expectError(t, r, http.StatusBadRequest, "invalidValue")
				r = c.Patch(t, "/Groups/"+g, scimtest.Op("add", "members", arr{obj{"value": id}}))
				expectError(t, r, http.StatusBadRequest, "invalidValue")
				got := c.Get(t, "/Groups/"+g).Expect(t, 200)
				if got.Str("displayName") != "Team" || fmt.Sprint(memberIDs(got.At("members"))) != fmt.Sprint(sorted(ann, ben)) {
					t.Fatalf("group changed: %s", got.Raw)
				}
			})
		}
		// The other account's user is in no group of either account.
		if r := other.Get(t, "/Users/"+foreign).Expect(t, 200); r.At("groups") != nil {
			t.Fatalf("foreign user's groups: %s", r.Raw)
		}
	})
}

// Issue 2, point 8: uniqueness, externalId, deactivated users.
func TestUniqueness(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	t.Run("userName ignores case", func(t *testing.T) {
		id := createUser(t, c, "Unique@Example.com")
		r := c.Post(t, "/Users", scimtest.UserBody("unique@example.COM"))
		expectError(t, r, http.StatusConflict, "uniqueness")
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "unique@example.com"`)), id)

		other := createUser(t, c, "other@example.com")
		expectError(t, c.Put(t, "/Users/"+other, scimtest.UserBody("UNIQUE@example.com")), http.StatusConflict, "uniqueness")
		expectError(t, c.Patch(t, "/Users/"+other, scimtest.Op("replace", "userName", "unique@EXAMPLE.com")), http.StatusConflict, "uniqueness")
		if got := c.Get(t, "/Users/"+other).Expect(t, 200).Str("userName"); got != "other@example.com" {
			t.Fatalf("userName changed to %q", got)
		}
		// A user may change the case of its own userName.
		r = c.Patch(t, "/Users/"+id, scimtest.Op("replace", "userName", "UNIQUE@example.com")).Expect(t, http.StatusOK)
		if r.Str("userName") != "UNIQUE@example.com" {
			t.Fatalf("userName %q", r.Str("userName"))
		}
		// Once deleted, the name is free.
		c.Delete(t, "/Users/"+id).Expect(t, http.StatusNoContent)
		createUser(t, c, "unique@example.com")
	})

	t.Run("concurrent creates of one userName", func(t *testing.T) {
		const n = 10
		statuses := make(chan int, n)
		for i := 0; i < n; i++ {
			go func(i int) {
				r := c.Post(t, "/Users", scimtest.UserBody(fmt.Sprintf("Racer%s@example.com", []string{"", "X"}[i%2])))
				statuses <- r.Status
			}(i)
		}
		created, conflicts := 0, 0
		for i := 0; i < n; i++ {
			switch st := <-statuses; st {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				conflicts++
			default:
				t.Errorf("status %d", st)
			}
		}
		// Racer@ and RacerX@ are two names.
		if created != 2 || conflicts != n-2 {
			t.Fatalf("%d created, %d conflicts", created, conflicts)
		}
	})

	t.Run("group displayName ignores case", func(t *testing.T) {
		g := createGroup(t, c, "Engineering")
		expectError(t, c.Post(t, "/Groups", scimtest.GroupBody("ENGINEERING")), http.StatusConflict, "uniqueness")
		expectSet(t, nil, c.Get(t, filterPath("/Groups", `displayName eq "engineering"`)), g)
		other := createGroup(t, c, "Sales")
		expectError(t, c.Put(t, "/Groups/"+other, scimtest.GroupBody("engineering")), http.StatusConflict, "uniqueness")
		expectError(t, c.Patch(t, "/Groups/"+other, scimtest.Op("replace", "displayName", "EngineerinG")), http.StatusConflict, "uniqueness")
		if got := c.Get(t, "/Groups/"+other).Expect(t, 200).Str("displayName"); got != "Sales" {
			t.Fatalf("displayName %q", got)
		}
		// A group and a user may share a name.
		createUser(t, c, "Engineering")
	})

	t.Run("externalId is stored and filterable", func(t *testing.T) {
		id := createUser(t, c, "ext@example.com", obj{"externalId": "AAD-0001"})
		if got := c.Get(t, "/Users/"+id).Expect(t, 200).Str("externalId"); got != "AAD-0001" {
			t.Fatalf("externalId %q", got)
		}
		expectSet(t, nil, c.Get(t, filterPath("/Users", `externalId eq "AAD-0001"`)), id)
		c.Patch(t, "/Users/"+id, scimtest.Op("replace", "externalId", "AAD-0002")).Expect(t, http.StatusOK)
		expectSet(t, nil, c.Get(t, filterPath("/Users", `externalId eq "AAD-0001"`)))
		expectSet(t, nil, c.Get(t, filterPath("/Users", `externalId eq "AAD-0002"`)), id)

		g := c.Post(t, "/Groups", obj{"schemas": arr{groupURN}, "displayName": "With external id", "externalId": "grp-1"}).Expect(t, http.StatusCreated).Str("id")
		expectSet(t, nil, c.Get(t, filterPath("/Groups", `externalId eq "grp-1"`)), g)
	})

	t.Run("deactivated users are kept", func(t *testing.T) {
		id := createUser(t, c, "leaver@example.com", obj{"title": "Leaving"})
		g := createGroup(t, c, "Leavers", id)
		r := c.Patch(t, "/Users/"+id, scimtest.Op("Replace", "active", "False")).Expect(t, http.StatusOK)
		if r.At("active") != false {
			t.Fatalf("active: %s", r.Raw)
		}
		got := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		if got.At("active") != false || got.Str("title") != "Leaving" || fmt.Sprint(memberIDs(got.At("groups"))) != fmt.Sprint([]string{g}) {
			t.Fatalf("deactivated user: %s", got.Raw)
		}
		expectSet(t, nil, c.Get(t, filterPath("/Users", `userName eq "leaver@example.com"`)), id)
		expectSet(t, nil, c.Get(t, filterPath("/Users", `active eq false`)), id)
		found := false
		for _, u := range listIDs(t, c.Get(t, "/Users").Expect(t, 200)) {
			found = found || u == id
		}
		if !found {
			t.Fatal("deactivated user not listed")
		}
		// Still unique: the name is taken.
		expectError(t, c.Post(t, "/Users", scimtest.UserBody("LEAVER@example.com")), http.StatusConflict, "uniqueness")
		// And back.
		if c.Patch(t, "/Users/"+id, scimtest.Op("replace", "active", true)).Expect(t, http.StatusOK).At("active") != true {
			t.Fatal("not reactivated")
		}
	})
}
