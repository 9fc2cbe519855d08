// Package sqlite is the embedded store: one SQLite database file (through
// modernc.org/sqlite, pure Go) in the data folder, the default when no
// MongoDB URI is configured. It needs no set-up and serves one machine.
//
// Layout: a table per kind of record (accounts, tokens, resources,
// memberships, outbox, sessions, activity, bindings, settings). A resource
// row holds the SCIM attributes as JSON and, in columns of their own, what
// lookups and rules need: the lower-cased unique name (userName, a group's
// displayName), the display name others show when they refer to it,
// externalId, whether the user takes a seat, and the invitation's token
// hash, status and expiry. Values of multi-valued lookup keys (email addresses, project ids,
// parents) are rows of the lookups table. Every lookup an identity provider
// makes is an index lookup; filters the indexes cannot answer narrow by one
// that can (or read the account's resources in order) and check each
// candidate in memory with scimfilter.Match, the reference semantics.
//
// Concurrency: the database runs in WAL mode, so readers never wait for the
// writer. Writes go through one connection, which serialises them in this
// process (FIFO, with no busy-polling); other processes (the management
// commands next to a running server) wait for the file lock. Store.Atomic
// makes a directory operation one transaction: seats, memberships, the
// invitation and its outbox entry are written together or not at all.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// FileName is the database file in the data folder.
const FileName = "timecamp-scim.db"

// Config says where the database lives.
type Config struct {
	// DataDir is the folder of the database file (created if missing).
	DataDir string
	// Sync says when a commit reaches the disk: SyncInterval (the
	// default) or SyncCommit; see durable.go.
	Sync   string
	Logger *slog.Logger
	// Trace, when set, is called with each statement the store runs
	// ("BEGIN" and "COMMIT" for its transactions): tests count them.
	Trace func(query string)
}

// Store is the embedded store. It is safe for concurrent use, and several
// processes may open one data folder at once.
type Store struct {
	path string
	// w holds the one writing connection, used by whoever holds the place
	// in writer; r are the reading connections.
	w, r   *sql.DB
	writer chan struct{}
	// Prepared statements of wc and of r.
	wstmts, rstmts *stmtCache
	// flush makes commits durable (see durable.go): before the write
	// returns when syncEachCommit, else in the background.
	flush          *flusher
	syncEachCommit bool
	// stopMaintain ends the background flushes and checkpoints
	// (durable.go); maintained is closed when they ended.
	stopMaintain, maintained chan struct{}
	closeOnce                sync.Once
	checkpoints, logRestarts checkpoints
	restartAfter             atomic.Int64 // see restartAfterFrames
	log                      *slog.Logger
	trace                    func(query string) // Config.Trace, or nothing
	// queue holds the writes waiting for the writing connection (see
	// write).
	queueMu   sync.Mutex
	queue     []*writeOp
	members   memberCache // see EachMember
	bookmarks bookmarks   // see bookmarkedPage
}

var _ store.Store = (*Store)(nil)

// readers is how many connections read at once.
const readers = 8

// busyTimeoutMS is how long a connection waits for a lock another process
// holds (several servers may share a data folder).
const busyTimeoutMS = 15000

