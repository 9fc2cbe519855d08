package scim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// Joining a group that grants nothing leaves a user as it was; joining a
// group whose ancestor grants a role gives it, seats included (the server
// reads the members only in the second case).
func TestMembershipGrantsThroughAncestors(t *testing.T) {
	e := scimtest.New(t)
	_, c := e.NewAccount(t, "two-seats", 2)
	newUser(t, c, "boss@two.test", map[string]any{"role": "administrator"}).Expect(t, http.StatusCreated)
	g1 := newUser(t, c, "g1@two.test", map[string]any{"role": "guest"}).Expect(t, http.StatusCreated).Str("id")
	g2 := newUser(t, c, "g2@two.test", map[string]any{"role": "guest"}).Expect(t, http.StatusCreated).Str("id")
	plain := newGroup(t, c, "Plain", nil).Expect(t, http.StatusCreated).Str("id")
	top := newGroup(t, c, "Staff", map[string]any{"grantsRole": "user"}).Expect(t, http.StatusCreated).Str("id")
	team := newGroup(t, c, "Team", map[string]any{"parent": top}).Expect(t, http.StatusCreated).Str("id")

	c.Patch(t, "/Groups/"+plain, scimtest.Op("add", "members", []any{map[string]any{"value": g1}, map[string]any{"value": g2}})).Expect(t, http.StatusNoContent)
	if u := c.Get(t, "/Users/"+g1).Expect(t, http.StatusOK); tcAttr(u, "effectiveRole") != "guest" || tcAttr(u, "countsTowardSeats") != false {
		t.Fatalf("after joining a group that grants nothing: %s", u.Raw)
	}
	// Team grants nothing itself, its parent grants user: g1 takes the
	// last seat, g2 would need a third.
	c.Patch(t, "/Groups/"+team, scimtest.Op("add", "members", []any{map[string]any{"value": g1}})).Expect(t, http.StatusNoContent)
	if u := c.Get(t, "/Users/"+g1).Expect(t, http.StatusOK); tcAttr(u, "effectiveRole") != "user" || tcAttr(u, "countsTowardSeats") != true {
		t.Fatalf("after joining a group under a granting one: %s", u.Raw)
	}
	c.Patch(t, "/Groups/"+team, scimtest.Op("add", "members", []any{map[string]any{"value": g2}})).Expect(t, http.StatusForbidden)
	newGroup(t, c, "Team2", map[string]any{"parent": top}, g2).Expect(t, http.StatusForbidden)
	// Leaving gives the seat back.
	c.Patch(t, "/Groups/"+team, scimtest.Op("remove", `members[value eq "`+g1+`"]`, nil)).Expect(t, http.StatusNoContent)
	if u := c.Get(t, "/Users/"+g1).Expect(t, http.StatusOK); tcAttr(u, "effectiveRole") != "guest" {
		t.Fatalf("after leaving: %s", u.Raw)
	}
	c.Patch(t, "/Groups/"+team, scimtest.Op("add", "members", []any{map[string]any{"value": g2}})).Expect(t, http.StatusNoContent)
}

