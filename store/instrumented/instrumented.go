// Package instrumented wraps a store so that every operation is counted
// and timed in the server's metrics (package metrics) and traced as a
// span under its request (package tracing), whichever database is behind
// it.
package instrumented

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/metrics"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
	"github.com/timecamp/timecamp-scim/tracing"
)

// Store is an instrumented store.
type Store struct{ next store.Store }

var _ store.Store = (*Store)(nil)

// New wraps a store.
func New(next store.Store) *Store { return &Store{next: next} }

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() store.Store { return s.next }

// observe starts an operation's span; the function it returns records the
// operation's outcome and duration and ends the span.
func observe(ctx context.Context, op string) (context.Context, func(error)) {
	start := time.Now()
	ctx, span := tracing.Start(ctx, "store."+op)
	return ctx, func(err error) {
		outcome := outcomeOf(err)
		metrics.StoreOperation(op, outcome, time.Since(start))
		if outcome == metrics.StoreError {
			span.SetStatus(codes.Error, "database error")
		}
		span.End()
	}
}

// outcomeOf tells a failure the request caused (not found, a conflict, a
// version mismatch, a lease lost) from a failure of the database (the
// database unreachable is one).
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return metrics.StoreOK
	case errors.Is(err, store.ErrVersionMismatch), errors.Is(err, store.ErrNotClaimed):
		return metrics.StoreRefused
	}
	if f, ok := failure.As(err); ok && f.Kind != failure.Unavailable {
		return metrics.StoreRefused
	}
	return metrics.StoreError
}

// Atomic is traced and timed as a whole; the operations inside it are
// observed each on its own too.
func (s *Store) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, done := observe(ctx, "Atomic")
	err := s.next.Atomic(ctx, fn)
	done(err)
	return err
}

// Snapshot is traced and timed as a whole, like Atomic.
func (s *Store) Snapshot(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, done := observe(ctx, "Snapshot")
	err := s.next.Snapshot(ctx, fn)
	done(err)
	return err
}

// Export is not observed record by record (a copy is not a request).
func (s *Store) Export(ctx context.Context, emit func(store.Record) error) error {
	return s.next.Export(ctx, emit)
}

func (s *Store) AddActivity(ctx context.Context, entries ...*store.ActivityEntry) error {
	ctx, done := observe(ctx, "AddActivity")
	err := s.next.AddActivity(ctx, entries...)
	done(err)
	return err
}

func (s *Store) Activity(ctx context.Context, q store.ActivityQuery) ([]*store.ActivityEntry, bool, error) {
	ctx, done := observe(ctx, "Activity")
	r0, r1, err := s.next.Activity(ctx, q)
	done(err)
	return r0, r1, err
}

func (s *Store) PurgeActivity(ctx context.Context, account string, t time.Time) (int, error) {
	ctx, done := observe(ctx, "PurgeActivity")
	r0, err := s.next.PurgeActivity(ctx, account, t)
	done(err)
	return r0, err
}

func (s *Store) AllMemberships(ctx context.Context, account string) ([]store.Membership, error) {
	ctx, done := observe(ctx, "AllMemberships")
	r0, err := s.next.AllMemberships(ctx, account)
	done(err)
	return r0, err
}

func (s *Store) OutboxOf(ctx context.Context, account string) ([]*store.OutboxEntry, error) {
	ctx, done := observe(ctx, "OutboxOf")
	r0, err := s.next.OutboxOf(ctx, account)
	done(err)
	return r0, err
}

func (s *Store) Import(ctx context.Context, rs []store.Record) error {
	ctx, done := observe(ctx, "Import")
	err := s.next.Import(ctx, rs)
	done(err)
	return err
}

func (s *Store) Count(ctx context.Context) (store.Counts, error) {
	ctx, done := observe(ctx, "Count")
	r0, err := s.next.Count(ctx)
	done(err)
	return r0, err
}

func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	ctx, done := observe(ctx, "CreateSession")
	err := s.next.CreateSession(ctx, sess)
	done(err)
	return err
}

func (s *Store) Session(ctx context.Context, id string) (*store.Session, error) {
	ctx, done := observe(ctx, "Session")
	r0, err := s.next.Session(ctx, id)
	done(err)
	return r0, err
}

func (s *Store) SaveSession(ctx context.Context, sess *store.Session) error {
	ctx, done := observe(ctx, "SaveSession")
	err := s.next.SaveSession(ctx, sess)
	done(err)
	return err
}

func (s *Store) TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	ctx, done := observe(ctx, "TouchSession")
	err := s.next.TouchSession(ctx, id, lastSeen, expires)
	done(err)
	return err
}

