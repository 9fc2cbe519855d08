package schemas

import (
	"fmt"

	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// TimeCamp schema URNs. Extension attributes are flat and simple wherever an
// identity provider must write them: Entra ID cannot send complex custom
// attributes.
const (
	TimeCampUserURN  = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:User"
	TimeCampGroupURN = "urn:ietf:params:scim:schemas:extension:timecamp:2.0:Group"
	ProjectURN       = "urn:timecamp:params:scim:schemas:core:2.0:Project"
)

// Account roles, lowest first: a user's effective role is the highest of
// their own and those their groups grant.
var Roles = []string{"guest", "user", "supervisor", "administrator"}

// Role names.
const (
	RoleGuest         = "guest"
	RoleUser          = "user"
	RoleSupervisor    = "supervisor"
	RoleAdministrator = "administrator"
)

// RoleRank orders roles (guest 0 … administrator 3); -1 for unknown.
func RoleRank(role string) int {
	for i, r := range Roles {
		if r == role {
			return i
		}
	}
	return -1
}

// Project roles, lowest first.
var ProjectRoles = []string{"guest", "member", "manager"}

// ProjectRoleRank orders project roles; -1 for unknown.
func ProjectRoleRank(role string) int {
	for i, r := range ProjectRoles {
		if r == role {
			return i
		}
	}
	return -1
}

// Notification preferences of a user, all on by default.
var NotificationAttributes = []string{
	"notifyDailySummary", "notifyWeeklySummary", "notifyApprovals", "notifyTimeEntries", "notifyBudget",
}

// Tracking permissions; timeTrackingAdmin implies the other two.
var TrackingPermissions = []string{"timeTrackingAdmin", "canCreateProjects", "canViewRates"}

func desc(s string) optional.String { return optional.NewString(s) }

// strict marks an attribute's canonical values as the only ones allowed.
func strict(s string) optional.String { return desc(s + " " + StrictCanonicalMarker) }

// Unassigned is how the description of an optional setting with a TimeCamp
// default says what a PATCH "remove" does (RFC 7644 §3.5.2.2): the
// attribute is unassigned, no longer returned, and TimeCamp applies its
// default. A POST or PUT that leaves the attribute out gets the default as
// a value (RFC 7644 §3.3 lets the service provider assign defaults) — but a
// PUT that does not assert the attribute's schema (an extension neither in
// its "schemas" nor with any attribute sent) keeps what is stored.
const Unassigned = "Left out of a POST, or of a PUT that asserts this attribute's schema (lists it in \"schemas\" or sends any of its attributes): %s; a PUT that does not assert the schema keeps the stored value. Removed (PATCH remove, or replace with null): unassigned — not returned, absent to filters — and TimeCamp applies %s."

func setting(name, description, def string) schema.CoreAttribute {
	return boolAttr(name, description+" "+fmt.Sprintf(Unassigned, def, def))
}

func boolAttr(name, description string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{Name: name, Description: desc(description)}))
}

func readOnlyBool(name, description string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
		Name: name, Description: desc(description), Mutability: schema.AttributeMutabilityReadOnly(),
	}))
}

func readOnlyString(name, description string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
		Name: name, Description: desc(description), Mutability: schema.AttributeMutabilityReadOnly(),
	}))
}

func roleAttr(name, description string, readOnly bool) schema.CoreAttribute {
	p := schema.StringParams{Name: name, CanonicalValues: Roles, Description: strict(description)}
	if readOnly {
		p.Mutability = schema.AttributeMutabilityReadOnly()
	}
	return schema.SimpleCoreAttribute(schema.SimpleStringParams(p))
}

// ReadOnlyRule is how every read-only attribute behaves, said once in
// each one's description: the server derives it.
const ReadOnlyRule = "Read-only: set by the server; in a POST, a PUT or a path-less PATCH value it is ignored (clients send back what they read), and a PATCH whose path names it answers 400 mutability."

// RefRule says how a reference ({"value": id, "$ref": URI}) is written.
const RefRule = "Send \"value\" (the id), \"$ref\" (the URI this server returns), or both naming the same resource. A reference to a resource that does not exist, or a $ref to another server or resource type, answers 400 invalidValue."

