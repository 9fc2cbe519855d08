package storetest

// The query-shape check of the MongoDB store: every command a test's store
// sends to an account-scoped collection (resources, memberships) is
// checked against the indexes the store declares (mongodb.Indexes), and a
// test whose store sent one that breaks the rules fails. The rules are
// what lets a sharded cluster with shard key {account, …} route every
// request to one shard, and what FerretDB can hand to its database:
//
//   - the filter names the account as a top-level equality (a query served
//     by an index declared CrossAccount aside: the accept link's lookup and
//     the invitation expiry sweep);
//   - its top-level equality fields (value, or $in) cover the leading
//     fields of a declared index, and beyond the account whenever the
//     filter has another top-level equality: a lookup key without an index
//     is a scan of the account;
//   - no $and holds conditions that one flat document could;
//   - inserted documents carry their account.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/store/mongodb"
)

// Command is one command a store sent.
type Command struct {
	Name       string // find, insert, update, getMore, …
	Collection string
	// Background: sent by the server's own background work (see
	// store.Background), not by a request.
	Background bool
	Body       bson.Raw
	// Duration is how long the database took to answer (0 until it has).
	Duration time.Duration
}

// CommandLog records the commands a store sends to its database and
// checks the shape of each (see above).
type CommandLog struct {
	database string
	mu       sync.Mutex
	commands []Command
	pending  map[int64]int // request id → index in commands
	problems []string
}

// NewCommandLog returns a log of the commands sent to a database.
func NewCommandLog(database string) *CommandLog {
	return &CommandLog{database: database, pending: map[int64]int{}}
}

// Monitor returns the driver's command monitor feeding the log.
func (l *CommandLog) Monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(ctx context.Context, e *event.CommandStartedEvent) {
		if e.DatabaseName != l.database {
			return
		}
		c := Command{Name: e.CommandName, Body: slices.Clone(e.Command), Background: store.IsBackground(ctx)}
		if v, err := e.Command.LookupErr(e.CommandName); err == nil {
			c.Collection, _ = v.StringValueOK()
		}
		problems := CheckCommand(c)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.pending[e.RequestID] = len(l.commands)
		l.commands = append(l.commands, c)
		l.problems = append(l.problems, problems...)
	}, Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		l.finished(e.RequestID, e.Duration)
	}, Failed: func(_ context.Context, e *event.CommandFailedEvent) {
		l.finished(e.RequestID, e.Duration)
	}}
}

func (l *CommandLog) finished(id int64, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.pending[id]; ok {
		l.commands[i].Duration = d
		delete(l.pending, id)
	}
}

// Commands returns the commands recorded so far.
func (l *CommandLog) Commands() []Command {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.commands)
}

// Len returns how many commands were recorded so far.
func (l *CommandLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.commands)
}

// Problems returns the rules the recorded commands broke.
func (l *CommandLog) Problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.problems)
}

// CheckCommand returns the rules a command breaks, if it goes to an
// account-scoped collection.
func CheckCommand(c Command) []string {
	if !slices.Contains(mongodb.ScopedCollections(), c.Collection) {
		return nil
	}
	var cmd bson.D
	if err := bson.Unmarshal(c.Body, &cmd); err != nil {
		return []string{fmt.Sprintf("%s %s: cannot read the command: %v", c.Name, c.Collection, err)}
	}
	field := func(name string) any {
		for _, e := range cmd {
			if e.Key == name {
				return e.Value
			}
		}
		return nil
	}
	var filters []bson.D
	switch c.Name {
	case "find":
		filters = append(filters, asDoc(field("filter")))
	case "count", "distinct":
		filters = append(filters, asDoc(field("query")))
	case "findAndModify":
		filters = append(filters, asDoc(field("query")))
	case "aggregate":
		var match bson.D
		if stages, ok := field("pipeline").(bson.A); ok && len(stages) > 0 {
			first := asDoc(stages[0])
			if len(first) == 1 && first[0].Key == "$match" {
				match = asDoc(first[0].Value)
			}
		}
		filters = append(filters, match)
	case "update", "delete":
		list, _ := field(c.Name + "s").(bson.A)
		for _, s := range list {
			for _, e := range asDoc(s) {
				if e.Key == "q" {
					filters = append(filters, asDoc(e.Value))
				}
			}
		}
	case "insert":
		var out []string
		docs, _ := field("documents").(bson.A)
		for _, d := range docs {
			if s, ok := lookup(asDoc(d), "account").(string); !ok || s == "" {
				out = append(out, fmt.Sprintf("insert %s: a document without its account: %v", c.Collection, d))
			}
		}
		return out
	default:
		return nil
	}
	var out []string
	for _, f := range filters {
		if p := checkFilter(c.Collection, f); p != "" {
			out = append(out, fmt.Sprintf("%s %s %v: %s", c.Name, c.Collection, f, p))
		}
	}
	return out
}

// checkFilter returns the rule a filter on a scoped collection breaks, or "".
func checkFilter(coll string, f bson.D) string {
	var eq []string // top-level equality fields
	for _, e := range f {
		if !strings.HasPrefix(e.Key, "$") && isEquality(e.Value) {
			eq = append(eq, e.Key)
		}
		if e.Key == "$and" && flattenable(f, e.Value) {
			return "an $and whose conditions one flat document could hold (FerretDB pushes none of it down)"
		}
	}
	var ixs []mongodb.Index
	for _, ix := range mongodb.Indexes() {
		if ix.Collection == coll {
			ixs = append(ixs, ix)
		}
	}
	if s, ok := lookup(f, "account").(string); !ok || s == "" {
		for _, ix := range ixs {
			if ix.CrossAccount && slices.Contains(eq, ix.Keys[0].Key) {
				return ""
			}
		}
		return "no account equality: on a sharded cluster this goes to every shard"
	}
	var flat []string
	for _, k := range eq {
		if k == "_id" {
			return "" // the _id index every collection has
		}
		if !strings.Contains(k, ".") {
			flat = append(flat, k)
		}
	}
	best := 0
	for _, ix := range ixs {
		n := 0
		for n < len(ix.Keys) && slices.Contains(flat, ix.Keys[n].Key) {
			n++
		}
		best = max(best, n)
	}
	if best < min(len(flat), 2) {
		return fmt.Sprintf("no declared index starts with account and one of %v: a scan of the account", flat)
	}
	return ""
}

// isEquality reports whether a top-level condition value is an equality:
// a plain value, {$eq: v} or {$in: [...]}.
func isEquality(v any) bool {
	d, ok := v.(bson.D)
	if !ok || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		return true
	}
	return len(d) == 1 && (d[0].Key == "$eq" || d[0].Key == "$in")
}

// flattenable reports whether the operands of a top-level $and have
// fields distinct from each other and from the rest of the filter.
func flattenable(f bson.D, ops any) bool {
	list, ok := ops.(bson.A)
	if !ok {
		return false
	}
	seen := map[string]bool{}
	for _, e := range f {
		if e.Key != "$and" {
			seen[e.Key] = true
		}
	}
	for _, op := range list {
		for _, e := range asDoc(op) {
			if seen[e.Key] {
				return false
			}
			seen[e.Key] = true
		}
	}
	return true
}

func asDoc(v any) bson.D {
	switch d := v.(type) {
	case bson.D:
		return d
	case bson.Raw:
		var out bson.D
		_ = bson.Unmarshal(d, &out)
		return out
	}
	return nil
}

func lookup(d bson.D, key string) any {
	for _, e := range d {
		if e.Key == key {
			return e.Value
		}
	}
	return nil
}
