package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/progress"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/sqlite"
)

// copyBatch is how many records one Import writes.
const copyBatch = 1000

// storeCommand runs "timecamp-scim store copy|backup".
func storeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "copy":
			return storeCopy(ctx, args[1:], stdout, stderr)
		case "backup":
			return storeBackup(ctx, args[1:], stdout, stderr)
		}
	}
	return usageError{"store: give copy --to MONGODB_URI [--to-database NAME] [--into-non-empty], copy --to-data-dir DIR, or backup --to DIR"}
}

// storeCopy copies everything of the configured store (the embedded data
// folder, or SCIM_MONGODB_URI) into a MongoDB deployment or an embedded
// data folder, as it is — ids, versions, times, token hashes — so that
// identity providers carry on without provisioning again.
func storeCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("store copy", stderr)
	to := c.fs.String("to", "", "MongoDB connection string to copy to")
	toDB := c.fs.String("to-database", "timecamp_scim", "database to copy into (with --to)")
	toDir := c.fs.String("to-data-dir", "", "embedded data folder to copy into, instead of MongoDB")
	force := c.fs.Bool("into-non-empty", false, "copy even if the target already holds records (records with the same ids are refused)")
	src, err := c.open(ctx, args)
	if err != nil {
		return err
	}
	defer src.Close(context.Background())
	if len(c.args) != 0 {
		return usageError{"store copy: unexpected " + strings.Join(c.args, " ")}
	}
	if (*to == "") == (*toDir == "") {
		return usageError{"store copy: give the target: --to MONGODB_URI, or --to-data-dir DIR"}
	}
	var dst copyTarget
	var shown, next string
	if *toDir != "" {
		if c.cfg.MongoURI == "" && sameFolder(*toDir, c.cfg.DataDir) {
			return usageError{"store copy: the target is the store being copied"}
		}
		shown = "the data folder " + *toDir
		next = fmt.Sprintf("Start the server with SCIM_DATA_DIR=%s (and no SCIM_MONGODB_URI) to use it; the tokens, ids and versions are the same.", *toDir)
		dst, err = sqlite.Open(ctx, sqlite.Config{DataDir: *toDir, Logger: c.cfg.Logger()})
	} else {
		if *to == c.cfg.MongoURI && *toDB == c.cfg.Database {
			return usageError{"store copy: the target is the store being copied"}
		}
		shown = config.Redact(*to) + " (database " + *toDB + ")"
		next = fmt.Sprintf("Start the server with SCIM_MONGODB_URI (and SCIM_MONGODB_DATABASE=%s) to use it; the tokens, ids and versions are the same.", *toDB)
		dst, err = mongodb.Open(ctx, mongodb.Config{URI: *to, Database: *toDB, Logger: c.cfg.Logger()})
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", shown, err)
	}
	defer dst.Close(context.Background())

	had, err := dst.Count(ctx)
	if err != nil {
		return err
	}
	if had.Total() > 0 && !*force {
		return fmt.Errorf("%s already holds %s; copy into an empty one (--to-database, --to-data-dir), or pass --into-non-empty to add to it", shown, countsText(had))
	}
	want, err := src.Count(ctx)
	if err != nil {
		return err
	}
	var bar *progress.Bar
	if isTerminal(stderr) {
		bar = progress.New(stderr)
	}
	bar.Start("Copying records", want.Total())
	start := time.Now()
	var batch []store.Record
	flush := func() error {
		if err := dst.Import(ctx, batch); err != nil {
			return fmt.Errorf("write to %s: %w", shown, err)
		}
		bar.Add(len(batch))
		batch = batch[:0]
		return nil
	}
	copied := store.Counts{}
	err = src.Export(ctx, func(r store.Record) error {
		batch = append(batch, r)
		copied[r.Kind()]++
		if len(batch) == copyBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	bar.Clear()
	if err != nil {
		return err
	}

	// The count check: what the target holds now is what it had plus what
	// was read.
	got, err := dst.Count(ctx)
	if err != nil {
		return err
	}
	var wrong []string
	for _, k := range store.CountKinds {
		if got[k] != had[k]+copied[k] {
			wrong = append(wrong, fmt.Sprintf("%s: %d copied, the target has %d (had %d)", k, copied[k], got[k], had[k]))
		}
	}
	if len(wrong) > 0 {
		return errors.New("the copy does not add up: " + strings.Join(wrong, "; "))
	}
	fmt.Fprintf(stdout, "copied %s to %s in %s; the counts match.\n", countsText(copied), shown, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, next)
	return nil
}

// copyTarget is the store a copy writes into.
type copyTarget interface {
	store.Copying
	Close(ctx context.Context) error
}

// sameFolder tells whether two paths name one folder.
func sameFolder(a, b string) bool {
	a, _ = filepath.Abs(a)
	b, _ = filepath.Abs(b)
	return a == b
}

// storeBackup runs "timecamp-scim store backup --to DIR": a snapshot of
// the embedded database, taken while servers serve from it, into a new
// data folder that "serve" starts from as it is.
func storeBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("store backup", stderr)
	to := c.fs.String("to", "", "folder to write the backup into, new or empty (required); serve starts from it with SCIM_DATA_DIR")
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) != 0 {
		return usageError{"store backup: unexpected " + strings.Join(c.args, " ")}
	}
	if *to == "" {
		return usageError{"store backup: --to DIR is required (a new or empty folder)"}
	}
	if err := c.cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if c.cfg.MongoURI != "" {
		return usageError{"store backup copies the embedded database, and SCIM_MONGODB_URI is set: back MongoDB up with mongodump or your deployment's snapshots, or copy it into a data folder with \"store copy --to-data-dir DIR\" (docs/operations.md, Backup and restore)"}
	}
	// Opening a folder without a database would create an empty one.
	if _, err := os.Stat(filepath.Join(c.cfg.DataDir, sqlite.FileName)); err != nil {
		return fmt.Errorf("no embedded database in %s (SCIM_DATA_DIR, --data-dir): %w", c.cfg.DataDir, err)
	}
	st, err := openStore(ctx, c.cfg)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	db, ok := st.(*sqlite.Store)
	if !ok {
		return fmt.Errorf("store backup: the store is a %T, not the embedded database", st)
	}
	var bar *progress.Bar
	if isTerminal(stderr) {
		bar = progress.New(stderr)
	}
	start, shown := time.Now(), 0
	err = db.Backup(ctx, *to, func(done, total int) {
		if shown == 0 && total > 0 {
			bar.Start("Backing up (pages)", total)
		}
		bar.Add(done - shown)
		shown = done
	})
	bar.Clear()
	if err != nil {
		return fmt.Errorf("backup of %s into %s: %w", c.cfg.DataDir, *to, err)
	}
	size := int64(0)
	if fi, err := os.Stat(filepath.Join(*to, sqlite.FileName)); err == nil {
		size = fi.Size()
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%.1f MiB, one snapshot) in %s.\n", c.cfg.DataDir, *to, float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "To restore, start a server on it: SCIM_DATA_DIR=%s timecamp-scim serve\n", *to)
	return nil
}

// countsText says how many records of each kind there are.
func countsText(c store.Counts) string {
	var parts []string
	for _, k := range store.CountKinds {
		parts = append(parts, fmt.Sprintf("%d %s", c[k], k))
	}
	return strings.Join(parts, ", ")
}