func (s *Store) SwapReauth(ctx context.Context, id string, from, to time.Time) (bool, error) {
	ctx, done := observe(ctx, "SwapReauth")
	r0, err := s.next.SwapReauth(ctx, id, from, to)
	done(err)
	return r0, err
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	ctx, done := observe(ctx, "DeleteSession")
	err := s.next.DeleteSession(ctx, id)
	done(err)
	return err
}

func (s *Store) PurgeSessions(ctx context.Context, account string, t time.Time) (int, error) {
	ctx, done := observe(ctx, "PurgeSessions")
	r0, err := s.next.PurgeSessions(ctx, account, t)
	done(err)
	return r0, err
}

func (s *Store) Bind(ctx context.Context, b *store.Binding) error {
	ctx, done := observe(ctx, "Bind")
	err := s.next.Bind(ctx, b)
	done(err)
	return err
}

func (s *Store) BindingsOf(ctx context.Context, subject string) ([]store.Binding, error) {
	ctx, done := observe(ctx, "BindingsOf")
	r0, err := s.next.BindingsOf(ctx, subject)
	done(err)
	return r0, err
}

func (s *Store) BindingOfUser(ctx context.Context, account, user string) (*store.Binding, error) {
	ctx, done := observe(ctx, "BindingOfUser")
	r0, err := s.next.BindingOfUser(ctx, account, user)
	done(err)
	return r0, err
}

func (s *Store) AccountBindings(ctx context.Context, account string) ([]store.Binding, error) {
	ctx, done := observe(ctx, "AccountBindings")
	r0, err := s.next.AccountBindings(ctx, account)
	done(err)
	return r0, err
}

func (s *Store) Unbind(ctx context.Context, account, user string) error {
	ctx, done := observe(ctx, "Unbind")
	err := s.next.Unbind(ctx, account, user)
	done(err)
	return err
}

func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	ctx, done := observe(ctx, "Secret")
	r0, err := s.next.Secret(ctx, name)
	done(err)
	return r0, err
}

func (s *Store) Ping(ctx context.Context) error {
	ctx, done := observe(ctx, "Ping")
	err := s.next.Ping(ctx)
	done(err)
	return err
}

func (s *Store) Close(ctx context.Context) error {
	ctx, done := observe(ctx, "Close")
	err := s.next.Close(ctx)
	done(err)
	return err
}

func (s *Store) CreateAccount(ctx context.Context, name string, seats int) (*store.Account, error) {
	ctx, done := observe(ctx, "CreateAccount")
	r0, err := s.next.CreateAccount(ctx, name, seats)
	done(err)
	return r0, err
}

func (s *Store) Account(ctx context.Context, id string) (*store.Account, error) {
	ctx, done := observe(ctx, "Account")
	r0, err := s.next.Account(ctx, id)
	done(err)
	return r0, err
}

func (s *Store) AccountByName(ctx context.Context, name string) (*store.Account, error) {
	ctx, done := observe(ctx, "AccountByName")
	r0, err := s.next.AccountByName(ctx, name)
	done(err)
	return r0, err
}

func (s *Store) Accounts(ctx context.Context) ([]store.Account, error) {
	ctx, done := observe(ctx, "Accounts")
	r0, err := s.next.Accounts(ctx)
	done(err)
	return r0, err
}

func (s *Store) SetInvitations(ctx context.Context, accountID string, on bool) error {
	ctx, done := observe(ctx, "SetInvitations")
	err := s.next.SetInvitations(ctx, accountID, on)
	done(err)
	return err
}

func (s *Store) CreateToken(ctx context.Context, accountID string, spec store.TokenSpec) (string, *store.Token, error) {
	ctx, done := observe(ctx, "CreateToken")
	r0, r1, err := s.next.CreateToken(ctx, accountID, spec)
	done(err)
	return r0, r1, err
}

func (s *Store) PutToken(ctx context.Context, accountID, name, secret string) error {
	ctx, done := observe(ctx, "PutToken")
	err := s.next.PutToken(ctx, accountID, name, secret)
	done(err)
	return err
}

func (s *Store) Tokens(ctx context.Context, accountID string) ([]store.Token, error) {
	ctx, done := observe(ctx, "Tokens")
	r0, err := s.next.Tokens(ctx, accountID)
	done(err)
	return r0, err
}

func (s *Store) RevokeToken(ctx context.Context, accountID, tokenID, by string) error {
	ctx, done := observe(ctx, "RevokeToken")
	err := s.next.RevokeToken(ctx, accountID, tokenID, by)
	done(err)
	return err
}

