// Package directory holds the rules of an account's directory: users,
// groups and projects, with TimeCamp's roles, group tree, project access,
// tracking permissions, seats and account owner, on top of package store.
// It knows nothing of HTTP; the scim package (single requests and Bulk
// alike) calls it.
//
// Every write follows one shape: read the current state, compute the new
// one and everything it implies (derived attributes, seats taken or freed,
// users whose role changes), check the account's rules, then write —
// seats are reserved before and released if the write fails, so a refused
// change stores nothing. Each operation runs in store.Atomic: on the
// embedded database that is one transaction, so a crash never leaves half
// of it; on MongoDB (no multi-document transactions) the steps compensate
// for a failure instead, and follow-up writes (the users a group change
// affects) are idempotent recomputations.
package directory

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Service applies directory operations.
type Service struct {
	store store.Store
	log   *slog.Logger
	inv   InvitationSettings
	// seats is the number of seats of each account as last read (a user
	// create takes its seat on condition of it, without reading the
	// account first: see createUser).
	seats sync.Map // account id → int
}

// New returns a service on the store.
func New(st store.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	s := &Service{store: st, log: log}
	s.SetInvitationSettings(InvitationSettings{})
	return s
}

// Store returns the underlying store.
func (s *Service) Store() store.Store { return s.store }

// Create adds a resource from a POST (or Bulk POST) body.
func (s *Service) Create(ctx context.Context, account string, rt *schemas.ResourceType, body map[string]any) (*store.Resource, error) {
	return atomically(ctx, s, func(ctx context.Context) (*store.Resource, error) {
		if rt == schemas.User {
			dropInheritedInput(body)
		}
		attrs, err := rt.Normalize(body)
		if err != nil {
			return nil, err
		}
		if err := s.resolveRefs(ctx, account, rt, nil, attrs); err != nil {
			return nil, err
		}
		r := &store.Resource{Type: rt, ID: store.NewID(), Account: account, Attributes: attrs}
		if rt == schemas.User {
			return s.createUser(ctx, account, r)
		}
		acct, err := s.store.Account(ctx, account)
		if err != nil {
			return nil, err
		}
		switch rt {
		case schemas.Group:
			return s.createGroup(ctx, acct, r)
		case schemas.Project:
			return s.createProject(ctx, acct, r)
		}
		return nil, failure.NotImplementedf("%s cannot be created", rt.Name)
	})
}

// Get returns a resource of the account.
func (s *Service) Get(ctx context.Context, account string, rt *schemas.ResourceType, id string) (*store.Resource, error) {
	return s.store.Get(ctx, rt, account, id)
}

// List returns a page of the account's resources.
func (s *Service) List(ctx context.Context, account string, rt *schemas.ResourceType, q store.Query) (*store.Page, error) {
	return s.store.Find(ctx, rt, account, q)
}

// Replace replaces a resource from a PUT body (RFC 7644 §3.5.1): attributes
// the body omits are cleared (settings with a default return to it),
// except the password, which is kept, and the extensions the body does not
// assert (see keepUnasserted).
func (s *Service) Replace(ctx context.Context, account string, rt *schemas.ResourceType, id string, body map[string]any, ifMatch string) (*store.Resource, error) {
	return atomically(ctx, s, func(ctx context.Context) (*store.Resource, error) {
		var echoed []any
		if rt == schemas.User {
			echoed = dropInheritedInput(body)
		}
		attrs, err := rt.Normalize(body)
		if err != nil {
			return nil, err
		}
		w := &write{replace: true, sent: sentIn(attrs)}
		var members *memberDelta
		if rt == schemas.Group {
			ids, err := membersFromAttributes(ctx, attrs)
			if err != nil {
				return nil, err
			}
			members = newMemberDelta()
			members.clear()
			members.addIDs(ids)
		}
		return s.update(ctx, account, rt, id, ifMatch, func(acct *store.Account, cur *store.Resource) (*change, error) {
			next := *cur
			next.Attributes = schemas.CopyAttributes(attrs)
			keepUnasserted(rt, body, cur.Attributes, next.Attributes)
			if err := keepOwned(cur.Attributes, next.Attributes, echoed); err != nil {
				return nil, err
			}
			if err := s.resolveRefs(ctx, account, rt, cur.Attributes, next.Attributes); err != nil {
				return nil, err
			}
			if rt == schemas.User {
				if err := takePassword(&next, next.Attributes); err != nil {
					return nil, err
				}
			}
			return s.changeOf(ctx, acct, cur, &next, members, w)
		})
	})
}

