package e2e

// Crash mid-work: the server is killed with SIGKILL at random points of
// a provisioning run — Bulk imports (users, and groups granting a role to
// them), group PATCHes and invitation sends through a real SMTP server —
// and restarted on the same data, several times. After every kill the
// account check runs on the data as the crash left it (before the
// restart's seat recount could hide a counter gone wrong); after every
// restart the operations whose answer was lost are looked up (each must
// be either done or not done, never half); at the end everything the
// client saw acknowledged must be there and consistent.
//
// The schedule (what each client does, when the server is killed) comes
// from a seed, logged, and taken from SCIM_CRASH_SEED when set; the
// interleaving of requests is the machine's. SCIM_CRASH_ROUNDS sets the
// number of kills. With SCIM_TEST_STORE=mongodb the server runs on
// MongoDB (SCIM_TEST_MONGODB_URI, or the tests' FerretDB): there a crash
// can leave what the compensation did not finish, which the check must
// find and --repair must fix.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

const (
	bulkRequestURN = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	patchOpURN     = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

func TestCrashMidWork(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("SCIM_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SCIM_CRASH_SEED: %v", err)
		}
		seed = n
	}
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	if v := os.Getenv("SCIM_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SCIM_CRASH_ROUNDS: %q", v)
		}
		rounds = n
	}
	t.Logf("seed %d, %d rounds (SCIM_CRASH_SEED=%d reproduces the schedule)", seed, rounds, seed)

	start := time.Now()
	smtp := mailtest.Start(t)
	env := []string{"SCIM_SMTP_URL=smtp://" + smtp.Addr, "SCIM_LOG_LEVEL=warn"}
	mongo := storetest.Kind() == "mongodb"
	if mongo {
		uri, err := storetest.URI()
		if err != nil {
			t.Fatalf("test MongoDB: %v", err)
		}
		env = append(env, "SCIM_MONGODB_URI="+uri, "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
	}
	c := newCrashRun(t, startServer(t, env...), smtp, seed, mongo)
	c.setUp()
	for round := 1; round <= rounds; round++ {
		c.round(round)
	}
	c.verifyEnd()
	t.Logf("%d rounds in %s: %d Bulk requests (%d users acknowledged, %d refused), %d group PATCHes, %d user changes and creates, %d emails; %d operations lost to a kill, resolved after restart",
		rounds, time.Since(start).Round(time.Millisecond), c.stats.bulks, c.stats.ackedUsers, c.stats.refusedUsers, c.stats.patches, c.stats.mutations, len(smtp.Messages()), c.stats.lost)
}

// crashRun is the client side of the run: what it was told, and what is
// in doubt because the server died before answering.
type crashRun struct {
	t     *testing.T
	s     *server
	smtp  *mailtest.Server
	rng   *rand.Rand
	seed  uint64
	mongo bool
	http  *http.Client

	leads, team, designers string // groups: Leads grants supervisor; Team is under it

	mu sync.Mutex
	// users are the users whose create was acknowledged (or found after a
	// lost answer), by id.
	users map[string]*crashUser
	// refused are userNames whose create was refused: they must not exist.
	refused map[string]bool
	// lostNames are userNames whose create's answer was lost.
	lostNames map[string]bool
	// pool are users of Bulk imports, for the group PATCHes (never deleted).
	pool []string
	// bulkGroups are the groups Bulk requests created: id → members.
	bulkGroups map[string][]string
	// patched are the groups the PATCH client changes: members after the
	// last acknowledged PATCH, and after a PATCH whose answer was lost.
	patched map[string]*patchedGroup
	kills   int
	errs    []string // answers that are bugs whatever happened (5xx)
	stats   struct{ bulks, ackedUsers, refusedUsers, patches, mutations, lost int }
}

type crashUser struct {
	name string
	// own: created by the invitation client, which changes it; active and
	// deleted are its state after the last acknowledged change, lost the
	// change whose answer was lost.
	own             bool
	active, deleted bool
	lost            string
}

type patchedGroup struct {
	members map[string]bool
	lost    map[string]bool // nil: no PATCH in doubt
}