func (s *Store) Authenticate(ctx context.Context, secret string) (*store.Token, error) {
	ctx, done := observe(ctx, "Authenticate")
	r0, err := s.next.Authenticate(ctx, secret)
	done(err)
	return r0, err
}

func (s *Store) TouchToken(ctx context.Context, account, id string, t time.Time) error {
	ctx, done := observe(ctx, "TouchToken")
	err := s.next.TouchToken(ctx, account, id, t)
	done(err)
	return err
}

func (s *Store) Insert(ctx context.Context, r *store.Resource) error {
	ctx, done := observe(ctx, "Insert")
	err := s.next.Insert(ctx, r)
	done(err)
	return err
}

func (s *Store) InsertMany(ctx context.Context, rs []*store.Resource) ([]error, error) {
	ctx, done := observe(ctx, "InsertMany")
	r0, err := s.next.InsertMany(ctx, rs)
	done(err)
	return r0, err
}

func (s *Store) Get(ctx context.Context, rt *schemas.ResourceType, account, id string) (*store.Resource, error) {
	ctx, done := observe(ctx, "Get")
	r0, err := s.next.Get(ctx, rt, account, id)
	done(err)
	return r0, err
}

func (s *Store) GetMany(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) ([]*store.Resource, error) {
	ctx, done := observe(ctx, "GetMany")
	r0, err := s.next.GetMany(ctx, rt, account, ids)
	done(err)
	return r0, err
}

func (s *Store) Existing(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) (map[string]bool, error) {
	ctx, done := observe(ctx, "Existing")
	r0, err := s.next.Existing(ctx, rt, account, ids)
	done(err)
	return r0, err
}

func (s *Store) DisplayNames(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) (map[string]string, error) {
	ctx, done := observe(ctx, "DisplayNames")
	r0, err := s.next.DisplayNames(ctx, rt, account, ids)
	done(err)
	return r0, err
}

func (s *Store) All(ctx context.Context, rt *schemas.ResourceType, account string) ([]*store.Resource, error) {
	ctx, done := observe(ctx, "All")
	r0, err := s.next.All(ctx, rt, account)
	done(err)
	return r0, err
}

func (s *Store) Find(ctx context.Context, rt *schemas.ResourceType, account string, q store.Query) (*store.Page, error) {
	ctx, done := observe(ctx, "Find")
	r0, err := s.next.Find(ctx, rt, account, q)
	done(err)
	return r0, err
}

func (s *Store) Replace(ctx context.Context, r *store.Resource, expect int64) error {
	ctx, done := observe(ctx, "Replace")
	err := s.next.Replace(ctx, r, expect)
	done(err)
	return err
}

func (s *Store) ReplaceMany(ctx context.Context, rs []*store.Resource, expect []int64) ([]error, error) {
	ctx, done := observe(ctx, "ReplaceMany")
	r0, err := s.next.ReplaceMany(ctx, rs, expect)
	done(err)
	return r0, err
}

func (s *Store) Touch(ctx context.Context, rt *schemas.ResourceType, account, id string, expect int64) (int64, time.Time, error) {
	ctx, done := observe(ctx, "Touch")
	r0, r1, err := s.next.Touch(ctx, rt, account, id, expect)
	done(err)
	return r0, r1, err
}

func (s *Store) Bump(ctx context.Context, rt *schemas.ResourceType, account, id string) (int64, time.Time, error) {
	ctx, done := observe(ctx, "Bump")
	r0, r1, err := s.next.Bump(ctx, rt, account, id)
	done(err)
	return r0, r1, err
}

func (s *Store) BumpMany(ctx context.Context, rt *schemas.ResourceType, account string, ids []string) error {
	ctx, done := observe(ctx, "BumpMany")
	err := s.next.BumpMany(ctx, rt, account, ids)
	done(err)
	return err
}

func (s *Store) Delete(ctx context.Context, rt *schemas.ResourceType, account, id string, expect int64) error {
	ctx, done := observe(ctx, "Delete")
	err := s.next.Delete(ctx, rt, account, id, expect)
	done(err)
	return err
}

func (s *Store) AddMembers(ctx context.Context, account, group string, members []string) ([]string, error) {
	ctx, done := observe(ctx, "AddMembers")
	r0, err := s.next.AddMembers(ctx, account, group, members)
	done(err)
	return r0, err
}

func (s *Store) RemoveMembers(ctx context.Context, account, group string, members []string) ([]string, error) {
	ctx, done := observe(ctx, "RemoveMembers")
	r0, err := s.next.RemoveMembers(ctx, account, group, members)
	done(err)
	return r0, err
}

