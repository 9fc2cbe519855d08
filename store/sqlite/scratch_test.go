package sqlite

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

func TestScratchIndexUpdates(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := s.CreateAccount(ctx, "acme", 0)
	var rs []*store.Resource
	for i := 0; i < 5000; i++ {
		rs = append(rs, &store.Resource{Type: schemas.User, ID: store.NewID(), Account: acct.ID, Attributes: map[string]any{
			"userName": fmt.Sprintf("user%d@acme.test", i), "active": true, "externalId": fmt.Sprint("ext-", i),
			"emails": []any{map[string]any{"value": fmt.Sprintf("user%d@acme.test", i), "type": "work", "primary": true}},
		}, Invitation: &store.Invitation{ID: store.NewID(), Hash: fmt.Sprint("h", i), Status: "pending"}})
	}
	s.InsertMany(ctx, rs)
	s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	walSize := func() int64 { fi, _ := os.Stat(s.path + "-wal"); return fi.Size() }
	run := func(name, q string, args ...any) {
		before := walSize()
		if _, err := s.w.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes of WAL (%d frames)", name, walSize()-before, (walSize()-before)/(4096+24))
	}
	r := rs[2500]
	run("all columns, same values", `UPDATE resources SET version = version + 1, modified = modified + 1, display = display, unique_key = unique_key, external_id = external_id, seat = seat, attrs = attrs, password = password, invitation = invitation, inv_hash = inv_hash, inv_status = inv_status, inv_expires = inv_expires WHERE account = ? AND type = 'User' AND id = ?`, acct.ID, r.ID)
	run("version, modified, attrs", `UPDATE resources SET version = version + 1, modified = modified + 1, attrs = attrs WHERE account = ? AND type = 'User' AND id = ?`, acct.ID, r.ID)
	run("version, attrs", `UPDATE resources SET version = version + 1, attrs = attrs WHERE account = ? AND type = 'User' AND id = ?`, acct.ID, r.ID)
	run("delete lookups", `DELETE FROM lookups WHERE account = ? AND type = 'User' AND id = ?`, acct.ID, r.ID)
	run("insert lookups", `INSERT INTO lookups VALUES (?, 'User', 'emails', 'user2500@acme.test', ?)`, acct.ID, r.ID)
	run("seats", `UPDATE accounts SET seats_used = seats_used + 1 WHERE id = ?`, acct.ID)
}
