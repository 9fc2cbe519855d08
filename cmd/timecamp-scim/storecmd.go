package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/config"
	"github.com/timecamp/timecamp-scim/progress"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
)

// copyBatch is how many records one Import writes.
const copyBatch = 1000

// storeCommand runs "timecamp-scim store copy": everything of the
// configured store (the embedded data folder, or SCIM_MONGODB_URI) into a
// MongoDB deployment, as it is — ids, versions, times, token hashes — so
// that identity providers carry on without provisioning again.
func storeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return usageError{"store: give copy --to MONGODB_URI [--to-database NAME] [--into-non-empty]"}
	}
	c := newCommand("store copy", stderr)
	to := c.fs.String("to", "", "MongoDB connection string to copy to (required)")
	toDB := c.fs.String("to-database", "timecamp_scim", "database to copy into")
	force := c.fs.Bool("into-non-empty", false, "copy even if the target database already holds records (records with the same ids are refused)")
	src, err := c.open(ctx, args[1:])
	if err != nil {
		return err
	}
	defer src.Close(context.Background())
	if len(c.args) != 0 {
		return usageError{"store copy: unexpected " + strings.Join(c.args, " ")}
	}
	if *to == "" {
		return usageError{"store copy: --to MONGODB_URI is required"}
	}
	if *to == c.cfg.MongoURI && *toDB == c.cfg.Database {
		return usageError{"store copy: the target is the store being copied"}
	}
	shown := config.Redact(*to) + " (database " + *toDB + ")"
	dst, err := mongodb.Open(ctx, mongodb.Config{URI: *to, Database: *toDB, Logger: c.cfg.Logger()})
	if err != nil {
		return fmt.Errorf("open %s: %w", shown, err)
	}
	defer dst.Close(context.Background())

	had, err := dst.Count(ctx)
	if err != nil {
		return err
	}
	if had.Total() > 0 && !*force {
		return fmt.Errorf("%s already holds %s; copy into an empty database (--to-database), or pass --into-non-empty to add to it", shown, countsText(had))
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
	fmt.Fprintf(stdout, "Start the server with SCIM_MONGODB_URI (and SCIM_MONGODB_DATABASE=%s) to use it; the tokens, ids and versions are the same.\n", *toDB)
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
