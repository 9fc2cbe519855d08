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
	Tokens    []store.Token
	TenantURL string
	// New is the token just created, with its secret: shown once.
	New    *store.Token
	Secret string
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
	d.Tokens, d.TenantURL = list, c.tenantURL()
	c.renderView(w, r, http.StatusOK, "tokens", &view{Title: "SCIM tokens", Nav: "tokens", Data: d})
}

// createToken makes a token and shows its secret on this response only
// (it is stored hashed and cannot be shown again).
func (c *Console) createToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		c.redirectWith(w, r, "/admin/tokens", flash{Error: true, Message: "Name the token after the identity provider that will use it, e.g. entra-id or okta."})
		return
	}
	secret, tok, err := c.store.CreateToken(ctx, s.account.ID, name)
	e := &store.ActivityEntry{ResourceType: "Token", Resource: name, Operation: "create"}
	if tok != nil {
		e.ResourceID = tok.ID
	}
	c.record(ctx, e, err)
	if err != nil {
		c.failed(w, r, "/admin/tokens", err)
		return
	}
	c.showTokens(w, r, tokensData{New: tok, Secret: secret})
}

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
	err := c.store.RevokeToken(ctx, s.account.ID, id)
	if isNotFound(err) {
		c.errorPage(w, r, http.StatusNotFound, "No such token", "This account has no such token; it may have been revoked already.")
		return
	}
	c.record(ctx, &store.ActivityEntry{ResourceType: "Token", ResourceID: id, Resource: name, Operation: "revoke"}, err)
	if err != nil {
		c.failed(w, r, "/admin/tokens", err)
		return
	}
	c.redirectWith(w, r, "/admin/tokens", flash{Message: "Token " + name + " revoked: it stops working at once."})
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

type accountsData struct {
	Accounts []accountChoice
}

type accountChoice struct {
	ID, Name string
	Current  bool
}

// accounts lists the accounts the signed-in person administers.
func (c *Console) accounts(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	admins, err := c.adminAccounts(r.Context(), s.sess.Email)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	var d accountsData
	for _, a := range admins {
		d.Accounts = append(d.Accounts, accountChoice{ID: a.account.ID, Name: a.account.Name, Current: a.account.ID == s.account.ID})
	}
	c.renderView(w, r, http.StatusOK, "accounts", &view{Title: "Accounts", Data: d})
}

// switchAccount moves the session to another account the person
// administers (checked again now).
func (c *Console) switchAccount(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	want := r.PostFormValue("account")
	admins, err := c.adminAccounts(ctx, s.sess.Email)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	for _, a := range admins {
		if a.account.ID != want {
			continue
		}
		s.sess.Account, s.sess.User = a.account.ID, a.user.ID
		s.sess.ReauthAt = time.Time{} // a re-authentication is for one account
		if err := c.store.SaveSession(ctx, s.sess); err != nil {
			c.internalError(w, r, err)
			return
		}
		c.redirectWith(w, r, "/admin/users", flash{Message: "You are now managing " + a.account.Name + "."})
		return
	}
	c.errorPage(w, r, http.StatusForbidden, "Not an administrator there", "You are not an active administrator of that account.")
}
