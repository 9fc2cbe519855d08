package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// lookupKey is an attribute path whose values are rows of the lookups
// table, so that equality on it is an index lookup.
type lookupKey struct {
	key  string // the lookups.key value
	attr schemas.Attr
	// lower: values are stored lower-cased (a case-insensitive string).
	lower bool
}

// lookupPaths are, per resource type, the attributes identity providers
// and the directory look resources up by, besides the columns (id,
// externalId and the unique userName or displayName).
var lookupPaths = map[string]map[string]string{
	"User": {
		"emails":   "emails.value",
		"projects": schemas.TimeCampUserURN + ":projects.value",
	},
	"Group": {
		"projects": schemas.TimeCampGroupURN + ":projects.value",
		"parent":   schemas.TimeCampGroupURN + ":parent.value",
	},
	"Project": {
		"name":   "displayName",
		"parent": "parent.value",
	},
}

var lookupKeys = map[string][]lookupKey{}

func init() {
	for _, rt := range schemas.ResourceTypes() {
		for key, path := range lookupPaths[rt.Name] {
			a, err := rt.ResolveString(path)
			if err != nil {
				panic(fmt.Sprintf("sqlite: lookup path %s of %s: %v", path, rt.Name, err))
			}
			leaf := a.Leaf()
			lookupKeys[rt.Name] = append(lookupKeys[rt.Name], lookupKey{key: key, attr: a, lower: leaf.AttributeType() == "string" && !leaf.CaseExact()})
		}
	}
}

// lookupKeyOf returns the lookup key of an attribute path, if it has one.
func lookupKeyOf(rt *schemas.ResourceType, a schemas.Attr) (lookupKey, bool) {
	for _, k := range lookupKeys[rt.Name] {
		if k.attr.Name() == a.Name() {
			return k, true
		}
	}
	return lookupKey{}, false
}

// values returns the string values of the key's attribute in attrs, as
// stored in the lookups table.
func (k lookupKey) values(attrs map[string]any) []string {
	v, ok := k.attr.Container(attrs, false)[k.attr.Def.Name()]
	if !ok {
		return nil
	}
	var raw []any
	switch {
	case k.attr.Sub == nil:
		raw = []any{v}
	default:
		items, isList := v.([]any)
		if !isList {
			items = []any{v}
		}
		for _, el := range items {
			if m, ok := el.(map[string]any); ok {
				raw = append(raw, m[k.attr.Sub.Name()])
			}
		}
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		s, ok := r.(string)
		if !ok {
			continue
		}
		if k.lower {
			s = strings.ToLower(s)
		}
		out = append(out, s)
	}
	return out
}

// row is a resource as stored in its columns.
type row struct {
	display               string
	uniqueKey, externalID sql.NullString
	seat                  bool
	attrs, invitation     []byte
	invHash, invStatus    sql.NullString
	invExpires            sql.NullInt64
}

func toRow(r *store.Resource) (*row, error) {
	attrs, err := encodeJSON(r.Attributes)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.Type.Name, r.ID, err)
	}
	w := &row{attrs: attrs, display: store.DisplayName(r.Attributes)}
	if u := store.KindOf(r.Type).Unique; u != "" {
		if s, ok := r.Attributes[u].(string); ok {
			w.uniqueKey = sql.NullString{String: strings.ToLower(s), Valid: true}
		}
	}
	if s, ok := r.Attributes[schemas.AttrExternalID].(string); ok {
		w.externalID = sql.NullString{String: s, Valid: true}
	}
	if r.Type == schemas.User {
		w.seat = store.UsesSeat(r)
	}
	if inv := r.Invitation; inv != nil {
		if w.invitation, err = encodeInvitation(inv); err != nil {
			return nil, err
		}
		w.invHash = sql.NullString{String: inv.Hash, Valid: inv.Hash != ""}
		w.invStatus = sql.NullString{String: inv.Status, Valid: true}
		w.invExpires = sql.NullInt64{Int64: millis(inv.ExpiresAt), Valid: true}
	}
	return w, nil
}

// resourceColumns are read into a Resource by scanResource.
const resourceColumns = "r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation"

