package mongodb

import "context"

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
