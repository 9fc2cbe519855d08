package directory

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// The account check on a real store (SCIM_TEST_STORE picks which): an
// account built through the directory is consistent; each thing a crash
// can leave, written straight to the store, is found; Repair fixes it
// all through the directory's rules.

var ctx = context.Background()

type fixture struct {
	t    *testing.T
	st   store.Store
	dir  *Service
	acct string
}

func newFixture(t *testing.T) *fixture {
	st := storetest.New(t)
	// Limited: only such an account keeps a seat counter to check.
	a, err := st.CreateAccount(ctx, "Acme", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, dir: New(st, slog.New(slog.NewTextHandler(io.Discard, nil))), acct: a.ID}
}

func (f *fixture) create(rt *schemas.ResourceType, body map[string]any) *store.Resource {
	f.t.Helper()
	r, err := f.dir.Create(ctx, f.acct, rt, body)
	if err != nil {
		f.t.Fatalf("create %s %v: %v", rt.Name, body, err)
	}
	return r
}

func (f *fixture) user(name, role string, extra ...map[string]any) *store.Resource {
	f.t.Helper()
	body := map[string]any{"schemas": []any{schemas.UserURN}, "userName": name, schemas.TimeCampUserURN: map[string]any{"role": role}}
	for _, e := range extra {
		for k, v := range e {
			body[k] = v
		}
	}
	return f.create(schemas.User, body)
}

func (f *fixture) group(name string, tc map[string]any, members ...string) *store.Resource {
	f.t.Helper()
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	body := map[string]any{"schemas": []any{schemas.GroupURN}, "displayName": name, schemas.TimeCampGroupURN: tc}
	if len(ms) > 0 {
		body["members"] = ms
	}
	return f.create(schemas.Group, body)
}

func (f *fixture) check() *CheckResult {
	f.t.Helper()
	res, err := f.dir.Check(ctx, f.acct)
	if err != nil {
		f.t.Fatalf("check: %v", err)
	}
	return res
}

func (f *fixture) get(rt *schemas.ResourceType, id string) *store.Resource {
	f.t.Helper()
	r, err := f.st.Get(ctx, rt, f.acct, id)
	if err != nil {
		f.t.Fatalf("get %s %s: %v", rt.Name, id, err)
	}
	return r
}

// overwrite stores attributes of a resource as a crash could have left
// them (bypassing the directory).
func (f *fixture) overwrite(r *store.Resource, edit func(attrs map[string]any)) {
	f.t.Helper()
	cur := f.get(r.Type, r.ID)
	next := *cur
	next.Attributes = schemas.CopyAttributes(cur.Attributes)
	edit(next.Attributes)
	if err := f.st.Replace(ctx, &next, cur.Version); err != nil {
		f.t.Fatalf("overwrite: %v", err)
	}
}

// busyAccount builds an account through the directory with everything
// the check looks at: an owner, guests, a deactivated user, a group tree
// granting a role and projects, memberships, invitations.
func busyAccount(f *fixture) (owner, guest, member *store.Resource, top, sub *store.Resource, project string) {
	project = f.create(schemas.Project, map[string]any{"schemas": []any{schemas.ProjectURN}, "displayName": "Apollo"}).ID
	email := func(addr string) map[string]any {
		return map[string]any{"emails": []any{map[string]any{"value": addr, "primary": true}}}
	}
	owner = f.user("owner@acme.test", schemas.RoleAdministrator, email("owner@acme.test"))
	guest = f.user("guest@acme.test", schemas.RoleGuest, email("guest@acme.test"))
	member = f.user("member@acme.test", schemas.RoleUser, email("member@acme.test"))
	f.user("gone@acme.test", schemas.RoleUser, map[string]any{"active": false})
	top = f.group("Company", map[string]any{"grantsRole": schemas.RoleSupervisor})
	sub = f.group("Apollo team", map[string]any{"parent": top.ID, "projects": []any{map[string]any{"value": project, "role": "manager"}}}, guest.ID, member.ID)
	return
}

