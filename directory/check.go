package directory

// The account check: it recounts seats and compares what is stored with
// what the directory's rules derive from it, to find what a crash can
// leave behind. On the embedded database every operation is one
// transaction and the check should find nothing; on MongoDB an operation
// is several writes (see store.Store.Atomic) and a crash between two of
// them leaves part of it: seats reserved for a user never written, a
// membership of a user deleted half-way, an outbox entry no user names,
// users not yet re-derived after a group change. Repair fixes what the
// check found with the same code the writes use (syncUsers,
// refreshPaths, issueInvitation, RecountSeats).

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Kinds of problem the check finds.
const (
	ProblemSeats       = "seats"      // the seat counter differs from a recount
	ProblemSeatFlag    = "seat"       // a user's countsTowardSeats is not what the rules derive
	ProblemDerived     = "derived"    // other attributes the server derives for a user are stale
	ProblemMembership  = "membership" // a membership of a user or group that does not exist
	ProblemInvitation  = "invitation" // a pending invitation whose email is not in the outbox
	ProblemOutbox      = "outbox"     // a pending email for a user that does not name it
	ProblemOwner       = "owner"      // the owner is not an active administrator, or is missing
	ProblemGroupParent = "group"      // a group hangs under a group that does not exist
	ProblemGroupPath   = "group-path" // a group's path does not follow the tree
	ProblemOperation   = "operation"  // an operation of a server that stopped, not recovered yet
)

// Problem is one inconsistency the check found.
type Problem struct {
	Kind string
	// Detail says what is wrong, naming what it concerns.
	Detail string
	// What it concerns, for the repair: a user, a group, an outbox entry.
	User, Group, Entry string
}

func (p Problem) String() string { return p.Kind + ": " + p.Detail }

// CheckResult is what the check read and found.
type CheckResult struct {
	Account *store.Account
	// What was read.
	Users, Groups, Memberships, Outbox int
	// SeatsInUse is the recount of the users that use a seat; SeatsHeld
	// those the counter holds for the Operations in flight (recorded).
	SeatsInUse, SeatsHeld, Operations int
	Problems                          []Problem
	// candidates are the users that may own the account, oldest first
	// (for repairing an account without a valid owner).
	candidates []string
}

// checkPage is how many users the check reads at a time.
const checkPage = 500

