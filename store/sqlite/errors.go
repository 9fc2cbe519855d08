package sqlite

import (
	"errors"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/timecamp/timecamp-scim/failure"
)

func init() { failure.RegisterClassifier(classify) }

// classify decides which errors of the embedded database a client may
// retry (failure.Unavailable, answered 503 with Retry-After): the file
// stayed locked by another process past the busy timeout, or the disk
// refused to store (full, or an I/O error). The client is told that the
// database cannot store its change now, and the server's log gets the
// cause; SQLite's message never reaches the client. Anything else (a
// corrupt file, a bug) stays internal: 500 with a request id.
//
// Only this driver's errors (and the store's flush of its log) are
// recognised: every error the server's layers read a kind from goes past
// this function.
func classify(err error) *failure.Error {
	var fe *flushError
	if errors.As(err, &fe) {
		return diskTrouble
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return busy
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return diskTrouble
	}
	return nil
}

var (
	busy = failure.Unavailablef(time.Second,
		"the database is busy (another process holds it); retry after 1 second")
	diskTrouble = failure.Unavailablef(30*time.Second,
		"the database cannot store data right now (a problem with the server's disk), so the request could not be completed; retry after 30 seconds")
)

// flushError is a failure to flush the write-ahead log to disk after a
// commit (see durable.go): the write is not known to be durable, so it is
// not acknowledged.
type flushError struct{ err error }

func (e *flushError) Error() string { return "flush the write-ahead log: " + e.err.Error() }
func (e *flushError) Unwrap() error { return e.err }
