package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// flash is a message shown once, on the page a change redirects to.
type flash struct {
	Error   bool   `json:"e,omitempty"`
	Message string `json:"m"`
}

// redirectWith redirects to a console page that will show the message.
func (c *Console) redirectWith(w http.ResponseWriter, r *http.Request, to string, f flash) {
	raw, _ := json.Marshal(f)
	c.setCookie(w, flashCookie, base64.RawURLEncoding.EncodeToString(raw), 60)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// takeFlash reads (and clears) the message left for this page.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(c.cookieName(flashCookie))
	if err != nil || ck.Value == "" {
		return nil
	}
	c.setCookie(w, flashCookie, "", -1)
	raw, err := base64.RawURLEncoding.DecodeString(ck.Value)
	var f flash
	if err != nil || json.Unmarshal(raw, &f) != nil || f.Message == "" {
		return nil
	}
	return &f
}

// failed redirects with the reason a change was refused: a failure's
// detail (what SCIM clients see too), or a generic message for internal
// errors (logged with the request id). A change that needs a fresh
// sign-in first gets the page that asks for it.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, to string, err error) {
	if need, ok := asStepUpNeeded(err); ok {
		c.confirmFirst(w, r, need, to)
		return
	}
	if f, ok := failure.As(err); ok && f.Kind == failure.Unavailable {
		c.unavailable(w, r, f, err) // the page to go back to could not be shown either
		return
	}
	c.redirectWith(w, r, to, flash{Error: true, Message: c.reason(r, err)})
}

func (c *Console) reason(r *http.Request, err error) string {
	if f, ok := failure.As(err); ok {
		return f.Detail
	}
	c.log.ErrorContext(r.Context(), "admin console", "error", err)
	return "The change could not be completed because of an internal error (logged on the server). Reload the page to see what changed, and try again."
}

// back is the page a form came from, when it is a console page (the
// users list keeps its search and paging).
func back(r *http.Request, def string) string {
	if p := localPath(r.PostFormValue("back")); p != "" {
		return p
	}
	return def
}

// record writes an entry of the console's own changes to the activity log
// (best effort: a change is not undone because its log entry failed).
func (c *Console) record(ctx context.Context, e *store.ActivityEntry, err error) {
	s := sessionOf(ctx)
	e.Account = s.account.ID
	e.Actor = store.Actor{Kind: store.ActorAdmin, ID: s.user.ID, Name: s.sess.Email}
	e.Outcome = store.OutcomeOK
	if err != nil {
		e.Outcome = store.OutcomeRefused
		if f, ok := failure.As(err); ok {
			e.Detail = f.Detail
		} else {
			e.Detail = "internal error"
		}
	}
	if err := c.store.AddActivity(context.WithoutCancel(ctx), e); err != nil {
		c.log.WarnContext(ctx, "could not write the activity log", "error", err)
	}
}

// patch applies PATCH operations to a resource of the session's account
// through the directory and records the change.
func (c *Console) patch(ctx context.Context, rt *schemas.ResourceType, id, operation string, ops []directory.PatchOp) (*store.Resource, error) {
	return c.patchFrom(ctx, rt, nil, id, operation, ops)
}

// patchFrom is patch for a resource read before (a form's whole state is
// sent back): the log then names the attributes that changed, and a change
// that changed nothing is not logged.
func (c *Console) patchFrom(ctx context.Context, rt *schemas.ResourceType, before *store.Resource, id, operation string, ops []directory.PatchOp) (*store.Resource, error) {
	s := sessionOf(ctx)
	res, err := c.dir.Patch(ctx, s.account.ID, rt, id, ops, "")
	if failure.Is(err, failure.NotFound) {
		return nil, err // another account's id, or gone: nothing to log
	}
	e := &store.ActivityEntry{ResourceType: rt.Name, ResourceID: id, Operation: operation, Attributes: opAttributes(ops)}
	if res != nil {
		e.Resource = displayName(res)
		if before != nil {
			if res.Version == before.Version {
				return res, nil
			}
			e.Attributes = changedAttributes(before, res)
		}
	}
	c.record(ctx, e, err)
	return res, err
}