// Check reads an account and reports its inconsistencies. On the
// embedded database it reads one snapshot, so it can run next to a busy
// server; on MongoDB its reads see writes made meanwhile, so a write in
// flight can show as a problem (what it finds missing is looked up again
// before it is reported).
func (s *Service) Check(ctx context.Context, account string) (*CheckResult, error) {
	var res *CheckResult
	err := s.store.Snapshot(ctx, func(ctx context.Context) error {
		var err error
		res, err = s.check(ctx, account)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.confirm(ctx, res); err != nil {
		return nil, err
	}
	sortProblems(res.Problems)
	return res, nil
}

// checkedUser is what the check keeps of a user.
type checkedUser struct {
	name          string
	active        bool
	effectiveRole string
	invitation    string // the id of the current invitation
	seatOps       []string
}

func (u *checkedUser) label(id string) string {
	if u == nil || u.name == "" {
		return id
	}
	return fmt.Sprintf("%s (%s)", u.name, id)
}

func (s *Service) check(ctx context.Context, account string) (*CheckResult, error) {
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Account: acct}
	add := func(p Problem) { res.Problems = append(res.Problems, p) }
	now := s.now()

	groups, err := s.store.All(ctx, schemas.Group, account)
	if err != nil {
		return nil, err
	}
	t := newTree(acct, groups)
	memberships, err := s.store.AllMemberships(ctx, account)
	if err != nil {
		return nil, err
	}
	groupsOf := map[string][]string{} // sorted: memberships come by group
	for _, m := range memberships {
		groupsOf[m.Member] = append(groupsOf[m.Member], m.Group)
	}
	entries, err := s.store.OutboxOf(ctx, account)
	if err != nil {
		return nil, err
	}
	outbox := make(map[string]*store.OutboxEntry, len(entries))
	for _, e := range entries {
		outbox[e.ID] = e
	}
	res.Groups, res.Memberships, res.Outbox = len(groups), len(memberships), len(entries)

	// Users, page by page in creation order: each against what the rules
	// derive for it, and its invitation against the outbox.
	users := map[string]*checkedUser{}
	for start := 1; ; start += checkPage {
		page, err := s.store.Find(ctx, schemas.User, account, store.Query{StartIndex: start, Count: checkPage})
		if err != nil {
			return nil, err
		}
		for _, u := range page.Resources {
			derived := schemas.CopyAttributes(u.Attributes)
			st := deriveUser(derived, groupsOf[u.ID], t, acct.Owner == u.ID)
			cu := &checkedUser{name: str(u.Attributes["userName"]), active: store.Active(u.Attributes), effectiveRole: st.effectiveRole, seatOps: u.SeatOps}
			users[u.ID] = cu
			if mayClaimOwnership(derived, st) {
				res.candidates = append(res.candidates, u.ID)
			}
			if stale := staleAttributes(u.Attributes, derived); len(stale) > 0 {
				kind := ProblemDerived
				if countsTowardSeats(u) != st.counts {
					kind = ProblemSeatFlag
				}
				add(Problem{Kind: kind, User: u.ID, Detail: fmt.Sprintf("user %s: stale derived attributes: %s", cu.label(u.ID), strings.Join(stale, "; "))})
			}
			if inv := u.Invitation; inv != nil {
				cu.invitation = inv.ID
				if why := unsent(inv, outbox[inv.ID], now); why != "" {
					add(Problem{Kind: ProblemInvitation, User: u.ID, Detail: fmt.Sprintf("user %s has a pending invitation (issued %s) whose email %s: it will never be sent",
						cu.label(u.ID), schemas.FormatTime(inv.InvitedAt), why)})
				}
			}
		}
		if len(page.Resources) < checkPage {
			break
		}
	}
	res.Users = len(users)

	// Seats: the counter writes reserve against, and a recount.
	if res.SeatsInUse, err = s.store.SeatsInUse(ctx, account); err != nil {
		return nil, err
	}
	// Operations in flight hold seats for writes that have not landed, and
	// count seats freed by writes that have until they end. An unlimited
	// account keeps no counter; nor is it compared while a recount is due
	// (the account became limited a moment ago: see SetSeats).
	held, recounting := 0, false
	for id, op := range acct.Operations {
		if op == nil {
			continue
		}
		recounting = recounting || op.Recount
		for u, c := range op.Seats {
			cu := users[u]
			landed := (c.Delete && cu == nil) || (!c.Delete && cu != nil && slices.Contains(cu.seatOps, id))
			if (c.Delta > 0 && !landed) || (c.Delta < 0 && landed) {
				held += max(c.Delta, -c.Delta)
			}
		}
		if !op.Recount && op.Until.Add(store.ClockSkew).Before(time.Now()) { // leases run in real time
			add(Problem{Kind: ProblemOperation, Detail: fmt.Sprintf("operation %s of a server that stopped (lease ran out %s) is not recovered yet: a running server recovers it within %s, or accounts check --repair",
				id, schemas.FormatTime(op.Until), RecoverEvery)})
		}
	}
	res.SeatsHeld, res.Operations = held, len(acct.Operations)
	if keepsSeats(acct) && !recounting && acct.SeatsUsed != res.SeatsInUse+held {
		detail := fmt.Sprintf("the seat counter says %d seats in use; %d users use a seat", acct.SeatsUsed, res.SeatsInUse)
		if held > 0 {
			detail += fmt.Sprintf(", and operations in flight hold %d", held)
		}
		add(Problem{Kind: ProblemSeats, Detail: detail})
	}

	for _, m := range memberships {
		switch {
		case t.groups[m.Group] == nil:
			add(Problem{Kind: ProblemMembership, Group: m.Group, User: m.Member, Detail: fmt.Sprintf("user %s is a member of group %s, which does not exist", users[m.Member].label(m.Member), m.Group)})
		case users[m.Member] == nil:
			add(Problem{Kind: ProblemMembership, Group: m.Group, User: m.Member, Detail: fmt.Sprintf("group %s has member %s, which is no user of the account", t.groups[m.Group].label(), m.Member)})
		}
	}

	// Pending emails whose user does not name them. Within the grace
	// period such an entry may be the first step of a write in flight; an
	// entry a worker holds is its business.
	for _, e := range entries {
		if e.State != store.OutboxPending || e.ClaimedUntil.After(now) || now.Sub(e.Created) < store.OutboxGrace {
			continue
		}
		u := users[e.User]
		switch {
		case u == nil:
			add(Problem{Kind: ProblemOutbox, Entry: e.ID, User: e.User, Detail: fmt.Sprintf("invitation email %s (queued %s) is for user %s, which does not exist", e.ID, schemas.FormatTime(e.Created), e.User)})
		case u.invitation != e.ID:
			add(Problem{Kind: ProblemOutbox, Entry: e.ID, User: e.User, Detail: fmt.Sprintf("invitation email %s (queued %s) is for user %s, whose invitation is another one", e.ID, schemas.FormatTime(e.Created), u.label(e.User))})
		}
	}

	if acct.Owner != "" {
		u := users[acct.Owner]
		why := ""
		switch {
		case u == nil:
			why = "does not exist"
		case !u.active:
			why = "is deactivated"
		case u.effectiveRole != schemas.RoleAdministrator:
			why = fmt.Sprintf("is not an administrator (effective role %s)", u.effectiveRole)
		}
		if why != "" {
			add(Problem{Kind: ProblemOwner, User: acct.Owner, Detail: fmt.Sprintf("the account owner, user %s, %s", u.label(acct.Owner), why)})
		}
	} else if len(res.candidates) > 0 {
		id := res.candidates[0]
		add(Problem{Kind: ProblemOwner, User: id, Detail: fmt.Sprintf("the account has no owner, although user %s is an active administrator", users[id].label(id))})
	}

	for _, g := range groups {
		n := t.groups[g.ID]
		if n.parent != "" && t.groups[n.parent] == nil {
			add(Problem{Kind: ProblemGroupParent, Group: g.ID, Detail: fmt.Sprintf("group %s hangs under group %s, which does not exist", n.label(), n.parent)})
			continue
		}
		if path := str(extension(g.Attributes, schemas.TimeCampGroupURN)["path"]); path != t.path(g.ID) {
			add(Problem{Kind: ProblemGroupPath, Group: g.ID, Detail: fmt.Sprintf("group %s has path %q; the tree gives %q", n.label(), path, t.path(g.ID))})
		}
	}
	return res, nil
}

func (n *node) label() string { return fmt.Sprintf("%s (%s)", n.name, n.id) }

// staleAttributes names the attributes that differ between a stored user
// and what the rules derive for it, with both values when they are short.
func staleAttributes(stored, derived map[string]any) []string {
	var out []string
	diff := func(a, b map[string]any) {
		var keys []string
		for k := range a {
			keys = append(keys, k)
		}
		for k := range b {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == schemas.TimeCampUserURN || reflect.DeepEqual(a[k], b[k]) {
				continue
			}
			if scalar(a[k]) && scalar(b[k]) {
				out = append(out, fmt.Sprintf("%s %s, derived %s", k, shown(a[k]), shown(b[k])))
			} else {
				out = append(out, k)
			}
		}
	}
	diff(stored, derived)
	diff(extension(stored, schemas.TimeCampUserURN), extension(derived, schemas.TimeCampUserURN))
	return out
}

func scalar(v any) bool {
	switch v.(type) {
	case string, bool, nil:
		return true
	}
	return false
}

func shown(v any) string {
	if v == nil {
		return "unset"
	}
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// unsent says why the email of a pending invitation will never be sent
// ("" when it will be, or was): its outbox entry is missing, or was
// discarded. An invitation older than the outbox's retention may have had
// its email delivered and purged.
func unsent(inv *store.Invitation, e *store.OutboxEntry, now time.Time) string {
	switch {
	case effectiveStatus(inv, now) != store.InvitationPending || now.Sub(inv.InvitedAt) >= store.OutboxRetention:
		return ""
	case e == nil:
		return "is not in the outbox"
	case e.State == store.OutboxDiscarded:
		return "was discarded unsent (" + e.LastError + ")"
	}
	return ""
}

// confirm looks again at what the check found missing, outside the
// snapshot: on MongoDB a user or group written or deleted while the check
// paged through the account can look missing, and is not a problem.
func (s *Service) confirm(ctx context.Context, res *CheckResult) error {
	account := res.Account.ID
	var users, groups []string
	for _, p := range res.Problems {
		if p.Kind == ProblemMembership {
			users, groups = append(users, p.User), append(groups, p.Group)
		}
	}
	if len(users) == 0 {
		return nil
	}
	userExists, err := s.store.Existing(ctx, schemas.User, account, dedupe(users))
	if err != nil {
		return err
	}
	groupExists, err := s.store.Existing(ctx, schemas.Group, account, dedupe(groups))
	if err != nil {
		return err
	}
	kept := res.Problems[:0]
	for _, p := range res.Problems {
		if p.Kind == ProblemMembership && userExists[p.User] && groupExists[p.Group] {
			continue
		}
		kept = append(kept, p)
	}
	res.Problems = kept
	return nil
}

// Repair fixes what a check of the account found, through the
// directory's own rules: memberships of missing users or groups are
// dropped, groups under a missing parent move to the root, an owner that
// may not own the account gives way to the oldest active administrator,
// users are derived again, emails no user names are voided and pending
// invitations without an email get a fresh one, and the seats are
// recounted. Each step works on the current state, so a problem gone
// meanwhile is left alone; check again afterwards.
func (s *Service) Repair(ctx context.Context, found *CheckResult) error {
	return s.repair(withEndsAtOnce(ctx), found, true)
}

// repair is Repair; the recovery of operations repairs without touching
// the seat counter (recounting next to operations in flight could take a
// seat they hold): recount false.
func (s *Service) repair(ctx context.Context, found *CheckResult, recount bool) error {
	if len(found.Problems) == 0 {
		return nil
	}
	account := found.Account.ID
	if recount {
		for _, p := range found.Problems {
			if p.Kind == ProblemOperation {
				// Operations of servers that stopped: recovered first
				// (which repairs the rest of what they left).
				if _, err := s.Recover(ctx, time.Now().Add(-store.ClockSkew)); err != nil {
					return fmt.Errorf("recover operations: %w", err)
				}
				break
			}
		}
	}
	var rederive, reinvite, void, paths, orphans []string
	dropMembers := map[string][]string{}
	fixOwner := false
	for _, p := range found.Problems {
		switch p.Kind {
		case ProblemMembership:
			dropMembers[p.Group] = append(dropMembers[p.Group], p.User)
			rederive = append(rederive, p.User)
		case ProblemSeatFlag, ProblemDerived:
			rederive = append(rederive, p.User)
		case ProblemInvitation:
			reinvite = append(reinvite, p.User)
		case ProblemOutbox:
			void = append(void, p.Entry)
		case ProblemOwner:
			fixOwner = true
		case ProblemGroupParent:
			orphans = append(orphans, p.Group)
		case ProblemGroupPath:
			paths = append(paths, p.Group)
		}
	}
	for group, members := range dropMembers {
		if err := s.dropMembers(ctx, account, group, members); err != nil {
			return fmt.Errorf("drop memberships of group %s: %w", group, err)
		}
	}
	for _, id := range orphans {
		err := s.atomic(ctx, func(ctx context.Context) error { return s.moveGroup(ctx, account, id, "") })
		if err != nil && !failure.Is(err, failure.NotFound) {
			return fmt.Errorf("move group %s to the root: %w", id, err)
		}
	}
	if fixOwner {
		changed, err := s.repairOwner(ctx, account, found.candidates)
		if err != nil {
			return fmt.Errorf("account owner: %w", err)
		}
		rederive = append(rederive, changed...)
	}
	if len(paths) > 0 {
		err := s.atomic(ctx, func(ctx context.Context) error {
			acct, err := s.store.Account(ctx, account)
			if err != nil {
				return err
			}
			return s.refreshPaths(ctx, acct, paths)
		})
		if err != nil {
			return fmt.Errorf("group paths: %w", err)
		}
	}
	rederive = dedupe(rederive)
	for start := 0; start < len(rederive); start += checkPage {
		chunk := rederive[start:min(start+checkPage, len(rederive))]
		err := s.atomic(ctx, func(ctx context.Context) error {
			return s.syncUsers(ctx, account, chunk)
		})
		if err != nil {
			return fmt.Errorf("derive users: %w", err)
		}
	}
	for _, id := range void {
		if err := s.store.VoidOutbox(ctx, id, "no user names this invitation (found by the account check)"); err != nil {
			return fmt.Errorf("void invitation email %s: %w", id, err)
		}
	}
	for _, id := range reinvite {
		if err := s.reissueInvitation(ctx, account, id); err != nil && !failure.Is(err, failure.NotFound) {
			return fmt.Errorf("invitation of user %s: %w", id, err)
		}
	}
	// Last: the steps above may have moved seats (checked again: they
	// recorded and ended operations of their own). The counter is set to
	// the recount at a moment no operation is in flight (see
	// store.ErrSeatsBusy), tried for a few seconds.
	if !recount {
		return nil
	}
	for attempt := 1; ; attempt++ {
		again, err := s.Check(ctx, account)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(again.Problems, func(p Problem) bool { return p.Kind == ProblemSeats }) {
			return nil
		}
		err = s.recountSeats(ctx, account)
		if !errors.Is(err, store.ErrSeatsBusy) || attempt == recountAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(recountWait):
		}
	}
}

// A repair's recount waits this long between attempts, while operations
// are in flight in the account.
const recountAttempts, recountWait = 20, 250 * time.Millisecond

// recountSeats sets the account's seat counter to its users' seats, unless
// operations are in flight (store.ErrSeatsBusy).
func (s *Service) recountSeats(ctx context.Context, account string) error {
	if _, err := s.store.RecountSeats(ctx, account); err != nil {
		return fmt.Errorf("recount seats: %w", err)
	}
	return nil
}

// dropMembers removes memberships of a group, and advances the versions
// of the group and of the users that still exist (their members and
// groups changed).
func (s *Service) dropMembers(ctx context.Context, account, group string, members []string) error {
	return s.atomic(ctx, func(ctx context.Context) error {
		if err := s.cover(ctx, account, members, []string{group}); err != nil {
			return err
		}
		removed, err := s.store.RemoveMembers(ctx, account, group, members)
		if err != nil || len(removed) == 0 {
			return err
		}
		if _, _, err := s.store.Bump(ctx, schemas.Group, account, group); err != nil && !failure.Is(err, failure.NotFound) {
			return err
		}
		return s.bumpUsers(ctx, account, removed)
	})
}

// repairOwner gives the account a valid owner: an owner that does not
// exist, is deactivated or is not an administrator is released, and an
// account without an owner is claimed for the first of the candidates
// (oldest first) that may own it now, as its next write would. It returns
// the users whose accountOwner changed.
func (s *Service) repairOwner(ctx context.Context, account string, candidates []string) ([]string, error) {
	var changed []string
	err := s.atomic(ctx, func(ctx context.Context) error {
		changed = nil
		acct, err := s.store.Account(ctx, account)
		if err != nil {
			return err
		}
		t, err := s.loadTree(ctx, acct)
		if err != nil {
			return err
		}
		// derived reads a user as the rules see it now (nil: gone).
		derived := func(id string) (map[string]any, userState, error) {
			u, err := s.store.Get(ctx, schemas.User, account, id)
			if failure.Is(err, failure.NotFound) {
				return nil, userState{}, nil
			}
			if err != nil {
				return nil, userState{}, err
			}
			groups, err := s.store.GroupsOf(ctx, account, id)
			if err != nil {
				return nil, userState{}, err
			}
			attrs := schemas.CopyAttributes(u.Attributes)
			return attrs, deriveUser(attrs, groups, t, id == acct.Owner), nil
		}
		if acct.Owner != "" {
			attrs, st, err := derived(acct.Owner)
			if err != nil {
				return err
			}
			if attrs != nil && store.Active(attrs) && st.effectiveRole == schemas.RoleAdministrator {
				return nil // a valid owner (again)
			}
			if err := s.store.ReleaseOwner(ctx, account, acct.Owner); err != nil {
				return err
			}
			changed = append(changed, acct.Owner)
		}
		for _, id := range candidates {
			attrs, st, err := derived(id)
			if err != nil {
				return err
			}
			if attrs == nil || !mayClaimOwnership(attrs, st) {
				continue
			}
			ok, err := s.store.ClaimOwner(ctx, account, id)
			if err != nil || !ok { // !ok: claimed meanwhile by a write
				return err
			}
			changed = append(changed, id)
			return nil
		}
		return nil
	})
	return changed, err
}

// reissueInvitation gives a user whose pending invitation has no email on
// its way (see unsent) a fresh invitation, with its email: the token of
// the old one is lost with its email (only its hash is stored).
func (s *Service) reissueInvitation(ctx context.Context, account, id string) error {
	return s.atomic(ctx, func(ctx context.Context) error {
		_, err := s.update(ctx, account, schemas.User, id, "", func(acct *store.Account, cur *store.Resource) (*change, error) {
			t := s.now()
			inv := cur.Invitation
			if inv == nil || effectiveStatus(inv, t) != store.InvitationPending {
				return &change{}, nil // changed meanwhile
			}
			e, err := s.store.OutboxEntryByID(ctx, inv.ID)
			if err != nil && !failure.Is(err, failure.NotFound) {
				return nil, err
			}
			if unsent(inv, e, t) == "" {
				return &change{}, nil
			}
			fresh, entry, err := s.issueInvitation(acct.ID, cur.ID, t)
			if err != nil {
				return nil, err
			}
			fresh.Resends = inv.Resends
			next := *cur
			next.Attributes = schemas.CopyAttributes(cur.Attributes)
			next.Invitation = fresh
			deriveInvitation(next.Attributes, fresh, t)
			return &change{next: &next, outbox: entry}, nil
		})
		return err
	})
}

// kindOrder is the order a report lists problems in: the account first,
// then groups, memberships, users and emails.
var kindOrder = []string{ProblemSeats, ProblemOwner, ProblemGroupParent, ProblemGroupPath, ProblemMembership, ProblemSeatFlag, ProblemDerived, ProblemInvitation, ProblemOutbox}

// sortProblems orders problems by kind (kindOrder), keeping the order the
// check found them in within a kind.
func sortProblems(ps []Problem) {
	rank := func(kind string) int {
		for i, k := range kindOrder {
			if k == kind {
				return i
			}
		}
		return len(kindOrder)
	}
	sort.SliceStable(ps, func(i, j int) bool { return rank(ps[i].Kind) < rank(ps[j].Kind) })
}
