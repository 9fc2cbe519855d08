package e2e

// The database goes away under a provisioning run: FerretDB, the MongoDB
// store's test database, is killed with SIGKILL while clients create
// users and add them to a group, and brought back on the same data a few
// seconds later. While it is away every request is answered 503 with
// Retry-After within about the server selection timeout (never a 500,
// never a hang), /readyz says 503, and the invitation page says so too;
// once it is back the same server process serves again, and every write
// the clients saw acknowledged is there, with its invitation email sent
// once.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestDatabaseOutage(t *testing.T) {
	f := storetest.StartFerretDB(t)
	smtp := mailtest.Start(t)
	s := startServer(t, "SCIM_MONGODB_URI="+f.URI(), "SCIM_MONGODB_DATABASE="+storetest.DatabaseName(),
		"SCIM_SMTP_URL=smtp://"+smtp.Addr)
	pid := s.cmd.Process.Pid
	o := &outage{t: t, s: s, http: &http.Client{Timeout: 30 * time.Second}, acked: map[string]string{}, doubt: map[string]bool{}, members: map[string]bool{}}
	o.group = o.mustCreate("/Groups", obj{"schemas": arr{groupURN}, "displayName": "Outage"})

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for k := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); o.provision(ctx, k) }()
	}

	time.Sleep(2 * time.Second)
	killed := time.Now()
	f.Kill()
	readyDown := o.waitReady(http.StatusServiceUnavailable, killed)
	page := o.invitationPage()
	time.Sleep(6 * time.Second)

	restarted := time.Now()
	if err := f.Restart(); err != nil {
		t.Fatal(err)
	}
	readyUp := o.waitReady(http.StatusOK, restarted)
	recovered := o.firstSuccessAfter(restarted, 30*time.Second)
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()

	if s.cmd.Process.Pid != pid {
		t.Fatal("the server was restarted")
	}
	if page.status != http.StatusServiceUnavailable || page.retryAfter == "" || !strings.Contains(page.body, "cannot reach its database") {
		t.Errorf("invitation page while the database is away: %d, Retry-After %q\n%s", page.status, page.retryAfter, page.body)
	}
	o.checkAnswers(killed, restarted)
	t.Logf("killed: /readyz 503 after %s; restarted: /readyz 200 after %s, first acknowledged write after %s",
		readyDown.Round(time.Millisecond), readyUp.Round(time.Millisecond), recovered.Round(time.Millisecond))
	if readyDown > 3*time.Second {
		t.Errorf("/readyz answered 503 only %s after the kill, want within about 2s", readyDown)
	}

	o.checkStored()
	o.checkEmails(smtp)
	// Nothing half-written: the account check finds at most seats still
	// reserved by creates whose answer was lost, and the operations they
	// belong to, in flight until a server settles them (their outcome was
	// unknown: the database was away).
	out, err := s.run("accounts", "check", "default")
	t.Logf("accounts check next to the running server: %v\n%s", err, out)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if !strings.HasPrefix(line, "seats:") && !strings.Contains(line, "problem") && !strings.Contains(line, "in flight") {
			t.Errorf("accounts check found more than a seat counter: %s", line)
		}
	}
	s.restart()
	if out, err := s.run("accounts", "check", "default"); err != nil || !strings.Contains(out, "no problems found") {
		t.Errorf("accounts check after a restart: %v\n%s", err, out)
	}
}

// outage is the client side: what was acknowledged, what is in doubt
// (a write answered 503 may or may not have been stored), and every
// answer with its timing.
type outage struct {
	t     *testing.T
	s     *server
	http  *http.Client
	group string

	mu      sync.Mutex
	acked   map[string]string // userName → id of users whose create was answered 201
	doubt   map[string]bool   // userNames whose create was answered 503 or not at all
	members map[string]bool   // user ids whose addition to the group was answered 204
	answers []answer
}

type answer struct {
	method, path string
	sent, done   time.Time
	status       int
	retryAfter   string
	body         map[string]any
	err          error
}

