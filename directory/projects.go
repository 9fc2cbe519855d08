package directory

import (
	"context"
	"reflect"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

func (s *Service) createProject(ctx context.Context, acct *store.Account, r *store.Resource) (*store.Resource, error) {
	if err := s.checkProjectParent(ctx, acct.ID, r.ID, RefValue(r.Attributes["parent"])); err != nil {
		return nil, err
	}
	if err := s.store.Insert(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Service) projectChange(ctx context.Context, acct *store.Account, cur, next *store.Resource) (*change, error) {
	if reflect.DeepEqual(cur.Attributes, next.Attributes) {
		return &change{}, nil
	}
	if parent := RefValue(next.Attributes["parent"]); parent != RefValue(cur.Attributes["parent"]) {
		if err := s.checkProjectParent(ctx, acct.ID, cur.ID, parent); err != nil {
			return nil, err
		}
	}
	c := &change{next: next}
	if store.DisplayName(cur.Attributes) != store.DisplayName(next.Attributes) {
		// The users with access to it show its name in their projects.
		c.after = func(ctx context.Context) error {
			ids, err := s.referencing(ctx, acct.ID, schemas.User, schemas.TimeCampUserURN+":projects.value", cur.ID)
			if err != nil {
				return err
			}
			return s.bumpUsers(ctx, acct.ID, ids)
		}
	}
	return c, nil
}

// referencing returns the ids of the resources whose attribute equals
// value, reading a page at a time.
func (s *Service) referencing(ctx context.Context, account string, rt *schemas.ResourceType, attr, value string) ([]string, error) {
	ap, err := filter.ParseAttrPath([]byte(attr))
	if err != nil {
		return nil, err
	}
	q := store.Query{Filter: &filter.AttributeExpression{AttributePath: ap, Operator: filter.EQ, CompareValue: value}, StartIndex: 1, Count: 1000}
	var ids []string
	for {
		page, err := s.store.Find(ctx, rt, account, q)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Resources {
			ids = append(ids, r.ID)
		}
		if len(page.Resources) < q.Count || q.StartIndex+q.Count > page.Total {
			return ids, nil
		}
		q.StartIndex += q.Count
	}
}

// checkProjectParent checks that a project may hang under parent: it
// exists and is not the project or one of its descendants.
func (s *Service) checkProjectParent(ctx context.Context, account, id, parent string) error {
	for p, steps := parent, 0; p != ""; steps++ {
		if p == id {
			return failure.InvalidValue("parent: a project cannot be inside itself")
		}
		if steps > 1000 {
			return failure.InvalidValue("parent: the project tree is too deep")
		}
		up, err := s.store.Get(ctx, schemas.Project, account, p)
		if failure.Is(err, failure.NotFound) {
			return failure.InvalidValue("parent: there is no project with id %q in this account", p)
		}
		if err != nil {
			return err
		}
		p = RefValue(up.Attributes["parent"])
	}
	return nil
}

// deleteProject removes a project and every access to it: from the groups
// that grant it (which updates their members) and from users' own project
// entries. Projects under it lose their parent.
func (s *Service) deleteProject(ctx context.Context, acct *store.Account, cur *store.Resource) error {
	if err := s.deleteDocument(ctx, cur); err != nil {
		return err
	}
	dropAccess := func(rt *schemas.ResourceType, urn string) error {
		return s.forEachReferencing(ctx, acct.ID, rt, urn+":projects.value", cur.ID, func(id string) error {
			_, err := s.update(ctx, acct.ID, rt, id, "", func(a *store.Account, r *store.Resource) (*change, error) {
				next := *r
				attrs := r.Attributes
				if rt == schemas.User {
					attrs = ownView(attrs)
				} else {
					attrs = schemas.CopyAttributes(attrs)
				}
				tc := ensureExtension(attrs, urn)
				tc["projects"] = removeProject(tc["projects"], cur.ID)
				if len(asList(tc["projects"])) == 0 {
					delete(tc, "projects")
				}
				next.Attributes = attrs
				return s.changeOf(ctx, a, r, &next, nil, nil)
			})
			return err
		})
	}
	if err := dropAccess(schemas.Group, schemas.TimeCampGroupURN); err != nil {
		return err
	}
	if err := dropAccess(schemas.User, schemas.TimeCampUserURN); err != nil {
		return err
	}
	return s.forEachReferencing(ctx, acct.ID, schemas.Project, "parent", cur.ID, func(id string) error {
		_, err := s.update(ctx, acct.ID, schemas.Project, id, "", func(_ *store.Account, r *store.Resource) (*change, error) {
			next := *r
			next.Attributes = schemas.CopyAttributes(r.Attributes)
			delete(next.Attributes, "parent")
			return &change{next: &next}, nil
		})
		return err
	})
}

// forEachReferencing calls fn for each resource whose attribute equals
// value, a page at a time. fn is expected to remove the reference, so the
// query is repeated until nothing matches.
func (s *Service) forEachReferencing(ctx context.Context, account string, rt *schemas.ResourceType, attr, value string, fn func(id string) error) error {
	ap, err := filter.ParseAttrPath([]byte(attr))
	if err != nil {
		return err
	}
	q := store.Query{Filter: &filter.AttributeExpression{AttributePath: ap, Operator: filter.EQ, CompareValue: value}, Count: 500}
	seen := map[string]bool{}
	for {
		page, err := s.store.Find(ctx, rt, account, q)
		if err != nil {
			return err
		}
		progress := false
		for _, r := range page.Resources {
			if seen[r.ID] {
				continue // inherited access only: goes when its group changes
			}
			seen[r.ID] = true
			progress = true
			if err := fn(r.ID); err != nil {
				return err
			}
		}
		if !progress {
			return nil
		}
	}
}

func removeProject(v any, id string) []any {
	var out []any
	for _, el := range asList(v) {
		if m, ok := el.(map[string]any); ok && str(m["value"]) == id {
			continue
		}
		out = append(out, el)
	}
	return out
}

// checkProjects makes sure projects referenced exist in the account.
func (s *Service) checkProjects(ctx context.Context, account string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	found, err := s.store.Existing(ctx, schemas.Project, account, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !found[id] {
			return failure.InvalidValue("projects: there is no project with id %q in this account", id)
		}
	}
	return nil
}

func projectIDs(entries []any) []string {
	var ids []string
	for _, el := range entries {
		if m, ok := el.(map[string]any); ok {
			ids = append(ids, str(m["value"]))
		}
	}
	return ids
}

// newProjectIDs returns the projects a user update adds to the user's own.
func newProjectIDs(cur, next *store.Resource) []string {
	had := map[string]bool{}
	for _, id := range projectIDs(asList(extension(cur.Attributes, schemas.TimeCampUserURN)["projects"])) {
		had[id] = true
	}
	var out []string
	for _, id := range projectIDs(ownProjects(extension(next.Attributes, schemas.TimeCampUserURN)["projects"])) {
		if !had[id] {
			out = append(out, id)
		}
	}
	return out
}
