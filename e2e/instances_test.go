package e2e

// Several server instances on one database: two serve processes, and
// clients that send each request to either, at once — creates (single and
// Bulk), the same userName to both at the same moment, concurrent member
// PATCHes of one group, invitations through a real SMTP server. Nothing
// is lost or duplicated, no email goes out twice, and the seat counter
// equals a recount (accounts check finds nothing).
//
// On MongoDB (SCIM_TEST_MONGODB_URI; FerretDB refuses a second server,
// see lease_test.go) and on the embedded database, whose SQLite file
// several processes on one machine may share.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestTwoInstances(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testTwoInstances(t) })
	t.Run("mongodb", func(t *testing.T) {
		uri := os.Getenv("SCIM_TEST_MONGODB_URI")
		if uri == "" {
			t.Skip("SCIM_TEST_MONGODB_URI is not set (FerretDB takes one server per database: TestSecondServerOnFerretDBRefused)")
		}
		testTwoInstances(t, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
	})
}

// instancesSeats are the account's seats: enough for every user the run
// creates, so that each create is expected to succeed (each still goes
// through the seat reservation both servers make on one counter).
const instancesSeats = 100000

func testTwoInstances(t *testing.T, env ...string) {
	smtp := mailtest.Start(t)
	env = append(env, "SCIM_SMTP_URL=smtp://"+smtp.Addr, "SCIM_LOG_LEVEL=warn")
	a := startServer(t, env...)
	if out, err := a.run("accounts", "set-seats", "default", fmt.Sprint(instancesSeats)); err != nil {
		t.Fatalf("set-seats: %v\n%s", err, out)
	}
	b := &server{t: t, dataDir: a.dataDir, token: a.token, env: a.env}
	b.start()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("second server's logs (errors and warnings):\n%s", problems(b.logs.String()))
		}
	})
	servers := []*scimtest.Client{a.Client, b.Client}

	run := &instancesRun{t: t, servers: servers, users: map[string]string{}, members: map[string]bool{}}
	run.group = a.Client.Post(t, "/Groups", scimtest.GroupBody("Everyone")).Expect(t, http.StatusCreated).Str("id")
	b.Client.Get(t, "/Groups/"+run.group).Expect(t, http.StatusOK) // one database

	start := time.Now()
	ctx, stop := context.WithTimeout(context.Background(), 12*time.Second)
	defer stop()
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); run.client(ctx, k) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); run.bulks(ctx) }()
	go func() { defer wg.Done(); run.races(ctx) }()
	wg.Wait()
	run.mu.Lock()
	t.Logf("%s of load through two servers: %d users (%d by Bulk), %d member PATCHes, %d same-name races (each one 201 and one 409)",
		time.Since(start).Round(time.Millisecond), len(run.users), run.bulkUsers, run.patches, run.raced)
	run.mu.Unlock()
	if t.Failed() {
		return
	}

	run.verify(smtp)
	for _, s := range []*server{a, b} {
		out, err := s.run("accounts", "check", "default")
		if err != nil || !strings.Contains(out, "no problems found") {
			t.Errorf("accounts check: %v\n%s", err, out)
		}
	}
}

type instancesRun struct {
	t       *testing.T
	servers []*scimtest.Client
	group   string

	mu        sync.Mutex
	users     map[string]string // userName → id, every acknowledged create
	members   map[string]bool   // user id → member of the group after its last acknowledged PATCH
	bulkUsers int
	patches   int
	raced     int
}

// pick returns one of the servers at random.
func (r *instancesRun) pick(rng *rand.Rand) *scimtest.Client {
	return r.servers[rng.IntN(len(r.servers))]
}

func (r *instancesRun) created(name, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.users[name]; dup {
		r.t.Errorf("%s created twice", name)
	}
	r.users[name] = id
}

