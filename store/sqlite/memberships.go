package sqlite

import (
	"context"

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
		added, err = s.column(ctx, c, "INSERT OR IGNORE INTO memberships (account, group_id, member) SELECT ?, ?, value FROM json_each(?) RETURNING member", account, group, list)
		return err
	})
	return added, err
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