// refSubs are the sub-attributes of a reference to a resource of this
// server, as RFC 7643 writes them for members and manager: "value" the
// id, "$ref" the URI (returned, derived from the value). what names the
// resource type ("Project").
func refSubs(what string) []schema.SimpleParams {
	return []schema.SimpleParams{
		schema.SimpleStringParams(schema.StringParams{
			Name: "value", CaseExact: true,
			Description: desc("The id of the " + what + ". " + RefRule),
		}),
		schema.SimpleReferenceParams(schema.ReferenceParams{
			Name: "$ref", ReferenceTypes: []schema.AttributeReferenceType{schema.AttributeReferenceType(what)},
			Description: desc("The URI of the " + what + " on this server (its meta.location). " + RefRule),
		}),
	}
}

// ReferenceTo returns the resource type a sub-attribute "$ref" of def
// refers to, when def is a reference to a resource of this server (one
// resource type in referenceTypes, which this server serves).
func ReferenceTo(def schema.CoreAttribute) (*ResourceType, bool) {
	ref, ok := SubAttribute(def, "$ref")
	if !ok {
		return nil, false
	}
	types := ref.ReferenceTypes()
	if len(types) != 1 {
		return nil, false
	}
	return ByName(string(types[0]))
}

// parentAttr is the place of a group or project in its tree: a reference
// to another resource of the same type.
func parentAttr(what, description string) schema.CoreAttribute {
	return schema.ComplexCoreAttribute(schema.ComplexParams{
		Name: "parent", Description: desc(description), SubAttributes: refSubs(what),
	})
}

// projectAccess is the multi-valued "projects" attribute of users (with
// the read-only parts) and groups (grants).
func projectAccess(forUser bool) schema.CoreAttribute {
	subs := append(refSubs("Project"),
		schema.SimpleStringParams(schema.StringParams{Name: "role", CanonicalValues: ProjectRoles, Description: strict("The role on the project. Left out of an entry a write adds (POST, PUT, PATCH add or replace): member. Removed (PATCH remove of projects[value eq \"<id>\"].role): unassigned — not returned — and member applies.")}),
	)
	description := "Projects this group's members (and the members of its descendant groups) get access to."
	if forUser {
		description = "Projects the user has access to: their own, and (inherited) those granted by their groups. A user's write changes their own entries only: an entry sent back marked inherited is a group's grant echoed, and is ignored unless the user owns that project (then the read-only marker changes nothing). Where a group grants a higher role on one of the user's own projects, role shows that higher role."
		subs = append(subs,
			schema.SimpleStringParams(schema.StringParams{Name: "display", Mutability: schema.AttributeMutabilityReadOnly(), Description: desc("The project's name. " + ReadOnlyRule)}),
			schema.SimpleBooleanParams(schema.BooleanParams{Name: "inherited", Mutability: schema.AttributeMutabilityReadOnly(), Description: desc("Granted by a group rather than to the user. " + ReadOnlyRule)}),
		)
	}
	return schema.ComplexCoreAttribute(schema.ComplexParams{Name: "projects", MultiValued: true, Description: desc(description), SubAttributes: subs})
}

func timeCampUserSchema() schema.Schema {
	attrs := schema.Attributes{
		roleAttr("role", "The user's own account role: administrator, supervisor, user or guest. The core \"roles\" attribute sets it too (how Entra ID sends app roles): the value naming a role that the write added, the primary one first, else the highest; a write that sets role itself keeps it. "+fmt.Sprintf(Unassigned, "user", "user"), false),
		roleAttr("effectiveRole", "The highest of role (user when unassigned) and the roles granted by the user's groups and their ancestors. "+ReadOnlyRule, true),
		readOnlyBool("accountOwner", "Whether the user owns the account. Exactly one user does; the owner cannot be deactivated, deleted or demoted. "+ReadOnlyRule),
		setting("timeTrackingAdmin", "May manage everyone's time entries. TimeCamp's rule: a time-tracking admin may always create projects and see rates. So a write that makes timeTrackingAdmin true also makes canCreateProjects and canViewRates true, unless the same write sends them; a write that sends either as false while timeTrackingAdmin is or becomes true answers 400 invalidValue naming both attributes, and changes nothing.", "false"),
		setting("canCreateProjects", "May create projects. Always true for a time-tracking admin (see timeTrackingAdmin): false beside timeTrackingAdmin true answers 400 invalidValue.", "the value of timeTrackingAdmin"),
		setting("canViewRates", "May see billing rates. Always true for a time-tracking admin (see timeTrackingAdmin): false beside timeTrackingAdmin true answers 400 invalidValue.", "the value of timeTrackingAdmin"),
		setting("allProjects", "Member of every current and future project.", "false"),
		projectAccess(true),
	}
	for _, n := range NotificationAttributes {
		attrs = append(attrs, setting(n, "Email notification preference.", "true (on)"))
	}
	attrs = append(attrs, readOnlyBool("countsTowardSeats", "Whether the user uses a seat: active and not a guest. "+ReadOnlyRule))
	attrs = append(attrs, invitationAttributes()...)
	return schema.Schema{
		ID:          TimeCampUserURN,
		Name:        optional.NewString("TimeCamp User"),
		Description: desc("TimeCamp account role, tracking permissions, project access and notification preferences"),
		Attributes:  attrs,
	}
}

