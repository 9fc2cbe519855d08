package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// client sends SCIM requests to one server.
type client struct {
	base  string // e.g. http://127.0.0.1:8080/scim/v2
	token string
	http  *http.Client
	pid   int // the server's process, when compare started it
}

func newClient(base, token string, concurrency int) *client {
	tr := &http.Transport{
		MaxIdleConns:        4 * concurrency,
		MaxIdleConnsPerHost: 4 * concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// statusError is a response with an unexpected status.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.method, e.path, e.status, e.body)
}

// do sends a request and returns the status and, when into is not nil, the
// body decoded into it; otherwise the body is read and dropped (the client
// does no more work for a large body than reading it).
func (c *client) do(method, path string, body any, want int, into any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	req.Header.Set("Accept", "application/scim+json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if want != 0 && resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return resp.StatusCode, &statusError{method, path, resp.StatusCode, string(b)}
	}
	if into != nil {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(into)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// result is one workload's measurements.
type result struct {
	name    string
	ops     int
	elapsed time.Duration
	lat     []time.Duration // per operation, in the order the operations were numbered
	unit    string          // what an operation is ("users", "pages", …)
	extra   string          // further numbers worth printing
	skipped string          // why the workload did not run (the server lacks the feature)
	cpu     time.Duration   // the server's CPU time during the workload (when compare started it)
}

func (r *result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r *result) pct(p float64) time.Duration {
	return percentile(r.lat, p)
}

func percentile(lat []time.Duration, p float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	c := slices.Clone(lat)
	slices.Sort(c)
	return c[min(int(float64(len(c))*p), len(c)-1)]
}

// firstLast are the medians of the first and the last tenth of the
// operations (a cost that grows with the data shows as last > first).
func (r *result) firstLast() (time.Duration, time.Duration) {
	t := max(len(r.lat)/10, 1)
	return percentile(r.lat[:t], 0.5), percentile(r.lat[len(r.lat)-t:], 0.5)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func (r *result) String() string {
	if r.skipped != "" {
		return fmt.Sprintf("%-12s skipped: %s", r.name, r.skipped)
	}
	s := fmt.Sprintf("%-12s %6d ops %9.1f %s/s  p50 %s  p90 %s  p99 %s", r.name, r.ops, r.rate(), r.unit, ms(r.pct(0.5)), ms(r.pct(0.9)), ms(r.pct(0.99)))
	if r.cpu > 0 {
		s += fmt.Sprintf("  server CPU %.0f µs/op", float64(r.cpu.Microseconds())/float64(r.ops))
	}
	if r.extra != "" {
		s += "  " + r.extra
	}
	return s
}

// cpuTime is the server's CPU time so far (user and system, from
// /proc/PID/stat on Linux); -1 when unknown.
func (c *client) cpuTime() time.Duration {
	if c.pid == 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return -1
	}
	// After the command name in parentheses: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// load runs n operations, concurrency at a time, and times each.
func load(n, concurrency int, op func(i int) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	next.Store(-1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start), first
}

// config is what a run does.
type config struct {
	users       int
	concurrency int
	workloads   map[string]bool
	lookups     int // lookups that find the user, one at a time
	pages       int // pages of 100
	groupGets   int // GETs of the group of all users, at the concurrency
	groupGets1  int // and one at a time
}

// allWorkloads in the order they run: each works on what the ones before
// it stored (the users, the group).
var allWorkloads = []string{"provision", "lookup", "page", "patch", "addmember", "getgroup", "getgroup1", "bulk"}

func (cfg *config) flags(fs *flag.FlagSet) *string {
	fs.IntVar(&cfg.concurrency, "c", 4, "concurrent clients")
	fs.IntVar(&cfg.lookups, "lookups", 2000, "userName lookups (one at a time)")
	fs.IntVar(&cfg.pages, "pages", 500, "pages of 100 users")
	fs.IntVar(&cfg.groupGets, "group-gets", 200, "GETs of the group of all users (at the concurrency)")
	fs.IntVar(&cfg.groupGets1, "group-gets-1", 100, "GETs of the group of all users, one at a time")
	return fs.String("workloads", strings.Join(allWorkloads, ","), "workloads to run, in this order: "+strings.Join(allWorkloads, ","))
}

func (cfg *config) parseWorkloads(s string) error {
	cfg.workloads = map[string]bool{}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if !slices.Contains(allWorkloads, w) {
			return fmt.Errorf("unknown workload %q", w)
		}
		cfg.workloads[w] = true
	}
	return nil
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	base := fs.String("url", "", "the SCIM base URL, e.g. http://127.0.0.1:8080/scim/v2")
	token := fs.String("token", os.Getenv("SCIM_TOKEN"), "bearer token (default $SCIM_TOKEN)")
	var cfg config
	fs.IntVar(&cfg.users, "users", 1000, "users to provision")
	wl := cfg.flags(fs)
	_ = fs.Parse(args)
	if *base == "" {
		return errors.New("run: -url is required")
	}
	if err := cfg.parseWorkloads(*wl); err != nil {
		return err
	}
	return runWorkloads(newClient(*base, *token, cfg.concurrency), cfg, func(r *result) { fmt.Println(r) })
}

// runWorkloads runs the selected workloads against a server that holds
// no users yet, reporting each result as it comes.
func runWorkloads(c *client, cfg config, report func(*result)) error {
	n := cfg.users
	names := make([]string, n)
	ids := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("user%d@acme.test", i)
	}
	var groupID string
	step := func(name string, fn func() (*result, error)) error {
		if !cfg.workloads[name] {
			return nil
		}
		cpu0 := c.cpuTime()
		r, err := fn()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if cpu1 := c.cpuTime(); cpu0 >= 0 && cpu1 >= 0 {
			r.cpu = max(cpu1-cpu0, time.Nanosecond) // a workload shorter than a tick shows as ~0
		}
		r.name = name
		report(r)
		return nil
	}
	provisioned := false
	err := step("provision", func() (*result, error) {
		posts := make([]time.Duration, n)
		lat, el, err := load(n, cfg.concurrency, func(i int) error {
			var list struct {
				Total int `json:"totalResults"`
			}
			if _, err := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+names[i]+`"`), nil, 200, &list); err != nil {
				return err
			}
			if list.Total != 0 {
				return fmt.Errorf("userName %s: %d results before it was created", names[i], list.Total)
			}
			t := time.Now()
			var created struct {
				ID string `json:"id"`
			}
			if _, err := c.do("POST", "/Users", userBody(names[i], i), 201, &created); err != nil {
				return err
			}
			posts[i] = time.Since(t)
			ids[i] = created.ID
			return nil
		})
		if err != nil {
			return nil, err
		}
		provisioned = true
		r := &result{ops: n, elapsed: el, lat: lat, unit: "users"}
		f, l := r.firstLast()
		r.extra = fmt.Sprintf("POST p50 %s, first 10%% %s, last 10%% %s", ms(percentile(posts, 0.5)), ms(f), ms(l))
		return r, nil
	})
	if err != nil {
		return err
	}
	if !provisioned && cfg.needUsers() {
		// The later workloads need the users: create them without timing.
		if _, _, err := load(n, cfg.concurrency, func(i int) error {
			var created struct {
				ID string `json:"id"`
			}
			_, err := c.do("POST", "/Users", userBody(names[i], i), 201, &created)
			ids[i] = created.ID
			return err
		}); err != nil {
			return fmt.Errorf("creating the users: %w", err)
		}
	}
	if err := step("lookup", func() (*result, error) {
		lat, el, err := load(cfg.lookups, 1, func(i int) error {
			var list struct {
				Total int `json:"totalResults"`
			}
			name := names[(i*7919)%n]
			if _, err := c.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil, 200, &list); err != nil {
				return err
			}
			if list.Total != 1 {
				return fmt.Errorf("userName eq %q: %d results, want 1", name, list.Total)
			}
			return nil
		})
		return &result{ops: cfg.lookups, elapsed: el, lat: lat, unit: "lookups", extra: "concurrency 1"}, err
	}); err != nil {
		return err
	}
	if err := step("page", func() (*result, error) {
		pages := max(n/100, 1)
		var list struct {
			Total int   `json:"totalResults"`
			Res   []any `json:"Resources"`
		}
		if _, err := c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=100", 1+(pages-1)*100), nil, 200, &list); err != nil {
			return nil, err
		}
		if list.Total != n || len(list.Res) != min(100, n-(pages-1)*100) {
			return nil, fmt.Errorf("the last page: totalResults %d, %d resources; want %d users", list.Total, len(list.Res), n)
		}
		lat, el, err := load(cfg.pages, cfg.concurrency, func(i int) error {
			_, err := c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=100", 1+(i*37%pages)*100), nil, 200, nil)
			return err
		})
		return &result{ops: cfg.pages, elapsed: el, lat: lat, unit: "pages"}, err
	}); err != nil {
		return err
	}
	if err := step("patch", func() (*result, error) {
		lat, el, err := load(n, cfg.concurrency, func(i int) error {
			_, err := c.do("PATCH", "/Users/"+ids[i], patchBody(
				op("replace", "name.givenName", fmt.Sprint("Renamed", i)),
				op("replace", "active", i%2 == 0),
			), 200, nil)
			return err
		})
		return &result{ops: n, elapsed: el, lat: lat, unit: "patches"}, err
	}); err != nil {
		return err
	}
	if cfg.workloads["addmember"] || cfg.workloads["getgroup"] || cfg.workloads["getgroup1"] {
		var g struct {
			ID string `json:"id"`
		}
		if _, err := c.do("POST", "/Groups", map[string]any{
			"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "Everyone",
		}, 201, &g); err != nil {
			return fmt.Errorf("creating the group: %w", err)
		}
		groupID = g.ID
	}
	addOne := func(i int) error {
		status, err := c.do("PATCH", "/Groups/"+groupID, patchBody(op("add", "members", []any{map[string]any{"value": ids[i]}})), 0, nil)
		if err == nil && status != 200 && status != 204 {
			err = fmt.Errorf("PATCH /Groups/%s: status %d", groupID, status)
		}
		return err
	}
	if cfg.workloads["addmember"] {
		if err := step("addmember", func() (*result, error) {
			lat, el, err := load(n, cfg.concurrency, addOne)
			r := &result{ops: n, elapsed: el, lat: lat, unit: "adds"}
			if err == nil {
				f, l := r.firstLast()
				r.extra = fmt.Sprintf("first 10%% %s, last 10%% %s", ms(f), ms(l))
			}
			return r, err
		}); err != nil {
			return err
		}
	} else if groupID != "" {
		// The group reads need the members: add them in a few PATCHes.
		for start := 0; start < n; start += 1000 {
			var members []any
			for _, id := range ids[start:min(start+1000, n)] {
				members = append(members, map[string]any{"value": id})
			}
			if status, err := c.do("PATCH", "/Groups/"+groupID, patchBody(op("add", "members", members)), 0, nil); err != nil || status >= 300 {
				return fmt.Errorf("adding members: status %d, %v", status, err)
			}
		}
	}
	if groupID != "" && (cfg.workloads["getgroup"] || cfg.workloads["getgroup1"]) {
		var g struct {
			Members []map[string]any `json:"members"`
		}
		if _, err := c.do("GET", "/Groups/"+groupID, nil, 200, &g); err != nil {
			return err
		}
		if len(g.Members) != n {
			return fmt.Errorf("the group has %d members, want %d", len(g.Members), n)
		}
	}
	getGroup := func(ops, conc int) func() (*result, error) {
		return func() (*result, error) {
			lat, el, err := load(ops, conc, func(int) error {
				_, err := c.do("GET", "/Groups/"+groupID, nil, 200, nil)
				return err
			})
			return &result{ops: ops, elapsed: el, lat: lat, unit: "gets", extra: fmt.Sprintf("%d members, concurrency %d", n, conc)}, err
		}
	}
	if err := step("getgroup", getGroup(cfg.groupGets, cfg.concurrency)); err != nil {
		return err
	}
	if err := step("getgroup1", getGroup(cfg.groupGets1, 1)); err != nil {
		return err
	}
	return step("bulk", func() (*result, error) {
		const per = 100
		requests := max(n/per, 1)
		status, err := c.do("POST", "/Bulk", bulkBody(n, 0, 0), 0, nil)
		if err != nil {
			return nil, err
		}
		if status == 404 || status == 405 || status == 501 {
			return &result{skipped: fmt.Sprintf("POST /Bulk answers %d", status)}, nil
		}
		lat, el, err := load(requests, cfg.concurrency, func(k int) error {
			var resp struct {
				Ops []struct {
					Status string `json:"status"`
				} `json:"Operations"`
			}
			if _, err := c.do("POST", "/Bulk", bulkBody(n, k*per, per), 200, &resp); err != nil {
				return err
			}
			for _, o := range resp.Ops {
				if o.Status != "201" {
					return fmt.Errorf("a Bulk create answered %s", o.Status)
				}
			}
			return nil
		})
		return &result{ops: requests * per, elapsed: el, lat: lat, unit: "users", extra: fmt.Sprintf("%d per request; latencies per request", per)}, err
	})
}

func (cfg *config) needUsers() bool {
	for _, w := range []string{"lookup", "page", "patch", "addmember", "getgroup", "getgroup1"} {
		if cfg.workloads[w] {
			return true
		}
	}
	return false
}

// userBody is the user Entra ID sends on a create.
func userBody(name string, i int) map[string]any {
	return map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName":   name,
		"externalId": fmt.Sprint("ext-", i),
		"active":     true,
		"name":       map[string]any{"givenName": "Given", "familyName": fmt.Sprint("Family", i)},
		"emails":     []any{map[string]any{"value": name, "type": "work", "primary": true}},
	}
}

// bulkBody creates the users offset+from … offset+from+count-1 (after the
// provisioned ones); count 0 is an empty request, to probe for /Bulk.
func bulkBody(offset, from, count int) map[string]any {
	ops := []any{}
	for i := from; i < from+count; i++ {
		name := fmt.Sprintf("bulk%d@acme.test", offset+i)
		ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": userBody(name, offset+i)})
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}
}

func op(kind, path string, value any) map[string]any {
	return map[string]any{"op": kind, "path": path, "value": value}
}

func patchBody(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}
