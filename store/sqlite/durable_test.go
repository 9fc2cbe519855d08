package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Concurrent writes share flushes: every write returns after a flush that
// followed its commit, and there are fewer flushes than commits.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Sync: SyncCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	s.flush.mu.Lock()
	c0, f0 := s.flush.committed, s.flushes()
	s.flush.mu.Unlock()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.CreateAccount(ctx, fmt.Sprintf("a%d-%d", w, i), 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.flush.mu.Lock()
	commits, flushes, flushed := s.flush.committed-c0, s.flushes()-f0, s.flush.flushed
	s.flush.mu.Unlock()
	if commits == 0 || commits > writers*each {
		t.Fatalf("%d commits for %d writes", commits, writers*each)
	}
	if flushed < s.flush.committed {
		t.Fatalf("writes returned before their commits were flushed: %d of %d", flushed, s.flush.committed)
	}
	if flushes == 0 || flushes >= commits {
		t.Fatalf("%d flushes for %d commits: no group commit", flushes, commits)
	}
	t.Logf("%d commits, %d flushes", commits, flushes)
}

// Writes waiting for the writing connection together are committed in
// one transaction, each in a savepoint: one that fails (a uniqueness
// conflict, an error after its first statement, a panic) is rolled back
// alone, and the others are stored.
func TestBatchedWrites(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Sync: SyncCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := s.CreateAccount(ctx, "taken", 0); err != nil {
		t.Fatal(err)
	}
	s.writer <- struct{}{} // hold the connection while the writes queue up
	errs := make([]error, 8)
	panics := make([]any, len(errs))
	var wg sync.WaitGroup
	write := func(i int, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = fn()
		}()
	}
	for i := range 5 {
		write(i, func() error { _, err := s.CreateAccount(ctx, fmt.Sprint("new", i), 0); return err })
	}
	write(5, func() error { _, err := s.CreateAccount(ctx, "TAKEN", 0); return err })
	write(6, func() error {
		return s.Atomic(ctx, func(ctx context.Context) error {
			if _, err := s.CreateAccount(ctx, "half-written", 0); err != nil {
				return err
			}
			return errors.New("fails after its first write")
		})
	})
	write(7, func() error {
		return s.Atomic(ctx, func(ctx context.Context) error {
			if _, err := s.CreateAccount(ctx, "then-panics", 0); err != nil {
				return err
			}
			panic("a write that panics")
		})
	})
	for {
		s.queueMu.Lock()
		n := len(s.queue)
		s.queueMu.Unlock()
		if n == len(errs) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.flush.mu.Lock()
	c0 := s.flush.committed
	s.flush.mu.Unlock()
	<-s.writer
	wg.Wait()
	s.flush.mu.Lock()
	commits := s.flush.committed - c0
	s.flush.mu.Unlock()
	if commits != 1 {
		t.Errorf("%d commits for one batch of writes, want 1", commits)
	}
	for i := range 5 {
		if errs[i] != nil {
			t.Errorf("write %d: %v", i, err)
		}
		if _, err := s.AccountByName(ctx, fmt.Sprint("new", i)); err != nil {
			t.Errorf("account of write %d: %v", i, err)
		}
	}
	if errs[5] == nil {
		t.Error("a second account named TAKEN was created")
	}
	if errs[6] == nil || panics[7] != "a write that panics" {
		t.Errorf("the failing write: %v; the panicking one: %v", errs[6], panics[7])
	}
	for _, name := range []string{"half-written", "then-panics"} {
		if _, err := s.AccountByName(ctx, name); err == nil {
			t.Errorf("account %q of a failed write was stored", name)
		}
	}
}

// flushes is called with f.mu held.
func (s *Store) flushes() uint64 { return s.flush.flushes }

