package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/timecamp/timecamp-scim/csvimport"
)

const importUsage = `Usage: timecamp-scim import FILE.csv --url URL [--dry-run]

Imports the people of a CSV file into the account of a SCIM token, through the
server's SCIM Bulk API. If any address in the file already has a user in the
account, nothing is imported. FILE may be "-" for standard input.

The token comes from $SCIM_TOKEN (or --token, which process lists show).
The URL may also come from $SCIM_URL.

Flags:
`

// importCSV runs "timecamp-scim import".
func importCSV(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importUsage)
		fs.PrintDefaults()
	}
	url := fs.String("url", "", "base URL of the timecamp-scim server, as in SCIM_BASE_URL, e.g. https://scim.example.com ($SCIM_URL)")
	token := fs.String("token", "", "SCIM token of the account (prefer $SCIM_TOKEN: flags show in process lists)")
	dryRun := fs.Bool("dry-run", false, "check the file against the account and change nothing")
	files, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		fs.Usage()
		return usageError{"import: give one CSV file"}
	}
	if *url == "" {
		*url = os.Getenv("SCIM_URL")
	}
	if *url == "" {
		return usageError{"import: --url is required (or set SCIM_URL)"}
	}
	if *token == "" {
		*token = os.Getenv("SCIM_TOKEN")
	}

	name, src := files[0], stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	opts := csvimport.Options{URL: *url, Token: *token, DryRun: *dryRun}
	if isTerminal(stderr) {
		opts.Progress = stderr
	}
	rep, err := csvimport.Import(ctx, name, src, opts)
	rep.Print(stdout, stderr)
	if err != nil {
		return err
	}
	return rep.Err()
}

// parseAnywhere parses flags placed before, between or after the
// arguments and returns the arguments.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return rest, nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// isTerminal reports whether w is a terminal (progress bars only go there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
