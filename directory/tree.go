package directory

import (
	"context"
	"strings"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// maxTreeDepth is how many levels the group tree has at most, counting
// its root: the account itself.
const maxTreeDepth = 4

// tree is an account's group tree. Its root is the account (not a SCIM
// Group): groups without a parent hang directly under it, so a group's
// level is 2 plus the number of its ancestor groups. Settings a group
// grants (a role, project access) reach the members of its descendants.
type tree struct {
	root   string // the account's name, first element of every path
	groups map[string]*node
}

type node struct {
	id, parent, name string
	grantsRole       string
	projects         []projectGrant
}

type projectGrant struct{ project, role string }

// loadTree reads the account's groups (a small collection; one query).
func (s *Service) loadTree(ctx context.Context, acct *store.Account) (*tree, error) {
	groups, err := s.store.All(ctx, schemas.Group, acct.ID)
	if err != nil {
		return nil, err
	}
	return newTree(acct, groups), nil
}

// newTree is the tree of the account's groups.
func newTree(acct *store.Account, groups []*store.Resource) *tree {
	t := &tree{root: acct.Name, groups: make(map[string]*node, len(groups))}
	for _, g := range groups {
		t.groups[g.ID] = nodeOf(g)
	}
	return t
}

func nodeOf(g *store.Resource) *node {
	tc := extension(g.Attributes, schemas.TimeCampGroupURN)
	n := &node{id: g.ID, name: str(g.Attributes["displayName"]), parent: RefValue(tc["parent"]), grantsRole: str(tc["grantsRole"])}
	for _, el := range asList(tc["projects"]) {
		if m, ok := el.(map[string]any); ok {
			n.projects = append(n.projects, projectGrant{project: str(m["value"]), role: str(m["role"])})
		}
	}
	return n
}

// with returns a copy of the tree where the group is as given (added or
// changed), for checking a change before it is written.
func (t *tree) with(n *node) *tree {
	c := &tree{root: t.root, groups: make(map[string]*node, len(t.groups)+1)}
	for id, g := range t.groups {
		c.groups[id] = g
	}
	c.groups[n.id] = n
	return c
}

// without returns a copy of the tree without the group; its children move
// to its parent.
func (t *tree) without(id string) *tree {
	gone := t.groups[id]
	c := &tree{root: t.root, groups: make(map[string]*node, len(t.groups))}
	for gid, g := range t.groups {
		if gid == id {
			continue
		}
		if g.parent == id {
			moved := *g
			moved.parent = gone.parent
			g = &moved
		}
		c.groups[gid] = g
	}
	return c
}

// chain returns the group and its ancestors, nearest first. A missing
// parent ends the chain (as if the group hung under the root); a cycle,
// which checkPlacement prevents, is cut.
func (t *tree) chain(id string) []*node {
	var out []*node
	seen := map[string]bool{}
	for n := t.groups[id]; n != nil && !seen[n.id]; n = t.groups[n.parent] {
		seen[n.id] = true
		out = append(out, n)
	}
	return out
}

// level of a group: 2 for a group under the root.
func (t *tree) level(id string) int { return 1 + len(t.chain(id)) }

// path is the group's place, e.g. "Acme/Engineering/Backend".
func (t *tree) path(id string) string {
	c := t.chain(id)
	parts := make([]string, 0, len(c)+1)
	parts = append(parts, t.root)
	for i := len(c) - 1; i >= 0; i-- {
		parts = append(parts, c[i].name)
	}
	return strings.Join(parts, "/")
}

// descendants returns the ids of the group's descendants.
func (t *tree) descendants(id string) []string {
	children := map[string][]string{}
	for gid, g := range t.groups {
		children[g.parent] = append(children[g.parent], gid)
	}
	var out []string
	seen := map[string]bool{id: true}
	queue := []string{id}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, c := range children[cur] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// height is the number of levels of the subtree under a group, itself
// included (1 for a leaf).
func (t *tree) height(id string) int {
	h := 1
	for _, d := range t.descendants(id) {
		// level difference + 1, measured along d's chain up to id
		steps := 0
		for _, n := range t.chain(d) {
			if n.id == id {
				break
			}
			steps++
		}
		h = max(h, steps+1)
	}
	return h
}

// checkPlacement checks that a group may have the given parent: the parent
// exists, is not the group or one of its descendants, and the group's
// subtree still fits in the tree's levels.
func (t *tree) checkPlacement(id, parent string) error {
	if parent == "" {
		if 1+t.height(id) > maxTreeDepth {
			return failure.InvalidValue("the group tree has at most %d levels (the account is the first); this group has %d levels below it", maxTreeDepth, t.height(id)-1)
		}
		return nil
	}
	if parent == id {
		return failure.InvalidValue("a group cannot be its own parent")
	}
	if _, ok := t.groups[parent]; !ok {
		return failure.InvalidValue("parent: there is no group with id %q in this account", parent)
	}
	for _, d := range t.descendants(id) {
		if d == parent {
			return failure.InvalidValue("parent %q is inside this group: the group tree cannot have cycles", parent)
		}
	}
	if lvl := t.level(parent) + t.height(id); lvl > maxTreeDepth {
		return failure.InvalidValue("the group tree has at most %d levels (the account is the first); under %q this group would reach level %d", maxTreeDepth, t.path(parent), lvl)
	}
	return nil
}

// grants returns the highest role and the project access that groups (and
// their ancestors) grant: project id → highest project role.
func (t *tree) grants(groupIDs []string) (string, map[string]string) {
	role := ""
	projects := map[string]string{}
	for _, gid := range groupIDs {
		for _, n := range t.chain(gid) {
			role = higherRole(role, n.grantsRole)
			for _, p := range n.projects {
				projects[p.project] = higherProjectRole(projects[p.project], orDefault(p.role, defaultProjectRole))
			}
		}
	}
	return role, projects
}

// grantsAny reports whether the group or one of its ancestors grants a
// role or project access: only then does belonging to it change what its
// members get.
func (t *tree) grantsAny(id string) bool {
	for _, n := range t.chain(id) {
		if n.grantsAnything() {
			return true
		}
	}
	return false
}

// grantsAnything reports whether the group grants a role or projects.
func (n *node) grantsAnything() bool { return n.grantsRole != "" || len(n.projects) > 0 }

// grantsSomething reports whether any group of the account grants a role
// or project access.
func (t *tree) grantsSomething() bool {
	for _, n := range t.groups {
		if n.grantsAnything() {
			return true
		}
	}
	return false
}

func higherRole(a, b string) string {
	if schemas.RoleRank(b) > schemas.RoleRank(a) {
		return b
	}
	return a
}

func higherProjectRole(a, b string) string {
	if schemas.ProjectRoleRank(b) > schemas.ProjectRoleRank(a) {
		return b
	}
	return a
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// extension returns a resource's extension object (nil if absent).
func extension(attrs map[string]any, urn string) map[string]any {
	m, _ := attrs[urn].(map[string]any)
	return m
}

// ensureExtension returns a resource's extension object, adding it.
func ensureExtension(attrs map[string]any, urn string) map[string]any {
	m, ok := attrs[urn].(map[string]any)
	if !ok {
		m = map[string]any{}
		attrs[urn] = m
	}
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