func newCrashRun(t *testing.T, s *server, smtp *mailtest.Server, seed uint64, mongo bool) *crashRun {
	return &crashRun{
		t: t, s: s, smtp: smtp, seed: seed, mongo: mongo,
		rng:   rand.New(rand.NewPCG(seed, 0)),
		http:  &http.Client{Timeout: time.Minute},
		users: map[string]*crashUser{}, refused: map[string]bool{}, lostNames: map[string]bool{},
		bulkGroups: map[string][]string{}, patched: map[string]*patchedGroup{},
	}
}

// errLost: the server did not answer (it was killed).
var errLost = errors.New("no answer")

// do sends a request to the running server and decodes a JSON answer;
// errLost when no answer came.
func (c *crashRun) do(method, path string, body any) (int, map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.s.Client.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errLost, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", errLost, err)
	}
	var out map[string]any
	if len(raw) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		_ = d.Decode(&out)
	}
	if resp.StatusCode >= 500 {
		c.fail("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// must sends a request outside the killing (set-up, verification).
func (c *crashRun) must(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	status, out, err := c.do(method, path, body)
	if err != nil || status != want {
		c.t.Fatalf("%s %s: %d %v, want %d: %v", method, path, status, err, want, out)
	}
	return out
}

func (c *crashRun) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// crashSeats are the account's seats.
const crashSeats = 4000

// setUp makes the projects and groups the clients use: Leads grants the
// supervisor role (a guest who joins takes a seat) and a project, Team
// hangs under it, Designers grants another project.
func (c *crashRun) setUp() {
	// Seats run out during the run: from then on imports create only
	// guests, and a PATCH that would make a guest a supervisor is refused.
	// (With the server stopped: on FerretDB set-seats is refused next to
	// a running server.)
	c.s.stop()
	if out, code := c.runCode("accounts", "set-seats", "default", strconv.Itoa(crashSeats)); code != 0 {
		c.t.Fatalf("set-seats: %s", out)
	}
	c.s.start()
	p1 := c.must("POST", "/Projects", obj{"schemas": arr{"urn:timecamp:params:scim:schemas:core:2.0:Project"}, "displayName": "Apollo"}, 201)["id"].(string)
	p2 := c.must("POST", "/Projects", obj{"schemas": arr{"urn:timecamp:params:scim:schemas:core:2.0:Project"}, "displayName": "Gemini"}, 201)["id"].(string)
	group := func(name string, tc obj) string {
		return c.must("POST", "/Groups", obj{"schemas": arr{groupURN}, "displayName": name, timecampGroupURN: tc}, 201)["id"].(string)
	}
	c.leads = group("Leads", obj{"grantsRole": "supervisor", "projects": arr{obj{"value": p1}}})
	c.team = group("Team", obj{"parent": c.leads})
	c.designers = group("Designers", obj{"projects": arr{obj{"value": p2, "role": "manager"}}})
	for _, g := range []string{c.team, c.designers} {
		c.patched[g] = &patchedGroup{members: map[string]bool{}}
	}
}

// round runs the clients, kills the server at a random point, checks the
// data as the crash left it, restarts the server and resolves what is in
// doubt.
func (c *crashRun) round(n int) {
	t := c.t
	killAfter := time.Duration(300+c.rng.IntN(2200)) * time.Millisecond
	seeds := [4]uint64{c.rng.Uint64(), c.rng.Uint64(), c.rng.Uint64(), c.rng.Uint64()}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, client := range []func(context.Context, *rand.Rand, int){c.importer, c.importer, c.patcher, c.inviter} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client(ctx, rand.New(rand.NewPCG(seeds[i], uint64(n))), n*10+i)
		}()
	}
	time.Sleep(killAfter)
	c.kill()
	stop()
	wg.Wait()
	c.mu.Lock()
	t.Logf("round %d: killed after %s; so far %d Bulk requests, %d users acknowledged, %d group PATCHes, %d user changes, %d emails",
		n, killAfter, c.stats.bulks, c.stats.ackedUsers, c.stats.patches, c.stats.mutations, len(c.smtp.Messages()))
	c.mu.Unlock()

	began := time.Now()
	c.checkAccount("after the kill, before the restart")
	checked := time.Now()
	c.s.start()
	restarted := time.Now()
	c.resolve()
	c.reportErrors()
	t.Logf("round %d: check %s, restart %s, lost answers resolved in %s", n, checked.Sub(began).Round(time.Millisecond),
		restarted.Sub(checked).Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
}

// kill ends the server with SIGKILL: no shutdown, no flush.
func (c *crashRun) kill() {
	if err := c.s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill: %v", err)
	}
	_ = c.s.cmd.Wait()
	c.s.cmd = nil
	c.kills++
}