// keepUnasserted carries the stored values of each extension a PUT body
// does not assert — neither listed in its "schemas" nor holding any of its
// attributes — over to the replaced resource. RFC 7644 §3.5.1 lets a service
// provider take omitted attributes as "not asserted by the client", and a
// client that does not know an extension has asserted nothing about it:
// identity providers that push every change as a PUT of the core resource
// (JumpCloud) would otherwise reset on each push the roles, permissions and
// group grants set in TimeCamp. A client that lists the extension in
// "schemas" replaces it like any attribute: what it leaves out is cleared.
func keepUnasserted(rt *schemas.ResourceType, body, cur, next map[string]any) {
	listed := map[string]bool{}
	for k, v := range body {
		if !strings.EqualFold(k, schemas.AttrSchemas) {
			continue
		}
		list, _ := v.([]any)
		for _, urn := range list {
			if s, ok := urn.(string); ok {
				listed[strings.ToLower(s)] = true
			}
		}
	}
	for _, ext := range rt.Extensions {
		urn := ext.Schema.ID
		if _, sent := next[urn]; sent || listed[strings.ToLower(urn)] {
			continue
		}
		if v, ok := cur[urn]; ok {
			next[urn] = schemas.Copy(v)
		}
	}
}

// write is what a client's write says beyond the new attributes, for the
// rules that depend on it.
type write struct {
	// replace: a PUT, whose left-out settings take their defaults.
	replace bool
	// sent reports whether the write set a TimeCamp user setting.
	sent func(name string) bool
}

// Patch applies PATCH operations (RFC 7644 §3.5.2), all or none.
func (s *Service) Patch(ctx context.Context, account string, rt *schemas.ResourceType, id string, ops []PatchOp, ifMatch string) (*store.Resource, error) {
	if len(ops) == 0 {
		return nil, failure.InvalidValue("a PATCH needs at least one operation in \"Operations\"")
	}
	if len(ops) > MaxPatchOperations {
		return nil, failure.TooLargef("the PATCH has %d operations; at most %d are allowed in one request: send several", len(ops), MaxPatchOperations)
	}
	return atomically(ctx, s, func(ctx context.Context) (*store.Resource, error) {
		if rt == schemas.Group {
			s.foreseeMembers(ctx, account, id, ops)
		}
		return s.update(ctx, account, rt, id, ifMatch, func(acct *store.Account, cur *store.Resource) (*change, error) {
			var members *memberDelta
			if rt == schemas.Group {
				members = newMemberDelta()
			}
			attrs := cur.Attributes
			if rt == schemas.User {
				attrs = ownView(attrs) // PATCH edits the user's own project entries
			}
			p := newPatcher(ctx, rt, attrs, members)
			for i, op := range ops {
				if err := p.apply(op); err != nil {
					return nil, inOperation(err, i, len(ops))
				}
			}
			if err := rt.CheckRequired(p.attrs); err != nil {
				return nil, err
			}
			if err := rt.CheckLimits(p.attrs); err != nil {
				return nil, err
			}
			if err := s.resolveRefs(ctx, account, rt, attrs, p.attrs); err != nil {
				return nil, err
			}
			next := *cur
			next.Attributes = p.attrs
			if p.removePassword {
				if rt != schemas.User {
					return nil, failure.InvalidPath("a %s has no password", rt.Name)
				}
				next.PasswordHash = ""
			}
			if p.password != nil {
				if rt != schemas.User {
					return nil, failure.InvalidPath("a %s has no password", rt.Name)
				}
				h, err := hashPassword(*p.password)
				if err != nil {
					return nil, err
				}
				next.PasswordHash = h
			}
			return s.changeOf(ctx, acct, cur, &next, members, &write{sent: p.sentSetting})
		})
	})
}