// A Bulk request looks up the members its group operations add once, for
// all of them; members it created itself it knows. Unknown members are
// still refused, and a user the request deleted is not taken for one.
func TestBulkGroupMembersChecked(t *testing.T) {
	c := scimtest.New(t).Client
	a := c.Post(t, "/Users", scimtest.UserBody("a@acme.test")).Expect(t, http.StatusCreated).Str("id")
	b := c.Post(t, "/Users", scimtest.UserBody("b@acme.test")).Expect(t, http.StatusCreated).Str("id")
	gone := c.Post(t, "/Users", scimtest.UserBody("gone@acme.test")).Expect(t, http.StatusCreated).Str("id")
	g1 := c.Post(t, "/Groups", scimtest.GroupBody("One")).Expect(t, http.StatusCreated).Str("id")
	g2 := c.Post(t, "/Groups", scimtest.GroupBody("Two")).Expect(t, http.StatusCreated).Str("id")
	members := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, map[string]any{"value": id})
		}
		return out
	}
	res := results(t, c.Post(t, "/Bulk", bulkBody(0,
		bulkOp("POST", "/Users", "new", scimtest.UserBody("new@acme.test")),
		bulkOp("PATCH", "/Groups/"+g1, "", scimtest.PatchBody(scimtest.Op("add", "members", members(a, b, "bulkId:new")))),
		// gone was looked up (with the members of every group operation)
		// before this deletes it.
		bulkOp("DELETE", "/Users/"+gone, "", nil),
		bulkOp("PATCH", "/Groups/"+g2, "", scimtest.PatchBody(scimtest.Op("add", "members", members(a, "no-such-user")))),
		bulkOp("PATCH", "/Groups/"+g2, "", scimtest.PatchBody(scimtest.Op("add", "", map[string]any{"members": members(b, gone)}))),
		bulkOp("POST", "/Groups", "g3", scimtest.GroupBody("Three", a, "bulkId:new")),
		bulkOp("PUT", "/Groups/"+g2, "", scimtest.GroupBody("Two", b)),
	)))
	want := []string{"201", "200", "204", "400", "400", "201", "200"}
	for i, r := range res {
		if r["status"] != want[i] {
			t.Errorf("operation %d: %v, want %s", i+1, r, want[i])
		}
	}
	count := func(gid string) int {
		return len(asList(c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK).At("members")))
	}
	if count(g1) != 3 || count(g2) != 1 || count(idOf(res[5]["location"])) != 2 {
		t.Fatalf("members: %d %d %d", count(g1), count(g2), count(idOf(res[5]["location"])))
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// A GET of a group writes its members as the store reads them, in
// batches: every member, in the order of their ids, with value, display
// (the user's current name), type and $ref, as a list of groups shows
// them; attributes and excludedAttributes select among those fields.
func TestGroupMembersRepresentation(t *testing.T) {
	e := scimtest.New(t)
	c := e.Client
	users := c.CreateUsers(t, 1205, "m") // more than one batch of the store's
	group := c.Post(t, "/Groups", scimtest.GroupBody("Everyone", users...)).Expect(t, http.StatusCreated)
	gid := group.Str("id")
	if n := len(group.At("members").([]any)); n != len(users) {
		t.Fatalf("POST answered with %d members, want %d", n, len(users))
	}
	renamed := users[700]
	c.Patch(t, "/Users/"+renamed, scimtest.Op("replace", "displayName", "Renamed Person")).Expect(t, http.StatusOK)

	r := c.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK)
	members, _ := r.At("members").([]any)
	sortedIDs := slices.Clone(users)
	slices.Sort(sortedIDs)
	if len(members) != len(users) {
		t.Fatalf("%d members, want %d", len(members), len(users))
	}
	base := e.Server.URL + "/scim/v2/Users/"
	for i, el := range members {
		m := el.(map[string]any)
		id := sortedIDs[i]
		want := map[string]any{"value": id, "type": "User", "$ref": base + id, "display": m["display"]}
		if !reflect.DeepEqual(m, want) {
			t.Fatalf("member %d: %v, want %v", i, m, want)
		}
		wantName := "Renamed Person"
		if id != renamed {
			wantName = fmt.Sprintf("m%d@example.com", slices.Index(users, id))
		}
		if m["display"] != wantName {
			t.Fatalf("member %s named %v, want %q", id, m["display"], wantName)
		}
	}
	// The same members as a list of groups shows them.
	list := c.Get(t, "/Groups?filter="+url.QueryEscape(`displayName eq "Everyone"`)).Expect(t, http.StatusOK)
	if got := list.At("Resources.0.members"); !reflect.DeepEqual(got, r.At("members")) {
		t.Fatalf("members in a list differ from those of a GET")
	}
	if etag := r.Header.Get("ETag"); etag == "" || etag != r.Str("meta.version") {
		t.Fatalf("ETag %q, meta.version %q", etag, r.Str("meta.version"))
	} else {
		c.Get(t, "/Groups/"+gid, "If-None-Match: "+etag).Expect(t, http.StatusNotModified)
	}

	for _, tc := range []struct {
		query string
		keys  []string // of each member; nil: no members
		top   []string // other top-level attributes that must be there
	}{
		{"attributes=members.value", []string{"value"}, []string{"id", "schemas"}},
		{"attributes=members.value,members.display", []string{"display", "value"}, []string{"id"}},
		{"attributes=members", []string{"$ref", "display", "type", "value"}, []string{"id"}},
		{"excludedAttributes=members.display", []string{"$ref", "type", "value"}, []string{"displayName", "meta"}},
		{"excludedAttributes=members.$ref,members.type", []string{"display", "value"}, []string{"displayName"}},
		{"excludedAttributes=members", nil, []string{"displayName", "meta"}},
		{"attributes=displayName", nil, []string{"displayName", "id"}},
	} {
		r := c.Get(t, "/Groups/"+gid+"?"+tc.query).Expect(t, http.StatusOK)
		for _, k := range tc.top {
			if r.At(k) == nil {
				t.Errorf("%s: no %s in %.300s", tc.query, k, r.Raw)
			}
		}
		if tc.query == "attributes=members.value" && r.At("displayName") != nil {
			t.Errorf("%s: displayName returned", tc.query)
		}
		got, has := r.Body["members"].([]any)
		if tc.keys == nil {
			if has {
				t.Errorf("%s: members returned", tc.query)
			}
			continue
		}
		if len(got) != len(users) {
			t.Fatalf("%s: %d members", tc.query, len(got))
		}
		keys := slices.Sorted(maps.Keys(got[0].(map[string]any)))
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: member fields %v, want %v", tc.query, keys, tc.keys)
		}
	}

	empty := c.Post(t, "/Groups", scimtest.GroupBody("Nobody")).Expect(t, http.StatusCreated).Str("id")
	if r := c.Get(t, "/Groups/"+empty).Expect(t, http.StatusOK); r.Body["members"] != nil || r.Str("displayName") != "Nobody" {
		t.Fatalf("a group without members: %s", r.Raw)
	}
}

