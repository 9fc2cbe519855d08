package store

import (
	"context"
	"strings"
)

// Copying moves a whole store to another (timecamp-scim store copy), with
// everything as it was: ids, versions, times, token hashes, memberships,
// invitations and their outbox, the activity log, the server's secrets.
// Identity providers then carry on against the new store without
// provisioning again. (Admin console sessions are not copied:
// administrators sign in again.)
type Copying interface {
	// Export calls emit with every record of the store: accounts first,
	// then tokens, resources, memberships, outbox entries, the activity
	// log, console bindings and settings.
	Export(ctx context.Context, emit func(Record) error) error
	// Import stores records exactly as given. The store must not hold
	// records with the same ids.
	Import(ctx context.Context, rs []Record) error
	// Count counts the records of each kind (see CountKinds).
	Count(ctx context.Context) (Counts, error)
}

// Record is one record of a store; exactly one field is set.
type Record struct {
	Account    *Account
	Token      *Token
	Resource   *Resource
	Membership *Membership
	Outbox     *OutboxEntry
	Activity   *ActivityEntry
	Binding    *Binding
	Setting    *Setting
}

// Membership is one member of one group.
type Membership struct {
	Account, Group, Member string
}

// Setting is a server-wide value (the secrets of Secret, under
// "secret:NAME").
type Setting struct {
	Name  string
	Value []byte
}

// Counts holds how many records of each kind a store has, by the names
// of CountKinds.
type Counts map[string]int

// CountKinds are the kinds of records Count counts, in the order a copy
// reports them.
var CountKinds = []string{"accounts", "tokens", "users", "groups", "projects", "memberships", "outbox", "activity", "bindings", "settings"}

// Kind is the kind of record, as Count counts it.
func (r Record) Kind() string {
	switch {
	case r.Account != nil:
		return "accounts"
	case r.Token != nil:
		return "tokens"
	case r.Resource != nil:
		return strings.ToLower(strings.TrimPrefix(r.Resource.Type.Endpoint, "/")) // users, groups, projects
	case r.Membership != nil:
		return "memberships"
	case r.Outbox != nil:
		return "outbox"
	case r.Activity != nil:
		return "activity"
	case r.Binding != nil:
		return "bindings"
	case r.Setting != nil:
		return "settings"
	}
	return ""
}

// Total is the number of records counted.
func (c Counts) Total() int {
	n := 0
	for _, k := range CountKinds {
		n += c[k]
	}
	return n
}