// MaxPatchOperations is the most operations one PATCH may hold (identity
// providers send a few; Entra ID's largest user updates about twenty).
const MaxPatchOperations = 1000

// changeOf computes what replacing cur by next implies, by resource type.
func (s *Service) changeOf(ctx context.Context, acct *store.Account, cur, next *store.Resource, members *memberDelta, w *write) (*change, error) {
	switch cur.Type {
	case schemas.User:
		return s.userChange(ctx, acct, cur, next, w)
	case schemas.Group:
		return s.groupChange(ctx, acct, cur, next, members, w)
	case schemas.Project:
		return s.projectChange(ctx, acct, cur, next)
	}
	return nil, failure.NotImplementedf("%s cannot be changed", cur.Type.Name)
}

// Delete removes a resource and what hangs on it.
func (s *Service) Delete(ctx context.Context, account string, rt *schemas.ResourceType, id, ifMatch string) error {
	return s.atomic(ctx, func(ctx context.Context) error { return s.delete(ctx, account, rt, id, ifMatch) })
}

func (s *Service) delete(ctx context.Context, account string, rt *schemas.ResourceType, id, ifMatch string) error {
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return err
	}
	cur, t, err := s.current(ctx, acct, rt, id)
	if err != nil {
		return err
	}
	if ifMatch != "" && !VersionMatches(ifMatch, cur.Version) {
		return preconditionFailed(rt, id, cur.Version)
	}
	switch rt {
	case schemas.User:
		return s.deleteUser(ctx, acct, cur)
	case schemas.Group:
		return s.deleteGroup(ctx, acct, cur, t)
	case schemas.Project:
		return s.deleteProject(ctx, acct, cur)
	}
	return failure.NotImplementedf("%s cannot be deleted", rt.Name)
}

// deleteDocument deletes a resource at the version read.
func (s *Service) deleteDocument(ctx context.Context, cur *store.Resource) error {
	err := s.store.Delete(ctx, cur.Type, cur.Account, cur.ID, cur.Version)
	if errors.Is(err, store.ErrVersionMismatch) {
		return failure.Preconditionf("%s %q changed while it was being deleted; read it again", cur.Type.Name, cur.ID)
	}
	return err
}

// change is what a write computed from the current resource.
type change struct {
	// next is the new resource; nil when its document stays as it is.
	next *store.Resource
	// members are membership changes (groups).
	members *memberDelta
	// seats are the seats the change takes (+1) or frees (-1), by user:
	// the written user's, or those of the users a group change affects.
	seats map[string]int
	// claimOwner makes the resource's user the account owner.
	claimOwner bool
	// after runs once the write succeeded: recomputing the users a group
	// change affects, the paths of moved groups.
	after func(context.Context) error
	// outbox is the email of a new invitation the write issues: stored
	// before the write, removed if the write fails (see package store).
	outbox *store.OutboxEntry
	// voided are invitations the write replaces or revokes; their
	// emails, if not sent yet, are dropped once the write succeeded.
	voided []string
	// computed are attributes computed from other records that the
	// change read anyway (a user's groups), for the response.
	computed map[string][]any
	// administrators are the userNames of the users the write makes
	// administrators (see newAdministrator): the context's gate is asked
	// before anything is written.
	administrators []string
}

func (c *change) empty() bool {
	return c.next == nil && (c.members == nil || c.members.empty()) && c.after == nil
}

// errOwnerTaken: another user became the account owner while this write
// was being prepared; it is computed again.
var errOwnerTaken = errors.New("directory: account owner taken concurrently")

// seatsOf returns the seat change of one user in the account (nil when
// there is none, or when the account keeps no seat counter).
func seatsOf(acct *store.Account, user string, delta int) map[string]int {
	if delta == 0 || !keepsSeats(acct) {
		return nil
	}
	return map[string]int{user: delta}
}

// keepsSeats reports whether the account keeps a seat counter: only an
// account with a seat limit does, to hold writes to it. An unlimited one
// keeps none (its seats in use are counted when shown: SeatsInUse), so
// that its writes spare the account's document, which every write of the
// account would otherwise update: on a database that keeps old versions of
// a row (FerretDB on PostgreSQL) that one document grew costlier to read
// with every create (measured: provisioning's last tenth 1.7 times slower
// than its first, against 1.2 without).
func keepsSeats(acct *store.Account) bool { return acct.Seats > 0 }

