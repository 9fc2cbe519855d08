package directory

// The recovery of operations whose process died (see operations.go): a
// server finds the records whose lease ran out, takes them over, and
// finishes or undoes what they left. Every step works on the current
// state, so running it twice (two servers, or a recovery that died too)
// is harmless.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// RecoverEvery is how often a server looks for operations to recover: an
// operation of a process that died is finished or undone within
// store.OperationLease + store.ClockSkew + RecoverEvery (plus the time the
// recovery takes) of its last renewal.
const RecoverEvery = 5 * time.Second

// RunRecovery recovers expired operations every RecoverEvery until ctx
// ends.
func (s *Service) RunRecovery(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(RecoverEvery):
		}
		if _, err := s.Recover(store.Background(ctx), time.Now().Add(-store.ClockSkew)); err != nil && ctx.Err() == nil {
			s.log.Warn("recovering the operations of servers that stopped", "error", err)
		}
	}
}

// Recover finishes or undoes the recorded operations whose lease ran out
// before cutoff (on a database that only one server may use, every
// operation of an earlier process: cutoff in the future), and returns how
// many it recovered, and the failures of the accounts it could not
// recover (it goes on with the others). For each it settles the seats (a user's seat taken
// for a write that did not land is given back, one freed by a write that
// landed is taken off: the users' SeatOps tell which landed) and advances
// the versions of the resources it named; then it checks and repairs each
// account concerned (derived attributes, memberships, paths, owner,
// invitations), without touching the seat counter, which the records
// keep exact.
func (s *Service) Recover(ctx context.Context, cutoff time.Time) (int, error) {
	ops, err := s.store.ExpiredOperations(ctx, cutoff, 1000)
	if err != nil {
		return 0, err
	}
	byAccount := map[string][]*store.Operation{}
	var accounts []string
	var errs []error
	for _, op := range ops {
		if op.Holder == store.Holder() && cutoff.After(time.Now()) {
			continue // this process's own, in flight
		}
		ok, err := s.store.ClaimOperation(ctx, op, store.Holder())
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: claim operation %s: %w", op.Account, op.ID, err))
			continue
		}
		if !ok {
			continue // renewed, ended, or claimed by another server
		}
		if byAccount[op.Account] == nil {
			accounts = append(accounts, op.Account)
		}
		byAccount[op.Account] = append(byAccount[op.Account], op)
	}
	// An account whose recovery fails does not hold up the others; its
	// operations stay claimed, and are taken up again once the claim's
	// lease runs out (RunRecovery).
	n := 0
	for _, account := range accounts {
		if err := s.recoverAccount(ctx, account, byAccount[account]); err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", account, err))
			continue
		}
		n += len(byAccount[account])
		s.log.Info("recovered operations of a server that stopped", "account", account, "operations", len(byAccount[account]))
	}
	return n, errors.Join(errs...)
}

func (s *Service) recoverAccount(ctx context.Context, account string, ops []*store.Operation) error {
	ctx = withEndsAtOnce(ctx)
	for _, op := range ops {
		if err := s.recoverLanded(ctx, op); err != nil {
			return err
		}
		if err := s.recoverVersions(ctx, op); err != nil {
			return err
		}
	}
	found, err := s.Check(ctx, account)
	if err != nil {
		return err
	}
	if err := s.repair(ctx, found, false); err != nil {
		return err
	}
	var recounts []*store.Operation
	for _, op := range ops {
		if op.Recount {
			recounts = append(recounts, op)
			continue
		}
		op.EndNow = true
		if err := s.store.EndOperation(ctx, op); err != nil {
			return err
		}
	}
	if len(recounts) == 0 {
		return nil
	}
	// A recount due (the account became limited a moment ago): the counter
	// is set to the count once no other operation is recorded (their seats
	// are theirs); until then the recount waits for its next turn.
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return err
	}
	for _, rec := range acct.Operations {
		if !rec.Recount {
			return nil
		}
	}
	if keepsSeats(acct) {
		if err := s.recountSeats(ctx, account); errors.Is(err, store.ErrSeatsBusy) {
			return nil // an operation began meanwhile: next turn
		} else if err != nil {
			return err
		}
	}
	for _, op := range recounts {
		op.EndNow = true
		if err := s.store.EndOperation(ctx, op); err != nil {
			return err
		}
	}
	return nil
}

// recoverLanded finds out which of the operation's writes on users with a
// seat change landed: a user written by it carries it in its SeatOps
// (nobody drops it from there while it is recorded), and a user it deleted
// is gone (a deleter settles the entries of other operations first, and
// the settlement that frees a deleted user's seat takes the entries of the
// other operations deleting it out: see store.Operation.Rivals).
func (s *Service) recoverLanded(ctx context.Context, op *store.Operation) error {
	ids := make([]string, 0, len(op.Seats))
	for u := range op.Seats {
		ids = append(ids, u)
	}
	users, err := s.store.GetMany(ctx, schemas.User, op.Account, ids)
	if err != nil {
		return err
	}
	byID := make(map[string]*store.Resource, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	op.Landed = map[string]bool{}
	for u, c := range op.Seats {
		r := byID[u]
		if c.Delete {
			op.Landed[u] = r == nil
		} else {
			op.Landed[u] = r != nil && slices.Contains(r.SeatOps, op.ID)
		}
	}
	op.Recorded = map[string]store.SeatChange{} // recorded as it is: not nil
	for u, c := range op.Seats {
		op.Recorded[u] = c
	}
	return nil
}

// recoverVersions advances the versions the operation named: what a GET of
// them returns may have changed without it.
func (s *Service) recoverVersions(ctx context.Context, op *store.Operation) error {
	account := op.Account
	users := slices.Clone(op.Users)
	groups := slices.Clone(op.Groups)
	// One query for all the users' groups, one for all the groups' members
	// (none for an empty list).
	userGroups, err := s.store.MembershipsOf(ctx, account, store.MemberSide, op.GroupsOf)
	if err != nil {
		return err
	}
	for _, ids := range userGroups {
		groups = append(groups, ids...)
	}
	groupMembers, err := s.store.MembershipsOf(ctx, account, store.GroupSide, op.MembersOf)
	if err != nil {
		return err
	}
	for _, ids := range groupMembers {
		users = append(users, ids...)
	}
	if op.AllUsers {
		for start := 1; ; start += 1000 {
			page, err := s.store.Find(ctx, schemas.User, account, store.Query{StartIndex: start, Count: 1000})
			if err != nil {
				return err
			}
			for _, u := range page.Resources {
				users = append(users, u.ID)
			}
			if len(page.Resources) < 1000 {
				break
			}
		}
	}
	if err := s.store.BumpMany(ctx, schemas.User, account, dedupe(users)); err != nil {
		return err
	}
	return s.store.BumpMany(ctx, schemas.Group, account, dedupe(groups))
}
