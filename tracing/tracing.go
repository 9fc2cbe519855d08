// Package tracing sends OpenTelemetry traces when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
// variable is set: one span per HTTP request, named for its route, and
// child spans that other packages start with Start. The exporter is OTLP
// over HTTP (protobuf) and reads the other standard variables itself
// (headers, timeout, compression, certificates); the sampler follows
// OTEL_TRACES_SAMPLER, the resource OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES. Incoming W3C traceparent headers are joined.
//
// When the variables are not set, nothing is set up and Start and
// StartRequest return at once without allocating: tracing costs nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.32.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/timecamp/timecamp-scim/transport"
)

// instrumentation names the spans' source.
const instrumentation = "github.com/timecamp/timecamp-scim"

var (
	enabled    atomic.Bool
	propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
)

// Enabled is whether spans are being recorded and exported.
func Enabled() bool { return enabled.Load() }

// Configured is whether the environment asks for traces: an OTLP endpoint
// is set, and neither OTEL_SDK_DISABLED nor OTEL_TRACES_EXPORTER=none
// turns them off.
func Configured(lookup func(string) (string, bool)) bool {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(get("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// CheckProtocol refuses an OTLP protocol other than http/protobuf, the
// one this server's exporter speaks.
func CheckProtocol(lookup func(string) (string, bool)) error {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p, ok := lookup(k); ok && p != "" {
			if p != "http/protobuf" {
				return fmt.Errorf("%s=%s is not supported: this server exports traces as OTLP over HTTP (http/protobuf); point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port (usually 4318)", k, p)
			}
			return nil // the traces-specific variable wins
		}
	}
	return nil
}

// Setup starts exporting traces when the environment asks for it, and
// returns the function that flushes and stops the exporter (call it on
// shutdown; a no-op when tracing is off). version is the server's.
func Setup(ctx context.Context, version string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	if !Configured(os.LookupEnv) {
		return noop, nil
	}
	if err := CheckProtocol(os.LookupEnv); err != nil {
		return noop, err
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return noop, fmt.Errorf("OpenTelemetry exporter (OTEL_EXPORTER_OTLP_*): %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName("timecamp-scim"), semconv.ServiceVersion(version)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return noop, fmt.Errorf("OpenTelemetry resource (OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("OpenTelemetry", "error", err)
	}))
	enabled.Store(true)
	return func(ctx context.Context) error {
		enabled.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

// Start starts a span as a child of ctx's span (a store operation under
// its request, say) and returns it with its context; end it with
// span.End(). With tracing off it returns ctx and a span that records
// nothing, at no cost.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return otel.Tracer(instrumentation).Start(ctx, name, trace.WithAttributes(attrs...))
}

// StartRequest starts the server span of an HTTP request, joining the
// caller's trace when it sends a traceparent header. It is named for the
// method until EndRequest knows the route.
func StartRequest(ctx context.Context, r *http.Request) (context.Context, trace.Span) {
	if !enabled.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx = propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	return otel.Tracer(instrumentation).Start(ctx, r.Method,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLScheme(transport.Scheme(r)),
		))
}

// EndRequest names the request's span "METHOD route" (the route template,
// never the path: paths hold ids and invitation tokens), records its
// status, and ends it. route is empty when no route matched.
func EndRequest(span trace.Span, method, route string, status int, attrs ...attribute.KeyValue) {
	if !span.IsRecording() {
		return
	}
	if route != "" {
		span.SetName(method + " " + route)
		span.SetAttributes(semconv.HTTPRoute(route))
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	span.SetAttributes(attrs...)
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// TraceID is the id of ctx's trace, for logs; empty without one.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
