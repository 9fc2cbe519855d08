package directory

import (
	"context"
	"slices"
	"strconv"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// memberDelta is a change to a group's members: optionally "start from no
// members", then ids to add and ids to remove.
type memberDelta struct {
	replaceAll bool
	add        []string
	adding     map[string]bool
	removing   map[string]bool
}

func newMemberDelta() *memberDelta {
	return &memberDelta{adding: map[string]bool{}, removing: map[string]bool{}}
}

func (d *memberDelta) empty() bool {
	return !d.replaceAll && len(d.adding) == 0 && len(d.removing) == 0
}

func (d *memberDelta) addIDs(ids []string) {
	for _, id := range ids {
		delete(d.removing, id)
		if !d.adding[id] {
			d.adding[id] = true
			d.add = append(d.add, id)
		}
	}
}

func (d *memberDelta) removeIDs(ids []string) {
	for _, id := range ids {
		if d.adding[id] {
			delete(d.adding, id)
		}
		if !d.replaceAll {
			d.removing[id] = true
		}
	}
}

func (d *memberDelta) clear() {
	d.replaceAll = true
	d.add, d.adding, d.removing = nil, map[string]bool{}, map[string]bool{}
}

// adds returns the ids to add, in the order given.
func (d *memberDelta) adds() []string {
	out := make([]string, 0, len(d.adding))
	for _, id := range d.add {
		if d.adding[id] {
			out = append(out, id)
		}
	}
	return out
}

func (d *memberDelta) removes() []string {
	out := make([]string, 0, len(d.removing))
	for id := range d.removing {
		out = append(out, id)
	}
	return out
}

// apply records one PATCH operation on "members".
func (d *memberDelta) apply(ctx context.Context, kind string, path filter.Path, value any) error {
	if path.SubAttribute != nil || path.AttributePath.SubAttribute != nil {
		return failure.Mutability("a member's sub-attributes cannot be changed (value and $ref are immutable, type and display read-only); remove the member and add it again")
	}
	if path.ValueExpression != nil {
		if kind != "remove" {
			return failure.InvalidPath("members[...] can only be removed; add members with \"path\": \"members\"")
		}
		ids, err := memberIDsFromFilter(path.ValueExpression)
		if err != nil {
			return err
		}
		d.removeIDs(ids)
		return nil
	}
	switch kind {
	case "remove":
		if value == nil {
			d.clear()
			return nil
		}
		ids, err := memberIDs(ctx, value)
		if err != nil {
			return err
		}
		d.removeIDs(ids)
	case "replace":
		ids, err := memberIDs(ctx, value)
		if err != nil {
			return err
		}
		d.clear()
		d.addIDs(ids)
	default:
		ids, err := memberIDs(ctx, value)
		if err != nil {
			return err
		}
		d.addIDs(ids)
	}
	return nil
}

// memberIDs reads member ids from a value: a list of {"value": id} objects
// (or {"$ref": URI}, or both; one such object; or bare ids).
func memberIDs(ctx context.Context, v any) ([]string, error) {
	var ids []string
	for i, el := range asList(v) {
		var id any = el
		if m, ok := el.(map[string]any); ok {
			m = schemas.CopyAttributes(m)
			if _, err := readRef(ctx, schemas.User, m, "members["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
			id = nil
			for k, sv := range m {
				if strings.EqualFold(k, "value") {
					id = sv
				}
			}
		}
		s, ok := id.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return nil, failure.InvalidValue("members[%d] needs a \"value\" holding the id of a user (or a \"$ref\" to one)", i)
		}
		ids = append(ids, strings.TrimSpace(s))
	}
	return ids, nil
}

// memberIDsFromFilter reads the ids of value eq "<id>" comparisons joined by
// "or", the forms clients use to pick members to remove.
func memberIDsFromFilter(e filter.Expression) ([]string, error) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		s, ok := x.CompareValue.(string)
		if x.Operator == filter.EQ && ok && strings.EqualFold(x.AttributePath.AttributeName, "value") && x.AttributePath.SubAttribute == nil {
			return []string{s}, nil
		}
	case *filter.LogicalExpression:
		if x.Operator == filter.OR {
			l, err := memberIDsFromFilter(x.Left)
			if err != nil {
				return nil, err
			}
			r, err := memberIDsFromFilter(x.Right)
			if err != nil {
				return nil, err
			}
			return append(l, r...), nil
		}
	}
	return nil, failure.InvalidFilter("members are picked by id: members[value eq \"<id>\"] (several joined with or)")
}

