package scim_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/metrics/metricstest"
	"github.com/timecamp/timecamp-scim/scim"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/storetest"
	"github.com/timecamp/timecamp-scim/transport"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// observedServer is a server whose access log is kept, behind the given
// trusted proxies, with an account named accountName.
func observedServer(t *testing.T, accountName string, trusted ...netip.Prefix) (*scimtest.Client, *lockedBuffer) {
	t.Helper()
	st := storetest.New(t)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv := scim.New(directory.New(st, log), scim.Options{Logger: log, Proxies: transport.NewProxies(trusted)})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	a, err := st.CreateAccount(context.Background(), accountName, 0)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := st.CreateToken(context.Background(), a.ID, store.TokenSpec{Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &scimtest.Client{Base: hs.URL + scim.Prefix, Token: token}, logs
}

// Requests are counted by route template, method and status: the
// counters move, and /metrics holds no id, user name or account name.
func TestMetricsCountRequestsWithoutIDs(t *testing.T) {
	c, _ := observedServer(t, "Initech-Metrics")
	requests := func(route, method, status string) float64 {
		return metricstest.Value(t, "timecamp_scim_http_requests_total", map[string]string{"route": route, "method": method, "status": status})
	}
	latency := func(route, method string) float64 {
		return metricstest.Value(t, "timecamp_scim_http_request_duration_seconds", map[string]string{"route": route, "method": method})
	}
	const users, user = "/scim/v2/Users", "/scim/v2/Users/{id}"
	created0, got0, missing0, lat0 := requests(users, "POST", "201"), requests(user, "GET", "200"), requests(user, "GET", "404"), latency(user, "GET")
	unmatched0 := requests("unmatched", "GET", "404")

	var ids []string
	for _, name := range []string{"milton.waddams@initech.test", "peter.gibbons@initech.test"} {
		ids = append(ids, c.Post(t, "/Users", scimtest.UserBody(name)).Expect(t, http.StatusCreated).Str("id"))
	}
	for _, id := range ids {
		c.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
	}
	c.Get(t, "/Users/does-not-exist-4711").Expect(t, http.StatusNotFound)
	resp, err := http.Get(strings.TrimSuffix(c.Base, scim.Prefix) + "/no/such/path/0xdeadbeef")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c.Get(t, "/NoSuchEndpoint-0xdeadbeef").Expect(t, http.StatusNotFound) // the SCIM subrouter's own 404
	c.Post(t, "/Bulk", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []any{
			map[string]any{"method": "POST", "path": "/Users", "bulkId": "b1", "data": scimtest.UserBody("bill.lumbergh@initech.test")},
			map[string]any{"method": "DELETE", "path": "/Users/not-there-0815"},
		},
	}).Expect(t, http.StatusOK)

	for _, m := range []struct {
		name        string
		moved, want float64
	}{
		{"POST /Users 201", requests(users, "POST", "201") - created0, 2},
		{"GET /Users/{id} 200", requests(user, "GET", "200") - got0, 2},
		{"GET /Users/{id} 404", requests(user, "GET", "404") - missing0, 1},
		{"GET unmatched 404", requests("unmatched", "GET", "404") - unmatched0, 2},
		{"GET /Users/{id} latency observations", latency(user, "GET") - lat0, 3},
	} {
		if m.moved != m.want {
			t.Errorf("%s moved by %v, want %v", m.name, m.moved, m.want)
		}
	}
	if metricstest.Value(t, "timecamp_scim_bulk_operations_total", map[string]string{"method": "POST", "outcome": "succeeded"}) < 1 ||
		metricstest.Value(t, "timecamp_scim_bulk_operations_total", map[string]string{"method": "DELETE", "outcome": "failed"}) < 1 {
		t.Errorf("Bulk operations not counted")
	}
	// Look at the names and labels only: a sample's value may hold any
	// digits (a duration of 0.0047115 s).
	var labels strings.Builder
	for _, line := range strings.Split(metricstest.Text(t), "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && !strings.HasPrefix(line, "#") {
			labels.WriteString(name + "\n")
		}
	}
	for _, secret := range append(ids, "milton", "initech", "Initech", "4711", "0815", "deadbeef", c.Token) {
		if strings.Contains(labels.String(), secret) {
			t.Errorf("/metrics contains %q", secret)
		}
	}
}

// An incoming X-Request-Id is kept, echoed and logged when it is sane;
// otherwise the server makes its own.
func TestRequestIDKept(t *testing.T) {
	c, logs := observedServer(t, "acme")
	for _, tc := range []struct {
		sent string
		kept bool
	}{
		{"3f2a9c1e-7b44-4d0a-9a51-0c6e2f1b8d77", true},
		{"lb.prod:req/42+x=", true},
		{"has spaces in it", false},
		{"new\u00e9line", false},
		{strings.Repeat("a", 129), false},
		{"", false},
	} {
		r := c.Get(t, "/ServiceProviderConfig", "X-Request-Id: "+tc.sent)
		got := r.Header.Get("X-Request-Id")
		if tc.kept && got != tc.sent || !tc.kept && (got == tc.sent || len(got) != 16) {
			t.Errorf("sent %q, echoed %q", tc.sent, got)
		}
		if !strings.Contains(logs.String(), "request_id="+got) && !strings.Contains(logs.String(), `request_id="`+got+`"`) {
			t.Errorf("request id %q not in the access log", got)
		}
	}
}

// X-Forwarded-Proto and X-Forwarded-For count only from a trusted proxy.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	headers := []string{"X-Forwarded-Proto: https", "X-Forwarded-For: 198.51.100.23"}
	c, logs := observedServer(t, "acme")
	r := c.Post(t, "/Users", scimtest.UserBody("direct@acme.test"), headers...).Expect(t, http.StatusCreated)
	if loc := r.Str("meta.location"); !strings.HasPrefix(loc, "http://") {
		t.Errorf("an untrusted client's X-Forwarded-Proto was believed: %s", loc)
	}
	if strings.Contains(logs.String(), "198.51.100.23") || !strings.Contains(logs.String(), "client=127.0.0.1") {
		t.Errorf("an untrusted client's X-Forwarded-For was believed:\n%s", logs)
	}

	c, logs = observedServer(t, "acme", netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	r = c.Post(t, "/Users", scimtest.UserBody("proxied@acme.test"), headers...).Expect(t, http.StatusCreated)
	if loc := r.Str("meta.location"); !strings.HasPrefix(loc, "https://") || r.Header.Get("Location") != loc {
		t.Errorf("behind a trusted proxy: meta.location %s, Location %s", loc, r.Header.Get("Location"))
	}
	if !strings.Contains(logs.String(), "client=198.51.100.23") {
		t.Errorf("the client's address behind a trusted proxy is not logged:\n%s", logs)
	}
}
