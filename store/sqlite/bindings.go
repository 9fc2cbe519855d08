package sqlite

// The console's bindings of administrators to sign-in identities.

import (
	"context"
	"database/sql"
	"errors"

	"github.com/timecamp/timecamp-scim/store"
)

const bindingColumns = "account, user, subject, email, created"

func scanBinding(row rowScanner) (store.Binding, error) {
	var b store.Binding
	var created int64
	err := row.Scan(&b.Account, &b.User, &b.Subject, &b.Email, &created)
	b.Created = fromMillis(created)
	return b, err
}

// Bind stores a binding.
func (s *Store) Bind(ctx context.Context, b *store.Binding) error {
	if err := store.CheckNewBinding(b); err != nil {
		return err
	}
	_, err := s.exec(ctx, "INSERT INTO bindings ("+bindingColumns+") VALUES (?, ?, ?, ?, ?)", b.Account, b.User, b.Subject, b.Email, millis(b.Created))
	if isUniqueViolation(err) {
		return store.ErrBound
	}
	return err
}

// BindingsOf returns a subject's bindings in every account.
func (s *Store) BindingsOf(ctx context.Context, subject string) ([]store.Binding, error) {
	return queryAll(ctx, s.read(ctx), scanBinding, "SELECT "+bindingColumns+" FROM bindings WHERE subject = ? ORDER BY created, account", subject)
}

// BindingOfUser returns the binding of an account's user.
func (s *Store) BindingOfUser(ctx context.Context, account, user string) (*store.Binding, error) {
	b, err := scanBinding(s.read(ctx).QueryRowContext(ctx, "SELECT "+bindingColumns+" FROM bindings WHERE account = ? AND user = ?", account, user))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.BindingNotFound(account, user)
	}
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// AccountBindings lists an account's bindings, oldest first.
func (s *Store) AccountBindings(ctx context.Context, account string) ([]store.Binding, error) {
	return queryAll(ctx, s.read(ctx), scanBinding, "SELECT "+bindingColumns+" FROM bindings WHERE account = ? ORDER BY created, user", account)
}

// Unbind removes the binding of an account's user.
func (s *Store) Unbind(ctx context.Context, account, user string) error {
	res, err := s.exec(ctx, "DELETE FROM bindings WHERE account = ? AND user = ?", account, user)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.BindingNotFound(account, user)
	}
	return nil
}
