package e2e

// Two server instances on one database take an identity provider's mixed
// load on one account — Entra-style creates (a lookup by userName, then a
// POST) of the same userNames through both at once, PATCHes adding and
// removing members of one group, Bulk imports — with invitations through
// a real SMTP server, and one of them is killed with SIGKILL part-way.
// Then, with no operator action: every acknowledged write is there, no
// userName exists twice, the survivor has finished or undone what the
// killed one left half-done (accounts check finds nothing: the seat
// counter equals a recount), and no invitation email went out twice.
//
// On a deployment several servers may share (SCIM_TEST_MONGODB_URI:
// MongoDB, FerretDB 2 + DocumentDB), and on the embedded database. On
// FerretDB 1.x (CI's database, one server per database) the only server
// is killed and started again: the restarted one recovers.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestInstanceKilledUnderLoad(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testInstanceKilled(t, true) })
	t.Run("mongodb", func(t *testing.T) {
		if uri := os.Getenv("SCIM_TEST_MONGODB_URI"); uri != "" {
			testInstanceKilled(t, true, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
			return
		}
		uri, err := storetest.URI()
		if err != nil {
			t.Fatalf("test FerretDB: %v", err)
		}
		testInstanceKilled(t, false, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
	})
}

// killRun is the clients' side: what was acknowledged, and what is in
// doubt because the server died before answering.
type killRun struct {
	t       *testing.T
	http    *http.Client
	token   string
	mu      sync.Mutex
	servers []string // base URLs of the servers still up
	group   string
	names   []string // the userNames the Entra clients create, in order

	users    map[string]string // userName → id: acknowledged creates (or found after a lost answer)
	unsure   map[string]bool   // userNames whose create's answer was lost
	members  map[string]bool   // user id → member after the last acknowledged PATCH
	touched  map[string]bool   // user ids a PATCH with a lost answer named
	stats    struct{ creates, conflicts, bulk, patches, lost int }
	failures []string
}

func testInstanceKilled(t *testing.T, shared bool, env ...string) {
	smtp := mailtest.Start(t)
	env = append(env, "SCIM_SMTP_URL=smtp://"+smtp.Addr, "SCIM_LOG_LEVEL=warn")
	a := startServer(t, env...)
	if !shared {
		a.stop() // the only server on FerretDB 1.x: the command refuses to run next to it
	}
	if out, err := a.run("accounts", "set-seats", "default", "100000"); err != nil {
		t.Fatalf("set-seats: %v\n%s", err, out)
	}
	if !shared {
		a.start()
	}
	victim := a
	if shared {
		victim = &server{t: t, dataDir: a.dataDir, token: a.token, env: a.env}
		victim.start()
		t.Cleanup(func() {
			victim.stop()
			if t.Failed() && victim.logs != nil {
				t.Logf("killed server's logs (errors and warnings):\n%s", problems(victim.logs.String()))
			}
		})
	}
	r := &killRun{t: t, http: &http.Client{Timeout: 30 * time.Second}, token: a.token,
		servers: []string{a.Client.Base, victim.Client.Base},
		users:   map[string]string{}, unsure: map[string]bool{}, members: map[string]bool{}, touched: map[string]bool{}}
	if !shared {
		r.servers = r.servers[:1]
	}
	status, out, err := r.send(a.Client.Base, "POST", "/Groups", obj{"schemas": arr{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Everyone"})
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create the group: %d %v %v", status, out, err)
	}
	r.group = out["id"].(string)
	for i := range 5000 {
		r.names = append(r.names, fmt.Sprintf("entra%d@example.com", i))
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for k := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); r.entra(ctx, k) }()
	}
	for k := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); r.patcher(ctx, k) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); r.bulk(ctx) }()

	time.Sleep(4 * time.Second)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	victim.cmd = nil
	killed := time.Now()
	r.mu.Lock()
	r.servers = []string{a.Client.Base}
	if !shared {
		r.servers = nil // nobody answers until the restart
	}
	t.Logf("killed a server after 4s: %d creates acknowledged, %d refused as taken, %d by Bulk, %d PATCHes", r.stats.creates, r.stats.conflicts, r.stats.bulk, r.stats.patches)
	r.mu.Unlock()
	if shared {
		time.Sleep(2 * time.Second) // the survivor carries on
	}
	stop()
	wg.Wait()
	if !shared {
		a.start()
	}
	r.mu.Lock()
	for _, f := range r.failures {
		t.Error(f)
	}
	t.Logf("load over: %d creates acknowledged, %d refused as taken, %d by Bulk, %d PATCHes, %d answers lost to the kill",
		r.stats.creates, r.stats.conflicts, r.stats.bulk, r.stats.patches, r.stats.lost)
	r.mu.Unlock()
	if t.Failed() {
		return
	}

	// The survivor finishes or undoes what the killed server left, by
	// itself: accounts check passes, no operation left in flight (the
	// load is over), within the recovery's bound.
	bound := recoveryBound
	var check string
	for {
		out, err := a.run("accounts", "check", "default")
		if err == nil && strings.Contains(out, "no problems found") && !strings.Contains(out, "in flight") {
			t.Logf("accounts check finds nothing %s after the kill:\n%s", time.Since(killed).Round(time.Second), out)
			break
		}
		check = out
		if time.Since(killed) > bound {
			t.Fatalf("accounts check still finds problems %s after the kill (bound %s):\n%s", time.Since(killed).Round(time.Second), bound, check)
		}
		time.Sleep(time.Second)
	}
	// On FerretDB 1.x each email takes reads of the whole users
	// collection: the emails take longer to come.
	r.verify(a, smtp, map[bool]time.Duration{true: time.Minute, false: 3 * time.Minute}[shared])
}

