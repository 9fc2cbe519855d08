package directory

// Who becomes an administrator.
//
// An administrator of an account is an active user whose effective role
// (their own, or the highest a group of theirs or an ancestor of it
// grants) is administrator: the admin console lets them in, and through it
// every credential of the account (after their own fresh sign-in). So a
// write that makes someone an administrator who was not one — or gives an
// administrator a sign-in address they did not have, which an unbound
// administrator is matched by — opens a path to the credentials. The admin
// console asks for a fresh sign-in before such a write, as before
// creating a token or setting a password.
//
// The directory decides who that is from the computed effect of the write
// (the derived effective roles before and after, group grants and their
// inheritance down the tree included), in newAdministrator, and before
// writing anything asks the gate the request's context carries
// (WithAdministratorGate); a refusal refuses the write. Requests of the
// SCIM API carry no gate: the identity provider is the source of truth.

import (
	"context"
	"strings"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// IsAdministrator reports whether a user, by its stored (derived)
// attributes, is an active administrator.
func IsAdministrator(attrs map[string]any) bool {
	return store.Active(attrs) && extension(attrs, schemas.TimeCampUserURN)["effectiveRole"] == schemas.RoleAdministrator
}

// newAdministrator reports whether a user whose derived attributes were
// before (nil: a new user) and are after is someone who can now sign in
// to the console as an administrator and could not before: an
// administrator now who was not, or one with a sign-in address (userName
// or an email) they did not have.
func newAdministrator(before, after map[string]any) bool {
	if !IsAdministrator(after) {
		return false
	}
	if before == nil || !IsAdministrator(before) {
		return true
	}
	had := signInAddresses(before)
	for a := range signInAddresses(after) {
		if !had[a] {
			return true
		}
	}
	return false
}

// signInAddresses are the addresses the console matches an administrator
// not bound to an identity yet by: the userName and the emails.
func signInAddresses(attrs map[string]any) map[string]bool {
	out := map[string]bool{}
	if u := str(attrs["userName"]); u != "" {
		out[strings.ToLower(u)] = true
	}
	for _, e := range asList(attrs["emails"]) {
		if m, ok := e.(map[string]any); ok {
			if v := str(m["value"]); v != "" {
				out[strings.ToLower(v)] = true
			}
		}
	}
	return out
}

// AdministratorGate is asked before a write that makes administrators
// (see newAdministrator), with their userNames; an error refuses the
// write, and nothing of it is stored. It may be asked more than once in a
// request, and from within the write's transaction (it may write through
// ctx).
type AdministratorGate func(ctx context.Context, account string, users []string) error

type gateKey struct{}

// WithAdministratorGate returns a context whose writes ask the gate before
// making administrators.
func WithAdministratorGate(ctx context.Context, gate AdministratorGate) context.Context {
	return context.WithValue(ctx, gateKey{}, gate)
}

// admitAdministrators asks the context's gate, if any, about users a write
// is about to make administrators.
func admitAdministrators(ctx context.Context, account string, users []string) error {
	gate, _ := ctx.Value(gateKey{}).(AdministratorGate)
	if gate == nil || len(users) == 0 {
		return nil
	}
	return gate(ctx, account, users)
}

// PlannedUser is a user as a change that is not made yet will leave it.
// A console form that writes in several steps (create people, then add
// them to a group) asks AdmitPlan about all of them before the first, so
// that a refusal leaves nothing half-written.
type PlannedUser struct {
	// User is the user as stored; nil for one the change creates.
	User *store.Resource
	// UserName names a user the change creates.
	UserName string
	// Role is the user's own role after the change; "" keeps it (a new
	// user: user).
	Role string
	// Groups are the groups the user is in after the change.
	Groups []string
}

// AdmitPlan asks the context's gate, if any, about the users a plan
// would make administrators (see newAdministrator), computed as the
// plan's writes will compute them: a form that writes in several steps
// calls it before the first.
func (s *Service) AdmitPlan(ctx context.Context, account string, plan []PlannedUser) error {
	if gate, _ := ctx.Value(gateKey{}).(AdministratorGate); gate == nil {
		return nil
	}
	users, err := s.newAdministrators(ctx, account, plan)
	if err != nil {
		return err
	}
	return admitAdministrators(ctx, account, users)
}

// newAdministrators returns the userNames of the planned users who would
// then be administrators and are not (see newAdministrator).
func (s *Service) newAdministrators(ctx context.Context, account string, plan []PlannedUser) ([]string, error) {
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return nil, err
	}
	t, err := s.loadTree(ctx, acct)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range plan {
		var before, after map[string]any
		name, owner := p.UserName, false
		if p.User != nil {
			before, after = p.User.Attributes, schemas.CopyAttributes(p.User.Attributes)
			name, owner = str(p.User.Attributes["userName"]), acct.Owner == p.User.ID
		} else {
			after = map[string]any{"userName": p.UserName}
		}
		if p.Role != "" {
			ensureExtension(after, schemas.TimeCampUserURN)["role"] = p.Role
		}
		deriveUser(after, p.Groups, t, owner)
		if newAdministrator(before, after) {
			out = append(out, name)
		}
	}
	return out, nil
}
