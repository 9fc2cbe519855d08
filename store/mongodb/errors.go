package mongodb

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/timecamp/timecamp-scim/failure"
)

// RetryAfter is what a client is told to wait when the database cannot be
// reached: long enough for a replica set to elect a new primary (about
// 12 s at most with MongoDB's defaults, usually far less) to be worth a
// retry, short enough not to hold provisioning back.
const RetryAfter = 5 * time.Second

// unavailable is the failure of a request the database did not answer. It
// names no driver detail: those go to the server's log.
var unavailable = failure.Unavailablef(RetryAfter,
	"the database is unreachable, so the request could not be completed; retry after %d seconds", int(RetryAfter.Seconds()))

func init() { failure.RegisterClassifier(classify) }

// classify decides, in one place, which errors of the MongoDB driver mean
// that the database cannot be reached (failure.Unavailable, answered 503
// with Retry-After): no server could be selected within the server
// selection timeout (it is down, or a replica set has no primary); the
// connection failed or closed (refused, reset, the server killed); the
// operation ran past its deadline (the client's timeoutMS: a server that
// hangs); the pool had no connection in time; the server is shutting down
// or stepping down. Any other error (a bug, a malformed command) stays
// internal.
//
// A write whose connection failed after the server stored it is reported
// this way too: the client gets an error, never a success for a write it
// cannot know was stored, and its retry is made safe by uniqueness (a
// create answers 409) and versions (If-Match answers 412).
//
// Only the driver's own error types are recognised: every error the
// server's layers read a kind from goes past this function.
func classify(err error) *failure.Error {
	if errors.Is(err, context.Canceled) {
		return nil // the request ended (its client went away, or shutdown)
	}
	var (
		sel  topology.ServerSelectionError
		conn topology.ConnectionError
		wait topology.WaitQueueTimeoutError
		srv  mongo.ServerError
	)
	switch {
	case errors.As(err, &sel), errors.As(err, &conn), errors.As(err, &wait),
		errors.Is(err, mongo.ErrClientDisconnected), errors.Is(err, driver.ErrDeadlineWouldBeExceeded):
		return unavailable
	case errors.As(err, &srv):
		if srv.HasErrorLabel("NetworkError") || srv.HasErrorLabel("RetryableWriteError") ||
			errors.Is(err, context.DeadlineExceeded) || mongo.IsTimeout(srv) {
			return unavailable
		}
		for _, code := range unavailableCodes {
			if srv.HasErrorCode(code) {
				return unavailable
			}
		}
	}
	return nil
}

// unavailableCodes are MongoDB server error codes that mean "not now"
// rather than "not so": the server is shutting down, the primary stepped
// down or is not primary (an election is under way), a network hop failed,
// or the operation ran out of time (maxTimeMS, which the driver derives
// from timeoutMS), or a write concern was not satisfied in time (the write
// may be on the primary but not yet on a majority: not acknowledged).
var unavailableCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	50,    // MaxTimeMSExpired
	64,    // WriteConcernFailed (wtimeout)
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	189,   // PrimarySteppedDown
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// isWriteConflict reports that the database gave up a write because a
// concurrent one got in its way, so that the write did not happen and may
// be sent again: DocumentDB (FerretDB 2) enforces a unique index with a
// PostgreSQL exclusion constraint, under which two concurrent inserts of
// one key can deadlock (measured: 11 of 300 races of two inserts of one
// userName; the others answered "duplicate key"), and MongoDB reports a
// WriteConflict where it does not retry one itself.
func isWriteConflict(err error) bool {
	var srv mongo.ServerError
	if !errors.As(err, &srv) {
		return false
	}
	return srv.HasErrorCode(112) || srv.HasErrorCode(documentDBDeadlock) || srv.HasErrorMessage("deadlock detected")
}

// documentDBDeadlock is DocumentDB's code for PostgreSQL's deadlock_detected.
const documentDBDeadlock = 16908292

// conflictRetries bounds how often a write given up for a conflict is
// sent again.
const conflictRetries = 5

// retryConflicts runs a write again while the database gives it up for a
// conflict with a concurrent one.
func retryConflicts(write func() error) error {
	for attempt := 0; ; attempt++ {
		err := write()
		if attempt+1 >= conflictRetries || !isWriteConflict(err) {
			return err
		}
		time.Sleep(time.Duration(1+attempt) * time.Millisecond)
	}
}