// send sends a request to one server; an error means the answer was lost.
func (r *killRun) send(base, method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	if resp.StatusCode >= 500 {
		r.fail("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

func (r *killRun) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// server returns the base URL for a client: its own while it is up,
// otherwise any other ("" when none is).
func (r *killRun) server(k int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.servers) == 0 {
		return ""
	}
	return r.servers[k%len(r.servers)]
}

func userBody(name string) obj {
	return obj{"schemas": arr{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name, "active": true,
		"emails": arr{obj{"value": name, "type": "work", "primary": true}}}
}

// entra is one of two identity-provider clients creating the same users,
// each through its own server, as Entra ID does: look the userName up, and
// create the user if nobody has it. When both create the same user at
// once, one is told the name is taken (409) and finds the user.
func (r *killRun) entra(ctx context.Context, k int) {
	for _, name := range r.names {
		if ctx.Err() != nil {
			return
		}
		base := r.server(k)
		if base == "" {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		status, out, err := r.send(base, "GET", "/Users?filter="+url.QueryEscape(fmt.Sprintf("userName eq %q", name)), nil)
		if err != nil {
			continue // the server died: the next name, through the other
		}
		if status != http.StatusOK {
			r.fail("lookup %s: %d %v", name, status, out)
			return
		}
		if n, _ := out["totalResults"].(float64); n > 0 {
			continue
		}
		status, out, err = r.send(base, "POST", "/Users", userBody(name))
		r.mu.Lock()
		switch {
		case err != nil:
			r.unsure[name] = true
			r.stats.lost++
		case status == http.StatusCreated:
			if _, dup := r.users[name]; dup {
				r.failures = append(r.failures, fmt.Sprintf("%s created twice", name))
			}
			r.users[name] = out["id"].(string)
			r.stats.creates++
		case status == http.StatusConflict:
			r.stats.conflicts++
		default:
			r.failures = append(r.failures, fmt.Sprintf("create %s: %d %v", name, status, out))
		}
		r.mu.Unlock()
	}
}

// patcher adds users to the group or takes them out, through either
// server.
func (r *killRun) patcher(ctx context.Context, k int) {
	rng := rand.New(rand.NewPCG(uint64(k), 7))
	for ctx.Err() == nil {
		r.mu.Lock()
		var id string
		if len(r.users) > 0 {
			n := rng.IntN(len(r.users))
			for _, uid := range r.users {
				if n == 0 {
					id = uid
					break
				}
				n--
			}
		}
		in := r.members[id]
		r.mu.Unlock()
		base := r.server(rng.IntN(2))
		if id == "" || base == "" {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		op := obj{"op": "add", "path": "members", "value": arr{obj{"value": id}}}
		if in {
			op = obj{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", id)}
		}
		status, out, err := r.send(base, "PATCH", "/Groups/"+r.group, obj{"schemas": arr{patchOpURN}, "Operations": arr{op}})
		r.mu.Lock()
		switch {
		case err != nil:
			r.touched[id] = true
			r.stats.lost++
		case status == http.StatusNoContent:
			r.members[id] = !in
			r.stats.patches++
		default:
			r.failures = append(r.failures, fmt.Sprintf("PATCH the group (%v): %d %v", op, status, out))
		}
		r.mu.Unlock()
	}
}

// bulk imports users 50 at a time, through either server.
func (r *killRun) bulk(ctx context.Context) {
	for batch := 0; ctx.Err() == nil; batch++ {
		base := r.server(batch)
		if base == "" {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var ops arr
		var names []string
		for i := range 50 {
			name := fmt.Sprintf("bulk%d-%d@example.com", batch, i)
			names = append(names, name)
			ops = append(ops, obj{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": userBody(name)})
		}
		status, out, err := r.send(base, "POST", "/Bulk", obj{"schemas": arr{bulkRequestURN}, "Operations": ops})
		r.mu.Lock()
		switch {
		case err != nil:
			for _, n := range names {
				r.unsure[n] = true
			}
			r.stats.lost++
		case status == http.StatusOK:
			results, _ := out["Operations"].([]any)
			for i, res := range results {
				m, _ := res.(map[string]any)
				if m["status"] != "201" {
					r.failures = append(r.failures, fmt.Sprintf("Bulk create %s: %v", names[i], m))
					continue
				}
				r.users[names[i]] = lastSegment(m["location"])
				r.stats.bulk++
			}
		default:
			r.failures = append(r.failures, fmt.Sprintf("Bulk: %d %v", status, out))
		}
		r.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// verify, through the survivor: every acknowledged user is there, no
// userName twice; the group's members are what the acknowledged PATCHes
// left (a PATCH whose answer was lost may or may not have applied); one
// invitation email per user at most, all of them for acknowledged users
// but those the killed server held.
func (r *killRun) verify(a *server, smtp *mailtest.Server, emailsWithin time.Duration) {
	t := r.t
	base := a.Client.Base
	seen := map[string]string{}
	for start := 1; ; start += 1000 {
		status, out, err := r.send(base, "GET", fmt.Sprintf("/Users?startIndex=%d&count=1000&attributes=userName", start), nil)
		if err != nil || status != http.StatusOK {
			t.Fatalf("list users: %d %v", status, err)
		}
		list, _ := out["Resources"].([]any)
		for _, el := range list {
			u := el.(map[string]any)
			name := strings.ToLower(u["userName"].(string))
			if other, dup := seen[name]; dup {
				t.Errorf("userName %s twice: %s and %s", name, other, u["id"])
			}
			seen[name] = u["id"].(string)
		}
		if len(list) < 1000 {
			break
		}
	}
	for name, id := range r.users {
		if seen[name] != id {
			t.Errorf("acknowledged user %s (%s) is not there (found %q)", name, id, seen[name])
		}
	}
	for name := range seen {
		if _, ok := r.users[name]; !ok && !r.unsure[name] && !strings.HasPrefix(name, "entra") {
			t.Errorf("user %s is there, though its create was never sent", name)
		}
	}

	status, out, err := r.send(base, "GET", "/Groups/"+r.group, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("get the group: %d %v", status, err)
	}
	got := map[string]bool{}
	for _, id := range memberIDs(out["members"]) {
		got[id] = true
	}
	for id, in := range r.members {
		if got[id] != in && !r.touched[id] {
			t.Errorf("user %s: member %v, though the acknowledged PATCHes left it %v", id, got[id], in)
		}
	}
	for id := range got {
		if _, ok := r.members[id]; !ok && !r.touched[id] {
			t.Errorf("user %s is a member, though no PATCH added it", id)
		}
	}

	// Emails: none twice; every user with an acknowledged create gets one,
	// but the one the killed server may have held in its claim (2 minutes).
	deadline := time.Now().Add(emailsWithin)
	for {
		to, ids := map[string]int{}, map[string]int{}
		for _, m := range smtp.Messages() {
			for _, addr := range m.To {
				to[strings.ToLower(addr)]++
			}
			ids[m.Header("Message-Id")]++
		}
		for addr, n := range to {
			if n > 1 {
				t.Fatalf("%s got %d invitation emails", addr, n)
			}
			if _, ok := seen[addr]; !ok {
				t.Fatalf("an invitation email went to %s, who is not a user", addr)
			}
		}
		for id, n := range ids {
			if n > 1 {
				t.Fatalf("the email %s was sent %d times", id, n)
			}
		}
		var missing []string
		for name := range r.users {
			if to[name] == 0 {
				missing = append(missing, name)
			}
		}
		if len(missing) <= 1 {
			t.Logf("%d users (%d acknowledged, %d in doubt), %d group members, %d invitation emails, one per user at most (%d without one yet)",
				len(seen), len(r.users), len(r.unsure), len(got), len(smtp.Messages()), len(missing))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged users got no invitation email after %s: %v", len(missing), emailsWithin, missing[:min(10, len(missing))])
		}
		time.Sleep(500 * time.Millisecond)
	}
}