// membersFromAttributes takes "members" out of a POST or PUT body's
// attributes: members live in their own collection.
func membersFromAttributes(ctx context.Context, attrs map[string]any) ([]string, error) {
	v, ok := attrs["members"]
	if !ok {
		return nil, nil
	}
	delete(attrs, "members")
	return memberIDs(ctx, v)
}

type knownUsersKey struct{}

// WithKnownUsers returns a context in which group changes take these ids
// to be users of the account without looking them up. A caller that makes
// many group changes at once (a Bulk request) looks all their members up
// in one query, or knows them because it just created them, and spares
// each change a lookup of its own: on the embedded database every lookup
// reads all the account's users. The caller must only vouch for ids it
// found, or created, while handling the same request.
func WithKnownUsers(ctx context.Context, ids map[string]bool) context.Context {
	return context.WithValue(ctx, knownUsersKey{}, ids)
}

// checkMembers makes sure every id to add is a user of the account.
func (s *Service) checkMembers(ctx context.Context, account string, ids []string) error {
	known, _ := ctx.Value(knownUsersKey{}).(map[string]bool)
	var check []string
	for _, id := range ids {
		if !known[id] {
			check = append(check, id)
		}
	}
	found, err := s.store.Existing(ctx, schemas.User, account, check)
	if err != nil {
		return err
	}
	for _, id := range check {
		if !found[id] {
			return failure.InvalidValue("members: there is no user with id %q in this account", id)
		}
	}
	return nil
}

// applyMembers writes a membership change of a group and advances the
// version of every user that joined or left it (a GET of the user shows
// its groups). It returns those users.
func (s *Service) applyMembers(ctx context.Context, account, group string, d *memberDelta) ([]string, error) {
	adds := d.adds()
	var drop []string
	if d.replaceAll {
		current, err := s.store.Members(ctx, account, group)
		if err != nil {
			return nil, err
		}
		keep := map[string]bool{}
		for _, id := range adds {
			keep[id] = true
		}
		for _, id := range current {
			if !keep[id] {
				drop = append(drop, id)
			}
		}
	} else {
		drop = d.removes()
	}
	if err := s.cover(ctx, account, append(slices.Clone(adds), drop...), []string{group}); err != nil {
		return nil, err
	}
	changed, err := s.store.RemoveMembers(ctx, account, group, drop)
	if err == nil {
		var added []string
		added, err = s.store.AddMembers(ctx, account, group, adds)
		changed = append(changed, added...)
	}
	// Also after a failure half-way (MongoDB): what was written shows.
	if berr := s.bumpUsers(ctx, account, changed); err == nil {
		err = berr
	}
	return changed, err
}

// bumpUsers advances the versions of users whose groups changed, or whose
// groups' names did.
func (s *Service) bumpUsers(ctx context.Context, account string, ids []string) error {
	if err := s.cover(ctx, account, ids, nil); err != nil {
		return err
	}
	return s.store.BumpMany(ctx, schemas.User, account, ids)
}

// bumpMembers advances the versions of a group's members: the group's
// name, which their groups show, changed.
func (s *Service) bumpMembers(ctx context.Context, account, group string) error {
	ids, err := s.store.Members(ctx, account, group)
	if err != nil {
		return err
	}
	// Covered by the operation's MembersOf (see groupChange).
	return s.store.BumpMany(ctx, schemas.User, account, ids)
}

// Expand adds the attributes computed at read time, when want says they
// will be returned: a group's members and a user's groups (from
// memberships), and the names of the projects a user has access to. It
// reads what all the resources need at once, not one by one.
func (s *Service) Expand(ctx context.Context, rs []*store.Resource, want func(attr string) bool) error {
	if len(rs) == 0 {
		return nil
	}
	if err := s.expandMemberships(ctx, rs, want); err != nil {
		return err
	}
	if err := s.expandRefs(ctx, rs); err != nil {
		return err
	}
	if rs[0].Type == schemas.User {
		s.viewInvitations(rs)
		return s.expandProjectNames(ctx, rs)
	}
	return nil
}