// checkAccount runs "accounts check" on the account. The embedded
// database must be consistent as it is; on MongoDB what the check finds
// must be repaired by --repair.
func (c *crashRun) checkAccount(when string) {
	c.t.Helper()
	out, code := c.runCode("accounts", "check", "default")
	if code == 0 && strings.Contains(out, "no problems found") {
		return
	}
	if !c.mongo || code != 1 {
		c.t.Fatalf("accounts check %s: exit %d\n%s", when, code, out)
	}
	c.t.Logf("accounts check %s found what the compensation left:\n%s", when, out)
	if out, code = c.runCode("accounts", "check", "default", "--repair"); code != 3 {
		c.t.Fatalf("accounts check --repair %s: exit %d, want 3 (repaired)\n%s", when, code, out)
	}
	if out, code = c.runCode("accounts", "check", "default"); code != 0 {
		c.t.Fatalf("accounts check after --repair %s: exit %d\n%s", when, code, out)
	}
}

// runCode runs a command of the binary on the run's data and returns its
// output and exit status.
func (c *crashRun) runCode(args ...string) (string, int) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SCIM_DATA_DIR="+c.s.dataDir)
	cmd.Env = append(cmd.Env, c.s.env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		c.t.Fatalf("%v: %v", args, err)
	}
	return string(out), 0
}

func (c *crashRun) reportErrors() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.errs {
		c.t.Error(e)
	}
	if len(c.errs) > 0 {
		c.t.FailNow()
	}
}

// ---- the clients ----

// importer sends Bulk requests of new users (guests, administrators,
// deactivated users, some with an email address and so an invitation
// email), half of them with a group under Leads holding some of them.
func (c *crashRun) importer(ctx context.Context, rng *rand.Rand, id int) {
	for batch := 0; ctx.Err() == nil; batch++ {
		n := 50 + rng.IntN(100)
		var ops []any
		names := map[string]string{} // bulkId → userName
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("c%d-b%d-u%d", id, batch, i)
			user := obj{"schemas": arr{userURN}, "userName": name}
			invite := rng.IntN(100) < 5
			if invite {
				name += "@crash.test"
				user["userName"] = name
				user["emails"] = arr{obj{"value": name, "primary": true}}
			}
			role := "user"
			switch r := rng.IntN(100); {
			case r < 25:
				role = "guest"
			case r < 28:
				role = "administrator"
			case r < 35:
				role = "supervisor"
			}
			// Without an address there is no one to invite.
			user[timecampUserURN] = obj{"role": role, "sendInvitation": invite}
			if rng.IntN(100) < 8 {
				user["active"] = false
			}
			bulkID := "u" + strconv.Itoa(i)
			names[bulkID] = name
			ops = append(ops, obj{"method": "POST", "path": "/Users", "bulkId": bulkID, "data": user})
		}
		var groupMembers []string
		if rng.IntN(2) == 0 {
			var members []any
			for i := 0; i < n; i += 1 + rng.IntN(8) {
				members = append(members, obj{"value": "bulkId:u" + strconv.Itoa(i)})
				groupMembers = append(groupMembers, "u"+strconv.Itoa(i))
			}
			ops = append(ops, obj{"method": "POST", "path": "/Groups", "bulkId": "g", "data": obj{
				"schemas": arr{groupURN}, "displayName": fmt.Sprintf("c%d-b%d", id, batch), "members": members,
				timecampGroupURN: obj{"parent": c.leads},
			}})
		}
		status, out, err := c.do("POST", "/Bulk", obj{"schemas": arr{bulkRequestURN}, "Operations": ops})
		c.mu.Lock()
		c.stats.bulks++
		if err != nil {
			for _, name := range names {
				c.lostNames[name] = true
			}
			c.stats.lost++
			c.mu.Unlock()
			return
		}
		if status != http.StatusOK {
			c.mu.Unlock()
			c.fail("Bulk: %d %v", status, out)
			return
		}
		ids := map[string]string{} // bulkId → id
		results, _ := out["Operations"].([]any)
		for _, r := range results {
			res, _ := r.(map[string]any)
			bulkID, _ := res["bulkId"].(string)
			code, _ := strconv.Atoi(fmt.Sprint(res["status"]))
			switch {
			case code == http.StatusCreated && bulkID == "g":
				gid := lastSegment(res["location"])
				for _, m := range groupMembers {
					c.bulkGroups[gid] = append(c.bulkGroups[gid], ids[m])
				}
			case code == http.StatusCreated:
				uid := lastSegment(res["location"])
				ids[bulkID] = uid
				c.users[uid] = &crashUser{name: names[bulkID], active: true}
				c.pool = append(c.pool, uid)
				c.stats.ackedUsers++
			case bulkID != "g":
				c.refused[names[bulkID]] = true
				c.stats.refusedUsers++
			}
		}
		c.mu.Unlock()
	}
}