// changedAttributes names the attributes that differ between two versions
// of a resource (an extension's by their own names), leaving out those
// derived from others.
func changedAttributes(before, after *store.Resource) []string {
	var out []string
	diff := func(a, b map[string]any) {
		for _, k := range unionKeys(a, b) {
			if strings.HasPrefix(k, "urn:") {
				x, _ := a[k].(map[string]any)
				y, _ := b[k].(map[string]any)
				for _, ek := range unionKeys(x, y) {
					if !derived[ek] && !reflect.DeepEqual(x[ek], y[ek]) {
						out = append(out, ek)
					}
				}
				continue
			}
			if !reflect.DeepEqual(a[k], b[k]) {
				out = append(out, k)
			}
		}
	}
	diff(before.Attributes, after.Attributes)
	sort.Strings(out)
	return out
}

// derived are read-only attributes the directory computes from others.
var derived = map[string]bool{"effectiveRole": true, "countsTowardSeats": true, "accountOwner": true, "path": true,
	"invitationStatus": true, "invitedAt": true, "acceptedAt": true}

func unionKeys(a, b map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]any{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

func opAttributes(ops []directory.PatchOp) []string {
	seen := map[string]bool{}
	var out []string
	for _, op := range ops {
		name := op.Path
		if i := strings.LastIndex(name, ":"); i >= 0 && strings.HasPrefix(name, "urn:") {
			name = name[i+1:]
		}
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i]
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func replaceOp(path string, v any) directory.PatchOp {
	return directory.PatchOp{Op: "replace", Path: path, Value: v}
}

func removeOp(path string) directory.PatchOp { return directory.PatchOp{Op: "remove", Path: path} }

// setOp replaces a string attribute, or removes it when the value is
// empty.
func setOp(path, v string) directory.PatchOp {
	if v == "" {
		return removeOp(path)
	}
	return replaceOp(path, v)
}

// formProjects reads the projects a form grants — the checked "project"
// boxes, each with its "projectRole.<id>" (an unknown role is "member") —
// as SCIM project values.
func formProjects(f url.Values) []any {
	var projects []any
	for _, pid := range f["project"] {
		pr := f.Get("projectRole." + pid)
		if !slices.Contains(schemas.ProjectRoles, pr) {
			pr = "member"
		}
		projects = append(projects, map[string]any{"value": pid, "role": pr})
	}
	return projects
}

// projectsOp sets the projects at path, or removes them when none is
// granted.
func projectsOp(path string, projects []any) directory.PatchOp {
	if len(projects) == 0 {
		return removeOp(path)
	}
	return replaceOp(path, projects)
}

// tcPath is the PATCH path of a TimeCamp user extension attribute.
func tcPath(attr string) string { return schemas.TimeCampUserURN + ":" + attr }

// tcGroupPath is the PATCH path of a TimeCamp group extension attribute.
func tcGroupPath(attr string) string { return schemas.TimeCampGroupURN + ":" + attr }

// tcAttr reads a TimeCamp extension attribute of a user or group.
func tcAttr(r *store.Resource, attr string) any {
	urn := schemas.TimeCampUserURN
	if r.Type == schemas.Group {
		urn = schemas.TimeCampGroupURN
	}
	ext, _ := r.Attributes[urn].(map[string]any)
	return ext[attr]
}

func displayName(r *store.Resource) string {
	if s := str(r.Attributes["userName"]); s != "" {
		return s
	}
	return str(r.Attributes["displayName"])
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// isNotFound reports a not-found failure: in the console, also what
// another account's id gives.
func isNotFound(err error) bool { return failure.Is(err, failure.NotFound) }
