package csvimport

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Row is one user line of the file, read and checked on its own.
type Row struct {
	Line        int // line of the file where the row starts (the header is line 1)
	Email       string
	GivenName   string
	FamilyName  string
	Role        string   // lower-case; empty: the server's default (user)
	Group       []string // path segments below the account; nil: no group
	Projects    []string // project names or ids as written
	AllProjects *bool    // nil: not given

	groupConflict bool // the group path puts a name in two places (reported)
}

// Problem is something wrong with the file, on a line (0: the file as a
// whole).
type Problem struct {
	Line    int
	Message string
	// note marks an explanation of other problems (printed after them,
	// not counted).
	note bool
}

// Columns, by their canonical names.
const (
	colEmail       = "email"
	colGivenName   = "givenName"
	colFamilyName  = "familyName"
	colRole        = "role"
	colGroup       = "group"
	colProjects    = "projects"
	colAllProjects = "allProjects"
)

// columnNames maps a header, lower-cased and without spaces, "_" and "-",
// to its column. A few spellings that spreadsheets commonly use are
// accepted too.
var columnNames = map[string]string{
	"email":        colEmail,
	"emailaddress": colEmail,
	"givenname":    colGivenName,
	"firstname":    colGivenName,
	"familyname":   colFamilyName,
	"lastname":     colFamilyName,
	"surname":      colFamilyName,
	"role":         colRole,
	"group":        colGroup,
	"projects":     colProjects,
	"allprojects":  colAllProjects,
}

// knownColumns is the list shown when a header is not understood.
const knownColumns = "email, givenName, familyName, role, group, projects, allProjects"

// Roles are the account roles a row may give.
var roles = []string{"administrator", "supervisor", "user", "guest"}

// maxGroupDepth is how many groups a path may nest below the account: the
// group tree has at most 4 levels counting the account itself.
const maxGroupDepth = 3

// parsed is the outcome of reading a file.
type parsed struct {
	rows     []*Row
	problems []Problem
	// fatal is set when the file cannot be read as a list of users at all
	// (bad CSV, no email column): nothing else is checked.
	fatal bool
}

func (p *parsed) problem(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

// parse reads a CSV file with a header row and checks each row on its own
// and the rows against each other (duplicate addresses, group names).
// Everything that can be checked without the server is checked here.
func parse(src io.Reader) *parsed {
	p := &parsed{}
	br := bufio.NewReader(src)
	if bom, _ := br.Peek(3); string(bom) == "\xef\xbb\xbf" {
		_, _ = br.Discard(3) // Excel writes a byte-order mark before UTF-8 CSV
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1 // ragged rows are reported with their line numbers
	r.TrimLeadingSpace = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		p.fatal = true
		p.problem(0, "the file is empty: it needs a header row (e.g. email,givenName,familyName) and one line per user")
		return p
	}
	if err != nil {
		p.fatal = true
		p.csvError(err)
		return p
	}
	cols, ok := p.readHeader(header)
	if !ok {
		p.fatal = true
		return p
	}
	width := len(header)

	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// After a quoting error the reader cannot tell where the next
			// row starts: stop here.
			p.fatal = true
			p.csvError(err)
			return p
		}
		line, _ := r.FieldPos(0)
		if blank(rec) {
			continue
		}
		if len(rec) != width {
			p.problem(line, "%d fields, but the header has %d columns (a missing or extra comma, or a value with a comma that is not in double quotes?)", len(rec), width)
			continue
		}
		if row := p.readRow(line, rec, cols); row != nil {
			p.rows = append(p.rows, row)
		}
	}
	if len(p.rows) == 0 && len(p.problems) == 0 {
		p.problem(0, "no users: the file has a header but no lines after it")
	}
	p.checkDuplicates()
	p.checkGroupNames()
	sortProblems(p.problems)
	return p
}

func (p *parsed) csvError(err error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg := pe.Err.Error()
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			msg = `a double quote inside a value that does not start with one; put the whole value in double quotes and double the quote inside ("6"" screen")`
		case errors.Is(pe.Err, csv.ErrQuote):
			msg = "a quoted value is not closed, or text follows its closing double quote"
		}
		line := pe.Line
		if errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine != pe.Line {
			msg += fmt.Sprintf(" (the value starts on line %d)", pe.StartLine)
		}
		p.problem(line, "malformed CSV at column %d: %s", pe.Column, msg)
		return
	}
	p.problem(0, "cannot read the file: %v", err)
}

