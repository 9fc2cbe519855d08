package directory

// Invitations. Creating an active user invites them: a random accept
// token (stored hashed in the user document, outside the SCIM attributes),
// an expiry, and an outbox entry that a worker turns into an email (see
// package store for the outbox and why it is written before the user).
// Every change of the invitation is part of the user's change, computed
// here with the rest of the user and committed with it: create, resend
// (resendInvitation), deactivation and deletion (revoke), reactivation
// (a fresh invitation for a revoked one), acceptance, expiry.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// InvitationSettings configure invitations.
type InvitationSettings struct {
	// TTL is how long an accept link works (default DefaultInvitationTTL).
	TTL time.Duration
	// ResendLimit resends are allowed per user within ResendWindow
	// (defaults DefaultResendLimit and DefaultResendWindow).
	ResendLimit  int
	ResendWindow time.Duration
	// Notify, when set, is called after an invitation email was queued,
	// so that a delivery worker in this process starts at once.
	Notify func()
	// Clock, when set, replaces the system clock (tests).
	Clock func() time.Time
}

// Defaults of InvitationSettings.
const (
	DefaultInvitationTTL = 7 * 24 * time.Hour
	DefaultResendLimit   = 3
	DefaultResendWindow  = time.Hour
)

// SetInvitationSettings configures invitations; zero fields keep their
// defaults.
func (s *Service) SetInvitationSettings(o InvitationSettings) {
	if o.TTL <= 0 {
		o.TTL = DefaultInvitationTTL
	}
	if o.ResendLimit <= 0 {
		o.ResendLimit = DefaultResendLimit
	}
	if o.ResendWindow <= 0 {
		o.ResendWindow = DefaultResendWindow
	}
	s.inv = o
}

func (s *Service) now() time.Time {
	t := time.Now()
	if s.inv.Clock != nil {
		t = s.inv.Clock()
	}
	return t.UTC().Truncate(time.Millisecond)
}

// invitationRequests are the write-only invitation attributes of a write.
type invitationRequests struct {
	send   *bool // sendInvitation, on create
	resend bool  // resendInvitation
}

// takeInvitationRequests removes the write-only invitation attributes from
// a user's attributes (they are requests, never stored) and returns them.
func takeInvitationRequests(attrs map[string]any) invitationRequests {
	var r invitationRequests
	tc := extension(attrs, schemas.TimeCampUserURN)
	if tc == nil {
		return r
	}
	if v, ok := tc[schemas.AttrSendInvitation].(bool); ok {
		r.send = &v
	}
	r.resend = tc[schemas.AttrResendInvitation] == true
	delete(tc, schemas.AttrSendInvitation)
	delete(tc, schemas.AttrResendInvitation)
	return r
}

// effectiveStatus is an invitation's status at time t: a pending one past
// its expiry has expired.
func effectiveStatus(inv *store.Invitation, t time.Time) string {
	switch {
	case inv == nil || inv.Status == "":
		return store.InvitationNone
	case inv.Status == store.InvitationPending && !t.Before(inv.ExpiresAt):
		return store.InvitationExpired
	}
	return inv.Status
}

// issueInvitation makes a new invitation of a user, with its outbox entry.
func (s *Service) issueInvitation(account, user string, t time.Time) (*store.Invitation, *store.OutboxEntry, error) {
	token, hash, err := store.NewInvitationToken()
	if err != nil {
		return nil, nil, err
	}
	inv := &store.Invitation{
		ID: store.NewID(), Hash: hash, Status: store.InvitationPending,
		InvitedAt: t, ExpiresAt: t.Add(s.inv.TTL),
	}
	return inv, &store.OutboxEntry{ID: inv.ID, Account: account, User: user, Token: token}, nil
}

// deriveInvitation sets the readOnly invitation attributes from the
// invitation state, as every write of a user does.
func deriveInvitation(attrs map[string]any, inv *store.Invitation, t time.Time) {
	tc := ensureExtension(attrs, schemas.TimeCampUserURN)
	tc["invitationStatus"] = effectiveStatus(inv, t)
	delete(tc, "invitedAt")
	delete(tc, "acceptedAt")
	if inv != nil && !inv.InvitedAt.IsZero() {
		tc["invitedAt"] = schemas.FormatTime(inv.InvitedAt)
	}
	if inv != nil && !inv.AcceptedAt.IsZero() {
		tc["acceptedAt"] = schemas.FormatTime(inv.AcceptedAt)
	}
}