// failingMembers is a store whose EachMember fails after a few members,
// as a database that goes away half-way through a large group.
type failingMembers struct{ store.Store }

func (s failingMembers) EachMember(ctx context.Context, account, group string, fn func(id, display string) error) error {
	n := 0
	err := s.Store.EachMember(ctx, account, group, func(id, display string) error {
		if n++; n > 3 {
			return errors.New("database gone")
		}
		return fn(id, display)
	})
	return err
}

// The members of a group are read after the status went out: a failure
// half-way cuts the connection, so that the client never takes the part
// it received for the whole group.
func TestGroupMembersFailureCutsTheResponse(t *testing.T) {
	e := scimtest.NewOn(t, failingMembers{storetest.New(t)})
	c := e.Client
	users := c.CreateUsers(t, 10, "cut")
	gid := c.Post(t, "/Groups", scimtest.GroupBody("Cut")).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Groups/"+gid, scimtest.Op("add", "members", members(users...))).Expect(t, http.StatusNoContent)
	req, _ := http.NewRequest(http.MethodGet, c.Base+"/Groups/"+gid, nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	// The connection closes before the response ends (here before its
	// headers even, as the members fit in the first piece written).
	if resp, err := http.DefaultClient.Do(req); err == nil {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("the response ended normally (status %d, %d bytes): %s", resp.StatusCode, len(body), body)
		}
	}
	// The group is fine apart from its members.
	c.Get(t, "/Groups/"+gid+"?excludedAttributes=members").Expect(t, http.StatusOK)
}

// A PATCH of a user answers with the user's groups as its operation read
// them (when a group grants something) or knew them (an account without
// groups), and reads them when it did neither: the same groups every way.
func TestPatchedUserShowsItsGroups(t *testing.T) {
	c := scimtest.New(t).Client
	u := c.Post(t, "/Users", scimtest.UserBody("alone@acme.test")).Expect(t, http.StatusCreated).Str("id")
	patch := func() *scimtest.Response {
		return c.Patch(t, "/Users/"+u, scimtest.Op("replace", "title", fmt.Sprint("t", time.Now().UnixNano()))).Expect(t, http.StatusOK)
	}
	if r := patch(); r.Body["groups"] != nil {
		t.Fatalf("a user of an account without groups: %s", r.Raw)
	}
	plain := newGroup(t, c, "Plain", nil, u).Expect(t, http.StatusCreated).Str("id")
	granting := newGroup(t, c, "Granting", map[string]any{"grantsRole": "supervisor"}).Expect(t, http.StatusCreated).Str("id")
	for _, want := range [][]string{{plain}, {plain, granting}} {
		if len(want) == 2 {
			c.Patch(t, "/Groups/"+granting, scimtest.Op("add", "members", members(u))).Expect(t, http.StatusNoContent)
		}
		r := patch()
		got := map[string]string{}
		for _, g := range r.At("groups").([]any) {
			m := g.(map[string]any)
			got[m["value"].(string)] = m["display"].(string)
		}
		if len(got) != len(want) || got[plain] != "Plain" || (len(want) == 2 && got[granting] != "Granting") {
			t.Fatalf("groups of the patched user: %v, want %v", got, want)
		}
		if fmt.Sprint(r.At("groups")) != fmt.Sprint(c.Get(t, "/Users/"+u).Expect(t, http.StatusOK).At("groups")) {
			t.Fatalf("the PATCH answered other groups than a GET")
		}
	}
}
