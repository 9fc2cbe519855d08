// Package sqlite is the embedded store: one SQLite database file (through
// modernc.org/sqlite, pure Go) in the data folder, the default when no
// MongoDB URI is configured. It needs no set-up and serves one machine.
//
// Layout: a table per kind of record (accounts, tokens, resources,
// memberships, outbox, settings). A resource row holds the SCIM attributes
// as JSON and, in columns of their own, what lookups and rules need: the
// lower-cased unique name (userName, a group's displayName), externalId,
// whether the user takes a seat, and the invitation's token hash, status and
// expiry. Values of multi-valued lookup keys (email addresses, project ids,
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
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/timecamp/timecamp-scim/store"
)

// FileName is the database file in the data folder.
const FileName = "timecamp-scim.db"

// Config says where the database lives.
type Config struct {
	// DataDir is the folder of the database file (created if missing).
	DataDir string
	Logger  *slog.Logger
}

// Store is the embedded store. It is safe for concurrent use, and several
// processes may open one data folder at once.
type Store struct {
	path string
	// w is the one writing connection; r are reading connections.
	w, r *sql.DB
	log  *slog.Logger
}

var _ store.Store = (*Store)(nil)

// readers is how many connections read at once.
const readers = 8

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
	// synchronous(FULL): a transaction is on disk when it commits, so an
	// acknowledged write survives a power cut too, not just a crash.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(OFF)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-16000)"
	s := &Store{path: path, log: log}
	if s.w, err = sql.Open("sqlite", dsn); err != nil {
		return nil, err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	if err := s.migrate(ctx); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if s.r, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)"); err != nil {
		_ = s.w.Close()
		return nil, err
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
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

// schemaVersion is the layout this code writes (PRAGMA user_version).
const schemaVersion = 1

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
	return s.write(ctx, func(tx *sql.Tx) error {
		// Another process may have created it meanwhile.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v == schemaVersion {
			return err
		}
		for _, stmt := range schema {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", strings.Fields(stmt)[:3], err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
		return err
	})
}

// schema creates the tables and indexes. Times are Unix milliseconds.
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
		created INTEGER NOT NULL)`,
	`CREATE INDEX tokens_by_account ON tokens (account, name)`,
	`CREATE TABLE resources (
		account TEXT NOT NULL,
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		created INTEGER NOT NULL,
		modified INTEGER NOT NULL,
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
	if _, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return fn(ctx)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		return fn(context.WithValue(ctx, txKey{s}, tx))
	})
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// read returns what reads go through: the transaction of ctx, so that an
// operation sees its own writes, or else the reading connections.
func (s *Store) read(ctx context.Context) querier {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return tx
	}
	return s.r
}

// write runs fn in the transaction of ctx, or in a transaction of its own
// on the writing connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return fn(tx)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// exec runs one writing statement (in the transaction of ctx, if any).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx, ok := ctx.Value(txKey{s}).(*sql.Tx); ok {
		return tx.ExecContext(ctx, query, args...)
	}
	return s.w.ExecContext(ctx, query, args...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var one int
	return s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close closes the database.
func (s *Store) Close(ctx context.Context) error {
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
	err = s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", "secret:"+name, buf); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE name = ?", "secret:"+name).Scan(&v)
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
