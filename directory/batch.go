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
// The user that becomes the account owner (the first active user with the administrator role
// of an account without one) is created on its own first; when the seats
// cannot hold the whole batch, users are created one by one so that exactly
// the users that fit are created, in order, as if each had been sent alone.
func (s *Service) CreateUsers(ctx context.Context, account string, bodies []map[string]any) (created []*store.Resource, errs []error, err error) {
	err = s.atomic(ctx, func(ctx context.Context) error {
		created, errs, err = s.createUsers(ctx, account, bodies)
		return err
	})
	return created, errs, err
}

func (s *Service) createUsers(ctx context.Context, account string, bodies []map[string]any) ([]*store.Resource, []error, error) {
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
	invReqs := make([]invitationRequests, len(bodies))
	var projects []string
	for i, body := range bodies {
		dropInheritedInput(body)
		attrs, err := schemas.User.Normalize(body)
		if err != nil {
			errs[i] = err
			continue
		}
		if errs[i] = s.resolveRefs(ctx, account, schemas.User, nil, attrs); errs[i] != nil {
			continue
		}
		r := &store.Resource{Type: schemas.User, ID: store.NewID(), Account: account, Attributes: attrs}
		if invReqs[i], errs[i] = readNewUser(r); errs[i] == nil {
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
			attrs := schemas.CopyAttributes(users[i].Attributes)
			if st := deriveUser(attrs, nil, t, false); mayClaimOwnership(attrs, st) {
				created[i], errs[i] = s.insertUser(ctx, acct, t, users[i], invReqs[i])
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

	// The rest in one reservation, one outbox insert and one user insert.
	batch := make([]*store.Resource, 0, len(pending))
	changes := make([]*change, 0, len(pending))
	var kept []int
	var outbox []*store.OutboxEntry
	need := 0
	planned := make([]*change, len(bodies))
	var administrators []string
	for _, i := range pending {
		if planned[i], errs[i] = s.newUserChange(acct, t, users[i], invReqs[i]); errs[i] == nil {
			administrators = append(administrators, planned[i].administrators...)
		}
	}
	// The gate is asked once for the batch; when it refuses, the users it
	// would make administrators are refused, and the others created.
	refused := admitAdministrators(ctx, account, administrators)
	if _, ok := failure.As(refused); refused != nil && !ok {
		return nil, nil, refused
	}
	for _, i := range pending {
		c := planned[i]
		if c == nil {
			continue
		}
		if refused != nil && len(c.administrators) > 0 {
			errs[i] = refused
			continue
		}
		batch, changes, kept = append(batch, users[i]), append(changes, c), append(kept, i)
		if c.outbox != nil {
			outbox = append(outbox, c.outbox)
		}
		need += c.seats
	}
	if err := s.store.ReserveSeats(ctx, acct, need); err != nil {
		if !failure.Is(err, failure.Forbidden) {
			return nil, nil, err
		}
		for _, i := range kept {
			created[i], errs[i] = s.insertUser(ctx, acct, t, users[i], invReqs[i])
		}
		return created, errs, nil
	}
	giveBack := func(seats int, outbox []string) {
		ctx := context.WithoutCancel(ctx)
		if err := s.store.AdjustSeats(ctx, account, -seats); err != nil {
			s.log.Warn("could not give back reserved seats", "account", account, "error", err)
		}
		if err := s.store.DeleteOutboxMany(ctx, outbox); err != nil {
			s.log.Warn("could not remove the emails of users not created; the delivery worker will", "error", err)
		}
	}
	// The emails go in before the users that name them (see package store).
	if err := s.store.AddOutboxMany(ctx, outbox); err != nil {
		giveBack(need, nil)
		return nil, nil, err
	}
	insertErrs, err := s.store.InsertMany(ctx, batch)
	if err != nil {
		if !failure.Is(err, failure.Unavailable) { // maybe stored: see Service.commit
			giveBack(need, outboxIDs(changes))
		}
		return nil, nil, err
	}
	unusedSeats, unusedOutbox := 0, []string{}
	for k, i := range kept {
		if insertErrs[k] != nil {
			errs[i] = insertErrs[k]
			unusedSeats += changes[k].seats
			if changes[k].outbox != nil {
				unusedOutbox = append(unusedOutbox, changes[k].outbox.ID)
			}
			continue
		}
		created[i] = batch[k]
	}
	giveBack(unusedSeats, unusedOutbox)
	if len(outbox) > len(unusedOutbox) && s.inv.Notify != nil {
		afterCommit(ctx, s.inv.Notify)
	}
	return created, errs, nil
}

func outboxIDs(cs []*change) []string {
	var ids []string
	for _, c := range cs {
		if c.outbox != nil {
			ids = append(ids, c.outbox.ID)
		}
	}
	return ids
}