// Invitation statuses (the invitationStatus attribute).
var InvitationStatuses = []string{"pending", "accepted", "expired", "revoked", "none"}

// Write-only invitation requests: read from a write, never stored or
// returned.
const (
	AttrSendInvitation   = "sendInvitation"
	AttrResendInvitation = "resendInvitation"
)

func invitationAttributes() []schema.CoreAttribute {
	readOnlyTime := func(name, description string) schema.CoreAttribute {
		return schema.SimpleCoreAttribute(schema.SimpleDateTimeParams(schema.DateTimeParams{
			Name: name, Description: desc(description), Mutability: schema.AttributeMutabilityReadOnly(),
		}))
	}
	writeOnlyBool := func(name, description string) schema.CoreAttribute {
		return schema.SimpleCoreAttribute(schema.SimpleBooleanParams(schema.BooleanParams{
			Name: name, Description: desc(description),
			Mutability: schema.AttributeMutabilityWriteOnly(), Returned: schema.AttributeReturnedNever(),
		}))
	}
	return []schema.CoreAttribute{
		schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
			Name: "invitationStatus", CanonicalValues: InvitationStatuses, Mutability: schema.AttributeMutabilityReadOnly(),
			Description: desc("The user's invitation: pending (an email with an accept link was sent or is on its way), accepted, expired, revoked (the user was deactivated before accepting), or none (no invitation: the account's invitation emails are off, or the create said sendInvitation false). " + ReadOnlyRule),
		})),
		readOnlyTime("invitedAt", "When the current invitation was issued. "+ReadOnlyRule),
		readOnlyTime("acceptedAt", "When the user accepted the invitation. "+ReadOnlyRule),
		writeOnlyBool(AttrSendInvitation, "On create only: true sends an invitation email, false sends none (status none); without it the account's default applies. A request, never stored: elsewhere, and in a PATCH remove, it has no effect."),
		writeOnlyBool(AttrResendInvitation, "true (PATCH or PUT) issues a fresh accept link, voids the previous one and sends a new email; rate-limited per user, refused for a deactivated user or an accepted invitation. A request, never stored: a PATCH remove of it has no effect."),
	}
}

func timeCampGroupSchema() schema.Schema {
	return schema.Schema{
		ID:          TimeCampGroupURN,
		Name:        optional.NewString("TimeCamp Group"),
		Description: desc("Place in the account's group tree and what the group grants its members"),
		Attributes: schema.Attributes{
			parentAttr("Group", "The parent Group. Unassigned: the group hangs under the account's root. The tree has at most 4 levels (the account is the first) and no cycles; a parent that breaks either answers 400 invalidValue."),
			readOnlyString("path", "The group's place in the tree, e.g. \"Acme/Engineering/Backend\". "+ReadOnlyRule),
			roleAttr("grantsRole", "An account role granted to the members of this group and of its descendants. Unassigned: the group grants no role.", false),
			projectAccess(false),
		},
	}
}

func projectSchema() schema.Schema {
	return schema.Schema{
		ID:          ProjectURN,
		Name:        optional.NewString("Project"),
		Description: desc("A TimeCamp project (a top-level task)"),
		Attributes: schema.Attributes{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "displayName", Required: true, Description: desc("The project's name. Required: a PATCH cannot remove it (400 mutability).")})),
			parentAttr("Project", "The parent Project, if any. A project cannot be inside itself or one of its descendants (400 invalidValue). Deleting a project removes it as the parent of the projects under it."),
			boolAttr("archived", "Archived projects take no new time entries. Unassigned: not archived."),
			boolAttr("billable", "Time on the project is billable. Unassigned: not billable."),
		},
	}
}
