package mongodb

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ProbeAtomicUpdates runs the atomicity probe again (tests check that it
// tells the same every time).
func (s *Store) ProbeAtomicUpdates(ctx context.Context) (bool, error) {
	return s.probeAtomicUpdates(ctx)
}

// SetAfterTokenLookup runs f between a token's lookup and its caching
// (nil: nothing), to revoke it in between.
func SetAfterTokenLookup(f func()) { afterTokenLookup = f }

// SetAfterSeatCount runs f between RecountSeats's count and its update
// (nil: nothing), to take a seat in between.
func SetAfterSeatCount(f func()) { afterSeatCount = f }

// SetOperationPID sets the PID a recorded operation names (as a process
// that died left it).
func (s *Store) SetOperationPID(ctx context.Context, account, op string, pid int) error {
	_, err := s.db.Collection(collAccounts).UpdateOne(ctx, bson.M{"_id": account}, bson.M{"$set": bson.M{opField(op, "pid"): pid}})
	return err
}