func (s *Store) ClearMembers(ctx context.Context, account, group string) ([]string, error) {
	ctx, done := observe(ctx, "ClearMembers")
	r0, err := s.next.ClearMembers(ctx, account, group)
	done(err)
	return r0, err
}

func (s *Store) LeaveAllGroups(ctx context.Context, account, member string) ([]string, error) {
	ctx, done := observe(ctx, "LeaveAllGroups")
	r0, err := s.next.LeaveAllGroups(ctx, account, member)
	done(err)
	return r0, err
}

func (s *Store) Members(ctx context.Context, account, group string) ([]string, error) {
	ctx, done := observe(ctx, "Members")
	r0, err := s.next.Members(ctx, account, group)
	done(err)
	return r0, err
}

// EachMember's time includes fn's (writing the members to the client).
func (s *Store) EachMember(ctx context.Context, account, group string, fn func(id, display string) error) error {
	ctx, done := observe(ctx, "EachMember")
	err := s.next.EachMember(ctx, account, group, fn)
	done(err)
	return err
}

func (s *Store) GroupsOf(ctx context.Context, account, member string) ([]string, error) {
	ctx, done := observe(ctx, "GroupsOf")
	r0, err := s.next.GroupsOf(ctx, account, member)
	done(err)
	return r0, err
}

func (s *Store) MembershipsOf(ctx context.Context, account, side string, ids []string) (map[string][]string, error) {
	ctx, done := observe(ctx, "MembershipsOf")
	r0, err := s.next.MembershipsOf(ctx, account, side, ids)
	done(err)
	return r0, err
}

func (s *Store) ReserveSeats(ctx context.Context, acct *store.Account, n int) error {
	ctx, done := observe(ctx, "ReserveSeats")
	err := s.next.ReserveSeats(ctx, acct, n)
	done(err)
	return err
}

func (s *Store) AdjustSeats(ctx context.Context, accountID string, n int) error {
	ctx, done := observe(ctx, "AdjustSeats")
	err := s.next.AdjustSeats(ctx, accountID, n)
	done(err)
	return err
}

func (s *Store) SeatsInUse(ctx context.Context, accountID string) (int, error) {
	ctx, done := observe(ctx, "SeatsInUse")
	r0, err := s.next.SeatsInUse(ctx, accountID)
	done(err)
	return r0, err
}

func (s *Store) RecountSeats(ctx context.Context, accountID string) (int, error) {
	ctx, done := observe(ctx, "RecountSeats")
	r0, err := s.next.RecountSeats(ctx, accountID)
	done(err)
	return r0, err
}

func (s *Store) SetSeats(ctx context.Context, accountID string, seats int) error {
	ctx, done := observe(ctx, "SetSeats")
	err := s.next.SetSeats(ctx, accountID, seats)
	done(err)
	return err
}

func (s *Store) ClaimOwner(ctx context.Context, accountID, userID string) (bool, error) {
	ctx, done := observe(ctx, "ClaimOwner")
	r0, err := s.next.ClaimOwner(ctx, accountID, userID)
	done(err)
	return r0, err
}

func (s *Store) ReleaseOwner(ctx context.Context, accountID, userID string) error {
	ctx, done := observe(ctx, "ReleaseOwner")
	err := s.next.ReleaseOwner(ctx, accountID, userID)
	done(err)
	return err
}

func (s *Store) SetOwner(ctx context.Context, accountID, userID string) error {
	ctx, done := observe(ctx, "SetOwner")
	err := s.next.SetOwner(ctx, accountID, userID)
	done(err)
	return err
}

func (s *Store) UserByInvitationHash(ctx context.Context, hash string) (*store.Resource, error) {
	ctx, done := observe(ctx, "UserByInvitationHash")
	r0, err := s.next.UserByInvitationHash(ctx, hash)
	done(err)
	return r0, err
}

func (s *Store) PendingInvitationsExpiredBy(ctx context.Context, t time.Time, limit int) ([]store.UserRef, error) {
	ctx, done := observe(ctx, "PendingInvitationsExpiredBy")
	r0, err := s.next.PendingInvitationsExpiredBy(ctx, t, limit)
	done(err)
	return r0, err
}

func (s *Store) AddOutbox(ctx context.Context, e *store.OutboxEntry) error {
	ctx, done := observe(ctx, "AddOutbox")
	err := s.next.AddOutbox(ctx, e)
	done(err)
	return err
}

func (s *Store) AddOutboxMany(ctx context.Context, es []*store.OutboxEntry) error {
	ctx, done := observe(ctx, "AddOutboxMany")
	err := s.next.AddOutboxMany(ctx, es)
	done(err)
	return err
}

