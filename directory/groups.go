package directory

import (
	"context"
	"reflect"

	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

func (s *Service) createGroup(ctx context.Context, acct *store.Account, r *store.Resource) (*store.Resource, error) {
	members, err := membersFromAttributes(ctx, r.Attributes)
	if err != nil {
		return nil, err
	}
	defaultProjectRoles(schemas.TimeCampGroupURN, nil, r.Attributes)
	normaliseGroupGrants(r.Attributes)
	t, err := s.loadTree(ctx, acct)
	if err != nil {
		return nil, err
	}
	n := nodeOf(r)
	if err := t.checkPlacement(r.ID, n.parent); err != nil {
		return nil, err
	}
	if err := s.checkProjects(ctx, acct.ID, grantedProjectIDs(n)); err != nil {
		return nil, err
	}
	if err := s.checkMembers(ctx, acct.ID, members); err != nil {
		return nil, err
	}
	t = t.with(n)
	ensureExtension(r.Attributes, schemas.TimeCampGroupURN)["path"] = t.path(r.ID)
	// The members' roles, projects and seats change only if the group or
	// an ancestor grants something; otherwise they are not read at all.
	var affected []string
	if t.grantsAny(r.ID) {
		affected = members
	}
	delta := newMemberDelta()
	delta.addIDs(members)
	planned, administrators, err := s.planUsers(ctx, acct, t, affected, membershipPlan{group: r.ID, delta: delta})
	if err != nil {
		return nil, err
	}
	// The members' versions follow their new group: recorded with the
	// create when it has members.
	op := operation(ctx, acct.ID)
	op.AddUsers(members...)
	c := &change{seats: planned, administrators: administrators}
	if err := s.commit(ctx, acct, r.ID, c, func() error { return s.store.Insert(ctx, r) }); err != nil {
		return nil, err
	}
	if len(members) > 0 {
		added, err := s.store.AddMembers(ctx, acct.ID, r.ID, members)
		if err != nil {
			return nil, err
		}
		if err := s.bumpUsers(ctx, acct.ID, added); err != nil {
			return nil, err
		}
	}
	if len(affected) > 0 {
		if err := s.syncUsers(ctx, acct.ID, affected); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// groupChange computes a group's update: its place in the tree, and the
// users whose role or project access it changes (its members, and those
// of its descendants when what it grants or where it hangs changes).
func (s *Service) groupChange(ctx context.Context, acct *store.Account, cur, next *store.Resource, members *memberDelta, w *write) (*change, error) {
	if w != nil {
		before := cur.Attributes // a PUT gives every entry it has no role for the default
		if w.replace {
			before = nil
		}
		defaultProjectRoles(schemas.TimeCampGroupURN, before, next.Attributes)
	}
	normaliseGroupGrants(next.Attributes)
	t, err := s.loadTree(ctx, acct)
	if err != nil {
		return nil, err
	}
	before, after := nodeOf(cur), nodeOf(next)
	if after.parent != before.parent {
		if err := t.checkPlacement(cur.ID, after.parent); err != nil {
			return nil, err
		}
	}
	if !reflect.DeepEqual(before.projects, after.projects) {
		if err := s.checkProjects(ctx, acct.ID, grantedProjectIDs(after)); err != nil {
			return nil, err
		}
	}
	t = t.with(after)
	ensureExtension(next.Attributes, schemas.TimeCampGroupURN)["path"] = t.path(cur.ID)

	// The users whose derived attributes may change.
	var affected []string
	grantsChanged := before.grantsRole != after.grantsRole || before.parent != after.parent || !reflect.DeepEqual(before.projects, after.projects)
	subtree := append([]string{cur.ID}, t.descendants(cur.ID)...)
	if grantsChanged {
		ids, err := s.membersOf(ctx, acct.ID, subtree)
		if err != nil {
			return nil, err
		}
		affected = append(affected, ids...)
	}
	// Joining or leaving a group changes a user's role, projects or seat
	// only when the group or an ancestor grants something: for a group
	// that grants nothing the members are not read (on the embedded
	// database each read of users scans them all).
	hasMembers := members != nil && !members.empty()
	if hasMembers && (grantsChanged || t.grantsAny(cur.ID)) {
		affected = append(affected, members.adds()...)
		affected = append(affected, members.removes()...)
		if members.replaceAll && !grantsChanged {
			ids, err := s.store.Members(ctx, acct.ID, cur.ID)
			if err != nil {
				return nil, err
			}
			affected = append(affected, ids...)
		}
	}
	affected = dedupe(affected)
	planned, administrators, err := s.planUsers(ctx, acct, t, affected, membershipPlan{group: cur.ID, delta: members})
	if err != nil {
		return nil, err
	}

	c := &change{members: members, seats: planned, administrators: administrators}
	if !reflect.DeepEqual(cur.Attributes, next.Attributes) {
		c.next = next
	}
	moved := before.name != after.name || before.parent != after.parent
	// Every member's groups show the group's name.
	renamed := store.DisplayName(cur.Attributes) != store.DisplayName(next.Attributes)
	if renamed {
		op := operation(ctx, acct.ID)
		op.MembersOf = appendNew(op.MembersOf, cur.ID)
	}
	if len(affected) > 0 || moved || renamed {
		c.after = func(ctx context.Context) error {
			if moved {
				if err := s.refreshPaths(ctx, acct, t.descendants(cur.ID)); err != nil {
					return err
				}
			}
			if renamed {
				if err := s.bumpMembers(ctx, acct.ID, cur.ID); err != nil {
					return err
				}
			}
			return s.syncUsers(ctx, acct.ID, affected)
		}
	}
	return c, nil
}

// deleteGroup removes a group; its children move to its parent and its
// members lose what it granted.
func (s *Service) deleteGroup(ctx context.Context, acct *store.Account, cur *store.Resource, t *tree) error {
	var err error
	if t == nil {
		if t, err = s.loadTree(ctx, acct); err != nil {
			return err
		}
	}
	descendants := t.descendants(cur.ID)
	// The members of the group and of the groups under it lose what the
	// group grants; when it grants nothing (nor does a group above it),
	// their roles, projects and seats stay as they are and they are not
	// read (a group may have 100,000 members).
	var affected []string
	if t.grantsAny(cur.ID) {
		if affected, err = s.membersOf(ctx, acct.ID, append([]string{cur.ID}, descendants...)); err != nil {
			return err
		}
	}
	after := t.without(cur.ID)
	planned, administrators, err := s.planUsers(ctx, acct, after, affected, membershipPlan{group: cur.ID, deleted: true})
	if err != nil {
		return err
	}
	// Its members' versions follow (they leave it): recorded with the
	// delete, where the store records operations.
	if s.store.RecordsOperations() {
		members, err := s.store.Members(ctx, acct.ID, cur.ID)
		if err != nil {
			return err
		}
		operation(ctx, acct.ID).AddUsers(members...)
	}
	if err := s.commit(ctx, acct, cur.ID, &change{seats: planned, after: noFollowUp, administrators: administrators}, func() error { return s.deleteDocument(ctx, cur) }); err != nil {
		return err
	}
	// Its members' groups no longer show it.
	cleared, err := s.store.ClearMembers(ctx, acct.ID, cur.ID)
	if err != nil {
		return err
	}
	if err := s.bumpUsers(ctx, acct.ID, cleared); err != nil {
		return err
	}
	if err := s.reparentChildren(ctx, acct, cur, t); err != nil {
		return err
	}
	if err := s.refreshPaths(ctx, acct, descendants); err != nil {
		return err
	}
	return s.syncUsers(ctx, acct.ID, affected)
}

// noFollowUp marks a change whose caller writes more after commit (so
// that commit records the operation) without a follow-up of its own.
func noFollowUp(context.Context) error { return nil }

// reparentChildren moves a deleted group's children to its parent.
func (s *Service) reparentChildren(ctx context.Context, acct *store.Account, gone *store.Resource, t *tree) error {
	parent := nodeOf(gone).parent
	for id, n := range t.groups {
		if n.parent != gone.ID {
			continue
		}
		if err := s.moveGroup(ctx, acct.ID, id, parent); err != nil {
			return err
		}
	}
	return nil
}

// moveGroup hangs a group under another ("": under the root).
func (s *Service) moveGroup(ctx context.Context, account, id, parent string) error {
	_, err := s.update(ctx, account, schemas.Group, id, "", func(_ *store.Account, cur *store.Resource) (*change, error) {
		next := *cur
		next.Attributes = schemas.CopyAttributes(cur.Attributes)
		tc := ensureExtension(next.Attributes, schemas.TimeCampGroupURN)
		if parent == "" {
			delete(tc, "parent")
		} else {
			tc["parent"] = map[string]any{"value": parent}
		}
		return &change{next: &next}, nil
	})
	return err
}

// membersOf returns the members of the groups.
func (s *Service) membersOf(ctx context.Context, account string, groups []string) ([]string, error) {
	links, err := s.store.MembershipsOf(ctx, account, store.GroupSide, groups)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ids := range links {
		out = append(out, ids...)
	}
	return dedupe(out), nil
}

func grantedProjectIDs(n *node) []string {
	ids := make([]string, 0, len(n.projects))
	for _, p := range n.projects {
		ids = append(ids, p.project)
	}
	return ids
}
