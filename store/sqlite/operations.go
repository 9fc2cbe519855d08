package sqlite

import (
	"context"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

// The embedded store runs every directory operation in one transaction
// (Atomic), so a crash leaves none of it: operations only move the seat
// counter, and nothing is recorded or recovered.

// RecordsOperations is false: nothing is recorded.
func (s *Store) RecordsOperations() bool { return false }

// BeginOperation takes the seats the operation adds since last time (the
// check and the increment in one statement) and gives back those it no
// longer needs.
func (s *Store) BeginOperation(ctx context.Context, acct *store.Account, op *store.Operation) (*store.Account, error) {
	n := store.Reserved(op.Seats) - store.Reserved(op.Recorded)
	var err error
	if n > 0 {
		err = s.ReserveSeats(ctx, acct, n)
	} else {
		err = s.AdjustSeats(ctx, acct.ID, n)
	}
	if err != nil {
		return nil, err
	}
	op.Recorded = make(map[string]store.SeatChange, len(op.Seats))
	for u, c := range op.Seats {
		op.Recorded[u] = c
	}
	return s.Account(ctx, acct.ID)
}

// EndOperation settles the seats: those of users not written given back,
// those freed taken off.
func (s *Store) EndOperation(ctx context.Context, op *store.Operation) error {
	if op.Recorded == nil {
		return nil
	}
	err := s.AdjustSeats(ctx, op.Account, op.Settlement())
	op.Recorded = nil
	return err
}

// SettleSeatChange has nothing to settle: nothing is recorded.
func (s *Store) SettleSeatChange(ctx context.Context, account, op, user string) error { return nil }

// ExpiredOperations finds none: nothing is recorded.
func (s *Store) ExpiredOperations(ctx context.Context, t time.Time, limit int) ([]*store.Operation, error) {
	return nil, nil
}

// ClaimOperation claims nothing: nothing is recorded.
func (s *Store) ClaimOperation(ctx context.Context, op *store.Operation, holder string) (bool, error) {
	return false, nil
}
