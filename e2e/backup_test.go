package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// A backup taken with "store backup" in the middle of a steady Bulk
// import is a data folder a server starts from: "accounts check" passes
// there, every write acknowledged before the backup began is in it, and
// an identity provider's requests work against it.
func TestBackupDuringBulkImport(t *testing.T) {
	s := startServer(t)
	c := s.Client

	// What an identity provider did before: a group with members, a
	// changed user.
	early := c.CreateUsers(t, 20, "early")
	gid := c.Post(t, "/Groups", scimtest.GroupBody("Backed up", early[:10]...)).Expect(t, http.StatusCreated).Str("id")
	c.Patch(t, "/Users/"+early[0], scimtest.Op("replace", "name.givenName", "Before")).Expect(t, http.StatusOK)

	imp := &bulkImporter{base: "http://" + s.addr + "/scim/v2", token: s.token}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- imp.run(ctx, 100) }()
	var importErr error
	stopImport := sync.OnceFunc(func() { stop(); importErr = <-done })
	defer stopImport() // also when the test fails before stopping it

	for imp.count() < 3000 {
		select {
		case err := <-done:
			done <- err // for stopImport
			t.Fatalf("the import stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	acked := imp.acknowledged() // before the backup begins
	backup := filepath.Join(t.TempDir(), "backup")
	out, err := s.run("store", "backup", "--to", backup)
	if err != nil {
		t.Fatalf("store backup: %v\n%s", err, out)
	}
	during := imp.count() - len(acked)
	if !strings.Contains(out, "backed up") || !strings.Contains(out, "SCIM_DATA_DIR="+backup) {
		t.Fatalf("store backup said:\n%s", out)
	}
	if during == 0 {
		t.Log("no Bulk request was acknowledged while the backup ran (a fast backup); the import went on around it")
	}
	stopImport()
	if importErr != nil {
		t.Fatalf("the import failed: %v", importErr)
	}

	// A second backup into the same (now full) folder is refused.
	if _, err := s.run("store", "backup", "--to", backup); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a backup into a non-empty folder: %v", err)
	}

	// Restore: a server on the backup, as SCIM_DATA_DIR.
	r := &server{t: t, dataDir: backup, token: s.token}
	r.start()
	defer r.stop()
	if out, err := r.run("accounts", "check", "default"); err != nil {
		t.Fatalf("accounts check on the backup: %v\n%s", err, out)
	}
	users := allUserNames(t, r.Client)
	for _, name := range acked {
		if !users[name] {
			t.Fatalf("%s was acknowledged before the backup began, and is not in it (%d of %d users there)", name, len(users), imp.count())
		}
	}
	if len(users) < len(acked)+len(early) || len(users) > imp.count()+len(early) {
		t.Fatalf("the backup holds %d users: fewer than the %d acknowledged before it, or more than were ever sent", len(users), len(acked)+len(early))
	}
	t.Logf("%d users acknowledged before the backup, %d during it; the backup holds %d", len(acked), during, len(users)-len(early))

	rc := r.Client
	if g := rc.Get(t, "/Groups/"+gid).Expect(t, http.StatusOK); len(g.At("members").([]any)) != 10 {
		t.Fatalf("the group in the backup: %s", g.Raw)
	}
	if u := rc.Get(t, "/Users/"+early[0]).Expect(t, http.StatusOK); u.Str("name.givenName") != "Before" {
		t.Fatalf("the changed user in the backup: %s", u.Raw)
	}
	// Entra ID's requests: a lookup, a create, a PATCH of a user and of a group.
	found := rc.Get(t, "/Users?filter="+url.QueryEscape(fmt.Sprintf("userName eq %q", strings.ToUpper(acked[len(acked)-1])))).Expect(t, http.StatusOK)
	if num(found, "totalResults") != 1 {
		t.Fatalf("lookup of an imported user in the backup: %s", found.Raw)
	}
	uid := found.Str("Resources.0.id")
	created := rc.Post(t, "/Users", scimtest.UserBody("after-restore@example.com")).Expect(t, http.StatusCreated).Str("id")
	rc.Patch(t, "/Users/"+uid, scimtest.Op("replace", "active", "False")).Expect(t, http.StatusOK)
	rc.Patch(t, "/Groups/"+gid, scimtest.Op("add", "members", []any{map[string]any{"value": created}})).Expect(t, http.StatusNoContent)
	if out, err := r.run("accounts", "check", "default"); err != nil {
		t.Fatalf("accounts check after the restored server's writes: %v\n%s", err, out)
	}
}

// "store backup" on MongoDB says what to run instead; without a database
// in the data folder it says so rather than back up an empty one.
func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	run := func(env ...string) error {
		s := &server{t: t, dataDir: filepath.Join(dir, "data"), env: env}
		_, err := s.run("store", "backup", "--to", filepath.Join(dir, "backup"))
		return err
	}
	if err := run("SCIM_MONGODB_URI=mongodb://127.0.0.1:1/"); err == nil || !strings.Contains(err.Error(), "mongodump") {
		t.Errorf("store backup on MongoDB: %v", err)
	}
	if err := run(); err == nil || !strings.Contains(err.Error(), "no embedded database") {
		t.Errorf("store backup of an empty data folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("store backup created a data folder")
	}
}

// bulkImporter sends Bulk requests of new users, one after another, and
// records the users each acknowledged.
type bulkImporter struct {
	base, token string
	mu          sync.Mutex
	acked       []string
}

func (b *bulkImporter) run(ctx context.Context, perRequest int) error {
	for batch := 0; ctx.Err() == nil; batch++ {
		var ops []any
		for i := range perRequest {
			name := fmt.Sprintf("bulk%d-%d@backup.test", batch, i)
			ops = append(ops, map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint("u", i), "data": scimtest.UserBody(name)})
		}
		body, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/Bulk", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+b.token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if ctx.Err() != nil {
			return nil // stopped; this request's users count as not acknowledged
		}
		if err != nil {
			return err
		}
		var out struct {
			Operations []struct {
				BulkID string `json:"bulkId"`
				Status string `json:"status"`
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if ctx.Err() != nil {
			return nil // stopped while the answer was read: not acknowledged either
		}
		if err != nil || resp.StatusCode != http.StatusOK || len(out.Operations) != perRequest {
			return fmt.Errorf("Bulk: %d, %d operations, %v", resp.StatusCode, len(out.Operations), err)
		}
		b.mu.Lock()
		for _, op := range out.Operations {
			if op.Status != "201" {
				b.mu.Unlock()
				return fmt.Errorf("Bulk operation %s: %s", op.BulkID, op.Status)
			}
			b.acked = append(b.acked, fmt.Sprintf("bulk%d-%s@backup.test", batch, strings.TrimPrefix(op.BulkID, "u")))
		}
		b.mu.Unlock()
	}
	return nil
}

func (b *bulkImporter) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.acked)
}

