package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/timecamp/timecamp-scim/store"
)

// memberChunk bounds the rows one multi-row INSERT writes (the outbox
// entries of a batch).
const memberChunk = 1000

// AddMembers adds users to a group; members already in it are left as they
// are. It returns the ids it added.
func (s *Store) AddMembers(ctx context.Context, account, group string, members []string) ([]string, error) {
	if len(members) == 0 {
		return []string{}, nil
	}
	list, err := idList(members)
	if err != nil {
		return nil, err
	}
	var added []string
	err = s.write(ctx, func(c *conn) (err error) {
		added, err = s.column(ctx, c, "INSERT OR IGNORE INTO memberships (account, group_id, member, display) SELECT ?1, ?2, j.value, "+memberDisplay("?1", "j.value")+
			" FROM json_each(?3) j RETURNING member", account, group, list)
		return err
	})
	return added, err
}

// memberDisplay is the SQL of the display name of the user a new
// membership names (empty when there is no such user), which the
// membership keeps (see the layout's upgrade 5).
func memberDisplay(account, member string) string {
	return "COALESCE((SELECT r.display FROM resources r WHERE r.account = " + account + " AND r.type = 'User' AND r.id = " + member + "), '')"
}

// RemoveMembers removes users from a group and returns the ids of those
// that were in it.
func (s *Store) RemoveMembers(ctx context.Context, account, group string, members []string) ([]string, error) {
	if len(members) == 0 {
		return []string{}, nil
	}
	list, err := idList(members)
	if err != nil {
		return nil, err
	}
	var removed []string
	err = s.write(ctx, func(c *conn) (err error) {
		removed, err = s.column(ctx, c, "DELETE FROM memberships WHERE account = ? AND group_id = ? AND member IN (SELECT value FROM json_each(?)) RETURNING member", account, group, list)
		return err
	})
	return removed, err
}

// ClearMembers removes every member of a group and returns their ids.
func (s *Store) ClearMembers(ctx context.Context, account, group string) ([]string, error) {
	var removed []string
	err := s.write(ctx, func(c *conn) (err error) {
		removed, err = s.column(ctx, c, "DELETE FROM memberships WHERE account = ? AND group_id = ? RETURNING member", account, group)
		return err
	})
	return removed, err
}

// LeaveAllGroups removes a user from every group and returns the groups
// it left.
func (s *Store) LeaveAllGroups(ctx context.Context, account, member string) ([]string, error) {
	var left []string
	err := s.write(ctx, func(c *conn) (err error) {
		left, err = s.column(ctx, c, "DELETE FROM memberships WHERE account = ? AND member = ? RETURNING group_id", account, member)
		return err
	})
	return left, err
}

// Members returns the ids of a group's members, sorted.
func (s *Store) Members(ctx context.Context, account, group string) ([]string, error) {
	return s.strings(ctx, "SELECT member FROM memberships WHERE account = ? AND group_id = ? ORDER BY member", account, group)
}

// EachMember calls fn with each member of a group and its display name,
// in the order of the members' ids. The members of a group are read with
// its version in one snapshot and kept in memory (memberCache) for the
// next reads at that version: every change of a group's memberships or of
// its members' names advances its version (store.Memberships). A group
// too large to keep, and a read inside a transaction, are read in batches
// instead (eachMemberBatched).
func (s *Store) EachMember(ctx context.Context, account, group string, fn func(id, display string) error) error {
	if _, inTx := ctx.Value(txKey{s}).(*conn); inTx {
		return s.eachMemberBatched(ctx, account, group, fn)
	}
	list, err := s.memberList(ctx, account, group)
	if err != nil {
		return err
	}
	if list == nil || list.tooLarge {
		return s.eachMemberBatched(ctx, account, group, fn)
	}
	for i, id := range list.ids {
		if err := fn(id, list.names[i]); err != nil {
			return err
		}
	}
	return nil
}

