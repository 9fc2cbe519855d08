package admin

// The Groups page (the group tree: create, rename, move, delete; the role
// and projects a group grants) and the Projects page (create, rename,
// archive).

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// maxListed bounds the groups and projects a page reads (the directory's
// largest page).
const maxListed = 1000

// groupNode is a group in the tree as the page shows it.
type groupNode struct {
	ID, Name, Parent, GrantsRole, Path string
	Depth                              int
	Projects                           []projectChoice // every project, with what the group grants
	Granted                            []string        // names of granted projects, with roles
	Parents                            []option        // where it may move: not into itself or below
}

// groupTree reads the account's groups in tree order (parents first,
// siblings by name), with their depth.
func (c *Console) groupTree(ctx context.Context) ([]*groupNode, error) {
	s := sessionOf(ctx)
	page, err := c.dir.List(ctx, s.account.ID, schemas.Group, store.Query{Count: maxListed})
	if err != nil {
		return nil, err
	}
	children := map[string][]*groupNode{}
	ids := map[string]bool{}
	for _, g := range page.Resources {
		ids[g.ID] = true
	}
	for _, g := range page.Resources {
		n := &groupNode{ID: g.ID, Name: str(g.Attributes["displayName"]), Parent: directory.RefValue(tcAttr(g, "parent")),
			GrantsRole: str(tcAttr(g, "grantsRole")), Path: str(tcAttr(g, "path"))}
		for _, p := range list(tcAttr(g, "projects")) {
			m, _ := p.(map[string]any)
			n.Projects = append(n.Projects, projectChoice{ID: str(m["value"]), Role: orMember(str(m["role"])), On: true})
		}
		parent := n.Parent
		if !ids[parent] {
			parent = ""
		}
		children[parent] = append(children[parent], n)
	}
	var out []*groupNode
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		kids := children[parent]
		sort.Slice(kids, func(i, j int) bool { return strings.ToLower(kids[i].Name) < strings.ToLower(kids[j].Name) })
		for _, k := range kids {
			k.Depth = depth
			out = append(out, k)
			walk(k.ID, depth+1)
		}
	}
	walk("", 0)
	return out, nil
}

// groupOptions lists the groups for a drop-down, indented by depth,
// leaving out skip and its descendants.
func groupOptions(tree []*groupNode, skip string) []option {
	var out []option
	skipDepth := -1
	for _, g := range tree {
		if skipDepth >= 0 {
			if g.Depth > skipDepth {
				continue
			}
			skipDepth = -1
		}
		if g.ID == skip && skip != "" {
			skipDepth = g.Depth
			continue
		}
		out = append(out, option{Value: g.ID, Label: strings.Repeat("\u00a0\u00a0\u00a0", g.Depth) + g.Name})
	}
	return out
}

func (c *Console) allProjects(ctx context.Context) ([]*store.Resource, error) {
	s := sessionOf(ctx)
	page, err := c.dir.List(ctx, s.account.ID, schemas.Project, store.Query{Count: maxListed, SortBy: "displayName"})
	if err != nil {
		return nil, err
	}
	return page.Resources, nil
}

type groupsData struct {
	Tree         []*groupNode
	Parents      []option
	Roles        []string
	ProjectRoles []string
	AccountName  string
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tree, err := c.groupTree(ctx)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	projects, err := c.allProjects(ctx)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	for _, g := range tree {
		granted := map[string]string{}
		for _, p := range g.Projects {
			granted[p.ID] = p.Role
		}
		g.Projects = nil
		for _, p := range projects {
			role, on := granted[p.ID]
			name := str(p.Attributes["displayName"])
			if on {
				g.Granted = append(g.Granted, name+" ("+role+")")
			} else {
				role = "member"
			}
			g.Projects = append(g.Projects, projectChoice{ID: p.ID, Name: name, Role: role, On: on})
		}
		g.Parents = groupOptions(tree, g.ID)
	}
	d := groupsData{Tree: tree, Parents: groupOptions(tree, ""), Roles: schemas.Roles, ProjectRoles: schemas.ProjectRoles, AccountName: sessionOf(ctx).account.Name}
	c.renderView(w, r, http.StatusOK, "groups", &view{Title: "Groups", Nav: "groups", Data: d})
}

func (c *Console) createGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	name := strings.TrimSpace(r.PostFormValue("name"))
	body := map[string]any{"schemas": []any{schemas.GroupURN, schemas.TimeCampGroupURN}, "displayName": name}
	ext := map[string]any{}
	if p := r.PostFormValue("parent"); p != "" {
		ext["parent"] = p
	}
	body[schemas.TimeCampGroupURN] = ext
	g, err := c.dir.Create(ctx, s.account.ID, schemas.Group, body)
	e := &store.ActivityEntry{ResourceType: "Group", Resource: name, Operation: "create", Attributes: []string{"displayName", "parent"}}
	if g != nil {
		e.ResourceID = g.ID
	}
	c.record(ctx, e, err)
	if err != nil {
		c.failed(w, r, "/admin/groups", err)
		return
	}
	c.redirectWith(w, r, "/admin/groups", flash{Message: "Group " + name + " created."})
}

