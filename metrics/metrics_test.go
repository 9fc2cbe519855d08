package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/metrics/metricstest"
)

func TestLabelsStayBounded(t *testing.T) {
	before := metricstest.Value(t, "timecamp_scim_http_requests_total", map[string]string{"route": "unmatched", "method": "other", "status": "other"})
	metrics.ObserveRequest("", "BREW-f00d", 1000, time.Millisecond)
	after := metricstest.Value(t, "timecamp_scim_http_requests_total", map[string]string{"route": "unmatched", "method": "other", "status": "other"})
	if after != before+1 {
		t.Fatalf("requests{unmatched,other,other}: %v → %v", before, after)
	}
	if strings.Contains(metricstest.Text(t), "f00d") {
		t.Fatal("a client's method became a label value")
	}
	for status, outcome := range map[int]string{201: "succeeded", 204: "succeeded", 409: "failed", 424: "skipped", 500: "failed"} {
		labels := map[string]string{"method": "other", "outcome": outcome}
		before := metricstest.Value(t, "timecamp_scim_bulk_operations_total", labels)
		metrics.BulkOperation("FROB", status)
		if got := metricstest.Value(t, "timecamp_scim_bulk_operations_total", labels); got != before+1 {
			t.Errorf("bulk status %d: %s went %v → %v", status, outcome, before, got)
		}
	}
}

func TestOutboxDepth(t *testing.T) {
	if strings.Contains(metricstest.Text(t), "timecamp_scim_invitation_outbox_depth ") {
		t.Fatal("outbox depth has a value before anything counts it")
	}
	metrics.SetOutboxDepth(func(context.Context) (int, error) { return 42, nil })
	t.Cleanup(func() { metrics.SetOutboxDepth(nil) })
	if !strings.Contains(metricstest.Text(t), "timecamp_scim_invitation_outbox_depth 42") {
		t.Fatalf("outbox depth not served:\n%s", metricstest.Text(t))
	}
	// A failing count leaves the gauge out and the rest served.
	metrics.SetOutboxDepth(func(context.Context) (int, error) { return 0, errors.New("database down") })
	text := metricstest.Text(t)
	if strings.Contains(text, "timecamp_scim_invitation_outbox_depth ") || !strings.Contains(text, "timecamp_scim_http_requests_total") {
		t.Fatalf("with a failing count:\n%s", text)
	}
}

func TestEmailsAndRateLimits(t *testing.T) {
	text := metricstest.Text(t)
	for _, want := range []string{`timecamp_scim_invitation_emails_total{result="failed"} `, "timecamp_scim_rate_limited_total 0", "go_goroutines", "process_start_time_seconds"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	metrics.InvitationEmail(metrics.EmailSent)
	metrics.RateLimited.Inc()
	if metricstest.Value(t, "timecamp_scim_invitation_emails_total", map[string]string{"result": "sent"}) < 1 || metricstest.Value(t, "timecamp_scim_rate_limited_total", nil) != 1 {
		t.Fatal("counters did not move")
	}
	rec := metricstest.Text(t)
	if !strings.Contains(rec, "# TYPE timecamp_scim_http_request_duration_seconds histogram") {
		t.Error("no latency histogram")
	}
}
