// Package failure holds the kinds of failure the service reports.
//
// Every layer (schemas, store, directory) returns *Error for failures a client
// caused or must know about; the HTTP layer maps Kind to a status code in one
// place. Any other error is internal: it is logged and the client sees a
// generic 500 without its text.
package failure

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Kind is what went wrong, decided where the failure is detected.
type Kind int

// The kinds of failure, each mapped to one HTTP status by the scim package.
const (
	Invalid         Kind = iota + 1 // 400: the request is wrong
	Unauthorized                    // 401: no or bad credentials
	Forbidden                       // 403: a rule of the account refuses it
	NotFound                        // 404: no such resource in this account
	Conflict                        // 409: it would break uniqueness
	Precondition                    // 412: If-Match did not match
	TooLarge                        // 413: the request is over a limit
	TooManyRequests                 // 429: slow down
	NotImplemented                  // 501: the server does not do that
	Unavailable                     // 503: a dependency is down
)

// SCIM error types (RFC 7644 §3.12) used with Invalid and Conflict.
const (
	TypeInvalidFilter = "invalidFilter"
	TypeTooMany       = "tooMany"
	TypeUniqueness    = "uniqueness"
	TypeMutability    = "mutability"
	TypeInvalidSyntax = "invalidSyntax"
	TypeInvalidPath   = "invalidPath"
	TypeNoTarget      = "noTarget"
	TypeInvalidValue  = "invalidValue"
	TypeInvalidVers   = "invalidVers"
	TypeSensitive     = "sensitive"
)

// Error is a failure with a kind, an optional SCIM error type and a detail
// written for the person who has to fix the request.
type Error struct {
	Kind     Kind
	ScimType string
	Detail   string
	// RetryAfter, when set, tells the client when to try again (sent as
	// the Retry-After header with TooManyRequests and Unavailable).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Detail }

func newf(kind Kind, scimType, format string, args ...any) *Error {
	return &Error{Kind: kind, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// InvalidValue: a value is missing, of the wrong type or not allowed.
func InvalidValue(format string, args ...any) *Error {
	return newf(Invalid, TypeInvalidValue, format, args...)
}

// InvalidSyntax: the body is not valid JSON or not a SCIM message.
func InvalidSyntax(format string, args ...any) *Error {
	return newf(Invalid, TypeInvalidSyntax, format, args...)
}

// InvalidFilter: the filter cannot be parsed or names unknown attributes.
func InvalidFilter(format string, args ...any) *Error {
	return newf(Invalid, TypeInvalidFilter, format, args...)
}

// InvalidPath: a PATCH path is malformed or names an unknown attribute.
func InvalidPath(format string, args ...any) *Error {
	return newf(Invalid, TypeInvalidPath, format, args...)
}

// NoTarget: a PATCH path matched nothing where something was required.
func NoTarget(format string, args ...any) *Error {
	return newf(Invalid, TypeNoTarget, format, args...)
}

// Mutability: the request tries to change a read-only or immutable attribute.
func Mutability(format string, args ...any) *Error {
	return newf(Invalid, TypeMutability, format, args...)
}

// TooMany: the request would return or touch more than the server allows.
func TooMany(format string, args ...any) *Error {
	return newf(Invalid, TypeTooMany, format, args...)
}

// Uniqueness: another resource already holds a unique value.
func Uniqueness(format string, args ...any) *Error {
	return newf(Conflict, TypeUniqueness, format, args...)
}

// NotFoundf: the resource does not exist in the caller's account.
func NotFoundf(format string, args ...any) *Error {
	return newf(NotFound, "", format, args...)
}

// Preconditionf: the resource changed since the version the client holds.
func Preconditionf(format string, args ...any) *Error {
	return newf(Precondition, "", format, args...)
}

// Forbiddenf: a rule of the account (seats, owner protection) refuses it.
func Forbiddenf(format string, args ...any) *Error {
	return newf(Forbidden, "", format, args...)
}

// NotImplementedf: the server does not support the request.
func NotImplementedf(format string, args ...any) *Error {
	return newf(NotImplemented, "", format, args...)
}

// TooLargef: the request is bigger than the advertised limit.
func TooLargef(format string, args ...any) *Error {
	return newf(TooLarge, "", format, args...)
}

// Unauthorizedf: the credentials are missing or not valid.
func Unauthorizedf(format string, args ...any) *Error {
	return newf(Unauthorized, "", format, args...)
}

// TooManyRequestsf: the client is over a rate limit; it may try again
// after retryAfter.
func TooManyRequestsf(retryAfter time.Duration, format string, args ...any) *Error {
	e := newf(TooManyRequests, "", format, args...)
	e.RetryAfter = retryAfter
	return e
}

// Unavailablef: a dependency (the database) cannot serve the request now;
// the client may try again after retryAfter.
func Unavailablef(retryAfter time.Duration, format string, args ...any) *Error {
	e := newf(Unavailable, "", format, args...)
	e.RetryAfter = retryAfter
	return e
}

// A Classifier recognises the errors of a dependency — a database
// driver's — that are failures of a kind (the database cannot be reached:
// Unavailable) and returns that failure, or nil for any other error. It
// must recognise only its own dependency's error types: every error As
// reads goes past it.
type Classifier func(error) *Error

var classifiers struct {
	sync.RWMutex
	list []Classifier
}

// RegisterClassifier adds a classifier. The package that knows a
// dependency registers one from its init (the stores do), so that every
// layer that reads kinds through As and Is sees that dependency's errors
// as failures without knowing it.
func RegisterClassifier(c Classifier) {
	classifiers.Lock()
	defer classifiers.Unlock()
	classifiers.list = append(classifiers.list, c)
}

// As returns the *Error in err's chain, if any, or the failure a
// registered classifier recognises err as.
func As(err error) (*Error, bool) {
	if err == nil {
		return nil, false
	}
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	classifiers.RLock()
	defer classifiers.RUnlock()
	for _, c := range classifiers.list {
		if e := c(err); e != nil {
			return e, true
		}
	}
	return nil, false
}

// Is reports whether err is a failure of the given kind.
func Is(err error, kind Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == kind
}