// updateGroup saves a group's name, place and grants in one PATCH.
func (c *Console) updateGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	before, err := c.dir.Get(ctx, sessionOf(ctx).account.ID, schemas.Group, id)
	if err != nil {
		c.groupFailed(w, r, err)
		return
	}
	f := r.PostForm
	ops := []directory.PatchOp{replaceOp("displayName", strings.TrimSpace(f.Get("name")))}
	if p := f.Get("parent"); p != "" {
		ops = append(ops, replaceOp(tcGroupPath("parent"), p))
	} else {
		ops = append(ops, removeOp(tcGroupPath("parent")))
	}
	if role := f.Get("grantsRole"); slices.Contains(schemas.Roles, role) {
		ops = append(ops, replaceOp(tcGroupPath("grantsRole"), role))
	} else {
		ops = append(ops, removeOp(tcGroupPath("grantsRole")))
	}
	ops = append(ops, projectsOp(tcGroupPath("projects"), formProjects(f)))
	g, err := c.patchFrom(ctx, schemas.Group, before, id, "edit group", ops)
	if err != nil {
		c.groupFailed(w, r, err)
		return
	}
	c.redirectWith(w, r, "/admin/groups", flash{Message: "Group " + displayName(g) + " saved."})
}

func (c *Console) groupFailed(w http.ResponseWriter, r *http.Request, err error) {
	if isNotFound(err) {
		c.errorPage(w, r, http.StatusNotFound, "No such group", "This account has no such group; it may have been deleted.")
		return
	}
	c.failed(w, r, "/admin/groups", err)
}

// deleteGroup removes a group; its subgroups move up to its parent.
func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	id := mux.Vars(r)["id"]
	g, err := c.dir.Get(ctx, s.account.ID, schemas.Group, id)
	if err == nil {
		err = c.dir.Delete(ctx, s.account.ID, schemas.Group, id, "")
		c.record(ctx, &store.ActivityEntry{ResourceType: "Group", ResourceID: id, Resource: displayName(g), Operation: "delete"}, err)
	}
	if err != nil {
		c.groupFailed(w, r, err)
		return
	}
	c.redirectWith(w, r, "/admin/groups", flash{Message: "Group " + displayName(g) + " deleted; its subgroups moved up."})
}

type projectsData struct {
	Projects []projectRow
}

type projectRow struct {
	ID, Name string
	Archived bool
}

func (c *Console) projects(w http.ResponseWriter, r *http.Request) {
	list, err := c.allProjects(r.Context())
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	var d projectsData
	for _, p := range list {
		d.Projects = append(d.Projects, projectRow{ID: p.ID, Name: str(p.Attributes["displayName"]), Archived: p.Attributes["archived"] == true})
	}
	c.renderView(w, r, http.StatusOK, "projects", &view{Title: "Projects", Nav: "projects", Data: d})
}

func (c *Console) createProject(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	name := strings.TrimSpace(r.PostFormValue("name"))
	p, err := c.dir.Create(ctx, s.account.ID, schemas.Project, map[string]any{"schemas": []any{schemas.ProjectURN}, "displayName": name})
	e := &store.ActivityEntry{ResourceType: "Project", Resource: name, Operation: "create", Attributes: []string{"displayName"}}
	if p != nil {
		e.ResourceID = p.ID
	}
	c.record(ctx, e, err)
	if err != nil {
		c.failed(w, r, "/admin/projects", err)
		return
	}
	c.redirectWith(w, r, "/admin/projects", flash{Message: "Project " + name + " created."})
}

// updateProject renames, archives or restores a project.
func (c *Console) updateProject(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	var ops []directory.PatchOp
	op := "rename"
	switch a := r.PostFormValue("archived"); {
	case a != "":
		ops, op = []directory.PatchOp{replaceOp("archived", a == "true")}, "archive"
		if a != "true" {
			op = "restore"
		}
	default:
		ops = []directory.PatchOp{replaceOp("displayName", strings.TrimSpace(r.PostFormValue("name")))}
	}
	p, err := c.patch(r.Context(), schemas.Project, id, op, ops)
	if err != nil {
		if isNotFound(err) {
			c.errorPage(w, r, http.StatusNotFound, "No such project", "This account has no such project; it may have been deleted.")
			return
		}
		c.failed(w, r, "/admin/projects", err)
		return
	}
	c.redirectWith(w, r, "/admin/projects", flash{Message: "Project " + displayName(p) + " saved."})
}
