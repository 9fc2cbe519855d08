package mongodb

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// ReserveSeats takes n more seats of the account, or refuses when that
// would exceed its seats. The check and the increment are one conditional
// update, on condition that the account still has the seats the caller
// read, so concurrent requests cannot both take the last seat; only when
// it does not apply is the account read again, to tell a full account
// from one whose seats changed meanwhile. Callers release the seats again
// if the write they reserved for fails.
func (s *Store) ReserveSeats(ctx context.Context, acct *store.Account, n int) error {
	if n <= 0 {
		return nil
	}
	seats := acct.Seats
	for attempt := 0; ; attempt++ {
		q := bson.D{{Key: "_id", Value: acct.ID}, {Key: "seats", Value: seats}}
		if seats > 0 {
			q = append(q, bson.E{Key: "seatsUsed", Value: bson.M{"$lte": seats - n}})
		}
		unlock := s.lockWrites()
		res, err := s.db.Collection(collAccounts).UpdateOne(ctx, q, bson.M{"$inc": bson.M{"seatsUsed": n}})
		unlock()
		if err != nil {
			return err
		}
		if res.MatchedCount == 1 {
			return nil
		}
		now, err := s.Account(ctx, acct.ID)
		if err != nil {
			return err
		}
		if now.Seats == seats || attempt >= 10 {
			return store.SeatLimitReached(now)
		}
		seats = now.Seats // changed meanwhile: try under the new number
	}
}

// AdjustSeats changes the seats in use by n without a limit check: to give
// seats back (n < 0), or to record seats a follow-up write took.
func (s *Store) AdjustSeats(ctx context.Context, accountID string, n int) error {
	if n == 0 {
		return nil
	}
	unlock := s.lockWrites()
	defer unlock()
	_, err := s.db.Collection(collAccounts).UpdateOne(ctx, bson.M{"_id": accountID}, bson.M{"$inc": bson.M{"seatsUsed": n}})
	return err
}

// SeatsInUse counts the account's users that use a seat.
func (s *Store) SeatsInUse(ctx context.Context, accountID string) (int, error) {
	return s.count(ctx, s.coll(schemas.User), bson.D{{Key: "account", Value: accountID}, {Key: usesSeatField, Value: true}})
}

// RecountSeats sets the account's seats in use from its users, when no
// operation is in flight: the count and the update are two steps, and a
// seat taken or freed between them would be lost. So the account is read
// first, and the update is conditional on the counter, the operations
// recorded and the operations ever begun being what they were then (all
// seats move in recorded operations); otherwise it returns
// store.ErrSeatsBusy. Recount records (see store.Operation.Recount) are
// not operations in flight.
func (s *Store) RecountSeats(ctx context.Context, accountID string) (int, error) {
	before, err := s.Account(ctx, accountID)
	if err != nil {
		return 0, err
	}
	for _, op := range before.Operations {
		if op != nil && !op.Recount {
			return 0, store.ErrSeatsBusy
		}
	}
	n, err := s.SeatsInUse(ctx, accountID)
	if err != nil {
		return 0, err
	}
	if afterSeatCount != nil {
		afterSeatCount()
	}
	q := bson.D{{Key: "_id", Value: accountID}, {Key: "seatsUsed", Value: before.SeatsUsed},
		unchanged("opsOpen", before.OpenOperations), unchanged("opsBegun", before.BegunOperations)}
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.db.Collection(collAccounts).UpdateOne(ctx, q, bson.M{"$set": bson.M{"seatsUsed": n}})
	if err != nil {
		return 0, err
	}
	if res.MatchedCount == 0 {
		return 0, store.ErrSeatsBusy
	}
	return int(n), nil
}

// unchanged is the condition that a counter field still has the value
// read (0 where it is missing too).
func unchanged(field string, v int) bson.E {
	if v == 0 {
		return bson.E{Key: field, Value: bson.M{"$in": bson.A{0, nil}}}
	}
	return bson.E{Key: field, Value: v}
}

// afterSeatCount, when set (tests), runs between RecountSeats's count and
// its update.
var afterSeatCount func()

// SetSeats changes the number of seats of an account (0: unlimited).
func (s *Store) SetSeats(ctx context.Context, accountID string, seats int) error {
	if seats < 0 {
		return failure.InvalidValue("seats must be 0 (unlimited) or more, got %d", seats)
	}
	for attempt := 0; ; attempt++ {
		acct, err := s.Account(ctx, accountID)
		if err != nil {
			return err
		}
		q, set := bson.D{{Key: "_id", Value: accountID}}, bson.M{"seats": seats}
		if acct.Seats == 0 && seats > 0 && attempt < 10 {
			// An unlimited account keeps no counter: set from a count,
			// on condition that it is still unlimited.
			n, err := s.SeatsInUse(ctx, accountID)
			if err != nil {
				return err
			}
			q, set["seatsUsed"] = append(q, bson.E{Key: "seats", Value: 0}), n
		}
		unlock := s.lockWrites()
		res, err := s.db.Collection(collAccounts).UpdateOne(ctx, q, bson.M{"$set": set})
		unlock()
		if err != nil || res.MatchedCount == 1 {
			return err
		}
	}
}

// ClaimOwner makes the user the account's owner if it has none, and
// reports whether it did.
func (s *Store) ClaimOwner(ctx context.Context, accountID, userID string) (bool, error) {
	unlock := s.lockWrites()
	defer unlock()
	res, err := s.db.Collection(collAccounts).UpdateOne(ctx,
		bson.M{"_id": accountID, "$or": bson.A{bson.M{"owner": bson.M{"$exists": false}}, bson.M{"owner": ""}}},
		bson.M{"$set": bson.M{"owner": userID}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// ReleaseOwner clears the owner if it is still the user (undoing a claim
// whose write failed).
func (s *Store) ReleaseOwner(ctx context.Context, accountID, userID string) error {
	unlock := s.lockWrites()
	defer unlock()
	_, err := s.db.Collection(collAccounts).UpdateOne(ctx, bson.M{"_id": accountID, "owner": userID}, bson.M{"$set": bson.M{"owner": ""}})
	return err
}

// SetOwner makes the user the account's owner.
func (s *Store) SetOwner(ctx context.Context, accountID, userID string) error {
	unlock := s.lockWrites()
	defer unlock()
	_, err := s.db.Collection(collAccounts).UpdateOne(ctx, bson.M{"_id": accountID}, bson.M{"$set": bson.M{"owner": userID}})
	return err
}
