package store

// Which identity at the OpenID Connect provider is which administrator.
// An email address is not an identity across accounts: any account's SCIM
// client can create a user with anyone's address. So the console binds an
// administrator's user to the provider's issuer and subject at their first
// sign-in (when the provider vouches for the email), and from then on only
// that identity signs in as that user; "timecamp-scim admins unbind"
// releases a binding when a person's identity at the provider changed.

import (
	"context"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
)

// Bindings keeps the console bindings.
type Bindings interface {
	// Bind stores a binding. A user already bound, or a subject already
	// bound to another user of the account, is a uniqueness failure.
	Bind(ctx context.Context, b *Binding) error
	// BindingsOf returns the bindings of a subject, in every account.
	BindingsOf(ctx context.Context, subject string) ([]Binding, error)
	// BindingOfUser returns the binding of an account's user; not found
	// when the user is not bound.
	BindingOfUser(ctx context.Context, account, user string) (*Binding, error)
	// AccountBindings lists an account's bindings, oldest first.
	AccountBindings(ctx context.Context, account string) ([]Binding, error)
	// Unbind removes the binding of an account's user; not found when
	// there is none.
	Unbind(ctx context.Context, account, user string) error
}

// Binding ties an account's administrator (a user) to an identity at the
// sign-in provider.
type Binding struct {
	Account string `bson:"account"`
	User    string `bson:"user"`
	// Subject is the provider's issuer and subject ("iss sub"), as
	// Session.Subject.
	Subject string `bson:"subject"`
	// Email is the verified address the binding was made with (for
	// people reading it; it is not matched).
	Email   string    `bson:"email"`
	Created time.Time `bson:"created"`
}

// CheckNewBinding checks a binding before it is stored and brings its
// time to the stores' precision.
func CheckNewBinding(b *Binding) error {
	if b.Account == "" || b.User == "" || b.Subject == "" {
		return failure.InvalidValue("a binding needs an account, a user and a subject")
	}
	if b.Created.IsZero() {
		b.Created = Now()
	}
	b.Created = Millis(b.Created)
	return nil
}

// ErrBound is the failure of binding a user or subject bound already.
var ErrBound = failure.Uniqueness("this administrator, or this sign-in identity, is bound already in this account")

// BindingNotFound is the failure of a user that is not bound.
func BindingNotFound(account, user string) error {
	return failure.NotFoundf("user %s of account %s is not bound to a sign-in identity", user, account)
}
