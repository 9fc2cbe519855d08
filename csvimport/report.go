package csvimport

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Print writes the report: each problem or failure as "file:line:
// message" to errw, and a summary of what was done to out.
func (r *Report) Print(out, errw io.Writer) {
	for _, p := range r.Problems {
		fmt.Fprintln(errw, r.where(p)+p.Message)
	}
	for _, p := range r.Failures {
		fmt.Fprintln(errw, r.where(p)+p.Message)
	}
	if r.Aborted != "" {
		fmt.Fprintf(errw, "%s: %s\n", r.File, r.Aborted)
	}
	switch {
	case len(r.Problems) > 0:
	case r.DryRun:
		fmt.Fprintf(out, "%s: %s checked, no problems: the import would create %s and %s%s. Dry run: nothing was changed.\n",
			r.File, plural(r.Users, "line", "lines"), plural(r.Users, "user", "users"), plural(r.NewGroups, "group", "groups"), existingGroups(r.ExistingGroups))
	case r.CreatedUsers > 0 || r.CreatedGroups > 0:
		fmt.Fprintf(out, "%s: created %s and %s, added %s to groups (%s, %s, %s).\n",
			r.File, plural(r.CreatedUsers, "user", "users"), plural(r.CreatedGroups, "group", "groups"),
			plural(r.Memberships, "user", "users"), plural(r.Users, "line", "lines"), plural(r.Requests, "request", "requests"), r.Elapsed.Round(time.Millisecond))
	}
}

func existingGroups(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s already there)", plural(n, "group is", "groups are"))
}

func (r *Report) where(p Problem) string {
	if p.Line == 0 {
		return r.File + ": "
	}
	return fmt.Sprintf("%s:%d: ", r.File, p.Line)
}

// Err returns nil when the import did all it had to, and otherwise an
// error that sums up what went wrong (Print lists the details).
func (r *Report) Err() error {
	switch {
	case len(r.Problems) > 0 && r.DryRun:
		return fmt.Errorf("%s: %s (dry run: nothing was changed)", r.File, plural(len(r.Problems), "problem", "problems"))
	case len(r.Problems) > 0:
		return fmt.Errorf("%s: %s; nothing was imported", r.File, plural(len(r.Problems), "problem", "problems"))
	case r.Aborted != "":
		return errors.New(r.File + ": import stopped: " + r.Aborted)
	case len(r.Failures) > 0:
		return fmt.Errorf("%s: %s of %d failed, the others were imported; to retry, import a file with only the failed lines", r.File, plural(failedLines(r.Failures), "line", "lines"), r.Users)
	}
	return nil
}

func failedLines(ps []Problem) int {
	seen := map[int]bool{}
	for _, p := range ps {
		seen[p.Line] = true
	}
	return len(seen)
}
