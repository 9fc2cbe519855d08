package scim_test

import (
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// The workloads of docs/performance.md, over HTTP against a real server on
// the test store (SCIM_TEST_STORE: sqlite, the default, or mongodb). Each
// reports its own rate and latencies besides ns/op; run them with
//
//	go test ./scim -run '^$' -bench Workload -benchtime 1x -timeout 30m
//
// (one iteration is the whole workload at the size in its name). The
// targets are in docs/performance.md.

// load runs n operations with the given concurrency and returns each
// operation's latency, in the order the operations were numbered.
func load(n, concurrency int, op func(i int)) ([]time.Duration, time.Duration) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	next.Store(-1)
	var wg sync.WaitGroup
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
				op(i)
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start)
}

func median(d []time.Duration) time.Duration {
	c := slices.Clone(d)
	slices.Sort(c)
	return c[len(c)/2]
}

// report adds a workload's numbers to the benchmark's output: operations
// per second, the median latency, and the medians of the first and last
// tenth with their ratio (flat means the cost does not grow).
func report(b *testing.B, lat []time.Duration, elapsed time.Duration, unit string) {
	b.Helper()
	tenth := max(len(lat)/10, 1)
	first, last := median(lat[:tenth]), median(lat[len(lat)-tenth:])
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(float64(median(lat).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(first.Microseconds())/1000, "first10%-p50-ms")
	b.ReportMetric(float64(last.Microseconds())/1000, "last10%-p50-ms")
	b.ReportMetric(float64(last)/float64(first), "last/first")
}

// benchClient is a client with enough kept-alive connections for the
// concurrency of the workloads.
func benchClient(b *testing.B) *scimtest.Client {
	b.Helper()
	e := scimtest.New(b)
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = 16
	return e.Client
}

func filterQuery(f string) string { return "/Users?filter=" + url.QueryEscape(f) }

// BenchmarkWorkloadProvision: Entra ID's provisioning of each new user, a
// lookup by userName that finds nothing and then a POST, at concurrency 4.
// Target: ≥ 500 users/s, the last tenth's median within 1.5× the first's.
func BenchmarkWorkloadProvision(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			for b.Loop() {
				c := benchClient(b)
				lat, elapsed := load(n, 4, func(i int) {
					name := fmt.Sprintf("user%d@acme.test", i)
					c.Get(b, filterQuery(`userName eq "`+name+`"`)).Expect(b, http.StatusOK)
					c.Post(b, "/Users", scimtest.UserBody(name, map[string]any{
						"externalId": fmt.Sprint("ext-", i), "active": true,
						"name":   map[string]any{"givenName": "Given", "familyName": fmt.Sprint("Family", i)},
						"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
					})).Expect(b, http.StatusCreated)
				})
				report(b, lat, elapsed, "users")
			}
		})
	}
}

// BenchmarkWorkloadLookup: GET /Users?filter=userName eq "…" that finds
// the user, one request at a time. Target at 10,000 users: median ≤ 2 ms,
// within 1.5× of the median at 1,000 users.
func BenchmarkWorkloadLookup(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			c := benchClient(b)
			createUsers(b, c, n, "look")
			for b.Loop() {
				lat, elapsed := load(2_000, 1, func(i int) {
					r := c.Get(b, filterQuery(fmt.Sprintf(`userName eq "look%d@acme.test"`, (i*7919)%n))).Expect(b, http.StatusOK)
					if r.At("totalResults") == nil {
						b.Fatalf("no totalResults: %s", r.Raw)
					}
				})
				report(b, lat, elapsed, "lookups")
			}
		})
	}
}

// BenchmarkWorkloadPage: GET /Users?startIndex=…&count=100 at 10,000
// users, pages all over the list, concurrency 4. Target: median ≤ 20 ms.
func BenchmarkWorkloadPage(b *testing.B) {
	const n = 10_000
	c := benchClient(b)
	createUsers(b, c, n, "page")
	for b.Loop() {
		lat, elapsed := load(500, 4, func(i int) {
			c.Get(b, fmt.Sprintf("/Users?startIndex=%d&count=100", 1+(i*37%(n/100))*100)).Expect(b, http.StatusOK)
		})
		report(b, lat, elapsed, "pages")
	}
}

// BenchmarkWorkloadPatchUser: PATCH replacing givenName and active, as
// Entra ID sends an update, over 10,000 users at concurrency 4. Target:
// ≥ 500 PATCHes/s.
func BenchmarkWorkloadPatchUser(b *testing.B) {
	const n = 10_000
	c := benchClient(b)
	ids := createUsers(b, c, n, "patch")
	for b.Loop() {
		lat, elapsed := load(n, 4, func(i int) {
			c.Patch(b, "/Users/"+ids[i],
				scimtest.Op("replace", "name.givenName", fmt.Sprint("Renamed", i)),
				scimtest.Op("replace", "active", i%2 == 0),
			).Expect(b, http.StatusOK)
		})
		report(b, lat, elapsed, "patches")
	}
}

