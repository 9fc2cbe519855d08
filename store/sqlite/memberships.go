package sqlite

import (
	"context"
	"strings"

	"github.com/timecamp/timecamp-scim/store"
)

// memberChunk bounds the memberships written by one statement (3
// variables each).
const memberChunk = 1000

// AddMembers adds users to a group; members already in it are left as they
// are. It returns how many were added.
func (s *Store) AddMembers(ctx context.Context, account, group string, members []string) (int, error) {
	added := 0
	err := s.write(ctx, func(c *conn) error {
		for start := 0; start < len(members); start += memberChunk {
			chunk := members[start:min(start+memberChunk, len(members))]
			args := make([]any, 0, 3*len(chunk))
			for _, m := range chunk {
				args = append(args, account, group, m)
			}
			res, err := c.ExecContext(ctx, "INSERT INTO memberships (account, group_id, member) VALUES "+
				strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")+" ON CONFLICT DO NOTHING", args...)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			added += int(n)
		}
		return nil
	})
	return added, err
}

// RemoveMembers removes users from a group and returns how many were in it.
func (s *Store) RemoveMembers(ctx context.Context, account, group string, members []string) (int, error) {
	removed := 0
	err := s.write(ctx, func(c *conn) error {
		return chunks(members, func(chunk []string) error {
			res, err := c.ExecContext(ctx, "DELETE FROM memberships WHERE account = ? AND group_id = ? AND member IN ("+placeholders(len(chunk))+")",
				anys([]any{account, group}, chunk)...)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			removed += int(n)
			return nil
		})
	})
	return removed, err
}

// ClearMembers removes every member of a group.
func (s *Store) ClearMembers(ctx context.Context, account, group string) error {
	_, err := s.exec(ctx, "DELETE FROM memberships WHERE account = ? AND group_id = ?", account, group)
	return err
}

// LeaveAllGroups removes a user from every group.
func (s *Store) LeaveAllGroups(ctx context.Context, account, member string) error {
	_, err := s.exec(ctx, "DELETE FROM memberships WHERE account = ? AND member = ?", account, member)
	return err
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
	rows, err := s.read(ctx).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
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