func lastSegment(v any) string {
	s, _ := v.(string)
	return s[strings.LastIndex(s, "/")+1:]
}

// patcher changes the members of Team and Designers: adds, removes,
// replaces. Team is under Leads, so its members become supervisors
// (guests among them take a seat).
func (c *crashRun) patcher(ctx context.Context, rng *rand.Rand, _ int) {
	groups := []string{c.team, c.designers}
	for ctx.Err() == nil {
		g := groups[rng.IntN(len(groups))]
		c.mu.Lock()
		pg := c.patched[g]
		current := sortedSet(pg.members)
		pool := append([]string(nil), c.pool...)
		c.mu.Unlock()
		if len(pool) == 0 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		next := map[string]bool{}
		for _, id := range current {
			next[id] = true
		}
		var op obj
		switch r := rng.IntN(10); {
		case r < 6 || len(current) == 0: // add
			var add []any
			for k := 1 + rng.IntN(10); k > 0; k-- {
				id := pool[rng.IntN(len(pool))]
				add, next[id] = append(add, obj{"value": id}), true
			}
			op = obj{"op": "add", "path": "members", "value": add}
		case r < 9: // remove
			var remove []any
			for k := 1 + rng.IntN(5); k > 0; k-- {
				id := current[rng.IntN(len(current))]
				remove = append(remove, obj{"value": id})
				delete(next, id)
			}
			op = obj{"op": "remove", "path": "members", "value": remove}
		default: // replace
			next = map[string]bool{}
			var all []any
			for k := rng.IntN(15); k > 0; k-- {
				id := pool[rng.IntN(len(pool))]
				all, next[id] = append(all, obj{"value": id}), true
			}
			op = obj{"op": "replace", "path": "members", "value": all}
		}
		status, _, err := c.do("PATCH", "/Groups/"+g, obj{"schemas": arr{patchOpURN}, "Operations": arr{op}})
		c.mu.Lock()
		c.stats.patches++
		switch {
		case err != nil:
			pg.lost = next
			c.stats.lost++
			c.mu.Unlock()
			return
		case status == http.StatusNoContent || status == http.StatusOK:
			pg.members = next
		}
		c.mu.Unlock()
	}
}

