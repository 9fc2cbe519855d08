package scim

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/tracing"
	"github.com/timecamp/timecamp-scim/transport"
)

// recordRoute notes the matched route's template ("/scim/v2/Users/{id}")
// for metrics and traces, which must never see the path itself (it holds
// ids and invitation tokens). Unmatched requests keep an empty route.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			if route := mux.CurrentRoute(r); route != nil {
				if tpl, err := route.GetPathTemplate(); err == nil {
					info.route = tpl
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// observe records an answered request in the metrics and ends its span.
func observe(span trace.Span, method string, info *requestInfo, status int, took time.Duration) {
	metrics.ObserveRequest(info.route, method, status, took)
	tracing.EndRequest(span, metrics.Method(method), info.route, status,
		attribute.String("timecamp.request_id", info.id), attribute.String("timecamp.account", info.account))
}

// accessLog is the access log line's attributes.
func accessLog(r *http.Request, info *requestInfo, status int, took time.Duration) []any {
	attrs := []any{"request_id", info.id, "method", r.Method, "path", loggedPath(r.URL.Path),
		"status", status, "duration_ms", took.Milliseconds(), "account", info.account}
	if ip := transport.ClientIP(r); ip.IsValid() {
		attrs = append(attrs, "client", ip.String())
	}
	if id := tracing.TraceID(r.Context()); id != "" {
		attrs = append(attrs, "trace_id", id)
	}
	return attrs
}

// maxRequestID bounds an incoming X-Request-Id that is kept.
const maxRequestID = 128

// requestIDFrom keeps a caller's X-Request-Id (a proxy's or a client's),
// so that one id follows a request through every log, when it is short
// and made of characters that are safe in logs and headers; otherwise it
// makes a new one.
func requestIDFrom(h string) string {
	if len(h) == 0 || len(h) > maxRequestID {
		return newRequestID()
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=':
		default:
			return newRequestID()
		}
	}
	return h
}
