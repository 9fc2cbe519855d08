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
	s.seats.Store(account, acct.Seats)
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

	// The rest in one record (with their seats), one outbox insert and
	// one user insert.
	batch := make([]*store.Resource, 0, len(pending))
	changes := make([]*change, 0, len(pending))
	var kept []int
	var outbox []*store.OutboxEntry
	op := operation(ctx, account)
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
		for u, d := range c.seats {
			op.SetSeat(u, store.SeatChange{Delta: d})
			store.MarkSeatOp(users[i], op.ID)
		}
	}
	if !op.Empty() {
		if _, err := s.record(ctx, acct); err != nil {
			if !failure.Is(err, failure.Forbidden) {
				return nil, nil, err
			}
			// Not all of them fit: one by one, in order, as if each had
			// been sent alone.
			for _, i := range kept {
				op.SetSeat(users[i].ID, store.SeatChange{})
				users[i].SeatOps = nil
			}
			for _, i := range kept {
				created[i], errs[i] = s.insertUser(ctx, acct, t, users[i], invReqs[i])
			}
			return created, errs, nil
		}
	}
	dropOutbox := func(outbox []string) {
		if err := s.store.DeleteOutboxMany(context.WithoutCancel(ctx), outbox); err != nil {
			s.log.Warn("could not remove the emails of users not created; the delivery worker will", "error", err)
		}
	}
	// The emails go in before the users that name them (see package store).
	if err := s.store.AddOutboxMany(ctx, outbox); err != nil {
		return nil, nil, err
	}
	insertErrs, err := s.store.InsertMany(ctx, batch)
	if err != nil {
		for _, r := range batch {
			if _, ok := op.Seats[r.ID]; ok {
				landed(ctx, r.ID, err)
			}
		}
		if !failure.Is(err, failure.Unavailable) { // maybe stored: see Service.commit
			dropOutbox(outboxIDs(changes))
		}
		return nil, nil, err
	}
	unusedOutbox := []string{}
	for k, i := range kept {
		if _, ok := op.Seats[batch[k].ID]; ok {
			landed(ctx, batch[k].ID, insertErrs[k])
		}
		if insertErrs[k] != nil {
			errs[i] = insertErrs[k]
			if changes[k].outbox != nil {
				unusedOutbox = append(unusedOutbox, changes[k].outbox.ID)
			}
			continue
		}
		wrote(ctx)
		created[i] = batch[k]
	}
	dropOutbox(unusedOutbox)
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