// EachMember calls fn with each member of a group and the member's display
// name, in the order of their ids, as the store reads them: a GET of one
// group writes its members out as they come rather than expanding them
// (Expand does, for lists of groups).
func (s *Service) EachMember(ctx context.Context, account, group string, fn func(id, display string) error) error {
	return s.store.EachMember(ctx, account, group, fn)
}

// ExpandNew is Expand for resources the request has just created. A new
// user is in no group: every membership change gives the user a new
// version, so at version 1, as created, it has none, and its groups are
// not looked up.
func (s *Service) ExpandNew(ctx context.Context, rs []*store.Resource, want func(attr string) bool) error {
	if len(rs) == 0 || rs[0].Type != schemas.User || slices.ContainsFunc(rs, func(r *store.Resource) bool { return r.Version != 1 }) {
		return s.Expand(ctx, rs, want)
	}
	return s.Expand(ctx, rs, func(attr string) bool { return attr != "groups" && want(attr) })
}

func (s *Service) expandMemberships(ctx context.Context, rs []*store.Resource, want func(attr string) bool) error {
	rt := rs[0].Type
	var attr, side string
	var other *schemas.ResourceType
	switch rt {
	case schemas.Group:
		attr, side, other = "members", store.GroupSide, schemas.User
	case schemas.User:
		attr, side, other = "groups", store.MemberSide, schemas.Group
	default:
		return nil
	}
	if !want(attr) {
		return nil
	}
	if !slices.ContainsFunc(rs, func(r *store.Resource) bool { return r.Computed[attr] == nil }) {
		for _, r := range rs { // read already (see store.Resource.Computed)
			if list := r.Computed[attr]; len(list) > 0 {
				for _, el := range list {
					if m, ok := el.(map[string]any); ok {
						if ref := location(ctx, other, str(m["value"])); ref != "" {
							m["$ref"] = ref
						}
					}
				}
				r.Attributes[attr] = list
			} else {
				delete(r.Attributes, attr)
			}
		}
		return nil
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	account := rs[0].Account
	links, err := s.store.MembershipsOf(ctx, account, side, ids)
	if err != nil {
		return err
	}
	var otherIDs []string
	for _, l := range links {
		otherIDs = append(otherIDs, l...)
	}
	names, err := s.store.DisplayNames(ctx, other, account, dedupe(otherIDs))
	if err != nil {
		return err
	}
	for _, r := range rs {
		list := membershipEntries(ctx, rt, links[r.ID], names)
		if len(list) > 0 {
			r.Attributes[attr] = list
		} else {
			delete(r.Attributes, attr)
		}
	}
	return nil
}

// membershipEntries is the members attribute of a group (rt: Group) or
// the groups attribute of a user: one entry per id, with its name and
// location.
func membershipEntries(ctx context.Context, rt *schemas.ResourceType, ids []string, names map[string]string) []any {
	other, typ := schemas.Group, "direct"
	if rt == schemas.Group {
		other, typ = schemas.User, "User"
	}
	list := []any{}
	for _, id := range ids {
		el := map[string]any{"value": id, "type": typ}
		if n := names[id]; n != "" {
			el["display"] = n
		}
		if ref := location(ctx, other, id); ref != "" {
			el["$ref"] = ref
		}
		list = append(list, el)
	}
	return list
}

// expandProjectNames fills in "display" of users' project entries.
func (s *Service) expandProjectNames(ctx context.Context, rs []*store.Resource) error {
	var ids []string
	for _, r := range rs {
		ids = append(ids, projectIDs(asList(extension(r.Attributes, schemas.TimeCampUserURN)["projects"]))...)
	}
	if len(ids) == 0 {
		return nil
	}
	names, err := s.store.DisplayNames(ctx, schemas.Project, rs[0].Account, dedupe(ids))
	if err != nil {
		return err
	}
	for _, r := range rs {
		for _, el := range asList(extension(r.Attributes, schemas.TimeCampUserURN)["projects"]) {
			if m, ok := el.(map[string]any); ok {
				if n := names[str(m["value"])]; n != "" {
					m["display"] = n
				}
			}
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