func (s *Store) DeleteOutbox(ctx context.Context, id string) error {
	ctx, done := observe(ctx, "DeleteOutbox")
	err := s.next.DeleteOutbox(ctx, id)
	done(err)
	return err
}

func (s *Store) DeleteOutboxMany(ctx context.Context, ids []string) error {
	ctx, done := observe(ctx, "DeleteOutboxMany")
	err := s.next.DeleteOutboxMany(ctx, ids)
	done(err)
	return err
}

func (s *Store) OutboxEntryByID(ctx context.Context, id string) (*store.OutboxEntry, error) {
	ctx, done := observe(ctx, "OutboxEntryByID")
	r0, err := s.next.OutboxEntryByID(ctx, id)
	done(err)
	return r0, err
}

func (s *Store) DueOutbox(ctx context.Context, limit int) ([]*store.OutboxEntry, error) {
	ctx, done := observe(ctx, "DueOutbox")
	r0, err := s.next.DueOutbox(ctx, limit)
	done(err)
	return r0, err
}

func (s *Store) ClaimOutbox(ctx context.Context, e *store.OutboxEntry, worker string, lease time.Duration) (bool, error) {
	ctx, done := observe(ctx, "ClaimOutbox")
	r0, err := s.next.ClaimOutbox(ctx, e, worker, lease)
	done(err)
	return r0, err
}

func (s *Store) MarkOutboxSent(ctx context.Context, e *store.OutboxEntry) error {
	ctx, done := observe(ctx, "MarkOutboxSent")
	err := s.next.MarkOutboxSent(ctx, e)
	done(err)
	return err
}

func (s *Store) DiscardOutbox(ctx context.Context, e *store.OutboxEntry, reason string) error {
	ctx, done := observe(ctx, "DiscardOutbox")
	err := s.next.DiscardOutbox(ctx, e, reason)
	done(err)
	return err
}

func (s *Store) FailOutbox(ctx context.Context, e *store.OutboxEntry, reason string) error {
	ctx, done := observe(ctx, "FailOutbox")
	err := s.next.FailOutbox(ctx, e, reason)
	done(err)
	return err
}

func (s *Store) RetryOutbox(ctx context.Context, e *store.OutboxEntry, t time.Time, reason string) error {
	ctx, done := observe(ctx, "RetryOutbox")
	err := s.next.RetryOutbox(ctx, e, t, reason)
	done(err)
	return err
}

func (s *Store) DeferOutbox(ctx context.Context, e *store.OutboxEntry, t time.Time) error {
	ctx, done := observe(ctx, "DeferOutbox")
	err := s.next.DeferOutbox(ctx, e, t)
	done(err)
	return err
}

func (s *Store) VoidOutbox(ctx context.Context, id, reason string) error {
	ctx, done := observe(ctx, "VoidOutbox")
	err := s.next.VoidOutbox(ctx, id, reason)
	done(err)
	return err
}

func (s *Store) PurgeOutbox(ctx context.Context, t time.Time) (int, error) {
	ctx, done := observe(ctx, "PurgeOutbox")
	r0, err := s.next.PurgeOutbox(ctx, t)
	done(err)
	return r0, err
}

func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	ctx, done := observe(ctx, "OutboxDepth")
	r0, err := s.next.OutboxDepth(ctx)
	done(err)
	return r0, err
}

func (s *Store) RecordsOperations() bool { return s.next.RecordsOperations() }

func (s *Store) BeginOperation(ctx context.Context, acct *store.Account, op *store.Operation) (*store.Account, error) {
	ctx, done := observe(ctx, "BeginOperation")
	r0, err := s.next.BeginOperation(ctx, acct, op)
	done(err)
	return r0, err
}

func (s *Store) EndOperation(ctx context.Context, op *store.Operation) error {
	ctx, done := observe(ctx, "EndOperation")
	err := s.next.EndOperation(ctx, op)
	done(err)
	return err
}

func (s *Store) SettleSeatChange(ctx context.Context, account, op, user string) error {
	ctx, done := observe(ctx, "SettleSeatChange")
	err := s.next.SettleSeatChange(ctx, account, op, user)
	done(err)
	return err
}

func (s *Store) ExpiredOperations(ctx context.Context, t time.Time, limit int) ([]*store.Operation, error) {
	ctx, done := observe(ctx, "ExpiredOperations")
	r0, err := s.next.ExpiredOperations(ctx, t, limit)
	done(err)
	return r0, err
}

func (s *Store) ClaimOperation(ctx context.Context, op *store.Operation, holder string) (bool, error) {
	ctx, done := observe(ctx, "ClaimOperation")
	r0, err := s.next.ClaimOperation(ctx, op, holder)
	done(err)
	return r0, err
}