func (b *bulkImporter) acknowledged() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.acked...)
}

// allUserNames reads every user of the client's account, a page at a time.
func allUserNames(t *testing.T, c *scimtest.Client) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for start := 1; ; start += 1000 {
		page := c.Get(t, fmt.Sprintf("/Users?attributes=userName&count=1000&startIndex=%d", start)).Expect(t, http.StatusOK)
		rs, _ := page.At("Resources").([]any)
		for _, r := range rs {
			names[scimtest.At(r, "userName").(string)] = true
		}
		if len(rs) < 1000 {
			return names
		}
	}
}

// The host cron line of deploy/cron runs as cron would run it: its
// backup is a data folder a server starts from, and backups older than
// its retention are removed, newer ones kept.
func TestBackupCronLine(t *testing.T) {
	raw, err := os.ReadFile("../deploy/cron/timecamp-scim-backup")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	id := createUser(t, s.Client, "cron@example.com")
	backups := t.TempDir()
	old, recent := filepath.Join(backups, "2000-01-01T0230"), filepath.Join(backups, "yesterday")
	for _, d := range []string{old, recent} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().AddDate(0, 0, -20), time.Now().AddDate(0, 0, -20)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(recent, time.Now().AddDate(0, 0, -1), time.Now().AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	env := os.Environ()
	var job string
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "SCIM_DATA_DIR="):
			env = append(env, "SCIM_DATA_DIR="+s.dataDir)
		case strings.Contains(line, "=") && !strings.Contains(line, " "):
			env = append(env, line)
		default:
			job = line
		}
	}
	f := strings.Fields(job)
	// Five schedule fields and the user come first; cron passes "\%" as "%".
	command := strings.Join(f[6:], " ")
	command = strings.NewReplacer(`\%`, "%", "/usr/local/bin/timecamp-scim", binary, "/var/backups/timecamp-scim", backups).Replace(command)
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the cron line's command: %v\n%s\n%s", err, out, command)
	}
	entries, _ := os.ReadDir(backups)
	var made string
	for _, e := range entries {
		if e.Name() != "yesterday" {
			made = filepath.Join(backups, e.Name())
		}
	}
	if len(entries) != 2 || made == old {
		t.Fatalf("after the cron line the backups are %v: want yesterday's and today's (the 20-day-old one removed)", entries)
	}
	r := &server{t: t, dataDir: made, token: s.token}
	r.start()
	defer r.stop()
	r.Client.Get(t, "/Users/"+id).Expect(t, http.StatusOK)
}
