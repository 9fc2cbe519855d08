package admin

// Making an administrator needs a fresh sign-in.
//
// An administrator can sign in to the console and, after a fresh sign-in
// of their own, create a SCIM token or set anyone's password. Were making
// one free, a stolen session cookie (the threat step-up exists for) would
// be enough to invite an address its thief controls as an administrator,
// sign in as that person and do the fresh sign-in as them. So every
// console change that lets someone sign in as an administrator who could
// not before — a role, a group's grant or its place in the tree, a
// membership, an invitation, a CSV import, a reactivation, an
// administrator's new address — needs the fresh sign-in that creating a
// token needs, and uses it up. Lowering a role, and everything else,
// needs none.
//
// The console does not decide this form by form: the directory computes
// each write's effect (effective roles before and after, group grants
// inherited down the tree included) and asks the request's gate
// (administratorGate) before writing anything. Forms that write in
// several steps ask about their whole plan first (directory.AdmitPlan), so
// that a refusal leaves nothing half-written. A refusal answers 403 with a
// page that says why and keeps what was sent: confirm it's you in another
// tab, then send it again from this one (confirmFirst).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/store"
)

// gate is one request's administratorGate.
type gate struct {
	c *Console
	s *session

	mu      sync.Mutex // guards spentAt: a Bulk request asks from several writes
	spentAt time.Time  // the fresh sign-in this request spent, once it did
}

// administratorGate lets a request's writes make administrators once it
// has spent the session's fresh sign-in on them; without one it refuses
// them (stepUpNeeded).
func (c *Console) administratorGate(s *session) directory.AdministratorGate {
	g := &gate{c: c, s: s}
	return g.admit
}

func (g *gate) admit(ctx context.Context, _ string, users []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.spentAt.IsZero() {
		// Spent by an earlier write of this request, whose transaction
		// may have been rolled back since (the embedded store's), which
		// brought the fresh sign-in back: spent again, so that whichever
		// write commits, it is gone.
		_, err := g.c.store.SwapReauth(ctx, g.s.sess.ID, g.spentAt, time.Time{})
		return err
	}
	at, ok, err := g.c.spend(ctx, g.s)
	if err != nil {
		return err
	}
	if !ok {
		return g.c.stepUpNeeded(users)
	}
	g.spentAt = at
	return nil
}

// stepUpNeeded is the refusal of a change that would make administrators
// without a fresh sign-in: a 403 failure (what a SCIM client in process,
// the CSV import, reports) that the console shows as confirmFirst.
type stepUpNeeded struct {
	failure *failure.Error
	users   []string
}

func (e *stepUpNeeded) Error() string { return e.failure.Detail }
func (e *stepUpNeeded) Unwrap() error { return e.failure }

func (c *Console) stepUpNeeded(users []string) error {
	return &stepUpNeeded{users: users, failure: failure.Forbiddenf(
		"This change would let %s sign in to the admin console as an administrator, and so reach every credential of the account. "+
			"Confirm it's you first: sign in again at your identity provider, then make the change within %s. Nothing was changed.",
		namesOf(users), c.cfg.ReauthMaxAge)}
}

// namesOf lists a few names and counts the rest.
func namesOf(users []string) string {
	const shown = 5
	if len(users) <= shown {
		if len(users) > 1 {
			return strings.Join(users[:len(users)-1], ", ") + " and " + users[len(users)-1]
		}
		return strings.Join(users, "")
	}
	return strings.Join(users[:shown], ", ") + fmt.Sprintf(" and %d more", len(users)-shown)
}

// confirmData is the page of a change refused for want of a fresh
// sign-in.
type confirmData struct {
	Users   string
	Message string
	StepUp  stepUp
	// Action and Fields send the refused form again, as it was sent.
	Action string
	Fields []formField
	Back   string
}

type formField struct{ Name, Value string }

// confirmFirst answers a change refused for want of a fresh sign-in: 403,
// why, the way to a fresh sign-in (in another tab: the form stays), and
// the form as it was sent, to send again once that is done.
func (c *Console) confirmFirst(w http.ResponseWriter, r *http.Request, need *stepUpNeeded, back string) {
	d := confirmData{
		Users: namesOf(need.users), Message: need.Error(), Action: r.URL.Path, Back: back,
		StepUp: stepUp{URL: "/admin/reauth?return=" + url.QueryEscape("/admin/confirmed"), MaxAge: c.cfg.ReauthMaxAge.String(), What: "make the change"},
	}
	names := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.PostForm[k] {
			d.Fields = append(d.Fields, formField{k, v})
		}
	}
	c.renderView(w, r, http.StatusForbidden, "confirm", &view{Title: "Confirm it's you first", Data: d})
}

// confirmed is where the fresh sign-in that confirmFirst sends to another
// tab comes back.
func (c *Console) confirmed(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	if !c.freshReauth(s) {
		c.errorPage(w, r, http.StatusOK, "Not confirmed", "There is no fresh sign-in to use: it was used up, or is older than "+c.cfg.ReauthMaxAge.String()+". Use Confirm it's you on the page that asked.")
		return
	}
	c.errorPage(w, r, http.StatusOK, "You confirmed it's you",
		"For the next "+c.cfg.ReauthMaxAge.String()+", one change that needs it can be made. Go back to the tab that asked you, and send the change again there; you can close this one.")
}

// asStepUpNeeded finds a refusal for want of a fresh sign-in in err.
func asStepUpNeeded(err error) (*stepUpNeeded, bool) {
	var need *stepUpNeeded
	return need, errors.As(err, &need)
}

// groupIDs are the ids of the groups a user (read with its groups) is in.
func groupIDs(u *store.Resource) []string {
	var out []string
	for _, g := range list(u.Attributes["groups"]) {
		m, _ := g.(map[string]any)
		out = append(out, str(m["value"]))
	}
	return out
}

// oneGroup is a group choice as a list: none for "".
func oneGroup(id string) []string {
	if id == "" {
		return nil
	}
	return []string{id}
}