// In the default mode a write returns at once, and a background flush
// follows within FlushInterval; checkpoints follow too.
func TestBackgroundFlush(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if _, err := s.CreateAccount(ctx, "flushed", 0); err != nil {
		t.Fatal(err)
	}
	s.flush.mu.Lock()
	committed := s.flush.committed
	s.flush.mu.Unlock()
	deadline := time.Now().Add(5 * FlushInterval)
	for {
		s.flush.mu.Lock()
		flushed := s.flush.flushed
		s.flush.mu.Unlock()
		if flushed >= committed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("commit %d not flushed after %v (flushed %d)", committed, 5*FlushInterval, flushed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := s.checkpoints.Load()
	deadline = time.Now().Add(3 * CheckpointInterval)
	for s.checkpoints.Load() == before {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint within %v", 3*CheckpointInterval)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Under a steady stream of writes, with readers at work, the write-ahead
// log still starts over (its header's checkpoint sequence moves on) instead
// of growing without end.
func TestLogStartsOverUnderSteadyWrites(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	s.restartAfter.Store(500)
	first, err := s.CreateAccount(ctx, "first", 0)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait() // before the store closes
	defer close(stop)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Account(ctx, first.ID); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	sequence := func() uint32 {
		f, err := os.Open(s.path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var header [16]byte
		if _, err := io.ReadFull(f, header[:]); err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint32(header[12:])
	}
	deadline := time.Now().Add(6 * CheckpointInterval)
	var start uint32
	for i := 0; ; i++ {
		if _, err := s.CreateAccount(ctx, fmt.Sprint("steady", i), 0); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			start = sequence()
		}
		if s.logRestarts.Load() > 0 && sequence() != start {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d writes in %v the log never started over (%d checkpoints)", i, 6*CheckpointInterval, s.checkpoints.Load())
		}
	}
}

// A database of layout 1 (before resource_counts) is upgraded when opened:
// the counts are taken from what it holds, and kept from then on.
func TestUpgradeFromLayout1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, acc := openWithAccount(t, dir)
	var err error
	user := func(name string) *store.Resource {
		return &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"userName": name}}
	}
	for i := range 3 {
		if err := s.Insert(ctx, user(fmt.Sprint("u", i))); err != nil {
			t.Fatal(err)
		}
	}
	downgrade(t, s, 1) // as an earlier version left it
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if err := s.Insert(ctx, user("u3")); err != nil {
		t.Fatal(err)
	}
	p, err := s.Find(ctx, schemas.User, acc.ID, store.Query{Count: 0})
	if err != nil || p.Total != 4 {
		t.Fatalf("after the upgrade: %v users, %v; want 4", p, err)
	}
	var layout int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&layout); err != nil || layout != schemaVersion {
		t.Fatalf("layout %d, %v; want %d", layout, err, schemaVersion)
	}
}

// downgrade takes a database back to an earlier layout, as the version
// that wrote it left it.
func downgrade(t *testing.T, s *Store, to int) {
	t.Helper()
	undo := map[int][]string{ // layout → what takes it back to the one before
		2: {"DROP TRIGGER resources_counted", "DROP TRIGGER resources_uncounted", "DROP TABLE resource_counts"},
		3: {"DROP TABLE bindings", "ALTER TABLE tokens DROP COLUMN created_by", "ALTER TABLE tokens DROP COLUMN creator_subject",
			"ALTER TABLE tokens DROP COLUMN expires", "ALTER TABLE tokens DROP COLUMN revoked", "ALTER TABLE tokens DROP COLUMN revoked_by"},
		4: {`UPDATE resources SET attrs = json_set(attrs, '$."` + schemas.TimeCampGroupURN + `".parent', json_extract(attrs, '$."` + schemas.TimeCampGroupURN + `".parent.value'))
				WHERE type = 'Group' AND json_type(attrs, '$."` + schemas.TimeCampGroupURN + `".parent.value') = 'text'`,
			`UPDATE resources SET attrs = json_set(attrs, '$.parent', json_extract(attrs, '$.parent.value'))
				WHERE type = 'Project' AND json_type(attrs, '$.parent.value') = 'text'`},
		5: {"DROP TRIGGER memberships_renamed", "ALTER TABLE memberships DROP COLUMN display",
			"DROP TRIGGER resources_counted", "DROP TRIGGER resources_uncounted", "ALTER TABLE resource_counts DROP COLUMN gen",
			`CREATE TRIGGER resources_counted AFTER INSERT ON resources BEGIN
				INSERT INTO resource_counts VALUES (new.account, new.type, 1) ON CONFLICT (account, type) DO UPDATE SET n = n + 1;
			END`,
			`CREATE TRIGGER resources_uncounted AFTER DELETE ON resources BEGIN
				UPDATE resource_counts SET n = n - 1 WHERE account = old.account AND type = old.type;
			END`},
	}
	if len(undo) != schemaVersion-1 {
		t.Fatalf("downgrade knows %d layouts after the first, the store %d: teach it the new one", len(undo), schemaVersion-1)
	}
	for v := schemaVersion; v > to; v-- {
		for _, stmt := range undo[v] {
			if _, err := s.w.ExecContext(context.Background(), stmt); err != nil {
				t.Fatalf("back to layout %d: %s: %v", v-1, stmt, err)
			}
		}
	}
	if _, err := s.w.ExecContext(context.Background(), fmt.Sprintf("PRAGMA user_version = %d", to)); err != nil {
		t.Fatal(err)
	}
}

