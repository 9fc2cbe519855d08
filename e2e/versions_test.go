package e2e

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Issue 2, point 9: versions, ETags and concurrent updates.
func TestVersions(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := s.Client

	t.Run("ETag is meta.version", func(t *testing.T) {
		r := c.Post(t, "/Users", scimtest.UserBody("etag@example.com")).Expect(t, http.StatusCreated)
		id := r.Str("id")
		seen := map[string]bool{}
		for _, resp := range []*scimtest.Response{
			r,
			c.Get(t, "/Users/"+id).Expect(t, http.StatusOK),
			c.Patch(t, "/Users/"+id, scimtest.Op("replace", "title", "a")).Expect(t, http.StatusOK),
			c.Put(t, "/Users/"+id, scimtest.UserBody("etag@example.com", obj{"title": "b"})).Expect(t, http.StatusOK),
			c.Get(t, "/Users/"+id+"?attributes=userName").Expect(t, http.StatusOK),
		} {
			v := resp.Header.Get("ETag")
			if v == "" {
				t.Fatalf("no ETag: %s", resp.Raw)
			}
			if resp.Str("meta.version") != "" && v != resp.Str("meta.version") {
				t.Fatalf("ETag %q, meta.version %q", v, resp.Str("meta.version"))
			}
			seen[v] = true
		}
		// Created, patched, replaced: three versions (the GETs repeat them).
		if len(seen) != 3 {
			t.Fatalf("versions %v", seen)
		}
	})

	t.Run("If-Match", func(t *testing.T) {
		id := createUser(t, c, "ifmatch@example.com", obj{"title": "v1"})
		old := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK).Str("meta.version")
		cur := c.Patch(t, "/Users/"+id, scimtest.Op("replace", "title", "v2")).Expect(t, http.StatusOK).Str("meta.version")
		if old == cur {
			t.Fatal("version did not change")
		}
		unchanged := func(t *testing.T) {
			t.Helper()
			r := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
			if r.Str("meta.version") != cur || r.Str("title") != "v2" {
				t.Fatalf("changed by a refused request: %s", r.Raw)
			}
		}
		ifOld := "If-Match: " + old
		expectError(t, c.Do(t, http.MethodPut, "/Users/"+id, scimtest.UserBody("ifmatch@example.com", obj{"title": "put"}), ifOld), http.StatusPreconditionFailed, "")
		unchanged(t)
		expectError(t, c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody(scimtest.Op("replace", "title", "patch")), ifOld), http.StatusPreconditionFailed, "")
		unchanged(t)
		expectError(t, c.Do(t, http.MethodDelete, "/Users/"+id, nil, ifOld), http.StatusPreconditionFailed, "")
		unchanged(t)
		expectError(t, c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody(scimtest.Op("replace", "title", "patch")), `If-Match: W/"999999"`), http.StatusPreconditionFailed, "")
		unchanged(t)

		// The current version, weak or strong, or "*", or in a list, passes.
		r := c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody(scimtest.Op("replace", "title", "v3")), "If-Match: "+cur).Expect(t, http.StatusOK)
		cur = r.Str("meta.version")
		r = c.Do(t, http.MethodPut, "/Users/"+id, scimtest.UserBody("ifmatch@example.com", obj{"title": "v4"}), "If-Match: "+old+", "+cur).Expect(t, http.StatusOK)
		if r.Str("title") != "v4" {
			t.Fatalf("PUT: %s", r.Raw)
		}
		cur = r.Str("meta.version")
		strong := strings.TrimPrefix(cur, "W/")
		r = c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody(scimtest.Op("replace", "title", "v5")), "If-Match: "+strong).Expect(t, http.StatusOK)
		cur = r.Str("meta.version")
		c.Do(t, http.MethodPatch, "/Users/"+id, scimtest.PatchBody(scimtest.Op("replace", "title", "v6")), "If-Match: *").Expect(t, http.StatusOK)
		cur = c.Get(t, "/Users/"+id).Expect(t, http.StatusOK).Str("meta.version")
		c.Do(t, http.MethodDelete, "/Users/"+id, nil, "If-Match: "+cur).Expect(t, http.StatusNoContent)
		expectError(t, c.Get(t, "/Users/"+id), http.StatusNotFound, "")
	})

	t.Run("If-Match on group members", func(t *testing.T) {
		u1 := createUser(t, c, "gm1@example.com")
		u2 := createUser(t, c, "gm2@example.com")
		g := createGroup(t, c, "If-Match group", u1)
		before := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		old := before.Str("meta.version")
		time.Sleep(5 * time.Millisecond)
		cur := c.Do(t, http.MethodPatch, "/Groups/"+g, scimtest.PatchBody(scimtest.Op("add", "members", arr{obj{"value": u2}})), "If-Match: "+old).Expect(t, http.StatusNoContent).Header.Get("ETag")
		if cur == old || cur == "" {
			t.Fatalf("version after a member change: %q (was %q)", cur, old)
		}
		after := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		if after.Str("meta.lastModified") <= before.Str("meta.lastModified") {
			t.Fatalf("lastModified %s not advanced by a member change (was %s)", after.Str("meta.lastModified"), before.Str("meta.lastModified"))
		}
		expectSet(t, nil, c.Get(t, filterPath("/Groups", `meta.lastModified gt "`+before.Str("meta.lastModified")+`"`)), g)
		expectError(t, c.Do(t, http.MethodPatch, "/Groups/"+g, scimtest.PatchBody(scimtest.Op("remove", "members", nil)), "If-Match: "+old), http.StatusPreconditionFailed, "")
		expectError(t, c.Do(t, http.MethodPut, "/Groups/"+g, scimtest.GroupBody("If-Match group"), "If-Match: "+old), http.StatusPreconditionFailed, "")
		expectError(t, c.Do(t, http.MethodDelete, "/Groups/"+g, nil, "If-Match: "+old), http.StatusPreconditionFailed, "")
		r := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		if r.Str("meta.version") != cur || fmt.Sprint(memberIDs(r.At("members"))) != fmt.Sprint(sorted(u1, u2)) {
			t.Fatalf("group changed by refused requests: %s", r.Raw)
		}
	})

	t.Run("If-None-Match", func(t *testing.T) {
		id := createUser(t, c, "ifnone@example.com")
		first := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		v := first.Str("meta.version")
		for _, h := range []string{v, strings.TrimPrefix(v, "W/"), "*", `W/"999999", ` + v} {
			r := c.Get(t, "/Users/"+id, "If-None-Match: "+h)
			r.Expect(t, http.StatusNotModified)
			if len(r.Raw) != 0 {
				t.Fatalf("304 with a body: %q", r.Raw)
			}
			if r.Header.Get("ETag") != v {
				t.Fatalf("304 ETag %q, want %q", r.Header.Get("ETag"), v)
			}
		}
		c.Patch(t, "/Users/"+id, scimtest.Op("replace", "title", "new")).Expect(t, http.StatusOK)
		r := c.Get(t, "/Users/"+id, "If-None-Match: "+v).Expect(t, http.StatusOK)
		if r.Str("title") != "new" || r.Str("meta.version") == v {
			t.Fatalf("GET after a change: %s", r.Raw)
		}
		g := createGroup(t, c, "If-None-Match group")
		gv := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK).Str("meta.version")
		c.Get(t, "/Groups/"+g, "If-None-Match: "+gv).Expect(t, http.StatusNotModified)
	})

	t.Run("a PATCH that changes nothing keeps the version", func(t *testing.T) {
		id := createUser(t, c, "same@example.com", obj{
			"title":  "Same",
			"name":   obj{"givenName": "S"},
			"emails": arr{obj{"type": "work", "value": "same@example.com", "primary": true}},
		})
		before := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		for _, op := range []map[string]any{
			scimtest.Op("replace", "title", "Same"),
			scimtest.Op("add", "name.givenName", "S"),
			scimtest.Op("add", "emails", arr{obj{"type": "work", "value": "same@example.com"}}),
			scimtest.Op("remove", "nickName", nil),
			scimtest.Op("remove", `emails[type eq "home"]`, nil),
			scimtest.Op("replace", "", obj{"title": "Same", "active": true}),
		} {
			r := c.Patch(t, "/Users/"+id, op).Expect(t, http.StatusOK)
			if r.Str("meta.version") != before.Str("meta.version") || r.Str("meta.lastModified") != before.Str("meta.lastModified") {
				t.Fatalf("%v changed the version: %s -> %s", op, before.Str("meta.version"), r.Str("meta.version"))
			}
		}
		u := createUser(t, c, "same-member@example.com")
		g := createGroup(t, c, "Same group", u)
		gBefore := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		r := c.Patch(t, "/Groups/"+g, scimtest.Op("replace", "displayName", "Same group")).Expect(t, http.StatusOK)
		if r.Str("meta.version") != gBefore.Str("meta.version") {
			t.Fatalf("group version changed: %s -> %s", gBefore.Str("meta.version"), r.Str("meta.version"))
		}
		// Adding a member already in the group, or removing one that is
		// not, changes no member.
		other := createUser(t, c, "not-a-member@example.com")
		for _, op := range []map[string]any{
			scimtest.Op("add", "members", arr{obj{"value": u}}),
			scimtest.Op("remove", "members", arr{obj{"value": other}}),
			scimtest.Op("remove", `members[value eq "`+other+`"]`, nil),
			scimtest.Op("replace", "members", arr{obj{"value": u}}),
		} {
			r := c.Patch(t, "/Groups/"+g, op)
			if r.Status != http.StatusNoContent && r.Status != http.StatusOK {
				t.Fatalf("%v: %d %s", op, r.Status, r.Raw)
			}
			if r.Header.Get("ETag") != gBefore.Str("meta.version") {
				t.Fatalf("%v changed the group version: %s -> %s", op, gBefore.Str("meta.version"), r.Header.Get("ETag"))
			}
		}
		after := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		if after.Str("meta.version") != gBefore.Str("meta.version") || fmt.Sprint(memberIDs(after.At("members"))) != fmt.Sprint([]string{u}) {
			t.Fatalf("group after no-op PATCHes: %s", after.Raw)
		}
	})

	t.Run("concurrent PATCHes of one group lose nothing", func(t *testing.T) {
		const n = 24
		users := make([]string, n)
		for i := range users {
			users[i] = createUser(t, c, fmt.Sprintf("racer%02d@example.com", i))
		}
		g := createGroup(t, c, "Race")
		var wg sync.WaitGroup
		statuses := make([]int, n)
		bodies := make([]string, n)
		start := make(chan struct{})
		for i := range users {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				r := c.Patch(t, "/Groups/"+g, scimtest.Op("add", "members", arr{obj{"value": users[i]}}))
				statuses[i], bodies[i] = r.Status, string(r.Raw)
			}(i)
		}
		close(start)
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusNoContent {
				t.Errorf("PATCH %d: %d %s", i, st, bodies[i])
			}
		}
		r := c.Get(t, "/Groups/"+g).Expect(t, http.StatusOK)
		if got := memberIDs(r.At("members")); !reflect.DeepEqual(got, sorted(users...)) {
			t.Fatalf("%d members after %d concurrent adds: %v", len(got), n, got)
		}
		if want := fmt.Sprintf(`W/"%d"`, n+1); r.Str("meta.version") != want {
			t.Fatalf("version %s after %d changes, want %s", r.Str("meta.version"), n, want)
		}
	})

	t.Run("concurrent PATCHes of one user lose nothing", func(t *testing.T) {
		// Each PATCH rewrites the user's document, conditionally on its
		// version, and retries when another got there first.
		const n = 12
		id := createUser(t, c, "busy@example.com")
		var wg sync.WaitGroup
		statuses := make([]int, n)
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				r := c.Patch(t, "/Users/"+id, scimtest.Op("add", "emails", arr{obj{"type": "other", "value": fmt.Sprintf("e%02d@example.com", i)}}))
				statuses[i] = r.Status
			}(i)
		}
		close(start)
		wg.Wait()
		for i, st := range statuses {
			if st != http.StatusOK {
				t.Errorf("PATCH %d: %d", i, st)
			}
		}
		r := c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
		if l, _ := r.At("emails").([]any); len(l) != n {
			t.Fatalf("%d emails after %d concurrent adds: %s", len(l), n, r.Raw)
		}
	})
}