// createInvitation decides a new user's invitation: an active user is
// invited when the create asks for it (sendInvitation) or, without that,
// when the account's invitation emails are on.
func (s *Service) createInvitation(acct *store.Account, r *store.Resource, req invitationRequests, t time.Time) (*store.OutboxEntry, error) {
	invite := !acct.InvitationsOff
	if req.send != nil {
		invite = *req.send
	}
	if !store.Active(r.Attributes) || !invite {
		r.Invitation = &store.Invitation{Status: store.InvitationNone}
		deriveInvitation(r.Attributes, r.Invitation, t)
		return nil, nil
	}
	inv, entry, err := s.issueInvitation(acct.ID, r.ID, t)
	if err != nil {
		return nil, err
	}
	r.Invitation = inv
	deriveInvitation(r.Attributes, inv, t)
	return entry, nil
}

// invitationChange computes how a user's update changes its invitation:
// next.Invitation (the state the update starts from) becomes the new
// state; the result is the outbox entry of a new invitation, if any, and
// the ids of invitations the update voids.
func (s *Service) invitationChange(acct *store.Account, cur, next *store.Resource, req invitationRequests, t time.Time) (*store.OutboxEntry, []string, error) {
	inv := next.Invitation.Copy()
	status := effectiveStatus(inv, t)
	wasActive, isActive := store.Active(cur.Attributes), store.Active(next.Attributes)
	var entry *store.OutboxEntry
	var voided []string
	switch {
	case req.resend:
		name := str(next.Attributes["userName"])
		if !isActive {
			return nil, nil, failure.InvalidValue("%s is deactivated: reactivate the user (\"active\": true) to invite them again", name)
		}
		if status == store.InvitationAccepted {
			return nil, nil, failure.InvalidValue("%s already accepted the invitation; there is nothing to resend", name)
		}
		var recent []time.Time
		if inv != nil {
			for _, at := range inv.Resends {
				if t.Sub(at) < s.inv.ResendWindow {
					recent = append(recent, at)
				}
			}
		}
		if len(recent) >= s.inv.ResendLimit {
			wait := recent[0].Add(s.inv.ResendWindow).Sub(t)
			return nil, nil, failure.TooManyRequestsf(wait,
				"the invitation of %s was resent %d times in the last %s, the most allowed; try again after %s",
				name, len(recent), humanDuration(s.inv.ResendWindow), schemas.FormatTime(t.Add(wait)))
		}
		if status == store.InvitationPending {
			voided = append(voided, inv.ID)
		}
		fresh, e, err := s.issueInvitation(acct.ID, cur.ID, t)
		if err != nil {
			return nil, nil, err
		}
		fresh.Resends = append(recent, t)
		inv, entry = fresh, e
	case wasActive && !isActive && status == store.InvitationPending:
		// Deactivation revokes; the hash stays so that the link says so.
		inv.Status = store.InvitationRevoked
		voided = append(voided, inv.ID)
	case !wasActive && isActive && status == store.InvitationRevoked && !acct.InvitationsOff:
		// Reactivation invites again someone whose invitation the
		// deactivation revoked.
		fresh, e, err := s.issueInvitation(acct.ID, cur.ID, t)
		if err != nil {
			return nil, nil, err
		}
		fresh.Resends = inv.Resends
		inv, entry = fresh, e
	case status == store.InvitationExpired && inv.Status == store.InvitationPending:
		inv.Status = store.InvitationExpired
	}
	next.Invitation = inv
	deriveInvitation(next.Attributes, inv, t)
	return entry, voided, nil
}

func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d == time.Hour:
		return "hour"
	case d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return d.String()
}

// sameInvitation compares invitation states (times by instant).
func sameInvitation(a, b *store.Invitation) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.ID != b.ID || a.Hash != b.Hash || a.Status != b.Status || !a.InvitedAt.Equal(b.InvitedAt) ||
		!a.ExpiresAt.Equal(b.ExpiresAt) || !a.AcceptedAt.Equal(b.AcceptedAt) || len(a.Resends) != len(b.Resends) {
		return false
	}
	for i := range a.Resends {
		if !a.Resends[i].Equal(b.Resends[i]) {
			return false
		}
	}
	return true
}