// Open opens (creating if needed) the database of a data folder.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, errors.New("no data folder given")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	if err := refuseOldFormat(dir, path); err != nil {
		return nil, err
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("the data folder's path %q must not contain ? or #", dir)
	}
	// synchronous(NORMAL): commits are flushed to disk by the flusher of
	// durable.go, many at once.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(OFF)&_pragma=temp_store(MEMORY)" +
		// Checkpoints run in the background (durable.go), not in commits;
		// a log that grew under a long read is cut back when it starts over.
		"&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")"
	switch cfg.Sync {
	case "", SyncInterval:
		cfg.Sync = SyncInterval
	case SyncCommit:
	default:
		return nil, fmt.Errorf("sync mode %q: want %s or %s", cfg.Sync, SyncInterval, SyncCommit)
	}
	s := &Store{path: path, log: log, writer: make(chan struct{}, 1), flush: newFlusher(path + "-wal"), syncEachCommit: cfg.Sync == SyncCommit, trace: cfg.Trace}
	if s.trace == nil {
		s.trace = func(string) {}
	}
	// The writer keeps 8 MB of pages. A reader keeps 2 MB: SQLite empties
	// a connection's page cache whenever another one wrote, so a large
	// one is refilled (and freed, page by page) on nearly every read of a
	// server that writes all the time; the operating system caches the
	// file anyway.
	if s.w, err = sql.Open("sqlite", dsn+"&_pragma=cache_size(-8000)"); err != nil {
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	// The writing connection's statements are prepared only between
	// transactions (deferPrepare): preparing needs the one connection.
	s.wstmts = newStmtCache(s.w.PrepareContext, true)
	if err := s.migrate(ctx); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if s.r, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)&_pragma=cache_size(-2000)"); err != nil {
		_ = s.w.Close()
		return nil, err
	}
	s.rstmts = newStmtCache(s.r.PrepareContext, false)
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
	s.restartAfter.Store(restartAfterFrames)
	s.stopMaintain, s.maintained = make(chan struct{}), make(chan struct{})
	go s.maintain(s.stopMaintain, s.maintained)
	return s, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// refuseOldFormat recognises a data folder written by the versions that
// ran FerretDB in-process (one "<database>.sqlite" file per database) and
// says so, rather than starting an empty database beside it.
func refuseOldFormat(dir, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if len(old) == 0 {
		return nil
	}
	return fmt.Errorf("the data folder %s holds a database in the format of earlier test versions (%s, FerretDB), which this version does not read; "+
		"start with an empty data folder (SCIM_DATA_DIR), or move those files away — this version keeps its data in %s", dir, filepath.Base(old[0]), FileName)
}

