package admin

// The SCIM tokens page (create — the secret shown once, with the tenant
// URL —, last used, revoke), the Activity page, and the account picker.

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/timecamp/timecamp-scim/store"
)

type tokensData struct {
	Tokens    []tokenRow
	TenantURL string
	// New is the token just created, with its secret: shown once.
	New    *store.Token
	Secret string
	// StepUp: creating a token needs a fresh sign-in.
	StepUp stepUp
	// MinExpiry and MaxExpiry are the expiry dates the form offers
	// (tomorrow to store.MaxTokenYears away).
	MinExpiry, MaxExpiry string
}

// tokenRow is a token as the page lists it.
type tokenRow struct {
	store.Token
	Expired bool
}

func (c *Console) tenantURL() string { return c.cfg.BaseURL + "/scim/v2" }

func (c *Console) tokens(w http.ResponseWriter, r *http.Request) {
	c.showTokens(w, r, tokensData{})
}

func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, d tokensData) {
	s := sessionOf(r.Context())
	list, err := c.store.Tokens(r.Context(), s.account.ID)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	now := time.Now()
	for _, t := range list {
		d.Tokens = append(d.Tokens, tokenRow{Token: t, Expired: !t.Expires.IsZero() && !now.Before(t.Expires)})
	}
	d.TenantURL, d.MinExpiry = c.tenantURL(), now.UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	d.MaxExpiry = now.UTC().AddDate(store.MaxTokenYears, 0, 0).Format(time.DateOnly)
	d.StepUp = c.stepUpFor(s, "/admin/tokens", "create a token")
	c.renderView(w, r, http.StatusOK, "tokens", &view{Title: "SCIM tokens", Nav: "tokens", Data: d})
}

// createToken makes a token and shows its secret on this response only
// (it is stored hashed and cannot be shown again). A token can set any
// user's password through SCIM, so making one needs a fresh sign-in, which
// it uses up; the token records who made it.
func (c *Console) createToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	if !c.requireStepUp(w, r, "Creating a SCIM token") {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		c.redirectWith(w, r, "/admin/tokens", flash{Error: true, Message: "Name the token after the identity provider that will use it, e.g. entra-id or okta."})
		return
	}
	expires, err := store.ParseTokenExpiry(r.PostFormValue("expires"), time.Now())
	if err != nil {
		c.failed(w, r, "/admin/tokens", err)
		return
	}
	giveBack, ok := c.spendStepUp(w, r, "Creating a SCIM token")
	if !ok {
		return
	}
	secret, tok, err := c.store.CreateToken(ctx, s.account.ID, store.TokenSpec{
		Name: name, CreatedBy: s.sess.Email, CreatorSubject: s.sess.Subject, Expires: expires,
	})
	e := &store.ActivityEntry{ResourceType: "Token", Resource: name, Operation: "create"}
	if tok != nil {
		e.ResourceID = tok.ID
	}
	c.record(ctx, e, err)
	if err != nil {
		giveBack()
		c.failed(w, r, "/admin/tokens", err)
		return
	}
	c.showTokens(w, r, tokensData{New: tok, Secret: secret})
}

// revokeToken revokes a token for good. It needs no fresh sign-in: it
// takes access away, and must be quick when a token leaked.
func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	id := mux.Vars(r)["id"]
	name := ""
	if list, err := c.store.Tokens(ctx, s.account.ID); err == nil {
		for _, t := range list {
			if t.ID == id {
				name = t.Name
			}
		}
	}
	err := c.store.RevokeToken(ctx, s.account.ID, id, s.sess.Email)
	if isNotFound(err) {
		c.errorPage(w, r, http.StatusNotFound, "No such token", "This account has no such token; it may have been revoked already.")
		return
	}
	c.record(ctx, &store.ActivityEntry{ResourceType: "Token", ResourceID: id, Resource: name, Operation: "revoke"}, err)
	if err != nil {
		c.failed(w, r, "/admin/tokens", err)
		return
	}
	c.redirectWith(w, r, "/admin/tokens", flash{Message: "Token " + name + " revoked: it stops working at once, for good."})
}

// activityPerPage is the size of a page of the activity log.
const activityPerPage = 50

type activityData struct {
	Entries                      []*store.ActivityEntry
	Outcome, Actor, ResourceType string
	Actors                       []string
	ResourceTypes                []string
	PrevURL, NextURL             string
	From                         int
}

// activity shows the account's activity log, newest first, filtered by
// outcome, actor and resource type.
func (c *Console) activity(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	q := r.URL.Query()
	d := activityData{Outcome: q.Get("outcome"), Actor: strings.TrimSpace(q.Get("actor")), ResourceType: q.Get("type"),
		ResourceTypes: []string{"User", "Group", "Project", "Token"}}
	if d.Outcome != store.OutcomeOK && d.Outcome != store.OutcomeRefused {
		d.Outcome = ""
	}
	if !slices.Contains(d.ResourceTypes, d.ResourceType) {
		d.ResourceType = ""
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	entries, more, err := c.store.Activity(ctx, store.ActivityQuery{
		Account: s.account.ID, Outcome: d.Outcome, Actor: d.Actor, ResourceType: d.ResourceType,
		Skip: (page - 1) * activityPerPage, Limit: activityPerPage,
	})
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d.Entries, d.From = entries, (page-1)*activityPerPage+1
	if toks, err := c.store.Tokens(ctx, s.account.ID); err == nil {
		for _, t := range toks {
			d.Actors = append(d.Actors, t.Name)
		}
	}
	d.Actors = append(d.Actors, s.sess.Email)
	pageURL := func(p int) string {
		v := q
		v.Set("page", strconv.Itoa(p))
		return "/admin/activity?" + v.Encode()
	}
	if page > 1 {
		d.PrevURL = pageURL(page - 1)
	}
	if more {
		d.NextURL = pageURL(page + 1)
	}
	c.renderView(w, r, http.StatusOK, "activity", &view{Title: "Activity", Nav: "activity", Data: d})
}