// viewInvitations shows a pending invitation past its expiry as expired
// in resources about to be returned (the stored status catches up at the
// next write or the worker's sweep), and "none" for users stored before
// invitations existed.
func (s *Service) viewInvitations(rs []*store.Resource) {
	t := s.now()
	for _, r := range rs {
		tc := extension(r.Attributes, schemas.TimeCampUserURN)
		switch {
		case tc == nil:
		case tc["invitationStatus"] == nil:
			// A user stored before invitations existed, not written since.
			tc["invitationStatus"] = effectiveStatus(r.Invitation, t)
		case tc["invitationStatus"] == store.InvitationPending && effectiveStatus(r.Invitation, t) == store.InvitationExpired:
			tc["invitationStatus"] = store.InvitationExpired
		}
	}
}

// InvitationInfo is what the accept page may show about an invitation:
// the account's name and the invitation's status, nothing about the user.
type InvitationInfo struct {
	AccountName string
	Status      string
}

// Invitation looks an invitation up by its accept token. An unknown token
// (never issued, replaced by a resend, or its user deleted) is a
// not-found failure.
func (s *Service) Invitation(ctx context.Context, token string) (*InvitationInfo, error) {
	u, err := s.store.UserByInvitationHash(ctx, store.HashInvitationToken(token))
	if err != nil {
		return nil, err
	}
	acct, err := s.store.Account(ctx, u.Account)
	if err != nil {
		return nil, err
	}
	return &InvitationInfo{AccountName: acct.Name, Status: effectiveStatus(u.Invitation, s.now())}, nil
}

// errTokenGone: the invitation was replaced while it was being accepted.
var errTokenGone = errors.New("directory: invitation replaced")

// AcceptInvitation accepts the invitation with the accept token, if it is
// pending, and reports whether it did; the info then says accepted.
// Otherwise the info says why not (accepted already, expired, revoked).
func (s *Service) AcceptInvitation(ctx context.Context, token string) (info *InvitationInfo, accepted bool, err error) {
	err = s.atomic(ctx, func(ctx context.Context) error {
		info, accepted, err = s.acceptInvitation(ctx, token)
		return err
	})
	return info, accepted, err
}

func (s *Service) acceptInvitation(ctx context.Context, token string) (*InvitationInfo, bool, error) {
	hash := store.HashInvitationToken(token)
	u, err := s.store.UserByInvitationHash(ctx, hash)
	if err != nil {
		return nil, false, err
	}
	info := &InvitationInfo{}
	accepted := false
	_, err = s.update(ctx, u.Account, schemas.User, u.ID, "", func(acct *store.Account, cur *store.Resource) (*change, error) {
		info.AccountName = acct.Name
		if cur.Invitation == nil || cur.Invitation.Hash != hash {
			return nil, errTokenGone
		}
		t := s.now()
		info.Status = effectiveStatus(cur.Invitation, t)
		if info.Status != store.InvitationPending {
			return &change{}, nil
		}
		next := *cur
		next.Attributes = schemas.CopyAttributes(cur.Attributes)
		next.Invitation = cur.Invitation.Copy()
		next.Invitation.Status = store.InvitationAccepted
		next.Invitation.AcceptedAt = t
		c, err := s.userChange(ctx, acct, cur, &next, nil)
		if err != nil {
			return nil, err
		}
		info.Status, accepted = store.InvitationAccepted, true
		return c, nil
	})
	if errors.Is(err, errTokenGone) {
		return nil, false, failure.NotFoundf("no invitation with this token")
	}
	if err != nil {
		return nil, false, err
	}
	return info, accepted, nil
}

// ExpireInvitations marks up to limit pending invitations past their
// expiry as expired (so that filters on invitationStatus see them) and
// returns how many it changed. The delivery worker calls it now and then.
func (s *Service) ExpireInvitations(ctx context.Context, limit int) (int, error) {
	refs, err := s.store.PendingInvitationsExpiredBy(ctx, s.now(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ref := range refs {
		err := s.atomic(ctx, func(ctx context.Context) error {
			_, err := s.update(ctx, ref.Account, schemas.User, ref.ID, "", func(acct *store.Account, cur *store.Resource) (*change, error) {
				next := *cur
				next.Attributes = schemas.CopyAttributes(cur.Attributes)
				next.Invitation = cur.Invitation.Copy()
				return s.userChange(ctx, acct, cur, &next, nil)
			})
			return err
		})
		if failure.Is(err, failure.NotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