// schemaVersion is the layout this code writes (PRAGMA user_version):
// schema is layout 1, and each of upgrades takes one layout to the next.
var schemaVersion = 1 + len(upgrades)

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("the database was written by a newer version of timecamp-scim (layout %d; this one knows up to %d)", v, schemaVersion)
	}
	return s.write(ctx, func(c *conn) error {
		// Another process may have created it meanwhile.
		if err := c.tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v == schemaVersion {
			return err
		}
		steps := upgrades[max(v-1, 0):]
		if v == 0 {
			steps = append([][]string{schema}, steps...)
		}
		for _, step := range steps {
			for _, stmt := range step {
				if _, err := c.tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", strings.Fields(stmt)[:3], err)
				}
			}
		}
		_, err := c.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// upgrades[i] takes a database of layout i+1 to layout i+2, in the
// transaction that records the new layout.
var upgrades = [][]string{
	// 2: how many resources of each type an account has, kept by
	// triggers, so that a page of an unfiltered list does not count them.
	{
		`CREATE TABLE resource_counts (
			account TEXT NOT NULL,
			type TEXT NOT NULL,
			n INTEGER NOT NULL,
			PRIMARY KEY (account, type)) WITHOUT ROWID`,
		`INSERT INTO resource_counts SELECT account, type, COUNT(*) FROM resources GROUP BY account, type`,
		`CREATE TRIGGER resources_counted AFTER INSERT ON resources BEGIN
			INSERT INTO resource_counts VALUES (new.account, new.type, 1) ON CONFLICT (account, type) DO UPDATE SET n = n + 1;
		END`,
		`CREATE TRIGGER resources_uncounted AFTER DELETE ON resources BEGIN
			UPDATE resource_counts SET n = n - 1 WHERE account = old.account AND type = old.type;
		END`,
	},
	// 3: who made a token, when it expires, and revocations that keep the
	// token's hash (a revoked secret never becomes a token again); the
	// console's bindings of administrators to sign-in identities.
	{
		`ALTER TABLE tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE tokens ADD COLUMN creator_subject TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE tokens ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE tokens ADD COLUMN revoked_by TEXT NOT NULL DEFAULT ''`,
		`CREATE TABLE bindings (
			account TEXT NOT NULL,
			user TEXT NOT NULL,
			subject TEXT NOT NULL,
			email TEXT NOT NULL DEFAULT '',
			created INTEGER NOT NULL,
			PRIMARY KEY (account, user),
			UNIQUE (account, subject)) WITHOUT ROWID`,
		`CREATE INDEX bindings_by_subject ON bindings (subject)`,
	},
	// 4: a group's and a project's parent is a reference, {"value": id},
	// no longer the id alone (the lookups rows hold the id either way).
	{
		`UPDATE resources SET attrs = json_set(attrs, '$."` + schemas.TimeCampGroupURN + `".parent', json_object('value', json_extract(attrs, '$."` + schemas.TimeCampGroupURN + `".parent')))
			WHERE type = 'Group' AND json_type(attrs, '$."` + schemas.TimeCampGroupURN + `".parent') = 'text'`,
		`UPDATE resources SET attrs = json_set(attrs, '$.parent', json_object('value', json_extract(attrs, '$.parent')))
			WHERE type = 'Project' AND json_type(attrs, '$.parent') = 'text'`,
		// The lookups rows hold the id already; this makes sure of it.
		`INSERT OR IGNORE INTO lookups (account, type, key, value, id)
			SELECT account, type, 'parent', json_extract(attrs, '$."` + schemas.TimeCampGroupURN + `".parent.value'), id FROM resources
			WHERE type = 'Group' AND json_type(attrs, '$."` + schemas.TimeCampGroupURN + `".parent.value') = 'text'`,
		`INSERT OR IGNORE INTO lookups (account, type, key, value, id)
			SELECT account, type, 'parent', json_extract(attrs, '$.parent.value'), id FROM resources
			WHERE type = 'Project' AND json_type(attrs, '$.parent.value') = 'text'`,
	},
	// 5: each membership keeps its member's display name, so that a GET
	// of a group reads its members, names included, from one range of
	// the memberships' primary key (one row per member) rather than
	// looking each member up among the resources. A trigger keeps the
	// name current when a user's changes; AddMembers and Import copy it.
	{
		`ALTER TABLE memberships ADD COLUMN display TEXT NOT NULL DEFAULT ''`,
		`UPDATE memberships SET display = COALESCE((SELECT r.display FROM resources r
			WHERE r.account = memberships.account AND r.type = 'User' AND r.id = memberships.member), '')`,
		// gen counts the inserts and deletes of an account's resources of a
		// type: while it stays, every resource keeps its place in the list
		// (see bookmarks).
		`ALTER TABLE resource_counts ADD COLUMN gen INTEGER NOT NULL DEFAULT 0`,
		`DROP TRIGGER resources_counted`,
		`DROP TRIGGER resources_uncounted`,
		`CREATE TRIGGER resources_counted AFTER INSERT ON resources BEGIN
			INSERT INTO resource_counts (account, type, n, gen) VALUES (new.account, new.type, 1, 1)
				ON CONFLICT (account, type) DO UPDATE SET n = n + 1, gen = gen + 1;
		END`,
		`CREATE TRIGGER resources_uncounted AFTER DELETE ON resources BEGIN
			UPDATE resource_counts SET n = n - 1, gen = gen + 1 WHERE account = old.account AND type = old.type;
		END`,
		`CREATE TRIGGER memberships_renamed AFTER UPDATE OF display ON resources
			WHEN new.type = 'User' AND new.display <> old.display BEGIN
			UPDATE memberships SET display = new.display WHERE account = new.account AND member = new.id;
		END`,
	},
}

// schema creates the tables and indexes of layout 1. Times are Unix
// milliseconds.
var schema = []string{
	`CREATE TABLE accounts (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		name_key TEXT NOT NULL UNIQUE,
		seats INTEGER NOT NULL,
		seats_used INTEGER NOT NULL DEFAULT 0,
		owner TEXT NOT NULL DEFAULT '',
		invitations_off INTEGER NOT NULL DEFAULT 0,
		created INTEGER NOT NULL)`,
	`CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		name TEXT NOT NULL,
		hash TEXT NOT NULL UNIQUE,
		created INTEGER NOT NULL,
		last_used INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX tokens_by_account ON tokens (account, name)`,
	`CREATE TABLE resources (
		account TEXT NOT NULL,
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		created INTEGER NOT NULL,
		modified INTEGER NOT NULL,
		display TEXT NOT NULL DEFAULT '',
		unique_key TEXT,
		external_id TEXT,
		seat INTEGER NOT NULL DEFAULT 0,
		attrs TEXT NOT NULL,
		password TEXT NOT NULL DEFAULT '',
		invitation TEXT,
		inv_hash TEXT,
		inv_status TEXT,
		inv_expires INTEGER,
		PRIMARY KEY (account, type, id))`,
	`CREATE UNIQUE INDEX resources_by_unique_key ON resources (account, type, unique_key) WHERE unique_key IS NOT NULL`,
	`CREATE INDEX resources_by_external_id ON resources (account, type, external_id) WHERE external_id IS NOT NULL`,
	`CREATE INDEX resources_by_created ON resources (account, type, created, id)`,
	`CREATE INDEX resources_by_modified ON resources (account, type, modified, id)`,
	`CREATE INDEX resources_by_seat ON resources (account, type, seat)`,
	`CREATE INDEX resources_by_invitation ON resources (inv_hash) WHERE inv_hash IS NOT NULL`,
	`CREATE INDEX resources_by_invitation_expiry ON resources (inv_expires) WHERE inv_status = 'pending'`,
	`CREATE TABLE lookups (
		account TEXT NOT NULL,
		type TEXT NOT NULL,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		id TEXT NOT NULL,
		PRIMARY KEY (account, type, key, value, id)) WITHOUT ROWID`,
	`CREATE INDEX lookups_by_id ON lookups (account, type, id)`,
	`CREATE TABLE memberships (
		account TEXT NOT NULL,
		group_id TEXT NOT NULL,
		member TEXT NOT NULL,
		PRIMARY KEY (account, group_id, member)) WITHOUT ROWID`,
	`CREATE INDEX memberships_by_member ON memberships (account, member, group_id)`,
	`CREATE TABLE outbox (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		user TEXT NOT NULL,
		token TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL,
		created INTEGER NOT NULL,
		due INTEGER NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		claimed_by TEXT NOT NULL DEFAULT '',
		claimed_until INTEGER NOT NULL DEFAULT 0,
		sent_at INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		finished INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX outbox_by_due ON outbox (state, due)`,
	`CREATE INDEX outbox_by_finished ON outbox (finished) WHERE state <> 'pending'`,
	`CREATE TABLE sessions (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		user TEXT NOT NULL,
		email TEXT NOT NULL,
		subject TEXT NOT NULL,
		csrf TEXT NOT NULL,
		created INTEGER NOT NULL,
		last_seen INTEGER NOT NULL,
		expires INTEGER NOT NULL,
		reauth_at INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX sessions_by_expiry ON sessions (account, expires)`,
	`CREATE TABLE activity (
		seq INTEGER PRIMARY KEY,
		id TEXT NOT NULL UNIQUE,
		account TEXT NOT NULL,
		at INTEGER NOT NULL,
		actor_kind TEXT NOT NULL,
		actor_id TEXT NOT NULL DEFAULT '',
		actor TEXT NOT NULL,
		resource_type TEXT NOT NULL,
		resource_id TEXT NOT NULL DEFAULT '',
		resource TEXT NOT NULL DEFAULT '',
		operation TEXT NOT NULL,
		method TEXT NOT NULL DEFAULT '',
		path TEXT NOT NULL DEFAULT '',
		attributes TEXT NOT NULL DEFAULT '',
		outcome TEXT NOT NULL,
		status INTEGER NOT NULL DEFAULT 0,
		detail TEXT NOT NULL DEFAULT '',
		request_id TEXT NOT NULL DEFAULT '')`,
	`CREATE INDEX activity_by_time ON activity (account, at, id)`,
	`CREATE INDEX activity_by_outcome ON activity (account, outcome, at, id)`,
	`CREATE INDEX activity_by_actor ON activity (account, actor, at, id)`,
	`CREATE INDEX activity_by_resource_type ON activity (account, resource_type, at, id)`,
	`CREATE TABLE settings (
		name TEXT PRIMARY KEY,
		value BLOB NOT NULL)`,
}

// txKey marks a context that carries this store's transaction.
type txKey struct{ s *Store }

// Atomic runs fn in one transaction: the writes it makes through ctx are
// committed together, or rolled back when fn fails (or panics, or ctx
// ends). Calls nest: an inner Atomic joins the outer transaction.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{s}).(*conn); ok {
		return fn(ctx)
	}
	return s.write(ctx, func(c *conn) error {
		return fn(context.WithValue(ctx, txKey{s}, c))
	})
}

