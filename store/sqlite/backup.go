package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	sqlite "modernc.org/sqlite"
)

// backupStep is how many pages one step of a backup copies (4 MiB of
// 4 KiB pages) between two reports of its progress; tests lower it.
var backupStep int32 = 1024

// backuper is what modernc.org/sqlite's connections offer for SQLite's
// online backup API.
type backuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// Backup writes a copy of the database into dir, a data folder that a
// server starts from as it is (SCIM_DATA_DIR=dir). dir must be empty or
// not exist; the copy is written into a temporary folder beside it,
// flushed to the disk and renamed to dir, so that dir holds a whole copy
// or nothing. progress, when not nil, is told the pages copied so far and
// the pages in all.
//
// The copy is one consistent snapshot — every write committed before
// Backup began, nothing committed after — taken while servers go on
// writing, in this process or others: it reads in one read transaction,
// which in WAL mode never blocks a writer. What it holds back, for as
// long as it runs, is the write-ahead log's start over (see checkpoint):
// the log grows by what is written meanwhile, and is cut back after.
func (s *Store) Backup(ctx context.Context, dir string, progress func(done, total int)) (err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := refuseNonEmpty(dir); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".backup-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	dst := filepath.Join(tmp, FileName)
	if err := s.backupTo(ctx, dst, progress); err != nil {
		return err
	}
	for _, f := range []string{dst, tmp} {
		if err := syncPath(f); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err // not empty any more: something wrote into it meanwhile
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return syncPath(parent)
}

// backupTo copies the database into the file dst, in one read
// transaction of one connection: SQLite's backup steps reuse a read
// transaction the source connection holds (and do not start over when
// others write), so each step sees the same snapshot.
func (s *Store) backupTo(ctx context.Context, dst string, progress func(done, total int)) error {
	c, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Not BeginTx: the connection string asks for BEGIN IMMEDIATE, which
	// would take the write lock.
	if _, err := c.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return err
	}
	defer c.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck // read only
	var tables int
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema").Scan(&tables); err != nil { // the snapshot begins here
		return err
	}
	return c.Raw(func(dc any) error {
		bc, ok := dc.(backuper)
		if !ok {
			return fmt.Errorf("the SQLite driver (%T) offers no online backup", dc)
		}
		b, err := bc.NewBackup(dst)
		if err != nil {
			return fmt.Errorf("backup into %s: %w", dst, err)
		}
		for {
			if err := ctx.Err(); err != nil {
				_ = b.Finish()
				return err
			}
			more, err := b.Step(backupStep)
			if err != nil {
				_ = b.Finish()
				return fmt.Errorf("backup into %s: %w", dst, err)
			}
			if progress != nil {
				total := b.PageCount()
				if !more {
					progress(total, total)
				} else {
					progress(total-b.Remaining(), total)
				}
			}
			if !more {
				return b.Finish()
			}
		}
	})
}

// refuseNonEmpty is nil when dir does not exist or is an empty folder.
func refuseNonEmpty(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.IsDir() {
		return fmt.Errorf("%s exists and is not a folder", dir)
	}
	if _, err := f.Readdirnames(1); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s is not empty: back up into a new folder (or an empty one)", dir)
	}
	return nil
}

// syncPath flushes a file or a folder (its entries) to the disk.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