// inviter creates users with an email address one by one (each is sent an
// invitation), and resends, deactivates (revoking), reactivates
// (inviting again) and deletes them.
func (c *crashRun) inviter(ctx context.Context, rng *rand.Rand, id int) {
	var own []string
	for k := 0; ctx.Err() == nil; k++ {
		if len(own) == 0 || rng.IntN(10) < 4 {
			name := fmt.Sprintf("c%d-i%d@crash.test", id, k)
			status, out, err := c.do("POST", "/Users", obj{"schemas": arr{userURN}, "userName": name, "emails": arr{obj{"value": name, "primary": true}}})
			c.mu.Lock()
			c.stats.mutations++
			switch {
			case err != nil:
				c.lostNames[name] = true
				c.stats.lost++
				c.mu.Unlock()
				return
			case status == http.StatusCreated:
				uid := out["id"].(string)
				c.users[uid] = &crashUser{name: name, own: true, active: true}
				own = append(own, uid)
				c.stats.ackedUsers++
			default:
				c.refused[name] = true
			}
			c.mu.Unlock()
			continue
		}
		i := rng.IntN(len(own))
		uid := own[i]
		c.mu.Lock()
		u := *c.users[uid]
		c.mu.Unlock()
		var method, change string
		var body obj
		switch r := rng.IntN(10); {
		case r < 1:
			method, change = "DELETE", "delete"
		case !u.active:
			method, change = "PATCH", "reactivate"
			body = obj{"schemas": arr{patchOpURN}, "Operations": arr{obj{"op": "replace", "path": "active", "value": true}}}
		case r < 4:
			method, change = "PATCH", "deactivate"
			body = obj{"schemas": arr{patchOpURN}, "Operations": arr{obj{"op": "replace", "path": "active", "value": false}}}
		default:
			method, change = "PATCH", "resend"
			body = obj{"schemas": arr{patchOpURN}, "Operations": arr{obj{"op": "replace", "path": timecampUserURN + ":resendInvitation", "value": true}}}
		}
		status, _, err := c.do(method, "/Users/"+uid, body)
		c.mu.Lock()
		c.stats.mutations++
		cu := c.users[uid]
		switch {
		case err != nil:
			cu.lost = change
			c.stats.lost++
			c.mu.Unlock()
			return
		case status < 300:
			cu.apply(change)
		}
		c.mu.Unlock()
		if change == "delete" && status < 300 {
			own = append(own[:i], own[i+1:]...)
		}
	}
}

func (u *crashUser) apply(change string) {
	switch change {
	case "delete":
		u.deleted = true
	case "deactivate":
		u.active = false
	case "reactivate":
		u.active = true
	}
}

// ---- after a restart ----

// resolve looks up what the lost answers left in doubt: each operation
// must be done or not done, nothing in between. The groups the patcher
// changes must hold exactly what the acknowledged PATCHes (and perhaps
// the lost one) made of them.
func (c *crashRun) resolve() {
	t := c.t
	t.Helper()
	// The clients have stopped: no lock needed (and do may take it).
	for g, pg := range c.patched {
		got := c.membersOf(g)
		switch {
		case sameSet(got, pg.members):
		case pg.lost != nil && sameSet(got, pg.lost):
		default:
			t.Fatalf("group %s after restart: members %v; the acknowledged PATCHes give %v (the lost one %v)", g, sortedSet(got), sortedSet(pg.members), sortedSet(pg.lost))
		}
		pg.members, pg.lost = got, nil
	}
	for id, u := range c.users {
		if u.lost == "" {
			continue
		}
		status, out, err := c.do("GET", "/Users/"+id, nil)
		if err != nil {
			t.Fatal(err)
		}
		after := *u
		after.apply(u.lost)
		switch {
		case status == http.StatusNotFound && after.deleted:
			u.deleted = true
		case status == http.StatusOK && !u.deleted && (out["active"] == u.active || out["active"] == after.active):
			u.active = out["active"] == true
		default:
			t.Fatalf("user %s after restart: %d %v; the acknowledged changes give active %v deleted %v, the lost one (%s) active %v deleted %v",
				u.name, status, out, u.active, u.deleted, u.lost, after.active, after.deleted)
		}
		u.lost = ""
	}
	// Created or not: either is right. A user created is known from now
	// on (the inviter does not change it).
	for name, id := range c.findUsers(sortedSet(c.lostNames)) {
		c.users[id] = &crashUser{name: name, active: true}
		if !invitedOneByOne(name) {
			c.pool = append(c.pool, id)
		}
	}
	c.lostNames = map[string]bool{}
}

// invitedOneByOne tells the inviter's users from imported ones.
func invitedOneByOne(name string) bool { return strings.Contains(name, "-i") }

