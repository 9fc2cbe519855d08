package schemas

import (
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

// projectAccess is the multi-valued "projects" attribute of users (with
// the read-only parts) and groups (grants).
func projectAccess(forUser bool) schema.CoreAttribute {
	subs := []schema.SimpleParams{
		schema.SimpleStringParams(schema.StringParams{Name: "value", CaseExact: true, Description: desc("The id of the Project.")}),
		schema.SimpleStringParams(schema.StringParams{Name: "role", CanonicalValues: ProjectRoles, Description: strict("The role on the project; member when not given.")}),
	}
	description := "Projects this group's members (and the members of its descendant groups) get access to."
	if forUser {
		description = "Projects the user has access to: their own, and (inherited) those granted by their groups."
		subs = append(subs,
			schema.SimpleStringParams(schema.StringParams{Name: "display", Mutability: schema.AttributeMutabilityReadOnly(), Description: desc("The project's name.")}),
			schema.SimpleBooleanParams(schema.BooleanParams{Name: "inherited", Mutability: schema.AttributeMutabilityReadOnly(), Description: desc("Granted by a group rather than to the user.")}),
		)
	}
	return schema.ComplexCoreAttribute(schema.ComplexParams{Name: "projects", MultiValued: true, Description: desc(description), SubAttributes: subs})
}

func timeCampUserSchema() schema.Schema {
	attrs := schema.Attributes{
		roleAttr("role", "The user's own account role: administrator, supervisor, user or guest; user when not given. The core \"roles\" attribute sets it too (how Entra ID sends app roles): the value naming a role that the write added, the primary one first, else the highest.", false),
		roleAttr("effectiveRole", "The highest of role and the roles granted by the user's groups and their ancestors.", true),
		readOnlyBool("accountOwner", "Whether the user owns the account. Exactly one user does; the owner cannot be deactivated, deleted or demoted."),
		boolAttr("timeTrackingAdmin", "May manage everyone's time entries; implies canCreateProjects and canViewRates."),
		boolAttr("canCreateProjects", "May create projects."),
		boolAttr("canViewRates", "May see billing rates."),
		boolAttr("allProjects", "Member of every current and future project."),
		projectAccess(true),
	}
	for _, n := range NotificationAttributes {
		attrs = append(attrs, boolAttr(n, "Email notification preference; on unless turned off."))
	}
	attrs = append(attrs, readOnlyBool("countsTowardSeats", "Whether the user uses a seat: active and not a guest."))
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
			Description: desc("The user's invitation: pending (an email with an accept link was sent or is on its way), accepted, expired, revoked (the user was deactivated before accepting), or none (no invitation: the account's invitation emails are off, or the create said sendInvitation false)."),
		})),
		readOnlyTime("invitedAt", "When the current invitation was issued."),
		readOnlyTime("acceptedAt", "When the user accepted the invitation."),
		writeOnlyBool(AttrSendInvitation, "On create only: true sends an invitation email, false sends none (status none); without it the account's default applies."),
		writeOnlyBool(AttrResendInvitation, "true (PATCH or PUT) issues a fresh accept link, voids the previous one and sends a new email; rate-limited per user."),
	}
}

func timeCampGroupSchema() schema.Schema {
	return schema.Schema{
		ID:          TimeCampGroupURN,
		Name:        optional.NewString("TimeCamp Group"),
		Description: desc("Place in the account's group tree and what the group grants its members"),
		Attributes: schema.Attributes{
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{
				Name: "parent", CaseExact: true,
				Description: desc("The id of the parent Group; the account's root group when not given. The tree has at most 4 levels."),
			})),
			readOnlyString("path", "The group's place in the tree, e.g. \"Acme/Engineering/Backend\"."),
			roleAttr("grantsRole", "An account role granted to the members of this group and of its descendants.", false),
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
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "displayName", Required: true, Description: desc("The project's name.")})),
			schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: "parent", CaseExact: true, Description: desc("The id of the parent Project, if any.")})),
			boolAttr("archived", "Archived projects take no new time entries."),
			boolAttr("billable", "Time on the project is billable."),
		},
	}
}
