package directory

import (
	"context"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// CreateUsers creates users from POST bodies in one batch (SCIM Bulk): the
// same reading, checks and rules as Create, but one query for the projects
// they reference, one seat reservation and one insert for the whole batch.
// It returns, per body, the new user or the error that kept it out; the
// error result is for failures of the batch as a whole.
//
// The user that becomes the account owner (the first active administrator
// of an account without one) is created on its own first; when the seats
// cannot hold the whole batch, users are created one by one so that exactly
// the users that fit are created, in order, as if each had been sent alone.
func (s *Service) CreateUsers(ctx context.Context, account string, bodies []map[string]any) ([]*store.Resource, []error, error) {
	created := make([]*store.Resource, len(bodies))
	errs := make([]error, len(bodies))
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.loadTree(ctx, acct)
	if err != nil {
		return nil, nil, err
	}

	// Read every body; collect the projects they reference.
	users := make([]*store.Resource, len(bodies))
	var projects []string
	for i, body := range bodies {
		dropInheritedInput(body)
		attrs, err := schemas.User.Normalize(body)
		if err != nil {
			errs[i] = err
			continue
		}
		r := &store.Resource{Type: schemas.User, ID: store.NewID(), Account: account, Attributes: attrs}
		if errs[i] = readNewUser(r); errs[i] == nil {
			users[i] = r
			projects = append(projects, ownProjectIDs(r)...)
		}
	}
	found, err := s.store.Existing(ctx, schemas.Project, account, dedupe(projects))
	if err != nil {
		return nil, nil, err
	}
	var pending []int
	for i, r := range users {
		if r == nil {
			continue
		}
		for _, p := range ownProjectIDs(r) {
			if !found[p] {
				errs[i] = failure.InvalidValue("projects: there is no project with id %q in this account", p)
				break
			}
		}
		if errs[i] == nil {
			pending = append(pending, i)
		}
	}

	// The first user that would become the account owner is created on
	// its own (claiming ownership is its own conditional write).
	if acct.Owner == "" {
		for k, i := range pending {
			if c := newUserChange(acct, t, users[i]); c.claimOwner {
				created[i], errs[i] = s.insertUser(ctx, acct, t, users[i])
				pending = append(pending[:k:k], pending[k+1:]...)
				if acct, err = s.store.Account(ctx, account); err != nil {
					return nil, nil, err
				}
				break
			}
		}
	}
	if len(pending) == 0 {
		return created, errs, nil
	}

	// The rest in one reservation and one insert.
	batch := make([]*store.Resource, len(pending))
	seats := make([]int, len(pending))
	need := 0
	for k, i := range pending {
		c := newUserChange(acct, t, users[i])
		batch[k], seats[k] = users[i], c.seats
		need += c.seats
	}
	if err := s.store.ReserveSeats(ctx, account, need); err != nil {
		if !failure.Is(err, failure.Forbidden) {
			return nil, nil, err
		}
		for _, i := range pending {
			created[i], errs[i] = s.insertUser(ctx, acct, t, users[i])
		}
		return created, errs, nil
	}
	insertErrs, err := s.store.InsertMany(ctx, batch)
	if err != nil {
		_ = s.store.AdjustSeats(context.WithoutCancel(ctx), account, -need)
		return nil, nil, err
	}
	unused := 0
	for k, i := range pending {
		if insertErrs[k] != nil {
			errs[i] = insertErrs[k]
			unused += seats[k]
			continue
		}
		created[i] = batch[k]
	}
	if err := s.store.AdjustSeats(ctx, account, -unused); err != nil {
		s.log.Warn("could not give back reserved seats", "account", account, "error", err)
	}
	return created, errs, nil
}
