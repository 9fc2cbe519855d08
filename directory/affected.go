package directory

import (
	"context"
	"errors"
	"reflect"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// membershipPlan says how one group's memberships change, for computing a
// change's effect before it is written.
type membershipPlan struct {
	group   string
	delta   *memberDelta // nil: memberships unchanged
	deleted bool         // the group goes away
}

// groupsAfter returns a user's groups once the plan is applied.
func (p membershipPlan) groupsAfter(user string, groups []string) []string {
	if p.deleted || (p.delta != nil && (p.delta.replaceAll || p.delta.removing[user])) {
		groups = without(groups, p.group)
	}
	if !p.deleted && p.delta != nil && p.delta.adding[user] && !contains(groups, p.group) {
		groups = append(groups, p.group)
	}
	return groups
}

// planUsers computes how a group change would change the users it
// affects, under the tree as it will be: the net seats it takes, the
// users it makes administrators (see newAdministrator), and a refusal if
// it would take administrator away from the account owner.
func (s *Service) planUsers(ctx context.Context, acct *store.Account, t *tree, ids []string, plan membershipPlan) (seats int, administrators []string, err error) {
	if len(ids) == 0 {
		return 0, nil, nil
	}
	users, err := s.store.GetMany(ctx, schemas.User, acct.ID, ids)
	if err != nil {
		return 0, nil, err
	}
	groupsOf, err := s.store.MembershipsOf(ctx, acct.ID, store.MemberSide, ids)
	if err != nil {
		return 0, nil, err
	}
	for _, u := range users {
		attrs := schemas.CopyAttributes(u.Attributes)
		st := deriveUser(attrs, plan.groupsAfter(u.ID, groupsOf[u.ID]), t, acct.Owner == u.ID)
		if acct.Owner == u.ID && st.effectiveRole != schemas.RoleAdministrator {
			return 0, nil, failure.Forbiddenf("this change would take the administrator role away from %s, the account owner; transfer the ownership first (timecamp-scim accounts transfer-owner)", str(u.Attributes["userName"]))
		}
		seats += boolInt(st.counts) - boolInt(countsTowardSeats(u))
		if newAdministrator(u.Attributes, attrs) {
			administrators = append(administrators, str(u.Attributes["userName"]))
		}
	}
	return seats, administrators, nil
}

// syncUsers recomputes the derived attributes of users from the current
// state (tree, memberships, owner) and writes those that changed. It
// returns the net seats the writes took. Writes are batched and
// conditional; users changed meanwhile are read and recomputed again.
func (s *Service) syncUsers(ctx context.Context, account string, ids []string) (int, error) {
	seats := 0
	pending := dedupe(ids)
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt >= maxAttempts {
			return seats, failure.Preconditionf("users are being changed by many requests at once; try again")
		}
		acct, err := s.store.Account(ctx, account)
		if err != nil {
			return seats, err
		}
		t, err := s.loadTree(ctx, acct)
		if err != nil {
			return seats, err
		}
		users, err := s.store.GetMany(ctx, schemas.User, account, pending)
		if err != nil {
			return seats, err
		}
		groupsOf, err := s.store.MembershipsOf(ctx, account, store.MemberSide, pending)
		if err != nil {
			return seats, err
		}
		var writes []*store.Resource
		var expect []int64
		var deltas []int
		for _, u := range users {
			next := *u
			next.Attributes = schemas.CopyAttributes(u.Attributes)
			st := deriveUser(next.Attributes, groupsOf[u.ID], t, acct.Owner == u.ID)
			if reflect.DeepEqual(next.Attributes, u.Attributes) {
				continue
			}
			writes = append(writes, &next)
			expect = append(expect, u.Version)
			deltas = append(deltas, boolInt(st.counts)-boolInt(countsTowardSeats(u)))
		}
		errs, err := s.store.ReplaceMany(ctx, writes, expect)
		if err != nil {
			return seats, err
		}
		pending = pending[:0]
		for i, e := range errs {
			switch {
			case e == nil:
				seats += deltas[i]
			case errors.Is(e, store.ErrVersionMismatch):
				pending = append(pending, writes[i].ID)
			default:
				return seats, e
			}
		}
		if len(pending) > 0 {
			backoff(attempt)
		}
	}
	return seats, nil
}

// settleSeats records the seats follow-up writes actually took, when that
// differs from what commit counted for them beforehand (planned).
func (s *Service) settleSeats(ctx context.Context, account string, planned, taken int) error {
	return s.store.AdjustSeats(ctx, account, taken-planned)
}

// refreshPaths recomputes the path of groups (their ancestors were renamed
// or moved).
func (s *Service) refreshPaths(ctx context.Context, acct *store.Account, ids []string) error {
	pending := ids
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt >= maxAttempts {
			return failure.Preconditionf("groups are being changed by many requests at once; try again")
		}
		t, err := s.loadTree(ctx, acct)
		if err != nil {
			return err
		}
		groups, err := s.store.GetMany(ctx, schemas.Group, acct.ID, pending)
		if err != nil {
			return err
		}
		var writes []*store.Resource
		var expect []int64
		for _, g := range groups {
			if extension(g.Attributes, schemas.TimeCampGroupURN)["path"] == t.path(g.ID) {
				continue
			}
			next := *g
			next.Attributes = schemas.CopyAttributes(g.Attributes)
			ensureExtension(next.Attributes, schemas.TimeCampGroupURN)["path"] = t.path(g.ID)
			writes, expect = append(writes, &next), append(expect, g.Version)
		}
		errs, err := s.store.ReplaceMany(ctx, writes, expect)
		if err != nil {
			return err
		}
		pending = nil
		for i, e := range errs {
			if errors.Is(e, store.ErrVersionMismatch) {
				pending = append(pending, writes[i].ID)
			} else if e != nil {
				return e
			}
		}
	}
	return nil
}

func without(list []string, v string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