// client creates users (each invited) and adds them to the shared group
// or takes them out, each request through either server.
func (r *instancesRun) client(ctx context.Context, k int) {
	rng := rand.New(rand.NewPCG(uint64(k), 42))
	var mine []string
	for i := 0; ctx.Err() == nil; i++ {
		if len(mine) == 0 || rng.IntN(3) > 0 {
			name := fmt.Sprintf("c%d-%d@example.com", k, i)
			resp := r.pick(rng).Post(r.t, "/Users", scimtest.UserBody(name, map[string]any{
				"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}}))
			if resp.Status != http.StatusCreated {
				r.t.Errorf("create %s: %d %s", name, resp.Status, resp.Raw)
				return
			}
			r.created(name, resp.Str("id"))
			mine = append(mine, resp.Str("id"))
			continue
		}
		id := mine[rng.IntN(len(mine))]
		r.mu.Lock()
		in := r.members[id]
		r.mu.Unlock()
		op := scimtest.Op("add", "members", []any{map[string]any{"value": id}})
		if in {
			op = scimtest.Op("remove", fmt.Sprintf("members[value eq %q]", id), nil)
		}
		resp := r.pick(rng).Patch(r.t, "/Groups/"+r.group, op)
		if resp.Status != http.StatusNoContent {
			r.t.Errorf("PATCH the group (%v): %d %s", op, resp.Status, resp.Raw)
			return
		}
		r.mu.Lock()
		r.members[id] = !in
		r.patches++
		r.mu.Unlock()
	}
}

// bulks creates users 50 at a time through either server. They have no
// email address (their invitations are undeliverable: no email).
func (r *instancesRun) bulks(ctx context.Context) {
	rng := rand.New(rand.NewPCG(7, 42))
	for batch := 0; ctx.Err() == nil; batch++ {
		if batch > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		var ops []any
		for i := range 50 {
			ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i),
				"data": scimtest.UserBody(fmt.Sprintf("bulk%d-%d", batch, i))})
		}
		resp := r.pick(rng).Post(r.t, "/Bulk", map[string]any{"schemas": []string{bulkRequestURN}, "Operations": ops})
		if resp.Status != http.StatusOK {
			r.t.Errorf("Bulk: %d %s", resp.Status, resp.Raw)
			return
		}
		results, _ := resp.At("Operations").([]any)
		for i, res := range results {
			m, _ := res.(map[string]any)
			if m["status"] != "201" {
				r.t.Errorf("Bulk create: %v", m)
				return
			}
			loc, _ := m["location"].(string)
			r.created(fmt.Sprintf("bulk%d-%d", batch, i), lastSegment(loc))
		}
		r.mu.Lock()
		r.bulkUsers += len(results)
		r.mu.Unlock()
	}
}

// races sends the same new userName to both servers at the same moment:
// one create wins, the other is told the name is taken.
func (r *instancesRun) races(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("race-%d@example.com", i)
		statuses := make([]*scimtest.Response, 2)
		var wg sync.WaitGroup
		for j, c := range r.servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[j] = c.Post(r.t, "/Users", scimtest.UserBody(name, map[string]any{
					"emails": []any{map[string]any{"value": name, "primary": true}}}))
			}()
		}
		wg.Wait()
		codes := []int{statuses[0].Status, statuses[1].Status}
		sort.Ints(codes)
		if codes[0] != http.StatusCreated || codes[1] != http.StatusConflict {
			r.t.Errorf("%s sent to both servers at once: %v, want one 201 and one 409", name, codes)
			return
		}
		for _, s := range statuses {
			if s.Status == http.StatusCreated {
				r.created(name, s.Str("id"))
			}
		}
		r.mu.Lock()
		r.raced++
		r.mu.Unlock()
	}
}

// verify: every user is there once, through either server; the group holds
// exactly the members the acknowledged PATCHes left; every user with an
// address got one invitation email.
func (r *instancesRun) verify(smtp *mailtest.Server) {
	t := r.t
	for i, c := range r.servers {
		total := num(c.Get(t, "/Users?count=0").Expect(t, http.StatusOK), "totalResults")
		if total != len(r.users) {
			t.Errorf("server %d lists %d users, want %d", i+1, total, len(r.users))
		}
		g := c.Get(t, "/Groups/"+r.group).Expect(t, http.StatusOK)
		got := map[string]bool{}
		for _, m := range resourcesAt(g, "members") {
			got[m["value"].(string)] = true
		}
		want := map[string]bool{}
		for id, in := range r.members {
			if in {
				want[id] = true
			}
		}
		if !sameSet(got, want) {
			t.Errorf("server %d: the group has %d members, want %d (lost or extra updates)", i+1, len(got), len(want))
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		to := map[string]int{}
		ids := map[string]int{}
		for _, m := range smtp.Messages() {
			for _, addr := range m.To {
				to[strings.ToLower(addr)]++
			}
			ids[m.Header("Message-Id")]++
		}
		var missing []string
		for name := range r.users {
			if !strings.Contains(name, "@") {
				if to[name] > 0 {
					t.Fatalf("%s has no address, yet got an email", name)
				}
				continue
			}
			switch to[name] {
			case 0:
				missing = append(missing, name)
			case 1:
			default:
				t.Fatalf("%s got %d invitation emails", name, to[name])
			}
		}
		for id, n := range ids {
			if n > 1 {
				t.Fatalf("the email %s was sent %d times", id, n)
			}
		}
		if len(missing) == 0 {
			t.Logf("%d invitation emails, one per user", len(smtp.Messages()))
			return
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			t.Fatalf("%d users got no invitation email after 90s: %v", len(missing), missing[:min(len(missing), 10)])
		}
		time.Sleep(200 * time.Millisecond)
	}
}