func TestCheckFindsNothingInAConsistentAccount(t *testing.T) {
	f := newFixture(t)
	busyAccount(f)
	res := f.check()
	if len(res.Problems) > 0 {
		t.Fatalf("problems in a consistent account: %v", res.Problems)
	}
	if res.Users != 4 || res.Groups != 2 || res.Memberships != 2 || res.SeatsInUse != 3 || res.Outbox != 3 {
		t.Fatalf("read %d users, %d groups, %d memberships, %d outbox entries, %d seats; want 4, 2, 2, 3, 3", res.Users, res.Groups, res.Memberships, res.Outbox, res.SeatsInUse)
	}
}

// wantProblems fails unless the problems are exactly of these kinds, as
// many of each as names given, each name in the detail of one of them.
func wantProblems(t *testing.T, got []Problem, want map[string][]string) {
	t.Helper()
	byKind := map[string][]string{}
	for _, p := range got {
		byKind[p.Kind] = append(byKind[p.Kind], p.Detail)
	}
	for kind, names := range want {
		if len(byKind[kind]) != len(names) {
			t.Errorf("%s: got %q, want %d naming %q", kind, byKind[kind], len(names), names)
			continue
		}
		for _, n := range names {
			if !slices.ContainsFunc(byKind[kind], func(d string) bool { return strings.Contains(d, n) }) {
				t.Errorf("%s: none of %q names %q", kind, byKind[kind], n)
			}
		}
	}
	for kind, details := range byKind {
		if _, ok := want[kind]; !ok {
			t.Errorf("unexpected %s problems: %q", kind, details)
		}
	}
}