func scanResource(rt *schemas.ResourceType, account string, rows rowScanner) (*store.Resource, error) {
	var raw rawResource
	if err := rows.Scan(raw.dest()...); err != nil {
		return nil, err
	}
	return raw.resource(rt, account)
}

// rawResource holds the columns of resourceColumns as scanned.
type rawResource struct {
	id                string
	version           int64
	created, modified int64
	attrs, inv        []byte
	password          string
}

func (raw *rawResource) dest() []any {
	return []any{&raw.id, &raw.version, &raw.created, &raw.modified, &raw.attrs, &raw.password, &raw.inv}
}

func (raw *rawResource) resource(rt *schemas.ResourceType, account string) (*store.Resource, error) {
	r := &store.Resource{Type: rt, Account: account, ID: raw.id, Version: raw.version, PasswordHash: raw.password,
		Created: fromMillis(raw.created), Modified: fromMillis(raw.modified)}
	var err error
	if r.Attributes, err = decodeObject(raw.attrs); err != nil {
		return nil, fmt.Errorf("%s %s: %w", rt.Name, r.ID, err)
	}
	if raw.inv != nil {
		if r.Invitation, err = decodeInvitation(raw.inv); err != nil {
			return nil, fmt.Errorf("%s %s: invitation: %w", rt.Name, r.ID, err)
		}
	}
	return r, nil
}

// Insert stores a new resource at version 1.
func (s *Store) Insert(ctx context.Context, r *store.Resource) error {
	t := store.Now()
	r.Version, r.Created, r.Modified = 1, t, t
	return s.write(ctx, func(c *conn) error { return s.insert(ctx, c, r) })
}