// SeatsInUse returns the seats the account's users use: its counter, or a
// count where it keeps none.
func (s *Service) SeatsInUse(ctx context.Context, acct *store.Account) (int, error) {
	if keepsSeats(acct) {
		return acct.SeatsUsed, nil
	}
	return s.store.SeatsInUse(ctx, acct.ID)
}

// SetSeats changes the account's number of seats (0: unlimited). An
// unlimited account that becomes limited gets a counter from a count (the
// store does it in the same step), and a second recount a moment later
// (store.SeatsSettle): writes that read it unlimited may land after the
// first without counting their seats.
func (s *Service) SetSeats(ctx context.Context, account string, seats int) error {
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return err
	}
	if err := s.store.SetSeats(ctx, account, seats); err != nil {
		return err
	}
	s.seats.Store(account, seats)
	if keepsSeats(acct) || seats == 0 {
		return nil
	}
	op := store.NewOperation(account)
	op.Recount, op.Holder = true, "seat recount"
	_, err = s.store.BeginOperation(ctx, &store.Account{ID: account, Seats: seats}, op)
	return err
}

// commit records what the change does (the seats it takes or frees, user by
// user, and the resources whose versions follow), taking its seats, then
// writes; a refused or failed change stores nothing, and the seats it took
// are given back when the operation ends (see endOperation).
func (s *Service) commit(ctx context.Context, acct *store.Account, id string, c *change, write func() error) error {
	account := acct.ID
	if err := admitAdministrators(ctx, account, c.administrators); err != nil {
		return err
	}
	op := operation(ctx, account)
	for u, d := range c.seats {
		op.SetSeat(u, store.SeatChange{Delta: d})
	}
	if c.members != nil && !c.members.empty() {
		op.AddGroups(id)
		op.AddUsers(c.members.adds()...)
		op.AddUsers(c.members.removes()...)
	}
	// A change of more than one document is recorded before its first
	// write; one that writes a single document (and perhaps its email,
	// which the delivery worker looks after) needs no record.
	if len(c.seats) > 0 || (c.members != nil && !c.members.empty()) || c.after != nil || c.claimOwner || !op.Empty() {
		var err error
		if acct, err = s.record(ctx, acct); err != nil {
			return err
		}
	}
	if c.next != nil && c.next.Type == schemas.User && c.seats[c.next.ID] != 0 {
		// The user's document says which operation changed its seat, for
		// the recovery (see store.MarkSeatOp).
		store.MarkSeatOp(c.next, op.ID)
	}
	undo := func(claimed, queued bool) {
		// Best effort: an outbox entry left behind is discarded by the
		// delivery worker.
		if claimed {
			_ = s.store.ReleaseOwner(context.WithoutCancel(ctx), account, id)
		}
		if queued {
			_ = s.store.DeleteOutbox(context.WithoutCancel(ctx), c.outbox.ID)
		}
	}
	if c.claimOwner {
		ok, err := s.store.ClaimOwner(ctx, account, id)
		if err != nil || !ok {
			if err == nil {
				err = errOwnerTaken
			}
			return err
		}
	}
	if c.outbox != nil {
		// Before the user document that names it: see package store.
		if err := s.store.AddOutbox(ctx, c.outbox); err != nil {
			undo(c.claimOwner, false)
			return err
		}
	}
	err := write()
	if _, ok := c.seats[id]; ok {
		landed(ctx, id, err)
	}
	if err != nil {
		if failure.Is(err, failure.Unavailable) {
			// The database went away during the write, which it may have
			// stored before its answer was lost: dropping its email could
			// undo half of a stored write. It is left (an email no user
			// names is discarded by the delivery worker), and so is the
			// operation's record, whose seats the recovery settles. The
			// client gets 503 and retries; uniqueness and versions make
			// the retry safe.
			return err
		}
		undo(c.claimOwner, c.outbox != nil)
		return err
	}
	wrote(ctx)
	for _, inv := range c.voided {
		if err := s.store.VoidOutbox(ctx, inv, "replaced or revoked before it was sent"); err != nil {
			s.log.Warn("could not drop the email of a voided invitation; the delivery worker will", "error", err)
		}
	}
	if c.outbox != nil && s.inv.Notify != nil {
		afterCommit(ctx, s.inv.Notify)
	}
	return nil
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// maxAttempts bounds the retries of a write that keeps meeting concurrent
// writers.
const maxAttempts = 50

// update reads a resource, computes a change and writes it on condition
// that the resource is still at the version read. When another request
// wrote in between, it starts again from the new version, so concurrent
// updates (two PATCHes adding members to one group) are never lost; with
// If-Match the client pinned the version, and a change answers 412.
func (s *Service) update(ctx context.Context, account string, rt *schemas.ResourceType, id, ifMatch string, compute func(*store.Account, *store.Resource) (*change, error)) (*store.Resource, error) {
	checkedMembers := false
	for attempt := 0; ; attempt++ {
		acct, err := s.readAccount(ctx, account)
		if err != nil {
			return nil, err
		}
		cur, t, err := s.current(ctx, acct, rt, id)
		if err != nil {
			return nil, err
		}
		if ifMatch != "" && !VersionMatches(ifMatch, cur.Version) {
			return nil, preconditionFailed(rt, id, cur.Version)
		}
		h := holderOf(ctx)
		if h != nil {
			h.tree = t // the tree compute reads (see loadTree)
		}
		c, err := compute(acct, cur)
		if h != nil {
			h.tree = nil
		}
		if err != nil {
			return nil, err
		}
		if c.empty() {
			cur.Computed = c.computed
			return cur, nil // nothing changes: the version stays
		}
		hasMembers := c.members != nil && !c.members.empty()
		if hasMembers && !checkedMembers {
			if err := s.checkMembers(ctx, account, c.members.adds()); err != nil {
				return nil, err
			}
			checkedMembers = true
		}
		result := cur
		membersWritten := false
		err = s.commit(ctx, acct, id, c, func() error {
			switch {
			case c.next != nil:
				result = c.next
				return s.store.Replace(ctx, c.next, cur.Version)
			case !hasMembers:
				return nil // only follow-up work (c.after)
			case ifMatch == "":
				// Only memberships change, each its own document: no write
				// can be lost, so apply them first and advance the version
				// only if a membership was actually added or removed.
				membersWritten = true
				changed, err := s.applyMembers(ctx, account, id, c.members)
				if err != nil || len(changed) == 0 {
					return err
				}
				result.Version, result.Modified, err = s.store.Bump(ctx, rt, account, id)
				if failure.Is(err, failure.NotFound) {
					// Deleted meanwhile: drop the memberships just written
					// and advance their users again, whichever request's
					// delete removed them.
					cleared, cerr := s.store.ClearMembers(ctx, account, id)
					if cerr == nil {
						cerr = s.bumpUsers(ctx, account, dedupe(append(changed, cleared...)))
					}
					if cerr != nil {
						return cerr
					}
				}
				return err
			default:
				// With If-Match the version must still be the client's
				// when the members change: claim it first.
				v, modified, err := s.store.Touch(ctx, rt, account, id, cur.Version)
				result.Version, result.Modified = v, modified
				return err
			}
		})
		if errors.Is(err, store.ErrVersionMismatch) || errors.Is(err, errOwnerTaken) {
			if ifMatch != "" && errors.Is(err, store.ErrVersionMismatch) {
				return nil, failure.Preconditionf("%s %q changed while this request was applied; read it again", rt.Name, id)
			}
			if attempt+1 >= maxAttempts {
				return nil, failure.Preconditionf("%s %q is being changed by many requests at once; try again", rt.Name, id)
			}
			backoff(attempt)
			continue
		}
		if err != nil {
			return nil, err
		}
		if hasMembers && !membersWritten {
			if _, err := s.applyMembers(ctx, account, id, c.members); err != nil {
				return nil, err
			}
		}
		if c.after != nil {
			if err := c.after(ctx); err != nil {
				return nil, err
			}
		}
		result.Computed = c.computed
		return result, nil
	}
}

// foreseeMembers records, in the operation of a group PATCH, the members
// its operations add or remove, read from them beforehand (Entra ID and
// Okta send a few ids): the record then goes with the read of the account
// (readAccount), not in a round trip of its own. A PATCH that replaces or
// clears the members is recorded when its change is computed.
func (s *Service) foreseeMembers(ctx context.Context, account, group string, ops []PatchOp) {
	d := newMemberDelta()
	p := newPatcher(ctx, schemas.Group, map[string]any{}, d)
	for _, op := range ops {
		if p.apply(op) != nil {
			return // computed with the group, in the change
		}
	}
	if d.replaceAll || d.empty() {
		return
	}
	op := operation(ctx, account)
	op.AddGroups(group)
	op.AddUsers(d.adds()...)
	op.AddUsers(d.removes()...)
}

// readAccount reads the account an update starts from: with the record of
// its operation, in one round trip, when the operation has what to record
// before its change is computed (foreseeMembers).
func (s *Service) readAccount(ctx context.Context, account string) (*store.Account, error) {
	if h := holderOf(ctx); h != nil && h.recorded == "" && !h.op.Empty() && s.store.RecordsOperations() {
		return s.record(ctx, &store.Account{ID: account})
	}
	return s.store.Account(ctx, account)
}

// current reads the resource an update starts from. A group is taken from
// the group tree, which a group's change reads anyway (one query, not
// two); the tree is returned too.
func (s *Service) current(ctx context.Context, acct *store.Account, rt *schemas.ResourceType, id string) (*store.Resource, *tree, error) {
	if rt != schemas.Group || holderOf(ctx) == nil {
		cur, err := s.store.Get(ctx, rt, acct.ID, id)
		return cur, nil, err
	}
	groups, err := s.store.All(ctx, schemas.Group, acct.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range groups {
		if g.ID == id {
			return g, newTree(acct, groups), nil
		}
	}
	return nil, nil, store.NotFound(rt, id)
}

// inOperation says which operation failed when there are several.
func inOperation(err error, i, n int) error {
	f, ok := failure.As(err)
	if !ok || n == 1 {
		return err
	}
	g := *f
	g.Detail = "operation " + strconv.Itoa(i+1) + ": " + f.Detail
	return &g
}

func preconditionFailed(rt *schemas.ResourceType, id string, version int64) error {
	return failure.Preconditionf("%s %q is at version %s, not the one in If-Match; read it again before changing it", rt.Name, id, ETag(version))
}

// backoff waits a little, longer after each failed attempt, with jitter so
// that competing requests spread out.
func backoff(attempt int) {
	d := time.Duration(1+min(attempt, 10)) * time.Millisecond
	time.Sleep(d + time.Duration(rand.Int64N(int64(d))))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// atomic runs a directory operation in store.Atomic, recorded as one
// store operation (see operations.go), and then what the operation left
// for after its commit (see afterCommit).
func (s *Service) atomic(ctx context.Context, fn func(context.Context) error) error {
	if _, nested := ctx.Value(afterCommitKey{}).(*[]func()); nested {
		return fn(ctx)
	}
	var after []func()
	err := s.store.Atomic(context.WithValue(ctx, afterCommitKey{}, &after), func(ctx context.Context) error {
		after = after[:0]
		ctx, h := withOperation(ctx)
		err := fn(ctx)
		if eerr := s.endOperation(ctx, h, err); err == nil {
			err = eerr
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range after {
		f()
	}
	return nil
}

type afterCommitKey struct{}

// afterCommit runs f once the operation's writes are committed (at once
// outside an operation): waking the invitation worker earlier would let it
// look for an email not committed yet.
func afterCommit(ctx context.Context, f func()) {
	if after, ok := ctx.Value(afterCommitKey{}).(*[]func()); ok {
		*after = append(*after, f)
		return
	}
	f()
}

// atomically is atomic for an operation with a result.
func atomically[T any](ctx context.Context, s *Service, fn func(context.Context) (T, error)) (T, error) {
	var out T
	err := s.atomic(ctx, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}