// read returns what reads go through: the transaction of ctx, so that an
// operation sees its own writes, or else the reading connections.
func (s *Store) read(ctx context.Context) *conn {
	if c, ok := ctx.Value(txKey{s}).(*conn); ok {
		return c
	}
	return &conn{plain: s.r, stmts: s.rstmts, trace: s.trace}
}

// write runs fn in the transaction of ctx, or else in a transaction on
// the writing connection, and returns once that transaction is committed
// (and, with SyncCommit, flushed to disk).
//
// Writes that wait for the connection at the same time are committed
// together (group commit): the first of them to get the connection runs
// every write waiting then, each inside a savepoint of one transaction —
// a write that fails is rolled back to its savepoint, the others stay —
// and commits once. Each write is still all-or-nothing and is answered
// only after the commit, but the cost of a commit (the pages it writes to
// the log: a page shared by the writes, such as the tail of the index by
// modification time or the account's row, is written once) is shared.
func (s *Store) write(ctx context.Context, fn func(c *conn) error) error {
	if c, ok := ctx.Value(txKey{s}).(*conn); ok {
		return fn(c)
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	s.queueMu.Lock()
	s.queue = append(s.queue, op)
	s.queueMu.Unlock()
	var res writeResult
	select {
	case res = <-op.done: // a write that had the connection ran it
	case s.writer <- struct{}{}:
		s.runQueued()
		res = <-op.done // ran by this or an earlier batch
	case <-ctx.Done():
		if op.state.CompareAndSwap(opQueued, opAbandoned) {
			return ctx.Err()
		}
		res = <-op.done // already running: its outcome counts
	}
	if res.panicked != nil {
		panic(res.panicked)
	}
	if res.err != nil || !s.syncEachCommit {
		return res.err
	}
	if err := s.flush.wait(res.commit); err != nil {
		return &flushError{err}
	}
	return nil
}

// writeOp is a write waiting for the writing connection.
type writeOp struct {
	ctx   context.Context
	fn    func(c *conn) error
	state atomic.Int32 // opQueued, then opTaken (by a batch) or opAbandoned (by its caller)
	done  chan writeResult
}

const (
	opQueued int32 = iota
	opTaken
	opAbandoned
)

// writeResult is how a write ended: its error, or the panic of its fn,
// and the commit that holds it (for the flusher).
type writeResult struct {
	err      error
	panicked any
	commit   uint64
}

// maxBatch bounds the writes committed together.
const maxBatch = 64

// runQueued runs the queued writes in one transaction, by the caller
// holding the writing connection, and then releases the connection.
// Writes queued while it runs wait for the next batch (run by one of
// them), so that a write never waits for more than the batch it is in.
func (s *Store) runQueued() {
	defer func() { <-s.writer }()
	s.queueMu.Lock()
	var batch []*writeOp
	for len(s.queue) > 0 && len(batch) < maxBatch {
		op := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if op.state.CompareAndSwap(opQueued, opTaken) {
			batch = append(batch, op)
		}
	}
	s.queueMu.Unlock()
	if len(batch) == 0 {
		return
	}
	results := s.runBatch(batch)
	for i, op := range batch {
		op.done <- results[i]
	}
}

// runBatch runs writes in one transaction, each in a savepoint when there
// are several, and commits it.
func (s *Store) runBatch(batch []*writeOp) []writeResult {
	results := make([]writeResult, len(batch))
	failAll := func(err error) []writeResult {
		for i := range results {
			if results[i].err == nil && results[i].panicked == nil {
				results[i].err = err
			}
		}
		return results
	}
	// Not the context of one write: a write whose caller gives up must not
	// roll back the others (its own statements see its context).
	ctx := context.WithoutCancel(batch[0].ctx)
	s.trace("BEGIN")
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return failAll(err)
	}
	c := &conn{tx: tx, stmts: s.wstmts, trace: s.trace, batch: true}
	savepoints := len(batch) > 1
	exec := func(q string) error {
		s.trace(q)
		_, err := tx.ExecContext(ctx, q)
		return err
	}
	ok := 0
	for i, op := range batch {
		if savepoints {
			if err := exec("SAVEPOINT write"); err != nil {
				_ = tx.Rollback()
				return failAll(err)
			}
		}
		results[i] = runOne(op, c)
		if !savepoints {
			break
		}
		failed := results[i].err != nil || results[i].panicked != nil
		if failed {
			if err := exec("ROLLBACK TO write"); err != nil {
				_ = tx.Rollback()
				return failAll(err)
			}
		} else {
			ok++
		}
		if err := exec("RELEASE write"); err != nil {
			_ = tx.Rollback()
			return failAll(err)
		}
	}
	if !savepoints && (results[0].err != nil || results[0].panicked != nil) {
		_ = tx.Rollback()
		return results
	}
	if savepoints && ok == 0 {
		_ = tx.Rollback()
		return results
	}
	s.trace("COMMIT")
	if err := tx.Commit(); err != nil {
		return failAll(err)
	}
	s.wstmts.prepareWanted(ctx)
	n := s.flush.committedOne()
	for i := range results {
		results[i].commit = n
	}
	return results
}

