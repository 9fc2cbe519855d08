package directory

// Each directory operation (one call of Create, Patch, Delete, CreateUsers,
// …) that writes more than one document is recorded in the store while it
// runs (see store.Operations): the seats it takes or frees, user by user,
// and the resources whose versions it advances. On the embedded database
// the whole operation is one transaction and the record is only the seat
// counter; on MongoDB a crash half-way leaves the record, and a server
// finishes or undoes the operation (Recover) once its lease ran out.

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

// opHolder is the operation of one directory call.
type opHolder struct {
	op *store.Operation
	// recorded is what was recorded of the operation's resources (see
	// fingerprint); "" before the first record.
	recorded string
	// wrote: a write of the operation landed, so a failure after it
	// leaves follow-up writes undone: the record stays for the recovery.
	wrote bool
	// tree is the group tree an update read with the group it changes,
	// while it computes the change (see Service.current).
	tree *tree
}

type opKey struct{}

type endsAtOnceKey struct{}

// withEndsAtOnce makes the operations of the calls under ctx take their
// records out as they end, rather than a moment later with others (the
// repair, which recounts the seats once no operation is recorded).
func withEndsAtOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, endsAtOnceKey{}, true)
}

func holderOf(ctx context.Context) *opHolder {
	h, _ := ctx.Value(opKey{}).(*opHolder)
	return h
}

// withOperation starts the operation of a directory call.
func withOperation(ctx context.Context) (context.Context, *opHolder) {
	h := &opHolder{op: store.NewOperation("")}
	h.op.EndNow = ctx.Value(endsAtOnceKey{}) != nil
	ctx = context.WithValue(ctx, opKey{}, h)
	return store.WithOperation(ctx, h.op), h
}

// operation returns the operation of the call ctx belongs to (a throwaway
// one outside a call: tests of parts).
func operation(ctx context.Context, account string) *store.Operation {
	h := holderOf(ctx)
	if h == nil {
		return store.NewOperation(account)
	}
	if h.op.Account == "" {
		h.op.Account = account
	}
	return h.op
}

// wrote notes that a write of the call's operation landed.
func wrote(ctx context.Context) {
	if h := holderOf(ctx); h != nil {
		h.wrote = true
	}
}

// record records the operation as it is now (its seats and the resources
// it advances), when that changed since it was last recorded, and returns
// the account as updated. Seats the operation adds are taken here, or
// refused.
func (s *Service) record(ctx context.Context, acct *store.Account) (*store.Account, error) {
	h := holderOf(ctx)
	if h == nil {
		return acct, nil
	}
	op := h.op
	if op.Account == "" {
		op.Account = acct.ID
	}
	fp := fingerprint(op)
	if fp == h.recorded {
		return acct, nil
	}
	if !s.store.RecordsOperations() && store.Reserved(op.Seats) == store.Reserved(op.Recorded) {
		// Nothing to record, and no seat to take or give back now: the
		// seats freed are settled when the operation ends.
		op.Recorded = maps.Clone(op.Seats)
		if op.Recorded == nil {
			op.Recorded = map[string]store.SeatChange{}
		}
		h.recorded = fp
		return acct, nil
	}
	a, err := s.store.BeginOperation(ctx, acct, op)
	if err != nil {
		// What was not recorded is not the operation's (a refused seat).
		op.Seats = maps.Clone(op.Recorded)
		return nil, err
	}
	h.recorded = fp
	return a, nil
}

// cover makes sure the operation's record lists the users and groups whose
// versions it is about to advance, recording it again if they are new.
func (s *Service) cover(ctx context.Context, account string, users, groups []string) error {
	if holderOf(ctx) == nil || (len(users) == 0 && len(groups) == 0) {
		return nil
	}
	op := operation(ctx, account)
	op.AddUsers(users...)
	op.AddGroups(groups...)
	_, err := s.record(ctx, &store.Account{ID: account})
	return err
}

// fingerprint sums up what a record of op holds.
func fingerprint(op *store.Operation) string {
	users := make([]string, 0, len(op.Seats))
	for u, c := range op.Seats {
		users = append(users, fmt.Sprintf("%s%+d%v", u, c.Delta, c.Delete))
	}
	slices.Sort(users)
	return fmt.Sprint("recorded", users, op.Users, op.Groups, op.GroupsOf, op.MembersOf, op.AllUsers)
}

// landed records the outcome of a write on a user whose seat the operation
// changes: landed, or not, or unknown (the database went away: the write
// may have been stored).
func landed(ctx context.Context, user string, err error) {
	h := holderOf(ctx)
	if h == nil {
		return
	}
	switch {
	case err == nil:
		h.op.Landed[user] = true
		h.wrote = true
	case failure.Is(err, failure.Unavailable):
		h.op.Unknown = true
	}
}

// endOperation ends the call's operation: its seats are settled and its
// record goes; unless the call failed after a write landed (what the
// operation had still to write is left for the recovery, which looks at
// the record once its lease ran out).
func (s *Service) endOperation(ctx context.Context, h *opHolder, callErr error) error {
	if h.recorded == "" {
		return nil
	}
	if callErr != nil && (h.wrote || failure.Is(callErr, failure.Unavailable)) {
		s.log.Warn("an operation failed half-way; a server will finish or undo it once its lease runs out",
			"account", h.op.Account, "operation", h.op.ID, "error", callErr, "within", (store.OperationLease + store.ClockSkew).String())
		return nil
	}
	return s.store.EndOperation(context.WithoutCancel(ctx), h.op)
}