func (o *outage) do(method, path string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, o.s.Client.Base+path, rd)
	req.Header.Set("Authorization", "Bearer "+o.s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	a := answer{method: method, path: path, sent: time.Now()}
	resp, err := o.http.Do(req)
	if err != nil {
		a.err, a.done = err, time.Now()
	} else {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.done, a.status, a.retryAfter = time.Now(), resp.StatusCode, resp.Header.Get("Retry-After")
		_ = json.Unmarshal(raw, &a.body)
	}
	o.mu.Lock()
	o.answers = append(o.answers, a)
	o.mu.Unlock()
	return a
}

func (o *outage) mustCreate(path string, body any) string {
	a := o.do(http.MethodPost, path, body)
	if a.status != http.StatusCreated {
		o.t.Fatalf("POST %s: %d %v %v", path, a.status, a.body, a.err)
	}
	return a.body["id"].(string)
}

// provision creates users (each with an email, so an invitation) and adds
// each created one to the group, until ctx ends.
func (o *outage) provision(ctx context.Context, k int) {
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("outage-%d-%d@example.com", k, i)
		a := o.do(http.MethodPost, "/Users", obj{"schemas": arr{userURN}, "userName": name,
			"emails": arr{obj{"value": name, "type": "work", "primary": true}}})
		o.mu.Lock()
		switch a.status {
		case http.StatusCreated:
			o.acked[name] = a.body["id"].(string)
		default:
			o.doubt[name] = true
		}
		o.mu.Unlock()
		if a.status != http.StatusCreated {
			continue
		}
		id := a.body["id"].(string)
		p := o.do(http.MethodPatch, "/Groups/"+o.group, obj{"schemas": arr{patchOpURN},
			"Operations": arr{obj{"op": "add", "path": "members", "value": arr{obj{"value": id}}}}})
		if p.status == http.StatusNoContent {
			o.mu.Lock()
			o.members[id] = true
			o.mu.Unlock()
		}
	}
}

