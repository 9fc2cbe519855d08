package sqlite

import (
	"context"
	"fmt"
)

// LimitPages caps the database at its current size plus extra pages on
// the store's writing connection (PRAGMA max_page_count): from then on a
// write that needs more space fails as on a full disk.
func LimitPages(s *Store, extra int) error {
	ctx := context.Background()
	var n int
	if err := s.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&n); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", n+extra))
	return err
}

// SetBackupStep sets the pages a backup step copies, so that a small
// database is copied in many steps; the old value is restored at cleanup.
func SetBackupStep(t interface{ Cleanup(func()) }, pages int32) {
	old := backupStep
	backupStep = pages
	t.Cleanup(func() { backupStep = old })
}
