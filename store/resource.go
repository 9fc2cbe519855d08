package store

import (
	"time"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
)

// Resource is a stored SCIM resource of one account.
type Resource struct {
	Type    *schemas.ResourceType
	ID      string
	Account string
	// Attributes are the SCIM attributes in canonical form (see
	// schemas.Normalize), extension attributes under their schema URN;
	// without id, meta and schemas, and without attributes computed from
	// other records (members, groups) unless a caller added them.
	Attributes map[string]any
	// PasswordHash is the hash of the user's password; never returned.
	PasswordHash string
	// Invitation is a user's invitation state, with the hash of its token;
	// never returned as such (the directory derives the readOnly
	// invitation attributes from it). Nil for users created before
	// invitations existed, and for other resource types.
	Invitation *Invitation
	// Groups, when not nil, are the ids of the groups a user is in, as
	// the operation that returned the user read them (in its
	// transaction), so that its response shows them without reading them
	// again; nil when not read. Stores neither read nor write it.
	Groups []string
	// Version counts the writes to the resource; it is the ETag.
	Version  int64
	Created  time.Time
	Modified time.Time
}

// Kind is what the stores need to know about a resource type beyond its
// schema.
type Kind struct {
	// Unique is the top-level core attribute that is unique per account,
	// compared without regard to case (userName, a group's displayName);
	// empty when none is.
	Unique string
	// Membership names the multi-valued attribute computed from the
	// memberships (Group.members, User.groups), and GroupSide tells
	// whether this resource is the group side.
	Membership string
	GroupSide  bool
}

var kinds = map[string]Kind{
	"User":    {Unique: "userName", Membership: "groups"},
	"Group":   {Unique: "displayName", Membership: "members", GroupSide: true},
	"Project": {},
}

// KindOf returns what the stores need to know about a resource type.
func KindOf(rt *schemas.ResourceType) Kind {
	k, ok := kinds[rt.Name]
	if !ok {
		panic("store: no storage for resource type " + rt.Name)
	}
	return k
}

// UniquenessFailure is the failure of a resource whose unique attribute
// (userName, displayName) another resource of the account already has.
func UniquenessFailure(r *Resource) error {
	k := KindOf(r.Type)
	v, _ := r.Attributes[k.Unique].(string)
	return failure.Uniqueness("%s %q is already taken by another %s in this account (compared without regard to case)", k.Unique, v, r.Type.Name)
}

// SeatField is the TimeCamp extension attribute of a user that says it
// uses a seat (derived by the directory).
const SeatField = "countsTowardSeats"

// UsesSeat reports whether a user uses a seat.
func UsesSeat(r *Resource) bool {
	tc, _ := r.Attributes[schemas.TimeCampUserURN].(map[string]any)
	return tc[SeatField] == true
}

// DisplayName is how a resource is named where another refers to it: its
// displayName, or else its userName ("" when it has neither).
func DisplayName(attrs map[string]any) string {
	for _, k := range []string{"displayName", "userName"} {
		if s, ok := attrs[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// Active reports whether a user is active: unless "active" is false. An
// unassigned active (removed by a PATCH) is TimeCamp's default, active.
func Active(attrs map[string]any) bool { return attrs["active"] != false }
