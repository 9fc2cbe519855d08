package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestScratchPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation FROM resources r WHERE r.rowid IN (SELECT r.rowid FROM resources r WHERE r.account = ? AND r.type = ? AND (r.created, r.id) >= (?, ?) ORDER BY r.created ASC, r.id ASC LIMIT ? OFFSET ?) ORDER BY r.created ASC, r.id ASC",
		"SELECT r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation FROM resources r WHERE r.account = ? AND r.type = ? AND (r.created, r.id) >= (?, ?) ORDER BY r.created ASC, r.id ASC LIMIT ?",
		"SELECT id, account, name, hash, created, last_used FROM tokens WHERE hash = ? AND account IN (SELECT id FROM accounts)",
		"SELECT r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation FROM resources r WHERE r.rowid IN (SELECT r.rowid FROM resources r WHERE r.account = ? AND r.type = ? AND (r.unique_key IN (?)) ORDER BY r.created ASC, r.id ASC LIMIT ? OFFSET ?) ORDER BY r.created ASC, r.id ASC",
		"SELECT r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation FROM resources r WHERE r.rowid IN (SELECT r.rowid FROM resources r WHERE r.account = ? AND r.type = ? ORDER BY r.created ASC, r.id ASC LIMIT ? OFFSET ?) ORDER BY r.created ASC, r.id ASC",
		"SELECT COALESCE((SELECT n FROM resource_counts WHERE account = ? AND type = ?), 0)",
		"SELECT member, group_id FROM memberships WHERE account = ? AND member IN (?, ?) ORDER BY member, group_id",
		"SELECT r.id, r.display FROM resources r WHERE r.account = ? AND r.type = ? AND r.id IN (?)",
		"SELECT id, name, name_key, seats, seats_used, owner, invitations_off, created FROM accounts WHERE id = ?",
		"SELECT r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation FROM resources r WHERE r.account = ? AND r.type = ? AND r.id = ?",
		"SELECT r.id, r.version, r.created, r.modified, r.attrs, r.password, r.invitation FROM resources r WHERE r.account = ? AND r.type = ? ORDER BY r.created, r.id",
		`SELECT r.display, r.unique_key, r.external_id, r.seat, r.password, r.invitation, r.inv_hash, r.inv_status, r.inv_expires, (SELECT json_group_array(json_array(l.key, l.value)) FROM lookups l WHERE l.account = r.account AND l.type = r.type AND l.id = r.id) FROM resources r WHERE r.account = ? AND r.type = ? AND r.id = ? AND r.version = ?`,
		"UPDATE resources SET version = ?, modified = ?, attrs = ?, seat = ? WHERE account = ? AND type = ? AND id = ?",
		"UPDATE outbox SET state = ?, last_error = ?, finished = ?, token = '' WHERE id = ? AND state = 'pending' AND claimed_until <= ?",
		"UPDATE accounts SET seats_used = seats_used + ? WHERE id = ? AND (seats = 0 OR seats_used + ? <= seats)",
		"SELECT version FROM resources WHERE account = ? AND type = 'Group' AND id = ?",
		"SELECT member, display FROM memberships WHERE account = ? AND group_id = ? ORDER BY member LIMIT ?",
		"SELECT member, display FROM memberships WHERE account = ? AND group_id = ? AND member > ? ORDER BY member LIMIT ?",
		"INSERT OR IGNORE INTO memberships (account, group_id, member, display) SELECT ?1, ?2, j.value, COALESCE((SELECT r.display FROM resources r WHERE r.account = ?1 AND r.type = 'User' AND r.id = j.value), '') FROM json_each(?3) j RETURNING member",
		"UPDATE OR FAIL resources SET version = version + 1, modified = ? WHERE account = ? AND type = ? AND id IN (SELECT value FROM json_each(?))",
	} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, make([]any, strings.Count(q, "?")-strings.Count(q, "?1")-strings.Count(q, "?2")-strings.Count(q, "?3")+boolInt(strings.Contains(q, "?1"))*3)...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		fmt.Printf("%.110s\n    %s\n", q, strings.Join(plan, "\n    "))
	}
}

func boolInt(b bool) int { if b { return 1 }; return 0 }
