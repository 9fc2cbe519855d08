package csvimport

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Print writes the report: each problem or failure as "file:line:
// message" to errw, and a summary of what was done to out.
func (r *Report) Print(out, errw io.Writer) {
	for _, list := range [][]Problem{r.Problems, r.Failures} {
		for _, p := range list {
			if !p.note {
				fmt.Fprintln(errw, r.where(p)+p.Message)
			}
		}
		for _, p := range list {
			if p.note {
				fmt.Fprintln(errw, r.where(p)+p.Message)
			}
		}
	}
	if r.Aborted != "" {
		fmt.Fprintf(errw, "%s: %s\n", r.File, r.Aborted)
	}
	switch {
	case len(r.Problems) > 0:
	case r.DryRun:
		groups := ""
		if r.NewGroups > 0 || r.ExistingGroups > 0 {
			groups = " and " + plural(r.NewGroups, "group", "groups") + existingGroups(r.ExistingGroups)
		}
		fmt.Fprintf(out, "%s: %s checked, no problems: the import would create %s%s. Dry run: nothing was changed.\n",
			r.File, plural(r.Users, "line", "lines"), plural(r.Users, "user", "users"), groups)
	case r.CreatedUsers > 0 || r.CreatedGroups > 0:
		done := "created " + plural(r.CreatedUsers, "user", "users")
		if r.CreatedGroups > 0 {
			done += " and " + plural(r.CreatedGroups, "group", "groups")
		}
		if r.Memberships > 0 {
			done += ", added " + plural(r.Memberships, "user", "users") + " to groups"
		}
		fmt.Fprintf(out, "%s: %s (%s, %s, %s).\n", r.File, done,
			plural(r.Users, "line", "lines"), plural(r.Requests, "request", "requests"), r.Elapsed.Round(time.Millisecond))
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
		return fmt.Errorf("%s: %s (dry run: nothing was changed)", r.File, r.problemCount())
	case len(r.Problems) > 0:
		return fmt.Errorf("%s: %s; nothing was imported", r.File, r.problemCount())
	case r.Aborted != "":
		return errors.New(r.File + ": import stopped: " + r.Aborted)
	case len(r.Failures) > 0:
		return fmt.Errorf("%s: %s of %d failed, the others were imported; to retry, import a file with only the failed lines", r.File, plural(failedLines(r.Failures), "line", "lines"), r.Users)
	}
	return nil
}

// problemCount counts the problems, and says when they are all existing
// addresses (TimeCamp's rule).
func (r *Report) problemCount() string {
	n, existing := 0, 0
	for _, p := range r.Problems {
		if p.note {
			continue
		}
		n++
		if strings.Contains(p.Message, existingMarker) {
			existing++
		}
	}
	if existing == n {
		return plural(n, "address already has a user in this account", "addresses already have a user in this account")
	}
	return plural(n, "problem", "problems")
}

func failedLines(ps []Problem) int {
	seen := map[int]bool{}
	for _, p := range ps {
		seen[p.Line] = true
	}
	return len(seen)
}
