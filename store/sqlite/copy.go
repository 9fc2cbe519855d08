package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Export calls emit with every record, reading one consistent snapshot.
func (s *Store) Export(ctx context.Context, emit func(store.Record) error) error {
	// One snapshot of the database, however long the copy takes and
	// whatever a running server writes meanwhile.
	return s.Snapshot(ctx, func(ctx context.Context) error { return s.export(ctx, emit) })
}

func (s *Store) export(ctx context.Context, emit func(store.Record) error) error {
	q := s.read(ctx)
	each := func(query string, scan func(*sql.Rows) (store.Record, error)) error {
		rows, err := q.QueryContext(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			rec, err := scan(rows)
			if err != nil {
				return err
			}
			if err := emit(rec); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	steps := []struct {
		query string
		scan  func(*sql.Rows) (store.Record, error)
	}{
		{"SELECT " + accountColumns + " FROM accounts ORDER BY id", func(rows *sql.Rows) (store.Record, error) {
			a, err := scanAccount(rows)
			return store.Record{Account: a}, err
		}},
		{"SELECT " + tokenColumns + " FROM tokens ORDER BY id", func(rows *sql.Rows) (store.Record, error) {
			t, err := scanToken(rows)
			return store.Record{Token: t}, err
		}},
		{"SELECT r.account, r.type, " + resourceColumns + " FROM resources r ORDER BY r.account, r.type, r.created, r.id", func(rows *sql.Rows) (store.Record, error) {
			var account, typ string
			var raw rawResource
			if err := rows.Scan(append([]any{&account, &typ}, raw.dest()...)...); err != nil {
				return store.Record{}, err
			}
			rt, ok := schemas.ByName(typ)
			if !ok {
				return store.Record{}, fmt.Errorf("resource %s of unknown type %q", raw.id, typ)
			}
			r, err := raw.resource(rt, account)
			return store.Record{Resource: r}, err
		}},
		{"SELECT account, group_id, member FROM memberships ORDER BY account, group_id, member", func(rows *sql.Rows) (store.Record, error) {
			var m store.Membership
			err := rows.Scan(&m.Account, &m.Group, &m.Member)
			return store.Record{Membership: &m}, err
		}},
		{"SELECT " + outboxColumns + " FROM outbox ORDER BY id", func(rows *sql.Rows) (store.Record, error) {
			e, err := scanOutbox(rows)
			return store.Record{Outbox: e}, err
		}},
		{"SELECT " + activityColumns + " FROM activity ORDER BY seq", func(rows *sql.Rows) (store.Record, error) {
			e, err := scanActivity(rows)
			return store.Record{Activity: e}, err
		}},
		{"SELECT " + bindingColumns + " FROM bindings ORDER BY account, user", func(rows *sql.Rows) (store.Record, error) {
			b, err := scanBinding(rows)
			return store.Record{Binding: &b}, err
		}},
		{"SELECT name, value FROM settings ORDER BY name", func(rows *sql.Rows) (store.Record, error) {
			var st store.Setting
			err := rows.Scan(&st.Name, &st.Value)
			return store.Record{Setting: &st}, err
		}},
	}
	for _, step := range steps {
		if err := each(step.query, step.scan); err != nil {
			return err
		}
	}
	return nil
}

// Import stores records exactly as given, in one transaction.
func (s *Store) Import(ctx context.Context, recs []store.Record) error {
	return s.write(ctx, func(c *conn) error {
		for _, rec := range recs {
			var err error
			switch {
			case rec.Account != nil:
				a := rec.Account
				_, err = c.ExecContext(ctx, "INSERT INTO accounts ("+accountColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
					a.ID, a.Name, a.NameLower, a.Seats, a.SeatsUsed, a.Owner, a.InvitationsOff, millis(a.Created))
			case rec.Token != nil:
				err = s.insertToken(context.WithValue(ctx, txKey{s}, c), rec.Token)
			case rec.Resource != nil:
				err = s.insert(ctx, c, rec.Resource)
			case rec.Membership != nil:
				m := rec.Membership
				_, err = c.ExecContext(ctx, "INSERT INTO memberships (account, group_id, member, display) VALUES (?1, ?2, ?3, "+memberDisplay("?1", "?3")+")", m.Account, m.Group, m.Member)
			case rec.Outbox != nil:
				e := rec.Outbox
				_, err = c.ExecContext(ctx, "INSERT INTO outbox ("+outboxColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
					e.ID, e.Account, e.User, e.Token, e.State, millis(e.Created), millis(e.Due), e.Attempts, e.ClaimedBy, millis(e.ClaimedUntil), millis(e.SentAt), e.LastError, millis(e.Finished))
			case rec.Activity != nil:
				err = s.AddActivity(context.WithValue(ctx, txKey{s}, c), rec.Activity)
			case rec.Binding != nil:
				err = s.Bind(context.WithValue(ctx, txKey{s}, c), rec.Binding)
			case rec.Setting != nil:
				_, err = c.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES (?, ?)", rec.Setting.Name, rec.Setting.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Count counts the records of each kind.
func (s *Store) Count(ctx context.Context) (store.Counts, error) {
	out := store.Counts{}
	q := s.read(ctx)
	for kind, query := range map[string]string{
		"accounts":    "SELECT COUNT(*) FROM accounts",
		"tokens":      "SELECT COUNT(*) FROM tokens",
		"memberships": "SELECT COUNT(*) FROM memberships",
		"outbox":      "SELECT COUNT(*) FROM outbox",
		"activity":    "SELECT COUNT(*) FROM activity",
		"bindings":    "SELECT COUNT(*) FROM bindings",
		"settings":    "SELECT COUNT(*) FROM settings",
	} {
		var n int
		if err := q.QueryRowContext(ctx, query).Scan(&n); err != nil {
			return nil, err
		}
		out[kind] = n
	}
	for _, rt := range schemas.ResourceTypes() {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM resources WHERE type = ?", rt.Name).Scan(&n); err != nil {
			return nil, err
		}
		out[store.Record{Resource: &store.Resource{Type: rt}}.Kind()] = n
	}
	return out, nil
}
