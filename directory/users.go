package directory

import (
	"context"
	"reflect"

	"golang.org/x/crypto/bcrypt"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// Password rules: long enough to mean something, short enough for bcrypt,
// which reads at most 72 bytes.
const (
	minPasswordLength = 8
	maxPasswordBytes  = 72
)

func (s *Service) createUser(ctx context.Context, acct *store.Account, r *store.Resource) (*store.Resource, error) {
	invReq, err := readNewUser(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkProjects(ctx, acct.ID, ownProjectIDs(r)); err != nil {
		return nil, err
	}
	// A new user is in no group yet, so no group grants it anything: the
	// group tree (one read of all the account's groups) is not needed.
	return s.insertUser(ctx, acct, &tree{root: acct.Name}, r, invReq)
}

// readNewUser takes what a new user's body says beyond its attributes: the
// invitation requests, the password (hashed) and an account role named by
// "roles"; the settings it leaves out take their defaults.
func readNewUser(r *store.Resource) (invitationRequests, error) {
	invReq := takeInvitationRequests(r.Attributes)
	if err := takePassword(r, r.Attributes); err != nil {
		return invReq, err
	}
	applyRoles(nil, r.Attributes)
	sent := sentIn(r.Attributes)
	applyDefaults(r.Attributes)
	defaultProjectRoles(schemas.TimeCampUserURN, nil, r.Attributes)
	return invReq, settleTracking(nil, r.Attributes, sent)
}

// sentIn reports which TimeCamp user settings a POST or PUT body gave
// (read before the defaults are applied).
func sentIn(attrs map[string]any) func(string) bool {
	tc := extension(attrs, schemas.TimeCampUserURN)
	given := map[string]bool{}
	for k := range tc {
		given[k] = true
	}
	return func(name string) bool { return given[name] }
}

func ownProjectIDs(r *store.Resource) []string {
	return projectIDs(ownProjects(extension(r.Attributes, schemas.TimeCampUserURN)["projects"]))
}

// newUserChange computes what creating a user implies — its derived
// attributes, the seat it takes, whether it becomes the account owner, its
// invitation — without writing anything.
func (s *Service) newUserChange(acct *store.Account, t *tree, r *store.Resource, invReq invitationRequests) (*change, error) {
	st := deriveUser(r.Attributes, nil, t, false)
	c := &change{next: r, seats: boolInt(st.counts)}
	if newAdministrator(nil, r.Attributes) {
		c.administrators = []string{str(r.Attributes["userName"])}
	}
	var err error
	if c.outbox, err = s.createInvitation(acct, r, invReq, s.now()); err != nil {
		return nil, err
	}
	if acct.Owner == "" && mayClaimOwnership(r.Attributes, st) {
		c.claimOwner = true
		extension(r.Attributes, schemas.TimeCampUserURN)["accountOwner"] = true
	}
	return c, nil
}

// mayClaimOwnership reports whether a user becomes the owner of an account
// that has none: the first active user whose own role is administrator.
// A role granted by a group does not count: group memberships come and go
// with the identity provider's assignments, and the owner must not be
// removable by them (see ownerProtected).
func mayClaimOwnership(attrs map[string]any, st userState) bool {
	return st.counts && extension(attrs, schemas.TimeCampUserURN)["role"] == schemas.RoleAdministrator
}

// insertUser stores a new user whose input was read and checked.
func (s *Service) insertUser(ctx context.Context, acct *store.Account, t *tree, r *store.Resource, invReq invitationRequests) (*store.Resource, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.newUserChange(acct, t, r, invReq)
		if err != nil {
			return nil, err
		}
		err = s.commit(ctx, acct, r.ID, c, func() error { return s.store.Insert(ctx, r) })
		if err == errOwnerTaken && attempt < maxAttempts {
			if acct, err = s.store.Account(ctx, acct.ID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// userChange computes a user's update: derived attributes, seats, and the
// account owner's protection. w is what the client sent (nil for the
// server's own updates: a group's grants changed, a project was deleted).
func (s *Service) userChange(ctx context.Context, acct *store.Account, cur, next *store.Resource, w *write) (*change, error) {
	invReq := takeInvitationRequests(next.Attributes)
	applyRoles(cur.Attributes, next.Attributes)
	if w != nil {
		if w.replace {
			applyDefaults(next.Attributes)
		}
		var before map[string]any // a PUT gives every entry it has no role for the default
		if !w.replace {
			before = ownView(cur.Attributes)
		}
		defaultProjectRoles(schemas.TimeCampUserURN, before, next.Attributes)
		if err := settleTracking(cur.Attributes, next.Attributes, w.sent); err != nil {
			return nil, err
		}
	}
	if err := s.checkProjects(ctx, acct.ID, newProjectIDs(cur, next)); err != nil {
		return nil, err
	}
	t, err := s.loadTree(ctx, acct)
	if err != nil {
		return nil, err
	}
	// The user's groups matter only if some group grants something: when
	// none does (most accounts), every PATCH of a user is spared a read of
	// the memberships (a scan of them all on the embedded database).
	var groups []string
	if t.grantsSomething() {
		if groups, err = s.store.GroupsOf(ctx, acct.ID, cur.ID); err != nil {
			return nil, err
		}
		next.Groups = groups
	} else if len(t.groups) == 0 {
		next.Groups = []string{} // an account without groups: the response need not look
	}
	isOwner := acct.Owner == cur.ID
	st := deriveUser(next.Attributes, groups, t, isOwner)
	if isOwner {
		if !store.Active(next.Attributes) {
			return nil, ownerProtected(cur, "deactivated")
		}
		if st.effectiveRole != schemas.RoleAdministrator {
			return nil, ownerProtected(cur, "demoted")
		}
	}
	c := &change{seats: boolInt(st.counts) - boolInt(countsTowardSeats(cur))}
	if newAdministrator(cur.Attributes, next.Attributes) {
		c.administrators = []string{str(next.Attributes["userName"])}
	}
	if c.outbox, c.voided, err = s.invitationChange(acct, cur, next, invReq, s.now()); err != nil {
		return nil, err
	}
	if !isOwner && acct.Owner == "" && mayClaimOwnership(next.Attributes, st) {
		c.claimOwner = true
		extension(next.Attributes, schemas.TimeCampUserURN)["accountOwner"] = true
	}
	if c.claimOwner || next.PasswordHash != cur.PasswordHash || !sameInvitation(cur.Invitation, next.Invitation) ||
		!reflect.DeepEqual(cur.Attributes, next.Attributes) {
		c.next = next
	}
	if store.DisplayName(cur.Attributes) != store.DisplayName(next.Attributes) {
		// The groups it is in show its name among their members.
		c.after = func(ctx context.Context) error {
			groups, err := s.store.GroupsOf(ctx, acct.ID, cur.ID)
			if err != nil {
				return err
			}
			return s.store.BumpMany(ctx, schemas.Group, acct.ID, groups)
		}
	}
	return c, nil
}

func (s *Service) deleteUser(ctx context.Context, acct *store.Account, cur *store.Resource) error {
	if acct.Owner == cur.ID {
		return ownerProtected(cur, "deleted")
	}
	if err := s.deleteDocument(ctx, cur); err != nil {
		return err
	}
	// The groups it was in no longer list it.
	left, err := s.store.LeaveAllGroups(ctx, acct.ID, cur.ID)
	if err != nil {
		return err
	}
	if err := s.store.BumpMany(ctx, schemas.Group, acct.ID, left); err != nil {
		return err
	}
	if inv := cur.Invitation; inv != nil && inv.Status == store.InvitationPending {
		// Deleting revokes: the link no longer finds the user, and an
		// email not sent yet is dropped (or by the delivery worker).
		if err := s.store.VoidOutbox(ctx, inv.ID, "user deleted"); err != nil {
			s.log.Warn("could not drop the email of a deleted user's invitation; the delivery worker will", "error", err)
		}
	}
	if countsTowardSeats(cur) {
		return s.store.AdjustSeats(ctx, acct.ID, -1)
	}
	return nil
}

func ownerProtected(u *store.Resource, what string) error {
	return failure.Forbiddenf("%s is the account owner and cannot be %s; transfer the ownership to another administrator first (timecamp-scim accounts transfer-owner)", str(u.Attributes["userName"]), what)
}

// countsTowardSeats reads whether a stored user uses a seat.
func countsTowardSeats(u *store.Resource) bool {
	return extension(u.Attributes, schemas.TimeCampUserURN)["countsTowardSeats"] == true
}

// TransferOwner makes a user the account owner. The new owner must be
// active and have the administrator role of their own (see
// mayClaimOwnership).
func (s *Service) TransferOwner(ctx context.Context, account, userID string) error {
	return s.atomic(ctx, func(ctx context.Context) error { return s.transferOwner(ctx, account, userID) })
}

func (s *Service) transferOwner(ctx context.Context, account, userID string) error {
	acct, err := s.store.Account(ctx, account)
	if err != nil {
		return err
	}
	u, err := s.store.Get(ctx, schemas.User, account, userID)
	if err != nil {
		return err
	}
	tc := extension(u.Attributes, schemas.TimeCampUserURN)
	if tc["role"] != schemas.RoleAdministrator || !store.Active(u.Attributes) {
		return failure.InvalidValue("%s must be active and have the administrator role (not only through a group) to own the account", str(u.Attributes["userName"]))
	}
	if err := s.store.SetOwner(ctx, account, userID); err != nil {
		return err
	}
	ids := []string{userID}
	if acct.Owner != "" && acct.Owner != userID {
		ids = append(ids, acct.Owner)
	}
	_, err = s.syncUsers(ctx, account, ids)
	return err
}

// takePassword moves a password out of the attributes into the resource's
// hash; a body without one keeps the hash the resource has.
func takePassword(r *store.Resource, attrs map[string]any) error {
	v, ok := attrs["password"]
	if !ok {
		return nil
	}
	delete(attrs, "password")
	pw, _ := v.(string)
	h, err := hashPassword(pw)
	if err != nil {
		return err
	}
	r.PasswordHash = h
	return nil
}

func hashPassword(pw string) (string, error) {
	if len([]rune(pw)) < minPasswordLength {
		return "", failure.InvalidValue("password must be at least %d characters long", minPasswordLength)
	}
	if len(pw) > maxPasswordBytes {
		return "", failure.InvalidValue("password must be at most %d bytes long", maxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword reports whether pw is the user's password.
func CheckPassword(r *store.Resource, pw string) bool {
	return r.PasswordHash != "" && bcrypt.CompareHashAndPassword([]byte(r.PasswordHash), []byte(pw)) == nil
}