func TestCheckFindsAndRepairsWhatACrashLeaves(t *testing.T) {
	f := newFixture(t)
	owner, guest, member, _, sub, project := busyAccount(f)
	clerk := f.user("clerk@acme.test", schemas.RoleUser)
	ghost, lostGroup := store.NewID(), store.NewID()

	// Seats reserved for a write that never came.
	if err := f.st.AdjustSeats(ctx, f.acct, 2); err != nil {
		t.Fatal(err)
	}
	// A member deleted half-way, and a group deleted half-way.
	if _, err := f.st.AddMembers(ctx, f.acct, sub.ID, []string{ghost}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.AddMembers(ctx, f.acct, lostGroup, []string{clerk.ID}); err != nil {
		t.Fatal(err)
	}
	// A group change whose members were not derived again: the guest
	// still looks like a guest without a seat, the member lacks the
	// project the group grants.
	f.overwrite(guest, func(a map[string]any) {
		tc := extension(a, schemas.TimeCampUserURN)
		tc["effectiveRole"], tc[store.SeatField] = schemas.RoleGuest, false
		delete(tc, "projects")
	})
	f.overwrite(member, func(a map[string]any) { delete(extension(a, schemas.TimeCampUserURN), "projects") })
	// An invitation whose email is lost, and an email no user names.
	if err := f.st.DeleteOutbox(ctx, f.get(schemas.User, member.ID).Invitation.ID); err != nil {
		t.Fatal(err)
	}
	stray := &store.OutboxEntry{ID: store.NewID(), Account: f.acct, User: ghost, Token: "t"}
	if err := f.st.AddOutbox(ctx, stray); err != nil {
		t.Fatal(err)
	}
	// A renamed group whose child's path was not refreshed, and a group
	// under a parent deleted half-way.
	f.overwrite(sub, func(a map[string]any) { extension(a, schemas.TimeCampGroupURN)["path"] = "Acme/Old name/Apollo team" })
	orphan := &store.Resource{Type: schemas.Group, ID: store.NewID(), Account: f.acct, Attributes: map[string]any{
		"displayName": "Orphans", schemas.TimeCampGroupURN: map[string]any{"parent": lostGroup, "path": "Acme/Orphans"},
	}}
	if err := f.st.Insert(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	// An owner claimed for a user whose write was lost.
	if err := f.st.SetOwner(ctx, f.acct, ghost); err != nil {
		t.Fatal(err)
	}

	// The stray email is within its grace period: maybe a write in flight.
	wantProblems(t, f.check().Problems, map[string][]string{
		ProblemSeats:       {"says 6 seats in use; 3 users use a seat"},
		ProblemOwner:       {"the account owner, user " + ghost + ", does not exist"},
		ProblemGroupParent: {"Orphans"},
		ProblemGroupPath:   {`"Acme/Old name/Apollo team"; the tree gives "Acme/Company/Apollo team"`},
		ProblemMembership:  {"clerk@acme.test", ghost},
		ProblemSeatFlag:    {"guest@acme.test"},
		ProblemDerived:     {"member@acme.test", "owner@acme.test"},
		ProblemInvitation:  {"member@acme.test"},
	})
	// Past it, the email is found too.
	later := time.Now().Add(store.OutboxGrace + time.Minute)
	f.dir.SetInvitationSettings(InvitationSettings{Clock: func() time.Time { return later }})
	res := f.check()
	wantProblems(t, res.Problems, map[string][]string{
		ProblemSeats:       {"seat counter"},
		ProblemOwner:       {ghost},
		ProblemGroupParent: {"Orphans"},
		ProblemGroupPath:   {"Apollo team"},
		ProblemMembership:  {"clerk@acme.test", ghost},
		ProblemSeatFlag:    {"effectiveRole \"guest\", derived \"supervisor\""},
		ProblemDerived:     {"member@acme.test (" + member.ID + "): stale derived attributes: projects", "owner@acme.test (" + owner.ID + "): stale derived attributes: accountOwner true, derived false"},
		ProblemInvitation:  {"is not in the outbox"},
		ProblemOutbox:      {"is for user " + ghost + ", which does not exist"},
	})
	for _, p := range res.Problems {
		t.Logf("found: %s", p)
	}

	if err := f.dir.Repair(ctx, res); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if after := f.check(); len(after.Problems) > 0 {
		t.Fatalf("after repair: %v", after.Problems)
	}
	acct, _ := f.st.Account(ctx, f.acct)
	if acct.Owner != owner.ID || acct.SeatsUsed != 4 {
		t.Fatalf("after repair: owner %s (want %s), %d seats used (want 4: the guest is a supervisor again)", acct.Owner, owner.ID, acct.SeatsUsed)
	}
	if g := f.get(schemas.User, guest.ID); extension(g.Attributes, schemas.TimeCampUserURN)["effectiveRole"] != schemas.RoleSupervisor || !countsTowardSeats(g) {
		t.Fatalf("guest after repair: %v", g.Attributes)
	}
	if ms, _ := f.st.Members(ctx, f.acct, sub.ID); len(ms) != 2 {
		t.Fatalf("members after repair: %v", ms)
	}
	if gs, _ := f.st.GroupsOf(ctx, f.acct, clerk.ID); len(gs) != 0 {
		t.Fatalf("clerk's groups after repair: %v", gs)
	}
	if o := f.get(schemas.Group, orphan.ID); extension(o.Attributes, schemas.TimeCampGroupURN)["parent"] != nil || extension(o.Attributes, schemas.TimeCampGroupURN)["path"] != "Acme/Orphans" {
		t.Fatalf("orphan group after repair: %v", o.Attributes)
	}
	if e, err := f.st.OutboxEntryByID(ctx, stray.ID); err != nil || e.State != store.OutboxDiscarded {
		t.Fatalf("stray email after repair: %+v %v", e, err)
	}
	inv := f.get(schemas.User, member.ID).Invitation
	if e, err := f.st.OutboxEntryByID(ctx, inv.ID); err != nil || e.State != store.OutboxPending || e.User != member.ID || e.Token == "" {
		t.Fatalf("member's fresh invitation email: %+v %v", e, err)
	}
	if inv.Hash != store.HashInvitationToken(mustEntry(t, f.st, inv.ID).Token) {
		t.Fatal("the fresh email's token does not match the user's invitation")
	}
	if m := f.get(schemas.User, member.ID); !strings.Contains(fmt.Sprint(extension(m.Attributes, schemas.TimeCampUserURN)["projects"]), project) {
		t.Fatalf("member's projects after repair: %v", m.Attributes)
	}
}

func mustEntry(t *testing.T, st store.Store, id string) *store.OutboxEntry {
	t.Helper()
	e, err := st.OutboxEntryByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// An owner that exists but lost the administrator role (the write that
// made it one was lost) gives way to the oldest active administrator; an
// account without an owner gets one.
func TestRepairOwner(t *testing.T) {
	f := newFixture(t)
	first := f.user("first@acme.test", schemas.RoleAdministrator)
	time.Sleep(2 * time.Millisecond) // created in a later millisecond: the oldest is first
	second := f.user("second@acme.test", schemas.RoleAdministrator)
	clerk := f.user("clerk@acme.test", schemas.RoleUser)
	if err := f.st.SetOwner(ctx, f.acct, clerk.ID); err != nil {
		t.Fatal(err)
	}
	res := f.check()
	// The clerk is flagged as owner, and first's accountOwner is stale;
	// so is the clerk's.
	wantProblems(t, res.Problems, map[string][]string{
		ProblemOwner:   {"clerk@acme.test (" + clerk.ID + "), is not an administrator (effective role user)"},
		ProblemDerived: {"first@acme.test", "clerk@acme.test"},
	})
	if err := f.dir.Repair(ctx, res); err != nil {
		t.Fatal(err)
	}
	if after := f.check(); len(after.Problems) > 0 {
		t.Fatalf("after repair: %v", after.Problems)
	}
	if acct, _ := f.st.Account(ctx, f.acct); acct.Owner != first.ID {
		t.Fatalf("owner after repair: %s, want the oldest administrator %s", acct.Owner, first.ID)
	}
	_ = second

	// No owner at all.
	if err := f.st.ReleaseOwner(ctx, f.acct, first.ID); err != nil {
		t.Fatal(err)
	}
	res = f.check()
	wantProblems(t, res.Problems, map[string][]string{
		ProblemOwner:   {"no owner, although user first@acme.test"},
		ProblemDerived: {"first@acme.test (" + first.ID + "): stale derived attributes: accountOwner true, derived false"},
	})
	if err := f.dir.Repair(ctx, res); err != nil {
		t.Fatal(err)
	}
	if after := f.check(); len(after.Problems) > 0 {
		t.Fatalf("after repair: %v", after.Problems)
	}
}

// On the embedded database the check reads one snapshot: next to writers
// creating users and changing groups it finds nothing, though the seat
// counter and the users change all the while.
func TestCheckNextToWriters(t *testing.T) {
	if storetest.Kind() != "sqlite" {
		t.Skip("only the embedded database gives the check a snapshot")
	}
	f := newFixture(t)
	_, _, _, top, _, _ := busyAccount(f)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var bodies []map[string]any
			for k := 0; k < 20; k++ {
				role := schemas.RoleGuest
				if k%2 == 0 {
					role = schemas.RoleUser
				}
				bodies = append(bodies, map[string]any{"schemas": []any{schemas.UserURN}, "userName": "u" + store.NewID(), schemas.TimeCampUserURN: map[string]any{"role": role}})
			}
			created, _, err := f.dir.CreateUsers(ctx, f.acct, bodies)
			if err == nil {
				// The guest becomes a supervisor: a seat more.
				_, err = f.dir.Patch(ctx, f.acct, schemas.Group, top.ID, []PatchOp{{Op: "add", Path: "members", Value: []any{map[string]any{"value": created[1].ID}}}}, "")
			}
			if err != nil {
				writeErr = err
				return
			}
			writes.Add(1)
		}
	}()
	checks := 0
	for ; checks < 10 || writes.Load() < 10; checks++ {
		if res := f.check(); len(res.Problems) > 0 {
			t.Errorf("check %d next to writers: %v", checks, res.Problems)
		}
		if checks > 1000 {
			break
		}
	}
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	res := f.check()
	if res.Users < 200 || len(res.Problems) > 0 {
		t.Fatalf("after the writers: %d users, %v", res.Users, res.Problems)
	}
	t.Logf("%d checks next to %d batches of writes", checks, writes.Load())
}
