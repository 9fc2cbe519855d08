// Package metrics defines the server's Prometheus metrics, all in one
// place, and serves them. Every label takes values from a small fixed set
// (route templates, HTTP methods and statuses, outcomes): never an id, a
// user name or an account, which would make a series per value.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "timecamp_scim"

// Registry holds the server's metrics and the Go runtime's and process's.
var Registry = prometheus.NewRegistry()

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route template (\"unmatched\" for paths no route serves), method and status.",
	}, []string{"route", "method", "status"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route template and method.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route", "method"})

	invitationEmails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "invitation_emails_total",
		Help: "Invitation email deliveries: sent; failed (the mail server refused or could not be reached; retried later); undeliverable (the user has no email address).",
	}, []string{"result"})

	// RateLimited counts requests refused because a client went over a
	// rate limit (429). Increment it where a limit refuses a request.
	RateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "rate_limited_total",
		Help: "Requests refused with 429 because a client went over a rate limit.",
	})

	bulkOperations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "bulk_operations_total",
		Help: "Operations of SCIM Bulk requests, by method and outcome (succeeded, failed, or skipped once failOnErrors was reached).",
	}, []string{"method", "outcome"})

	storeOperations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "store_operations_total",
		Help: "Operations on the database, by operation (a Store method) and outcome: ok, refused (not found, a conflict, a version mismatch: the request's fault) or error (the database failed).",
	}, []string{"operation", "outcome"})

	storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "store_operation_duration_seconds",
		Help:    "Time an operation on the database took, by operation (a Store method).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"operation"})

	outboxDepth = &gaugeFunc{desc: prometheus.NewDesc(namespace+"_invitation_outbox_depth",
		"Invitation emails waiting in the outbox (queued or to be retried).", nil, nil)}
)

func init() {
	Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		requests, requestDuration, invitationEmails, RateLimited, bulkOperations, outboxDepth,
		storeOperations, storeDuration,
	)
	// Outcomes known in advance show as 0 before the first event, so
	// that rate() and alerts work from the start.
	for _, r := range []string{EmailSent, EmailFailed, EmailUndeliverable} {
		invitationEmails.WithLabelValues(r)
	}
}

// Handler serves the metrics in the Prometheus text format. A metric that
// cannot be collected (the outbox depth while the database is down) is
// left out; the others are still served.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Outcomes of store operations.
const (
	StoreOK      = "ok"
	StoreRefused = "refused"
	StoreError   = "error"
)

// StoreOperation records an operation on the database: op is the Store
// method's name, outcome one of StoreOK, StoreRefused and StoreError.
func StoreOperation(op, outcome string, d time.Duration) {
	storeOperations.WithLabelValues(op, outcome).Inc()
	storeDuration.WithLabelValues(op).Observe(d.Seconds())
}

// ObserveRequest records an answered request. route is the route template
// ("/scim/v2/Users/{id}"), empty when no route matched.
func ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m := Method(method)
	requests.WithLabelValues(route, m, statusLabel(status)).Inc()
	requestDuration.WithLabelValues(route, m).Observe(d.Seconds())
}

// Invitation email results.
const (
	EmailSent          = "sent"
	EmailFailed        = "failed"
	EmailUndeliverable = "undeliverable"
)

// InvitationEmail counts one delivery attempt's result (EmailSent,
// EmailFailed or EmailUndeliverable).
func InvitationEmail(result string) { invitationEmails.WithLabelValues(result).Inc() }

// BulkOperation counts one operation of a Bulk request by its method and
// the status of its result.
func BulkOperation(method string, status int) {
	outcome := "failed"
	switch {
	case status >= 200 && status < 300:
		outcome = "succeeded"
	case status == http.StatusFailedDependency:
		outcome = "skipped"
	}
	bulkOperations.WithLabelValues(Method(method), outcome).Inc()
}

// Method is a method as a label: the standard ones, else "other" (a
// client may send any token as a method).
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

func statusLabel(s int) string {
	if s < 100 || s > 599 {
		return "other"
	}
	return strconv.Itoa(s)
}

// SetOutboxDepth gives the function that counts the invitation emails
// waiting in the outbox; it is called at each scrape, with a deadline.
// Until it is set, the gauge has no value.
func SetOutboxDepth(count func(context.Context) (int, error)) {
	outboxDepth.mu.Lock()
	defer outboxDepth.mu.Unlock()
	outboxDepth.count = count
}

// gaugeFunc is a gauge read from a function at scrape time; unlike
// prometheus.GaugeFunc it may fail (no sample then) and takes a context.
type gaugeFunc struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	count func(context.Context) (int, error)
}

func (g *gaugeFunc) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeFunc) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	count := g.count
	g.mu.Unlock()
	if count == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n))
}
