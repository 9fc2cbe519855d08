package scim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// The hot paths of issue 20, one request per iteration, one at a time, so
// that ns/op and allocs/op measure what a request costs (server and the
// test's client in one process) rather than how the machine's other work
// shares its cores:
//
//	go test ./scim -run '^$' -bench HotPath -benchmem
//
// The workloads at concurrency 4 against the built binary, beside an
// in-memory peer, are tools/loadtest's (docs/performance.md).

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU time per iteration since start: on a
// machine shared with other work it varies less than ns/op, which counts
// the waits for a core too.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// send sends a request and reads the response without decoding it (a
// group of 10,000 members takes the client longer to decode than the
// server to write), failing unless it has the status.
func send(b *testing.B, c *scimtest.Client, method, path string, body any, status int) {
	b.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != status {
		b.Fatalf("%s %s: status %d, %v", method, path, resp.StatusCode, err)
	}
}

// hotPathUsers is the account size of the hot-path benchmarks.
const hotPathUsers = 10_000

func hotPathEnv(b *testing.B) (*scimtest.Client, []string) {
	b.Helper()
	c := benchClient(b)
	return c, createUsers(b, c, hotPathUsers, "hot")
}

// BenchmarkHotPathGetGroup: GET a group of 10,000 members.
func BenchmarkHotPathGetGroup(b *testing.B) {
	c, ids := hotPathEnv(b)
	gid := c.Post(b, "/Groups", scimtest.GroupBody("Everyone", ids...)).Expect(b, http.StatusCreated).Str("id")
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		send(b, c, http.MethodGet, "/Groups/"+gid, nil, http.StatusOK)
	}
}

// BenchmarkHotPathPatchUser: PATCH replacing givenName and active, among
// 10,000 users (each iteration another user).
func BenchmarkHotPathPatchUser(b *testing.B) {
	c, ids := hotPathEnv(b)
	i := 0
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		send(b, c, http.MethodPatch, "/Users/"+ids[i%len(ids)], scimtest.PatchBody(
			scimtest.Op("replace", "name.givenName", fmt.Sprint("Renamed", i)),
			scimtest.Op("replace", "active", i%2 == 0),
		), http.StatusOK)
		i++
	}
}

// BenchmarkHotPathPage: a page of 100 of 10,000 users, startIndex spread
// over the list.
func BenchmarkHotPathPage(b *testing.B) {
	c, _ := hotPathEnv(b)
	i := 0
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		send(b, c, http.MethodGet, fmt.Sprintf("/Users?startIndex=%d&count=100", 1+(i*37%(hotPathUsers/100))*100), nil, http.StatusOK)
		i++
	}
}

// BenchmarkHotPathProvision: Entra ID's create of one user, a userName
// lookup that finds nobody and the POST, in an account of 10,000 users.
func BenchmarkHotPathProvision(b *testing.B) {
	c, _ := hotPathEnv(b)
	i := 0
	start := cpuTime()
	defer func() { reportCPU(b, start) }()
	for b.Loop() {
		name := fmt.Sprintf("new%d@acme.test", i)
		send(b, c, http.MethodGet, filterQuery(`userName eq "`+name+`"`), nil, http.StatusOK)
		send(b, c, http.MethodPost, "/Users", scimtest.UserBody(name, map[string]any{
			"externalId": fmt.Sprint("ext-new-", i), "active": true,
			"name":   map[string]any{"givenName": "Given", "familyName": fmt.Sprint("Family", i)},
			"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
		}), http.StatusCreated)
		i++
	}
}