// waitReady polls /readyz until it answers want and returns how long
// after since that was.
func (o *outage) waitReady(want int, since time.Time) time.Duration {
	o.t.Helper()
	for {
		resp, err := o.http.Get("http://" + o.s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return time.Since(since)
			}
		}
		if time.Since(since) > 60*time.Second {
			o.t.Fatalf("/readyz did not answer %d within 60s", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type pageAnswer struct {
	status     int
	retryAfter string
	body       string
}

// invitationPage opens an invitation link (a well-formed token, which the
// page must look up in the database).
func (o *outage) invitationPage() pageAnswer {
	o.t.Helper()
	resp, err := o.http.Get("http://" + o.s.addr + "/invitations/" + strings.Repeat("x", 43))
	if err != nil {
		o.t.Fatalf("invitation page: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return pageAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), string(raw)}
}

// firstSuccessAfter waits for the first 2xx to a request sent after t.
func (o *outage) firstSuccessAfter(t time.Time, within time.Duration) time.Duration {
	o.t.Helper()
	for {
		o.mu.Lock()
		for _, a := range o.answers {
			if a.sent.After(t) && a.status >= 200 && a.status < 300 {
				o.mu.Unlock()
				return a.done.Sub(t)
			}
		}
		o.mu.Unlock()
		if time.Since(t) > within {
			o.t.Fatalf("no request succeeded within %s of the database's restart", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkAnswers: only 2xx and 503 (with Retry-After and a detail that says
// the database is unreachable) at any time; every request sent while the
// database was away answered 503 within about the server selection
// timeout.
func (o *outage) checkAnswers(killed, restarted time.Time) {
	o.t.Helper()
	var during, unavailable int
	var slowest time.Duration
	first := time.Duration(-1)
	for _, a := range o.answers {
		if a.err != nil {
			o.t.Errorf("%s %s: no answer: %v", a.method, a.path, a.err)
			continue
		}
		took := a.done.Sub(a.sent)
		if a.status == http.StatusServiceUnavailable {
			unavailable++
			detail, _ := a.body["detail"].(string)
			if n, err := strconv.Atoi(a.retryAfter); err != nil || n < 1 || !strings.Contains(detail, "database is unreachable") || a.body["status"] != "503" {
				o.t.Errorf("%s %s: 503 with Retry-After %q and body %v", a.method, a.path, a.retryAfter, a.body)
			}
			if first < 0 && a.done.After(killed) {
				first = a.done.Sub(killed)
			}
		} else if a.status/100 != 2 {
			o.t.Errorf("%s %s: %d %v", a.method, a.path, a.status, a.body)
		}
		if a.sent.After(killed) && a.done.Before(restarted) {
			during++
			slowest = max(slowest, took)
			if a.status != http.StatusServiceUnavailable {
				o.t.Errorf("%s %s sent while the database was away: %d, want 503", a.method, a.path, a.status)
			}
		}
	}
	o.t.Logf("%d answers, %d of them 503; while the database was away: %d requests, the slowest answered in %s; first 503 %s after the kill",
		len(o.answers), unavailable, during, slowest.Round(time.Millisecond), first.Round(time.Millisecond))
	if during == 0 {
		o.t.Error("no request was sent while the database was away")
	}
	if slowest > 3500*time.Millisecond {
		o.t.Errorf("a request sent while the database was away took %s, want about 2s", slowest)
	}
	if first < 0 || first > 3500*time.Millisecond {
		o.t.Errorf("the first 503 came %s after the kill, want within about 2s", first)
	}
}

// checkStored: every acknowledged create and member addition is there; a
// create in doubt, sent again, is created or found taken (409), never half.
func (o *outage) checkStored() {
	o.t.Helper()
	c := o.s.Client
	for name, id := range o.acked {
		r := c.Get(o.t, "/Users/"+id)
		if r.Status != http.StatusOK || r.Str("userName") != name {
			o.t.Errorf("acknowledged user %s (%s): %d %s", name, id, r.Status, r.Raw)
		}
	}
	g := c.Get(o.t, "/Groups/"+o.group).Expect(o.t, http.StatusOK)
	in := map[string]bool{}
	for _, m := range resourcesAt(g, "members") {
		in[m["value"].(string)] = true
	}
	for id := range o.members {
		if !in[id] {
			o.t.Errorf("user %s: its addition to the group was acknowledged, but it is not a member", id)
		}
	}
	found := 0
	for name := range o.doubt {
		r := c.Post(o.t, "/Users", obj{"schemas": arr{userURN}, "userName": name,
			"emails": arr{obj{"value": name, "type": "work", "primary": true}}})
		switch r.Status {
		case http.StatusCreated:
			o.acked[name] = r.Str("id")
		case http.StatusConflict:
			found++
			l := c.Get(o.t, "/Users?filter="+url.QueryEscape(fmt.Sprintf("userName eq %q", name))).Expect(o.t, http.StatusOK)
			o.acked[name] = resources(o.t, l)[0]["id"].(string)
		default:
			o.t.Errorf("create of %s sent again: %d %s", name, r.Status, r.Raw)
		}
	}
	o.t.Logf("%d users acknowledged, %d in the group; %d creates in doubt, of which %d had been stored", len(o.acked)-len(o.doubt)+found, len(o.members), len(o.doubt), found)
}

// checkEmails: every user (acknowledged, or stored though its answer was
// lost) gets one invitation email, and no one two.
func (o *outage) checkEmails(smtp *mailtest.Server) {
	o.t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // an entry claimed as the database died waits for its lease
	for {
		got := map[string]int{}
		for _, m := range smtp.Messages() {
			for _, to := range m.To {
				got[to]++
			}
		}
		var missing, twice []string
		for name := range o.acked {
			switch got[name] {
			case 0:
				missing = append(missing, name)
			case 1:
			default:
				twice = append(twice, name)
			}
		}
		sort.Strings(twice)
		if len(twice) > 0 {
			o.t.Fatalf("emailed more than once: %v", twice)
		}
		if len(missing) == 0 {
			o.t.Logf("%d invitation emails, one per user", len(smtp.Messages()))
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			o.t.Fatalf("%d users got no invitation email: %v", len(missing), missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// resourcesAt returns the objects of an array attribute of a response.
func resourcesAt(r interface{ At(string) any }, path string) []map[string]any {
	list, _ := r.At(path).([]any)
	out := make([]map[string]any, 0, len(list))
	for _, el := range list {
		if m, ok := el.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