// Tokens of a database of layout 2 (before creators, expiry and
// revocations that keep the hash) work after the upgrade: they
// authenticate, expire never, and can be revoked for good.
func TestUpgradeFromLayout2(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, acc := openWithAccount(t, dir)
	secret, tok, err := s.CreateToken(ctx, acc.ID, store.TokenSpec{Name: "okta"})
	if err != nil {
		t.Fatal(err)
	}
	const boot = "an-old-bootstrap-secret-0123456789abcdef"
	if err := s.PutToken(ctx, acc.ID, "bootstrap", boot); err != nil {
		t.Fatal(err)
	}
	downgrade(t, s, 2)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	got, err := s.Authenticate(ctx, secret)
	if err != nil || got.ID != tok.ID || got.CreatedBy != "" || !got.Expires.IsZero() || !got.Revoked.IsZero() {
		t.Fatalf("an old token after the upgrade: %+v, %v", got, err)
	}
	if err := s.PutToken(ctx, acc.ID, "bootstrap", boot); err != nil { // the next start
		t.Fatal(err)
	}
	if list, err := s.Tokens(ctx, acc.ID); err != nil || len(list) != 2 {
		t.Fatalf("tokens after the upgrade: %+v, %v", list, err)
	}
	if err := s.RevokeToken(ctx, acc.ID, tok.ID, "ada@old.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secret); err == nil {
		t.Fatal("a revoked old token authenticates")
	}
	if err := s.Bind(ctx, &store.Binding{Account: acc.ID, User: "u1", Subject: "iss sub"}); err != nil {
		t.Fatalf("bindings after the upgrade: %v", err)
	}
}

// openWithAccount opens a new database in dir, with an account "old".
func openWithAccount(t *testing.T, dir string) (*Store, *store.Account) {
	t.Helper()
	s, err := Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := s.CreateAccount(context.Background(), "old", 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, acc
}

// A database of layout 3 stored a group's and a project's parent as the
// id alone; opened, its parents are references {"value": id}, found by
// the lookups as before.
func TestUpgradeParentsToReferences(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, acc := openWithAccount(t, dir)
	top := &store.Resource{Type: schemas.Group, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Top"}}
	sub := &store.Resource{Type: schemas.Group, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Sub",
		schemas.TimeCampGroupURN: map[string]any{"parent": map[string]any{"value": top.ID}, "path": "old/Top/Sub"}}}
	apollo := &store.Resource{Type: schemas.Project, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Apollo"}}
	lander := &store.Resource{Type: schemas.Project, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"displayName": "Lander", "parent": map[string]any{"value": apollo.ID}}}
	for _, r := range []*store.Resource{top, sub, apollo, lander} {
		if err := s.Insert(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	downgrade(t, s, 3)
	if g, err := s.Get(ctx, schemas.Group, acc.ID, sub.ID); err != nil || g.Attributes[schemas.TimeCampGroupURN].(map[string]any)["parent"] != top.ID {
		t.Fatalf("layout 3's form: %v, %v", g, err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	g, err := s.Get(ctx, schemas.Group, acc.ID, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := g.Attributes[schemas.TimeCampGroupURN].(map[string]any)
	if p, _ := tc["parent"].(map[string]any); p["value"] != top.ID || tc["path"] != "old/Top/Sub" || g.Attributes["displayName"] != "Sub" {
		t.Fatalf("group after the upgrade: %v", g.Attributes)
	}
	if p, err := s.Get(ctx, schemas.Project, acc.ID, lander.ID); err != nil || !reflect.DeepEqual(p.Attributes["parent"], map[string]any{"value": apollo.ID}) {
		t.Fatalf("project after the upgrade: %v, %v", p, err)
	}
	if t2, err := s.Get(ctx, schemas.Group, acc.ID, top.ID); err != nil || t2.Attributes[schemas.TimeCampGroupURN] != nil {
		t.Fatalf("a group without a parent: %v, %v", t2, err)
	}
	f, err := filter.ParseFilter([]byte(`parent eq "` + apollo.ID + `"`))
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.Find(ctx, schemas.Project, acc.ID, store.Query{Filter: f, Count: 10})
	if err != nil || page.Total != 1 || page.Resources[0].ID != lander.ID {
		t.Fatalf("projects under Apollo: %v, %v", page, err)
	}
}

// A database of layout 4 (memberships without their member's name, no
// gen in resource_counts) is upgraded when opened: each membership takes
// its user's name and keeps it current, and pages count inserts again.
func TestUpgradeMembershipNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, acc := openWithAccount(t, dir)
	var ids []string
	for i := range 3 {
		u := &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acc.ID, Attributes: map[string]any{"userName": fmt.Sprint("u", i)}}
		if err := s.Insert(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	group := store.NewID()
	downgrade(t, s, 4)
	// As layout 4 wrote memberships.
	for _, id := range ids {
		if _, err := s.w.ExecContext(ctx, "INSERT INTO memberships (account, group_id, member) VALUES (?, ?, ?)", acc.ID, group, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	u0, err := s.Get(ctx, schemas.User, acc.ID, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	u0.Attributes["userName"] = "renamed"
	if err := s.Replace(ctx, u0, u0.Version); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.EachMember(ctx, acc.ID, group, func(id, display string) error {
		got = append(got, display)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"renamed", "u1", "u2"}; !slices.Equal(got, want) {
		t.Fatalf("members' names after the upgrade: %v, want %v", got, want)
	}
	p, err := s.Find(ctx, schemas.User, acc.ID, store.Query{StartIndex: 2, Count: 1})
	if err != nil || p.Total != 3 || len(p.Resources) != 1 || p.Resources[0].ID != ids[1] {
		t.Fatalf("a page after the upgrade: %+v, %v", p, err)
	}
}
