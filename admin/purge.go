package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/timecamp/timecamp-scim/store"
)

// Purge deletes, in every account, the activity log entries older than
// retention and the sessions that have expired. Every server instance runs
// it now and then (RunPurge); running it twice at once is harmless.
func Purge(ctx context.Context, st store.Store, retention time.Duration) error {
	accounts, err := st.Accounts(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, a := range accounts {
		if _, err := st.PurgeActivity(ctx, a.ID, now.Add(-retention)); err != nil {
			return err
		}
		if _, err := st.PurgeSessions(ctx, a.ID, now); err != nil {
			return err
		}
	}
	return nil
}

// RunPurge runs Purge at start and then every interval until ctx ends.
func RunPurge(ctx context.Context, st store.Store, retention, interval time.Duration, log *slog.Logger) {
	for {
		if err := Purge(ctx, st, retention); err != nil && ctx.Err() == nil {
			log.Warn("could not purge the activity log and expired sessions", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
