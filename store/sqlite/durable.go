package sqlite

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// When commits reach the disk. Each transaction commits with
// synchronous=NORMAL: its pages are written to the write-ahead log (the
// WAL file) — from then on a crash of the process loses nothing — but not
// flushed to the disk itself, which on this kind of disk costs about 2 ms
// per commit; writes are serialised, so flushing every commit on its own
// would cap the store at a few hundred writes a second. The flusher
// flushes the WAL file (fsync) for many commits at once, in one of two
// ways (Config.Sync):
//
//   - SyncInterval (the default): in the background, within FlushInterval
//     of a commit. A write is answered at once; a power cut or a crash of
//     the machine (not of the process) can lose the writes of the last
//     FlushInterval — as PostgreSQL's synchronous_commit=off does.
//   - SyncCommit: a write returns only once the WAL has been flushed after
//     its commit, and one flush serves every commit made before it started
//     (group commit): while one flush runs, the next transactions commit,
//     and the next flush covers them all. An acknowledged write survives a
//     power cut, as with synchronous=FULL, for a flush's time (~2 ms) more
//     per write.
//
// SQLite itself flushes the WAL before a checkpoint copies it into the
// database file, and the database file after, so a commit is on disk
// whether it still lies in the WAL or was checkpointed meanwhile.
type flusher struct {
	path string // the WAL file

	mu        sync.Mutex
	cond      *sync.Cond
	committed uint64 // commits so far
	flushed   uint64 // commits covered by a finished flush
	flushing  bool
	flushes   uint64 // flushes done, for tests
	err       error  // of the last flush
	file      *os.File
}

// Sync modes (Config.Sync).
const (
	SyncInterval = "interval"
	SyncCommit   = "commit"
)

// FlushInterval bounds how long a commit waits for its flush in
// SyncInterval mode.
const FlushInterval = 100 * time.Millisecond

func newFlusher(walPath string) *flusher {
	f := &flusher{path: walPath}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// committedOne counts a commit and returns its number.
func (f *flusher) committedOne() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.committed++
	return f.committed
}

// wait returns once commit n is on disk. The first waiter that finds no
// flush running starts one for every commit so far; the others wait for
// it (or for the next).
func (f *flusher) wait(n uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.flushed < n {
		if f.flushing {
			f.cond.Wait()
			continue
		}
		target := f.committed
		f.flushing = true
		f.mu.Unlock()
		err := f.sync()
		f.mu.Lock()
		f.flushing = false
		if err == nil {
			f.flushed = max(f.flushed, target)
			f.flushes++
		}
		f.err = err
		f.cond.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}

// sync flushes the WAL file. The file is opened once and kept: fsync on
// any descriptor of a file flushes the file.
func (f *flusher) sync() error {
	if f.file == nil {
		file, err := os.Open(f.path)
		if err != nil {
			return err
		}
		f.file = file
	}
	if err := f.file.Sync(); err != nil {
		// The WAL may have been replaced (all connections to the database
		// closed, in every process): open it again next time.
		_ = f.file.Close()
		f.file = nil
		return err
	}
	return nil
}

// flushAll flushes every commit so far (nothing when all are flushed).
func (f *flusher) flushAll() error {
	f.mu.Lock()
	n := f.committed
	f.mu.Unlock()
	return f.wait(n)
}

// close flushes what is left and releases the file.
func (f *flusher) close() {
	_ = f.flushAll()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file != nil {
		_ = f.file.Close()
		f.file = nil
	}
}

// CheckpointInterval is how often the write-ahead log is copied into the
// database file (a checkpoint). SQLite would do it itself within a commit
// every 1,000 pages (wal_autocheckpoint), making that commit's writer wait;
// here a reading connection does it in the background, beside the writer.
const CheckpointInterval = time.Second

// maintain flushes (in SyncInterval mode) and checkpoints in the
// background until stop is closed, then flushes and checkpoints once more.
func (s *Store) maintain(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(FlushInterval)
	defer tick.Stop()
	lastCheckpoint := time.Now()
	for {
		select {
		case <-stop:
			s.checkpoint()
			return
		case <-tick.C:
		}
		if !s.syncEachCommit {
			if err := s.flush.flushAll(); err != nil {
				s.log.Error("flushing the embedded database to disk", "error", err)
			}
		}
		if time.Since(lastCheckpoint) >= CheckpointInterval {
			lastCheckpoint = time.Now()
			s.checkpoint()
		}
	}
}

// checkpoints counts the checkpoints done, for tests.
type checkpoints = atomic.Int64

// A checkpoint copies the write-ahead log into the database file; the log
// starts over from its beginning only when a write begins while all of it
// has been copied and no reader still reads from it. Under a steady stream
// of writes that moment never comes by itself: each write lands between
// one checkpoint and the next, and the log would grow without end (3 GB in
// a minute of Bulk imports, every read slower for searching it). So a
// checkpoint has two steps:
//
//  1. the copying, on a reading connection, beside the writer (PASSIVE);
//  2. when the log holds more than restartAfterFrames (Store.restartAfter,
//     which tests lower), the rest of it is copied in the writer's place
//     (no write in between), waiting at most restartWait for readers to
//     leave the log (RESTART), so that the next write starts the log
//     over. A reader that stays longer (a store copy) makes this step give
//     up until the next checkpoint.
//
// walSizeLimit is what the log's file is cut back to when it starts over.
const (
	restartAfterFrames = 32768 // 128 MiB of pages
	restartWait        = 50 * time.Millisecond
	walSizeLimit       = 128 << 20
)

// checkpoint copies what it can of the write-ahead log into the database
// file and, when the log has grown, makes it start over (see above).
func (s *Store) checkpoint() {
	var busy, logFrames, done int
	if err := s.r.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
		s.log.Warn("checkpointing the embedded database", "error", err)
		return
	}
	s.checkpoints.Add(1)
	if int64(logFrames) >= s.restartAfter.Load() {
		if err := s.restartLog(); err != nil {
			s.log.Warn("starting the embedded database's write-ahead log over", "error", err)
		}
	}
}

// restartLog runs a RESTART checkpoint on the writing connection, in the
// writer's place, waiting at most restartWait for readers.
func (s *Store) restartLog() error {
	ctx := context.Background()
	s.writer <- struct{}{}
	defer func() { <-s.writer }()
	c, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout(%d)", restartWait.Milliseconds())); err != nil {
		return err
	}
	var busy, logFrames, done int
	err = c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logFrames, &done)
	if _, rerr := c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout(%d)", busyTimeoutMS)); err == nil {
		err = rerr
	}
	if err == nil && busy == 0 {
		s.logRestarts.Add(1)
	}
	return err
}
