package sqlite

import (
	"os"
	"sync"
)

// Group commit. Each transaction commits with synchronous=NORMAL: its
// pages are written to the write-ahead log (the WAL file) but not flushed
// to disk, which on this kind of disk costs about 2 ms per commit — and
// writes are serialised, so flushing every commit would cap the store at
// a few hundred writes a second. Instead, a write returns only once the
// WAL file has been flushed (fsync) after its commit, and one flush serves
// every commit made before it started: while one flush runs, the next
// transactions commit, and the next flush covers them all. So an
// acknowledged write survives a power cut, as with synchronous=FULL.
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

func (f *flusher) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file != nil {
		_ = f.file.Close()
		f.file = nil
	}
}
