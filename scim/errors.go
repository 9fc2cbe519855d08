package scim

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/jsonvalue"
	"github.com/timecamp/timecamp-scim/schemas"
)

// errorBody is a SCIM error response (RFC 7644 §3.12).
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// statusOf maps a failure kind to its HTTP status: the one place this
// decision is made.
func statusOf(k failure.Kind) int {
	switch k {
	case failure.Invalid:
		return http.StatusBadRequest
	case failure.Unauthorized:
		return http.StatusUnauthorized
	case failure.Forbidden:
		return http.StatusForbidden
	case failure.NotFound:
		return http.StatusNotFound
	case failure.Conflict:
		return http.StatusConflict
	case failure.Precondition:
		return http.StatusPreconditionFailed
	case failure.TooLarge:
		return http.StatusRequestEntityTooLarge
	case failure.TooManyRequests:
		return http.StatusTooManyRequests
	case failure.NotImplemented:
		return http.StatusNotImplemented
	case failure.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorResponse turns any error into the status and SCIM error body a
// client sees. Errors that are not failures are internal: they are logged
// with the request id, and the client gets only that id — never the text,
// which may hold driver or database details.
//
// A database error the store classifies as a failure (the database
// unreachable: 503) is answered with that failure's detail, and its cause
// is logged for the operator.
func errorResponse(ctx context.Context, log *slog.Logger, err error) (int, errorBody) {
	f, ok := failure.As(err)
	if ok && f.Kind == failure.Unavailable {
		var own *failure.Error
		if !errors.As(err, &own) { // classified from a driver error
			log.WarnContext(ctx, "database unavailable", "request_id", requestID(ctx), "error", err)
		}
	}
	if !ok {
		if errors.Is(err, context.Canceled) {
			f = &failure.Error{Kind: failure.Unavailable, Detail: "the request was cancelled"}
		} else {
			id := requestID(ctx)
			log.ErrorContext(ctx, "internal error", "request_id", id, "error", err)
			f = &failure.Error{Detail: "internal server error (request id " + id + ")"}
		}
	}
	status := statusOf(f.Kind)
	return status, errorBody{
		Schemas:  []string{schemas.ErrorURN},
		Status:   strconv.Itoa(status),
		ScimType: f.ScimType,
		Detail:   f.Detail,
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorResponse(r.Context(), s.log, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="timecamp-scim"`)
	}
	if f, ok := failure.As(err); ok && f.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	}
	writeJSON(w, status, body)
}

// writeJSON writes a SCIM JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	// Written as it is encoded: a group of 100,000 members is never held
	// whole as text. Nothing the server builds fails to encode.
	if err := jsonvalue.Write(w, v, jsonvalue.Options{}); err == nil {
		_, _ = w.Write([]byte{'\n'})
	}
}

// contentType of every SCIM response (RFC 7644 §3.1).
const contentType = "application/scim+json"