// runOne runs one write's fn, catching its panic for its caller.
func runOne(op *writeOp, c *conn) (res writeResult) {
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panicked: p}
		}
	}()
	return writeResult{err: op.fn(c)}
}

// exec runs one writing statement (in the transaction of ctx, if any).
func (s *Store) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	err = s.write(ctx, func(c *conn) error {
		res, err = c.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// conn runs statements in a transaction (tx) or on the reading
// connections (plain), through prepared statements kept for reuse:
// preparing a statement costs SQLite more than running a simple one.
type conn struct {
	tx    *sql.Tx
	plain *sql.DB
	stmts *stmtCache
	trace func(query string)
	// batch: the transaction of a batch of writes (see write). Its
	// statements do not end with their request's context: SQLite rolls a
	// whole transaction back when a write statement in it is interrupted,
	// which would undo the other writes of the batch; a write that has
	// begun is finished, and its caller waits for it.
	batch bool
	// stored are rows a Get of the batch read, for replace: a resource at
	// a version is the same row until it is written, which advances the
	// version.
	stored map[storedKey]*storedRow
}

func (c *conn) noteStored(k storedKey, o *storedRow) {
	if c.stored == nil {
		c.stored = map[storedKey]*storedRow{}
	}
	c.stored[k] = o
}

// stmtContext is the context a statement runs with (see conn.batch).
func (c *conn) stmtContext(ctx context.Context) context.Context {
	if c.batch {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// stmt returns the prepared statement of a query, bound to the
// transaction if there is one; nil when the query is not kept (or not
// prepared yet).
func (c *conn) stmt(ctx context.Context, query string) *sql.Stmt {
	st := c.stmts.get(ctx, query, c.tx != nil)
	if st != nil && c.tx != nil {
		// A statement prepared on the database (not on a *sql.Conn) is
		// reused by the transaction's connection, not prepared again.
		return c.tx.StmtContext(ctx, st)
	}
	return st
}

func (c *conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c.trace(query)
	ctx = c.stmtContext(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if c.tx != nil {
		return c.tx.ExecContext(ctx, query, args...)
	}
	return c.plain.ExecContext(ctx, query, args...)
}

func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c.trace(query)
	ctx = c.stmtContext(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if c.tx != nil {
		return c.tx.QueryContext(ctx, query, args...)
	}
	return c.plain.QueryContext(ctx, query, args...)
}

// queryAll runs a query on c and returns each row as scan reads it.
func queryAll[T any](ctx context.Context, c *conn, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// rowScanner is a row of *sql.Rows or an *sql.Row.
type rowScanner interface{ Scan(...any) error }

func (c *conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c.trace(query)
	ctx = c.stmtContext(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if c.tx != nil {
		return c.tx.QueryRowContext(ctx, query, args...)
	}
	return c.plain.QueryRowContext(ctx, query, args...)
}

// stmtCache keeps the prepared statements of one database. Queries with
// long IN lists (their text differs with the list's length) are not kept.
type stmtCache struct {
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
	// deferPrepare: queries met in a transaction are prepared after it
	// (prepareWanted), not at once: the writing database has one
	// connection, which the transaction holds.
	deferPrepare bool
	mu           sync.Mutex
	m            map[string]*sql.Stmt
	wanted       map[string]bool
}

const (
	maxKeptStatements = 500
	maxKeptQuery      = 4096
)

func newStmtCache(prepare func(ctx context.Context, query string) (*sql.Stmt, error), deferPrepare bool) *stmtCache {
	return &stmtCache{prepare: prepare, deferPrepare: deferPrepare, m: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

func (c *stmtCache) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	if len(query) > maxKeptQuery {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if len(c.m) >= maxKeptStatements {
		return nil
	}
	if inTx && c.deferPrepare {
		c.wanted[query] = true
		return nil
	}
	st, err := c.prepare(ctx, query)
	if err != nil {
		return nil // run unprepared, which reports the error
	}
	c.m[query] = st
	return st
}

// prepareWanted prepares the queries met in transactions since the last
// call. The caller holds the writing connection, outside a transaction.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for query := range c.wanted {
		delete(c.wanted, query)
		if _, ok := c.m[query]; ok || len(c.m) >= maxKeptStatements {
			continue
		}
		if st, err := c.prepare(context.WithoutCancel(ctx), query); err == nil {
			c.m[query] = st
		}
	}
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		_ = st.Close()
	}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var one int
	return s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes the database, after a last flush and checkpoint.
func (s *Store) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.stopMaintain) })
	<-s.maintained
	s.rstmts.close()
	s.wstmts.close()
	s.flush.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// Secret returns the server-wide secret with the given name, creating a
// random one the first time.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.read(ctx).QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", "secret:"+name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	err = s.write(ctx, func(c *conn) error {
		if _, err := c.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", "secret:"+name, buf); err != nil {
			return err
		}
		return c.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", "secret:"+name).Scan(&v)
	})
	return v, err
}

// isUniqueViolation reports a UNIQUE or PRIMARY KEY constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// millis stores a time as Unix milliseconds (0 for the zero time).
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis reads a time stored by millis.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// idChunk bounds the ids bound to one statement (SQLite allows 32,766
// variables).
const idChunk = 5000

// chunks calls fn with successive slices of ids of at most idChunk.
func chunks(ids []string, fn func([]string) error) error {
	for start := 0; start < len(ids); start += idChunk {
		if err := fn(ids[start:min(start+idChunk, len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

// idList encodes ids as one statement argument, a JSON array that the
// statement reads with json_each: one short statement, prepared once, for
// any number of ids. (A statement with thousands of "?" is prepared again
// each time, and modernc.org/sqlite returns its large program's memory to
// the system at once: for 100,000 ids that costs seconds.)
func idList(ids []string) (string, error) {
	b, err := json.Marshal(ids)
	return string(b), err
}

// anys converts strings to statement arguments, after the given leading
// ones.
func anys(lead []any, ids []string) []any {
	out := make([]any, 0, len(lead)+len(ids))
	out = append(out, lead...)
	for _, id := range ids {
		out = append(out, id)
	}
	return out
}