// readHeader maps the header's columns. Unknown, unnamed or repeated
// columns are problems (the rows are still checked, so that every problem
// shows at once); without an email column the rows cannot be read at all
// (ok is false).
func (p *parsed) readHeader(header []string) (cols map[string]int, ok bool) {
	cols = map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			p.problem(1, "column %d of the header has no name; name it (%s) or delete the column", i+1, knownColumns)
			continue
		}
		name, known := columnNames[normalizeHeader(h)]
		if !known {
			p.problem(1, "unknown column %q (column %d); the columns are %s: rename or delete it", h, i+1, knownColumns)
			continue
		}
		if prev, dup := cols[name]; dup {
			p.problem(1, "column %q appears twice (columns %d and %d)", name, prev+1, i+1)
			continue
		}
		cols[name] = i
	}
	if _, has := cols[colEmail]; !has {
		msg := "the header (line 1) has no email column; the first line must name the columns, e.g. email,givenName,familyName,role,group,projects,allProjects"
		if len(header) == 1 && strings.Count(header[0], ";") > 0 {
			msg += "; this file seems to separate values with semicolons: save it as comma-separated CSV"
		}
		// Replace the complaints about the columns: without an email column
		// they are most likely one and the same mistake.
		p.problems = []Problem{{Line: 1, Message: msg}}
		return nil, false
	}
	return cols, true
}

func normalizeHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		if r == ' ' || r == '_' || r == '-' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// readRow reads and checks one row; it returns nil when the row has no
// usable address (it is then reported and left out of the cross checks).
func (p *parsed) readRow(line int, rec []string, cols map[string]int) *Row {
	get := func(col string) string {
		if i, ok := cols[col]; ok {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for _, f := range rec {
		if !utf8.ValidString(f) {
			p.problem(line, "the line is not UTF-8 text; save the file as \"CSV UTF-8\"")
			return nil
		}
	}
	row := &Row{Line: line, Email: get(colEmail), GivenName: get(colGivenName), FamilyName: get(colFamilyName)}
	bad := false
	switch {
	case row.Email == "":
		p.problem(line, "no email address")
		bad = true
	case !ValidEmail(row.Email):
		p.problem(line, "%q is not an email address", row.Email)
		bad = true
	}
	if v := get(colRole); v != "" {
		row.Role = strings.ToLower(v)
		if !contains(roles, row.Role) {
			p.problem(line, "unknown role %q; the roles are administrator, supervisor, user and guest", v)
		}
	}
	if v := get(colAllProjects); v != "" {
		switch strings.ToLower(v) {
		case "true", "yes", "1":
			t := true
			row.AllProjects = &t
		case "false", "no", "0":
			f := false
			row.AllProjects = &f
		default:
			p.problem(line, "allProjects is %q; write true or false (yes/no and 1/0 work too)", v)
		}
	}
	if v := get(colGroup); v != "" {
		segs := strings.Split(v, "/")
		ok := true
		for i, s := range segs {
			segs[i] = strings.TrimSpace(s)
			if segs[i] == "" {
				ok = false
			}
		}
		switch {
		case !ok:
			p.problem(line, "group %q has an empty level; write a path such as Engineering/Backend", v)
		case len(segs) > maxGroupDepth:
			p.problem(line, "group %q is %d levels deep; groups nest at most %d levels below the account (4 counting the account)", v, len(segs), maxGroupDepth)
		default:
			row.Group = segs
		}
	}
	if v := get(colProjects); v != "" {
		seen := map[string]bool{}
		for _, name := range strings.Split(v, ";") {
			name = strings.TrimSpace(name)
			if name != "" && !seen[strings.ToLower(name)] {
				seen[strings.ToLower(name)] = true
				row.Projects = append(row.Projects, name)
			}
		}
	}
	if bad {
		return nil
	}
	return row
}

// ValidEmail accepts plain addresses (local@domain.tld): no display name,
// no quoting, no spaces, a domain with at least one dot.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n\"\\(),:;<>[]") {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || strings.Contains(domain, "@") {
		return false
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return false
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
	}
	return true
}

// checkDuplicates reports addresses that appear on more than one line
// (compared without regard to case, as userNames are).
func (p *parsed) checkDuplicates() {
	lines := map[string][]int{}
	for _, r := range p.rows {
		k := strings.ToLower(r.Email)
		lines[k] = append(lines[k], r.Line)
	}
	for _, r := range p.rows {
		all := lines[strings.ToLower(r.Email)]
		if len(all) < 2 {
			continue
		}
		var others []string
		for _, l := range all {
			if l != r.Line {
				others = append(others, fmt.Sprint(l))
			}
		}
		p.problem(r.Line, "%s is in the file more than once: also on line %s (addresses compare without regard to case)", r.Email, strings.Join(others, ", "))
	}
}

// checkGroupNames reports group paths that give one group name two places
// in the tree: group names are unique in an account, so "Eng/Backend" and
// "Ops/Backend" cannot both exist.
func (p *parsed) checkGroupNames() {
	type place struct {
		parent string // lower-cased path of the parent; "" at the top
		path   string
		line   int
	}
	first := map[string]place{}
	for _, r := range p.rows {
		for i := range r.Group {
			name := strings.ToLower(r.Group[i])
			parent := strings.ToLower(strings.Join(r.Group[:i], "/"))
			at, seen := first[name]
			if !seen {
				first[name] = place{parent: parent, path: strings.Join(r.Group[:i+1], "/"), line: r.Line}
				continue
			}
			if at.parent != parent {
				r.groupConflict = true
				p.problem(r.Line, "group %q: a group named %q is at %s on line %d; group names are unique in an account, so a name can be in one place only", strings.Join(r.Group, "/"), r.Group[i], at.path, at.line)
				break
			}
		}
	}
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