// memberList returns the members of a group at its current version, from
// memberCache or read (and kept) in one snapshot with the version; nil
// when there is no such group.
func (s *Store) memberList(ctx context.Context, account, group string) (*memberList, error) {
	var list *memberList
	err := s.Snapshot(ctx, func(ctx context.Context) error {
		c := s.read(ctx)
		var version int64
		err := c.QueryRowContext(ctx, "SELECT version FROM resources WHERE account = ? AND type = 'Group' AND id = ?", account, group).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if list = s.members.get(account, group, version); list != nil {
			return nil
		}
		// How many there are comes first (counted in the index, up to one
		// more than is kept): a group too large to keep is not read here.
		rows, err := c.QueryContext(ctx, `SELECT member, display,
			(SELECT COUNT(*) FROM (SELECT 1 FROM memberships WHERE account = ?1 AND group_id = ?2 LIMIT ?3))
			FROM memberships WHERE account = ?1 AND group_id = ?2 ORDER BY member LIMIT ?3`, account, group, maxCachedGroup+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		l := &memberList{version: version}
		for rows.Next() {
			var id, name string
			var n int
			if err := rows.Scan(&id, &name, &n); err != nil {
				return err
			}
			if n > maxCachedGroup {
				l.tooLarge = true
				break
			}
			l.ids, l.names = append(l.ids, id), append(l.names, name)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if l.tooLarge {
			l = &memberList{version: version, tooLarge: true}
		}
		s.members.put(account, group, l)
		list = l
		return nil
	})
	return list, err
}

// memberBatch is how many members eachMemberBatched reads per query.
const memberBatch = 1000

// eachMemberBatched reads a group's members memberBatch at a time, each
// batch one range of the memberships' primary key (which holds the names,
// see the layout's upgrade 5), and calls fn between the queries: fn may
// write to a slow client without holding a connection or a snapshot.
func (s *Store) eachMemberBatched(ctx context.Context, account, group string, fn func(id, display string) error) error {
	type member struct{ id, display string }
	after := ""
	for {
		batch, err := queryAll(ctx, s.read(ctx), func(row rowScanner) (m member, err error) {
			return m, row.Scan(&m.id, &m.display)
		}, "SELECT member, display FROM memberships WHERE account = ? AND group_id = ? AND member > ? ORDER BY member LIMIT ?", account, group, after, memberBatch)
		if err != nil {
			return err
		}
		for _, m := range batch {
			if err := fn(m.id, m.display); err != nil {
				return err
			}
		}
		if len(batch) < memberBatch {
			return nil
		}
		after = batch[len(batch)-1].id
	}
}

// Bounds of memberCache: a GET of a group of 10,000 members answered from
// memory costs a tenth of reading them (a query reads about a million
// rows a second here); a group of more than maxCachedGroup members is
// read in batches each time.
const (
	maxCachedGroup   = 50_000
	maxCachedMembers = 200_000 // about 20 MB
)

// memberCache keeps the members of the groups read last, each list with
// the group version it belongs to: a list is used only while the group is
// at that version. It holds at most maxCachedMembers members, dropping
// lists at random to make room.
type memberCache struct {
	mu    sync.Mutex
	lists map[[2]string]*memberList
	held  int
}

// memberList is a group's members at one version of the group.
type memberList struct {
	version    int64
	ids, names []string
	tooLarge   bool // more than maxCachedGroup members: not kept
}

func (c *memberCache) get(account, group string, version int64) *memberList {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.lists[[2]string{account, group}]; l != nil && l.version == version {
		return l
	}
	return nil
}

func (c *memberCache) put(account, group string, l *memberList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := [2]string{account, group}
	if old := c.lists[key]; old != nil {
		if old.version > l.version {
			return // a reader of a newer version was first
		}
		c.held -= len(old.ids)
		delete(c.lists, key)
	}
	for k, other := range c.lists {
		if c.held+len(l.ids) <= maxCachedMembers {
			break
		}
		c.held -= len(other.ids)
		delete(c.lists, k)
	}
	if c.lists == nil {
		c.lists = map[[2]string]*memberList{}
	}
	c.lists[key] = l
	c.held += len(l.ids)
}

// GroupsOf returns the ids of the groups a user is a member of, sorted.
func (s *Store) GroupsOf(ctx context.Context, account, member string) ([]string, error) {
	return s.strings(ctx, "SELECT group_id FROM memberships WHERE account = ? AND member = ? ORDER BY group_id", account, member)
}

// strings runs a query of one text column.
func (s *Store) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	return s.column(ctx, s.read(ctx), query, args...)
}

// column runs a statement that returns one text column (a query, or a
// write with RETURNING) and reads it all.
func (s *Store) column(ctx context.Context, c *conn, query string, args ...any) ([]string, error) {
	out, err := queryAll(ctx, c, func(row rowScanner) (v string, err error) {
		return v, row.Scan(&v)
	}, query, args...)
	if out == nil && err == nil {
		out = []string{}
	}
	return out, err
}

// MembershipsOf returns, for each of the ids on one side, the ids on the
// other side, sorted.
func (s *Store) MembershipsOf(ctx context.Context, account, side string, ids []string) (map[string][]string, error) {
	by, other := "group_id", "member"
	if side == store.MemberSide {
		by, other = "member", "group_id"
	}
	out := map[string][]string{}
	err := chunks(ids, func(chunk []string) error {
		rows, err := s.read(ctx).QueryContext(ctx, "SELECT "+by+", "+other+" FROM memberships WHERE account = ? AND "+by+" IN ("+placeholders(len(chunk))+") ORDER BY "+by+", "+other,
			anys([]any{account}, chunk)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			out[k] = append(out[k], v)
		}
		return rows.Err()
	})
	return out, err
}