// BenchmarkWorkloadAddMember: a group growing to 10,000 members, one
// member added per PATCH, at concurrency 4. Target: median ≤ 3 ms, the
// last tenth within 1.5× the first.
func BenchmarkWorkloadAddMember(b *testing.B) {
	const n = 10_000
	c := benchClient(b)
	ids := createUsers(b, c, n, "member")
	for b.Loop() {
		gid := c.Post(b, "/Groups", scimtest.GroupBody(fmt.Sprint("Growing ", time.Now().UnixNano()))).Expect(b, http.StatusCreated).Str("id")
		lat, elapsed := load(n, 4, func(i int) {
			c.Patch(b, "/Groups/"+gid, scimtest.Op("add", "members", []any{map[string]any{"value": ids[i]}})).Expect(b, http.StatusNoContent)
		})
		report(b, lat, elapsed, "adds")
	}
}

// BenchmarkWorkloadGetGroup: GET a group with its 1,000 members, one at a
// time. Target: median ≤ 20 ms.
func BenchmarkWorkloadGetGroup(b *testing.B) {
	const n = 1_000
	c := benchClient(b)
	ids := createUsers(b, c, n, "big")
	gid := c.Post(b, "/Groups", scimtest.GroupBody("Big", ids...)).Expect(b, http.StatusCreated).Str("id")
	for b.Loop() {
		lat, elapsed := load(200, 1, func(int) {
			r := c.Get(b, "/Groups/"+gid).Expect(b, http.StatusOK)
			if got := len(r.At("members").([]any)); got != n {
				b.Fatalf("%d members, want %d", got, n)
			}
		})
		report(b, lat, elapsed, "gets")
	}
}

// BenchmarkWorkloadBulk: Bulk requests of 100 user creates, at
// concurrency 4, 10,000 users. Target: ≥ 5,000 users/s.
func BenchmarkWorkloadBulk(b *testing.B) {
	const n, per = 10_000, 100
	for b.Loop() {
		c := benchClient(b)
		start := time.Now()
		lat, _ := load(n/per, 4, func(k int) {
			var ops []map[string]any
			for i := k * per; i < (k+1)*per; i++ {
				ops = append(ops, bulkOp("POST", "/Users", fmt.Sprint(i), scimtest.UserBody(fmt.Sprintf("bulk%d@acme.test", i), map[string]any{
					"active": true, "name": map[string]any{"givenName": "Given", "familyName": fmt.Sprint("Family", i)},
					"emails": []any{map[string]any{"value": fmt.Sprintf("bulk%d@acme.test", i), "type": "work"}},
				})))
			}
			for _, r := range results(b, c.Post(b, "/Bulk", bulkBody(0, ops...))) {
				if r["status"] != "201" {
					b.Fatalf("bulk operation: %v", r)
				}
			}
		})
		elapsed := time.Since(start)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "users/s")
		b.ReportMetric(float64(median(lat).Microseconds())/1000, "p50-ms-per-request")
	}
}

// BenchmarkWorkloadHugeGroup: GET a group of 100,000 members and report
// the memory the process took from the system (the server and the test
// client share the process, so this over-counts). Target: the server
// stays under 200 MiB.
func BenchmarkWorkloadHugeGroup(b *testing.B) {
	const n = 100_000
	c := benchClient(b)
	ids := createUsers(b, c, n, "huge")
	gid := c.Post(b, "/Groups", scimtest.GroupBody("Huge")).Expect(b, http.StatusCreated).Str("id")
	for start := 0; start < n; start += 10_000 {
		var members []any
		for _, id := range ids[start:min(start+10_000, n)] {
			members = append(members, map[string]any{"value": id})
		}
		c.Patch(b, "/Groups/"+gid, scimtest.Op("add", "members", members)).Expect(b, http.StatusNoContent)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		t := time.Now()
		r := c.Get(b, "/Groups/"+gid+"?attributes=members").Expect(b, http.StatusOK)
		if got := len(r.At("members").([]any)); got != n {
			b.Fatalf("%d members, want %d", got, n)
		}
		b.ReportMetric(float64(time.Since(t).Milliseconds()), "ms-per-get")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Sys)/(1<<20), "MiB-from-system")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "MiB-allocated-per-get")
}

// createUsers creates n users through Bulk and returns their ids.
func createUsers(b *testing.B, c *scimtest.Client, n int, prefix string) []string {
	b.Helper()
	var ids []string
	for start := 0; start < n; start += 1000 {
		var ops []map[string]any
		for i := start; i < min(start+1000, n); i++ {
			ops = append(ops, bulkOp("POST", "/Users", fmt.Sprint(i), scimtest.UserBody(fmt.Sprintf("%s%d@acme.test", prefix, i))))
		}
		for _, r := range results(b, c.Post(b, "/Bulk", bulkBody(0, ops...))) {
			ids = append(ids, idOf(r["location"]))
		}
	}
	return ids
}