func (c *crashRun) membersOf(group string) map[string]bool {
	_, out, err := c.do("GET", "/Groups/"+group+"?attributes=members", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	got := map[string]bool{}
	for _, id := range memberIDs(out["members"]) {
		got[id] = true
	}
	return got
}

// findUsers looks users up by userName, many in one query: userName →
// id of those that exist.
func (c *crashRun) findUsers(names []string) map[string]string {
	found := map[string]string{}
	for start := 0; start < len(names); start += 200 {
		var terms []string
		for _, name := range names[start:min(start+200, len(names))] {
			terms = append(terms, fmt.Sprintf("userName eq %q", name))
		}
		out := c.must("POST", "/Users/.search", obj{"schemas": arr{searchURN}, "filter": strings.Join(terms, " or "), "attributes": arr{"userName"}, "count": 1000}, http.StatusOK)
		list, _ := out["Resources"].([]any)
		for _, r := range list {
			u := r.(map[string]any)
			found[u["userName"].(string)] = u["id"].(string)
		}
	}
	return found
}

// ---- at the end ----

// verifyEnd checks, next to the restarted server, that everything
// acknowledged is there and that nothing is half-written.
func (c *crashRun) verifyEnd() {
	t := c.t
	c.checkAccount("at the end, next to the running server")

	users := c.listAll("/Users")
	groups := c.listAll("/Groups")
	byName := map[string]map[string]any{}
	for _, u := range users {
		byName[u["userName"].(string)] = u
	}
	byID := map[string]map[string]any{}
	for _, u := range users {
		byID[u["id"].(string)] = u
	}

	// Every acknowledged user is there (or gone, by an acknowledged
	// delete); no refused one is.
	for id, want := range c.users {
		got, ok := byID[id]
		switch {
		case want.deleted && ok:
			t.Errorf("user %s was deleted (acknowledged) but is there", want.name)
		case want.deleted:
		case !ok:
			t.Errorf("user %s (%s) was acknowledged but is missing", want.name, id)
		case got["userName"] != want.name:
			t.Errorf("user %s: userName %v, acknowledged %s", id, got["userName"], want.name)
		case want.own && got["active"] != want.active:
			t.Errorf("user %s: active %v, acknowledged %v", want.name, got["active"], want.active)
		}
	}
	for name := range c.refused {
		if _, ok := byName[name]; ok {
			t.Errorf("user %s exists though its create was refused", name)
		}
	}

	// Groups: members are users; Bulk's groups hold their members; the
	// patched groups what the PATCHes made.
	tree := map[string]map[string]any{}
	for _, g := range groups {
		tree[g["id"].(string)] = g
		for _, m := range memberIDs(g["members"]) {
			if byID[m] == nil {
				t.Errorf("group %v has member %s, which is no user", g["displayName"], m)
			}
		}
	}
	for gid, members := range c.bulkGroups {
		g, ok := tree[gid]
		if !ok {
			t.Errorf("group %s of a Bulk request was acknowledged but is missing", gid)
			continue
		}
		if got := memberIDs(g["members"]); !equalStrings(sorted(got...), sorted(members...)) {
			t.Errorf("group %v: members %v, the Bulk request gave %v", g["displayName"], got, members)
		}
	}
	for gid, pg := range c.patched {
		if got := memberIDs(tree[gid]["members"]); !equalStrings(sorted(got...), sortedSet(pg.members)) {
			t.Errorf("group %v: members %v, the PATCHes gave %v", tree[gid]["displayName"], got, sortedSet(pg.members))
		}
	}

	// Each user's role and seat as the groups grant them; one owner.
	seats, owners, admins := 0, 0, 0
	for _, u := range users {
		tc, _ := u[timecampUserURN].(map[string]any)
		role := tc["role"].(string)
		if role == "administrator" && u["active"] == true {
			admins++ // may own the account
		}
		for _, g := range memberIDs(u["groups"]) {
			for id := g; id != ""; {
				grp := tree[id]
				gtc, _ := grp[timecampGroupURN].(map[string]any)
				if r, _ := gtc["grantsRole"].(string); schemas.RoleRank(r) > schemas.RoleRank(role) {
					role = r
				}
				parent, _ := gtc["parent"].(map[string]any) // a reference {"value": id}
				id, _ = parent["value"].(string)
			}
		}
		counts := u["active"] == true && role != "guest"
		if tc["effectiveRole"] != role || tc["countsTowardSeats"] != counts {
			t.Errorf("user %v: effectiveRole %v, countsTowardSeats %v; its role and groups give %s, %v", u["userName"], tc["effectiveRole"], tc["countsTowardSeats"], role, counts)
		}
		if counts {
			seats++
		}
		if tc["accountOwner"] == true {
			owners++
			if u["active"] != true || role != "administrator" {
				t.Errorf("the owner %v is not an active administrator", u["userName"])
			}
		}
	}
	if seats > crashSeats {
		t.Errorf("%d seats in use, more than the account's %d", seats, crashSeats)
	}
	if owners != min(admins, 1) {
		t.Errorf("%d account owners (%d active administrators)", owners, admins)
	}
	if out, _ := c.runCode("accounts", "show", "default"); !strings.Contains(out, fmt.Sprintf("seats:   %d in use", seats)) {
		t.Errorf("%d users use a seat; accounts show says:\n%s", seats, out)
	}
	c.verifyEmails(byName)
	t.Logf("at the end: %d users, %d groups, %d seats in use", len(users), len(groups), seats)
}

// verifyEmails: no email went to someone who is not a user (a create
// undone, a user half-written); the pending invitations of imported
// users arrive, and their links open the accept page.
func (c *crashRun) verifyEmails(byName map[string]map[string]any) {
	t := c.t
	deleted := map[string]bool{}
	for _, u := range c.users {
		if u.deleted {
			deleted[u.name] = true
		}
	}
	var waiting []string
	for name, u := range byName {
		tc, _ := u[timecampUserURN].(map[string]any)
		if strings.HasSuffix(name, "@crash.test") && !invitedOneByOne(name) && tc["invitationStatus"] == "pending" {
			waiting = append(waiting, name)
		}
	}
	sort.Strings(waiting)
	// A killed server may hold one email in its lease (2 minutes) when
	// it dies: that many may come late. On FerretDB each email takes
	// several reads of the whole users collection (no index there): the
	// rest come later too.
	wait := 30 * time.Second
	if c.mongo && storetest.OnFerretDB() {
		wait = 2 * time.Minute
	}
	deadline := time.Now().Add(wait)
	var missing []string
	for {
		received := map[string][]mailtest.Message{}
		for _, m := range c.smtp.Messages() {
			for _, to := range m.To {
				received[to] = append(received[to], m)
			}
		}
		missing = missing[:0]
		for _, name := range waiting {
			if len(received[name]) == 0 {
				missing = append(missing, name)
			}
		}
		if len(missing) <= c.kills || time.Now().After(deadline) {
			for to := range received {
				if byName[to] == nil && !deleted[to] {
					t.Errorf("an invitation email went to %s, who is not a user", to)
				}
			}
			for i, name := range waiting {
				if i%10 != 0 || len(received[name]) == 0 {
					continue // a sample of the links
				}
				link := relink(received[name][len(received[name])-1].Link(), c.s.addr)
				resp, err := http.Get(link)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("the invitation link of %s answers %d", name, resp.StatusCode)
				}
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > c.kills {
		t.Errorf("%d pending invitations have had no email after %v (at most %d may wait for the lease of a killed server): %v", len(missing), wait, c.kills, missing)
	}
	t.Logf("%d pending invitations of imported users, %d still without an email", len(waiting), len(missing))
}

var hostRE = regexp.MustCompile(`^http://[^/]+`)

// relink points an invitation link at the server's current address (each
// start listens on a new port).
func relink(link, addr string) string { return hostRE.ReplaceAllString(link, "http://"+addr) }

// listAll reads every resource of an endpoint, page by page.
func (c *crashRun) listAll(endpoint string) []map[string]any {
	var out []map[string]any
	for start := 1; ; start += 1000 {
		page := c.must("GET", fmt.Sprintf("%s?startIndex=%d&count=1000", endpoint, start), nil, http.StatusOK)
		list, _ := page["Resources"].([]any)
		for _, r := range list {
			out = append(out, r.(map[string]any))
		}
		if len(list) < 1000 {
			return out
		}
	}
}

func sortedSet(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameSet(a, b map[string]bool) bool { return equalStrings(sortedSet(a), sortedSet(b)) }

func equalStrings(a, b []string) bool { return slices.Equal(a, b) }
