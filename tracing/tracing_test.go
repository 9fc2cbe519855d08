package tracing_test

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/timecamp/timecamp-scim/tracing"
	"github.com/timecamp/timecamp-scim/tracing/tracingtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOffByDefault(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := tracing.Setup(context.Background(), "test", quiet)
	if err != nil || tracing.Enabled() {
		t.Fatalf("tracing on without an endpoint: %v", err)
	}
	defer shutdown(context.Background())
	ctx := context.Background()
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	allocs := testing.AllocsPerRun(100, func() {
		c, span := tracing.StartRequest(ctx, r)
		_, child := tracing.Start(c, "child")
		child.End()
		tracing.EndRequest(span, "GET", "/x", 200)
	})
	if allocs != 0 {
		t.Errorf("tracing off allocates %v times per request", allocs)
	}
	endpoint := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{endpoint, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
		{map[string]string{}, false},
	} {
		got := tracing.Configured(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if got != tc.want {
			t.Errorf("%v: configured %v", tc.env, got)
		}
	}
}

func TestGRPCRefused(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	if _, err := tracing.Setup(context.Background(), "test", quiet); err == nil || tracing.Enabled() {
		t.Fatalf("grpc accepted: %v", err)
	}
}

// A request span (joined to the caller's trace) and a child span reach a
// real OTLP/HTTP receiver.
func TestSpansReachTheCollector(t *testing.T) {
	rc := tracingtest.New(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rc.URL)
	t.Setenv("OTEL_SERVICE_NAME", "scim-under-test")
	shutdown, err := tracing.Setup(context.Background(), "test", quiet)
	if err != nil || !tracing.Enabled() {
		t.Fatalf("setup: %v", err)
	}
	r := httptest.NewRequest(http.MethodPatch, "/scim/v2/Users/2819c223", nil)
	const parent = "0af7651916cd43dd8448eb211c80319c"
	r.Header.Set("traceparent", "00-"+parent+"-b7ad6b7169203331-01")
	ctx, span := tracing.StartRequest(r.Context(), r)
	_, child := tracing.Start(ctx, "store.users.update", attribute.String("db.collection", "users"))
	child.End()
	if tracing.TraceID(ctx) != parent {
		t.Errorf("trace id %q, want the caller's %s", tracing.TraceID(ctx), parent)
	}
	tracing.EndRequest(span, http.MethodPatch, "/scim/v2/Users/{id}", 503, attribute.String("timecamp.request_id", "abc"))
	if err := shutdown(context.Background()); err != nil { // flushes
		t.Fatal(err)
	}
	if tracing.Enabled() {
		t.Fatal("still enabled after shutdown")
	}
	req, ok := rc.WaitFor("PATCH /scim/v2/Users/{id}", 5*time.Second)
	if !ok {
		t.Fatalf("no request span; got %d spans", len(rc.Spans()))
	}
	if req.Service != "scim-under-test" || req.Attr("http.route") != "/scim/v2/Users/{id}" || req.Attr("http.response.status_code") != "503" || req.Attr("timecamp.request_id") != "abc" {
		t.Errorf("request span: service %q attrs %v", req.Service, req.GetAttributes())
	}
	if got := req.GetStatus().GetCode().String(); got != "STATUS_CODE_ERROR" {
		t.Errorf("a 503 span has status %s", got)
	}
	if hex.EncodeToString(req.GetTraceId()) != parent {
		t.Errorf("request span not in the caller's trace")
	}
	for _, s := range rc.Spans() {
		if s.Attr("url.path") != "" || s.Attr("url.full") != "" {
			t.Errorf("span %s records the path", s.GetName())
		}
	}
	child2, ok := rc.WaitFor("store.users.update", time.Second)
	if !ok || string(child2.GetParentSpanId()) != string(req.GetSpanId()) {
		t.Errorf("child span missing or not under the request span")
	}
}