func (s *Store) insert(ctx context.Context, c *conn, r *store.Resource) error {
	w, err := toRow(r)
	if err != nil {
		return err
	}
	_, err = c.ExecContext(ctx, `INSERT INTO resources (account, type, id, version, created, modified, display, unique_key, external_id, seat, attrs, password, invitation, inv_hash, inv_status, inv_expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Account, r.Type.Name, r.ID, r.Version, millis(r.Created), millis(r.Modified), w.display, w.uniqueKey, w.externalID, w.seat,
		w.attrs, r.PasswordHash, w.invitation, w.invHash, w.invStatus, w.invExpires)
	if isUniqueViolation(err) {
		return store.UniquenessFailure(r)
	}
	if err != nil {
		return err
	}
	return s.insertLookups(ctx, c, r)
}

func (s *Store) insertLookups(ctx context.Context, c *conn, r *store.Resource) error {
	return s.addLookups(ctx, c, r, lookupsOf(r))
}

// lookup is one row of the lookups table of a resource.
type lookup struct{ key, value string }

// lookupsOf returns the lookup rows of a resource's attributes.
func lookupsOf(r *store.Resource) []lookup {
	var out []lookup
	for _, k := range lookupKeys[r.Type.Name] {
		for _, v := range k.values(r.Attributes) {
			out = append(out, lookup{k.key, v})
		}
	}
	return out
}

func (s *Store) addLookups(ctx context.Context, c *conn, r *store.Resource, ls []lookup) error {
	if len(ls) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(ls))
	for _, l := range ls {
		args = append(args, r.Account, r.Type.Name, l.key, l.value, r.ID)
	}
	q := "INSERT INTO lookups (account, type, key, value, id) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", len(ls)), ", ") + " ON CONFLICT DO NOTHING"
	_, err := c.ExecContext(ctx, q, args...)
	return err
}

func (s *Store) deleteLookups(ctx context.Context, c *conn, rt *schemas.ResourceType, account, id string) error {
	_, err := c.ExecContext(ctx, "DELETE FROM lookups WHERE account = ? AND type = ? AND id = ?", account, rt.Name, id)
	return err
}

// InsertMany stores new resources in one transaction; a resource whose
// unique name is taken is left out with its error.
func (s *Store) InsertMany(ctx context.Context, rs []*store.Resource) ([]error, error) {
	errs := make([]error, len(rs))
	if len(rs) == 0 {
		return errs, nil
	}
	t := store.Now()
	err := s.write(ctx, func(c *conn) error {
		for i, r := range rs {
			r.Version, r.Created, r.Modified = 1, t, t
			switch err := s.insert(ctx, c, r); {
			case err == nil:
			case isOwnFailure(err):
				errs[i] = err
			default:
				return err
			}
		}
		return nil
	})
	return errs, err
}

// Get returns a resource of the account. In a transaction of writes it
// also notes the row's stored columns for a Replace of the resource (see
// replace).
func (s *Store) Get(ctx context.Context, rt *schemas.ResourceType, account, id string) (*store.Resource, error) {
	c := s.read(ctx)
	var r *store.Resource
	var err error
	if c.batch {
		var raw rawResource
		old := &storedRow{}
		err = c.QueryRowContext(ctx, "SELECT "+resourceColumns+", "+storedColumns+" FROM resources r WHERE r.account = ? AND r.type = ? AND r.id = ?",
			account, rt.Name, id).Scan(append(raw.dest(), old.dest()...)...)
		if err == nil {
			if r, err = raw.resource(rt, account); err == nil {
				c.noteStored(storedKey{rt.Name, id, r.Version}, old)
			}
		}
	} else {
		r, err = scanResource(rt, account, c.QueryRowContext(ctx,
			"SELECT "+resourceColumns+" FROM resources r WHERE r.account = ? AND r.type = ? AND r.id = ?", account, rt.Name, id))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.NotFound(rt, id)
	}
	return r, err
}

// storedColumns are a resource's columns besides its attributes, and its
// lookups (a JSON list of [key, value]), as replace compares them.
const storedColumns = `r.display, r.unique_key, r.external_id, r.seat, r.password, r.invitation, r.inv_hash, r.inv_status, r.inv_expires,
	(SELECT json_group_array(json_array(l.key, l.value)) FROM lookups l WHERE l.account = r.account AND l.type = r.type AND l.id = r.id)`

// storedRow holds storedColumns as read.
type storedRow struct {
	row
	password string
	lookups  []byte
}

func (o *storedRow) dest() []any {
	return []any{&o.display, &o.uniqueKey, &o.externalID, &o.seat, &o.password, &o.invitation, &o.invHash, &o.invStatus, &o.invExpires, &o.lookups}
}

// storedKey names a resource at a version.
type storedKey struct {
	typ, id string
	version int64
}

// eachByID calls visit for each row of the account's resources with the
// given ids that exist, reading the given columns.
func (s *Store) eachByID(ctx context.Context, rt *schemas.ResourceType, account string, ids []string, columns string, visit func(*sql.Rows) error) error {
	return chunks(ids, func(chunk []string) error {
		rows, err := s.read(ctx).QueryContext(ctx, "SELECT "+columns+" FROM resources r WHERE r.account = ? AND r.type = ? AND r.id IN ("+placeholders(len(chunk))+")",
			anys([]any{account, rt.Name}, chunk)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := visit(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// GetMany returns the account's resources with the given ids.
func (s *Store) GetMany(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) ([]*store.Resource, error) {
	var out []*store.Resource
	err := s.eachByID(ctx, rt, account, ids, resourceColumns, func(rows *sql.Rows) error {
		r, err := scanResource(rt, account, rows)
		if err == nil {
			out = append(out, r)
		}
		return err
	})
	return out, err
}

// Existing returns which of the ids are resources of the account.
func (s *Store) Existing(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	err := s.eachByID(ctx, rt, account, ids, "r.id", func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		found[id] = true
		return err
	})
	return found, err
}

// DisplayNames returns the display name of each of the ids that is a
// resource of the account, from its own column.
func (s *Store) DisplayNames(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	err := s.eachByID(ctx, rt, account, ids, "r.id, r.display", func(rows *sql.Rows) error {
		var id, display string
		err := rows.Scan(&id, &display)
		out[id] = display
		return err
	})
	return out, err
}

// All returns every resource of a kind in the account, in creation order.
func (s *Store) All(ctx context.Context, rt *schemas.ResourceType, account string) ([]*store.Resource, error) {
	return queryAll(ctx, s.read(ctx), func(row rowScanner) (*store.Resource, error) {
		return scanResource(rt, account, row)
	}, "SELECT "+resourceColumns+" FROM resources r WHERE r.account = ? AND r.type = ? ORDER BY r.created, r.id", account, rt.Name)
}

// Replace writes r over the stored resource if that is still at version
// expect.
func (s *Store) Replace(ctx context.Context, r *store.Resource, expect int64) error {
	next := *r
	next.Version, next.Modified = expect+1, store.Now()
	err := s.write(ctx, func(c *conn) error { return s.replace(ctx, c, &next, expect) })
	if err == nil {
		r.Version, r.Modified = next.Version, next.Modified
	}
	return err
}

func (s *Store) replace(ctx context.Context, c *conn, r *store.Resource, expect int64) error {
	w, err := toRow(r)
	if err != nil {
		return err
	}
	// The row as stored, to write only what changed: SQLite rewrites the
	// entry of every index on a column an UPDATE sets, even to the value
	// it had (a user's PATCH wrote 9 pages of its row and indexes, 2 with
	// only the columns that changed), and the lookups rarely change. A
	// Get of the resource in this transaction noted it (conn.stored);
	// otherwise it is read here.
	old, ok := c.stored[storedKey{r.Type.Name, r.ID, expect}]
	if !ok {
		old = &storedRow{}
		err = c.QueryRowContext(ctx, "SELECT "+storedColumns+" FROM resources r WHERE r.account = ? AND r.type = ? AND r.id = ? AND r.version = ?",
			r.Account, r.Type.Name, r.ID, expect).Scan(old.dest()...)
		if errors.Is(err, sql.ErrNoRows) {
			return s.whyNotMatched(ctx, c, r.Type, r.Account, r.ID)
		}
		if err != nil {
			return err
		}
	}
	delete(c.stored, storedKey{r.Type.Name, r.ID, expect})
	set := "version = ?, modified = ?, attrs = ?"
	args := []any{r.Version, millis(r.Modified), w.attrs}
	column := func(changed bool, name string, v any) {
		if changed {
			set += ", " + name + " = ?"
			args = append(args, v)
		}
	}
	column(old.display != w.display, "display", w.display)
	column(old.uniqueKey != w.uniqueKey, "unique_key", w.uniqueKey)
	column(old.externalID != w.externalID, "external_id", w.externalID)
	column(old.seat != w.seat, "seat", w.seat)
	column(old.password != r.PasswordHash, "password", r.PasswordHash)
	column(!bytes.Equal(old.invitation, w.invitation), "invitation", w.invitation)
	column(old.invHash != w.invHash, "inv_hash", w.invHash)
	column(old.invStatus != w.invStatus, "inv_status", w.invStatus)
	column(old.invExpires != w.invExpires, "inv_expires", w.invExpires)
	res, err := c.ExecContext(ctx, "UPDATE resources SET "+set+" WHERE account = ? AND type = ? AND id = ? AND version = ?",
		append(args, r.Account, r.Type.Name, r.ID, expect)...)
	if isUniqueViolation(err) {
		return store.UniquenessFailure(r)
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.whyNotMatched(ctx, c, r.Type, r.Account, r.ID)
	}
	return s.updateLookups(ctx, c, r, old.lookups)
}

// updateLookups makes the lookup rows of a resource those of its new
// attributes, given the stored ones (a JSON list of [key, value]).
func (s *Store) updateLookups(ctx context.Context, c *conn, r *store.Resource, stored []byte) error {
	v, err := decodeJSON(stored)
	if err != nil {
		return fmt.Errorf("%s %s: lookups: %w", r.Type.Name, r.ID, err)
	}
	had := map[lookup]bool{}
	for _, el := range v.([]any) {
		pair, _ := el.([]any)
		if len(pair) == 2 {
			k, _ := pair[0].(string)
			v, _ := pair[1].(string)
			had[lookup{k, v}] = true
		}
	}
	var add []lookup
	for _, l := range lookupsOf(r) {
		if had[l] {
			delete(had, l)
		} else {
			add = append(add, l)
		}
	}
	for l := range had {
		if _, err := c.ExecContext(ctx, "DELETE FROM lookups WHERE account = ? AND type = ? AND key = ? AND value = ? AND id = ?", r.Account, r.Type.Name, l.key, l.value, r.ID); err != nil {
			return err
		}
	}
	return s.addLookups(ctx, c, r, add)
}

// whyNotMatched tells a conditional write that matched nothing apart: the
// resource is gone (not found) or at another version.
func (s *Store) whyNotMatched(ctx context.Context, q *conn, rt *schemas.ResourceType, account, id string) error {
	var v int64
	err := q.QueryRowContext(ctx, "SELECT version FROM resources WHERE account = ? AND type = ? AND id = ?", account, rt.Name, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return store.NotFound(rt, id)
	}
	if err != nil {
		return err
	}
	return store.ErrVersionMismatch
}

// ReplaceMany writes resources over their stored versions in one
// transaction, each on condition of its expected version.
func (s *Store) ReplaceMany(ctx context.Context, rs []*store.Resource, expect []int64) ([]error, error) {
	errs := make([]error, len(rs))
	t := store.Now()
	err := s.write(ctx, func(c *conn) error {
		for i, r := range rs {
			next := *r
			next.Version, next.Modified = expect[i]+1, t
			err := s.replace(ctx, c, &next, expect[i])
			switch {
			case err == nil:
				r.Version, r.Modified = next.Version, next.Modified
			case isOwnFailure(err):
				errs[i] = err
			default:
				return err
			}
		}
		return nil
	})
	return errs, err
}

// isOwnFailure reports an error that concerns one resource of a batch (a
// version mismatch, a uniqueness conflict, a resource gone), as opposed to
// a failure of the database.
func isOwnFailure(err error) bool {
	if errors.Is(err, store.ErrVersionMismatch) {
		return true
	}
	_, ok := failure.As(err)
	return ok
}

// Touch advances a resource's version and modification time if it is
// still at version expect.
func (s *Store) Touch(ctx context.Context, rt *schemas.ResourceType, account, id string, expect int64) (int64, time.Time, error) {
	t := store.Now()
	err := s.write(ctx, func(c *conn) error {
		res, err := c.ExecContext(ctx, "UPDATE resources SET version = ?, modified = ? WHERE account = ? AND type = ? AND id = ? AND version = ?",
			expect+1, millis(t), account, rt.Name, id, expect)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.whyNotMatched(ctx, c, rt, account, id)
		}
		return nil
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return expect + 1, t, nil
}

// Bump advances a resource's version and modification time.
func (s *Store) Bump(ctx context.Context, rt *schemas.ResourceType, account, id string) (int64, time.Time, error) {
	t := store.Now()
	var v int64
	err := s.write(ctx, func(c *conn) error {
		return c.QueryRowContext(ctx, "UPDATE resources SET version = version + 1, modified = ? WHERE account = ? AND type = ? AND id = ? RETURNING version",
			millis(t), account, rt.Name, id).Scan(&v)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, store.NotFound(rt, id)
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return v, t, nil
}

// BumpMany advances the version and modification time of the account's
// resources with the given ids: one statement per idChunk ids.
func (s *Store) BumpMany(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	t := millis(store.Now())
	list, err := idList(ids)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, "UPDATE OR FAIL resources SET version = version + 1, modified = ? WHERE account = ? AND type = ? AND id IN (SELECT value FROM json_each(?))",
		t, account, rt.Name, list)
	return err
}

// Delete removes a resource if it is still at version expect (0: any).
func (s *Store) Delete(ctx context.Context, rt *schemas.ResourceType, account, id string, expect int64) error {
	return s.write(ctx, func(c *conn) error {
		q := "DELETE FROM resources WHERE account = ? AND type = ? AND id = ?"
		args := []any{account, rt.Name, id}
		if expect > 0 {
			q += " AND version = ?"
			args = append(args, expect)
		}
		res, err := c.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.whyNotMatched(ctx, c, rt, account, id)
		}
		return s.deleteLookups(ctx, c, rt, account, id)
	})
}
