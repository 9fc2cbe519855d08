package admin

// Who a signed-in person is, and which account they administer.
//
// An email address is not an identity across accounts: any account's SCIM
// client can create a user with anyone's address, and make them an
// administrator. So the console identity is the provider's issuer and
// subject ("iss sub"). On a person's first sign-in to an account, the
// administrator's user whose email the provider vouches for (verified) is
// bound to that identity (store.Binding); later sign-ins find the account
// by the binding, not by the email, and a user bound to one identity is
// never matched by email for another. An operator releases a binding with
// "timecamp-scim admins unbind" when the person's identity moved.
//
// A person who may enter several accounts chooses one (a page of their
// options, kept in a short-lived sealed cookie until they choose): the
// server never picks one for them. Only when they are bound in exactly one
// account, or have a single option, does the sign-in open it directly; the
// others stay one click away on the Accounts page.

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/failure"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/scimfilter"
	"github.com/timecamp/timecamp-scim/store"
)

// chooseCookie holds a signed-in person's options until they choose.
const chooseCookie = "tcscim_choose"

// adminOf is an account a person may administer: through a binding to
// their identity, or (not bound yet) by their verified email.
type adminOf struct {
	account store.Account
	user    *store.Resource
	bound   bool
}

// options returns the accounts the identity may enter: those where it is
// bound to an active administrator, and those where the email (verified
// by the provider) is an active administrator bound to no one, in
// accounts where the identity is not bound at all. elsewhere counts the
// administrators with the email that are bound to another identity.
func (c *Console) options(ctx context.Context, subject, email string) (out []adminOf, elsewhere int, err error) {
	bindings, err := c.store.BindingsOf(ctx, subject)
	if err != nil {
		return nil, 0, err
	}
	boundIn := map[string]bool{}
	for _, b := range bindings {
		acct, err := c.store.Account(ctx, b.Account)
		if failure.Is(err, failure.NotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		u, err := c.dir.Get(ctx, b.Account, schemas.User, b.User)
		if failure.Is(err, failure.NotFound) {
			// The user is gone, and the binding with it: the account's
			// administrators are matched by email again.
			if err := c.store.Unbind(ctx, b.Account, b.User); err != nil && !isNotFound(err) {
				return nil, 0, err
			}
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		boundIn[b.Account] = true
		if activeAdmin(u) {
			out = append(out, adminOf{account: *acct, user: u, bound: true})
		}
	}
	if email == "" {
		return out, 0, nil
	}
	byEmail, err := c.adminsByEmail(ctx, email)
	if err != nil {
		return nil, 0, err
	}
	taken := map[string]bool{} // one option per account
	for _, a := range byEmail {
		if boundIn[a.account.ID] || taken[a.account.ID] {
			continue
		}
		_, err := c.store.BindingOfUser(ctx, a.account.ID, a.user.ID)
		switch {
		case err == nil:
			elsewhere++ // bound to another identity
			continue
		case !isNotFound(err):
			return nil, 0, err
		}
		taken[a.account.ID] = true
		out = append(out, a)
	}
	return out, elsewhere, nil
}

// finishLogin opens a session for a verified person: in the one account
// they may enter, or after they chose one.
func (c *Console) finishLogin(w http.ResponseWriter, r *http.Request, p pendingLogin, subject string, cl idClaims, oc *oidcClient) {
	refuse := func(msg string) {
		c.renderView(w, r, http.StatusForbidden, "message", &view{Title: "No access", Data: messageData{
			Title: "No access to the admin console", Message: msg, LogoutURL: oc.logoutURL,
		}})
	}
	switch {
	case cl.Email == "":
		refuse("The identity provider sent no email address, so the console cannot tell who you are. Ask your identity provider's administrator to release the email claim to this application.")
		return
	case !cl.verified():
		refuse(fmt.Sprintf("The email address %s is not verified at your identity provider. Only verified addresses may sign in to the admin console.", cl.Email))
		return
	}
	opts, elsewhere, err := c.options(r.Context(), subject, cl.Email)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	var bound []adminOf
	for _, o := range opts {
		if o.bound {
			bound = append(bound, o)
		}
	}
	switch {
	case len(opts) == 0 && elsewhere > 0:
		refuse(fmt.Sprintf("%s is an administrator, but that administrator signs in with another identity at your identity provider. If your identity there changed, ask the server's operator to release the old one (timecamp-scim admins unbind).", cl.Email))
	case len(opts) == 0:
		refuse(fmt.Sprintf("%s is not an active administrator of any TimeCamp account. Only administrators manage users; ask an administrator of your account to make you one.", cl.Email))
	case len(bound) == 1:
		c.openSession(w, r, subject, cl.Email, bound[0], p.Return)
	case len(opts) == 1:
		c.openSession(w, r, subject, cl.Email, opts[0], p.Return)
	default:
		c.offerChoice(w, r, subject, cl.Email, opts, p.Return)
	}
}

// openSession binds the option if it is not bound yet, then starts a
// session in its account (a new secret: nothing of an earlier cookie is
// kept) and goes to next.
func (c *Console) openSession(w http.ResponseWriter, r *http.Request, subject, email string, o adminOf, next string) {
	ctx := r.Context()
	if err := c.bind(ctx, subject, email, o); err != nil {
		c.bindFailed(w, r, err)
		return
	}
	secret := randomString()
	t := time.Now().UTC()
	sess := &store.Session{
		ID: store.HashSessionSecret(secret), Account: o.account.ID, User: o.user.ID,
		Email: email, Subject: subject, CSRF: randomString(), Created: t, LastSeen: t,
	}
	sess.Expires = c.expiry(sess, t)
	if err := c.store.CreateSession(ctx, sess); err != nil {
		c.internalError(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, secret, 0)
	c.log.InfoContext(ctx, "administrator signed in", "account", sess.Account, "user", sess.User)
	if next == "" || next == "/admin" {
		next = "/admin/users"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// bind binds an option's user to the identity, unless it is bound.
func (c *Console) bind(ctx context.Context, subject, email string, o adminOf) error {
	if o.bound {
		return nil
	}
	if err := c.store.Bind(ctx, &store.Binding{Account: o.account.ID, User: o.user.ID, Subject: subject, Email: email}); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "administrator bound to a sign-in identity", "account", o.account.ID, "user", o.user.ID, "email", email)
	return nil
}

func (c *Console) bindFailed(w http.ResponseWriter, r *http.Request, err error) {
	if failure.Is(err, failure.Conflict) { // bound meanwhile, by another sign-in
		c.errorPage(w, r, http.StatusForbidden, "Not an administrator there",
			"This administrator was just linked to another sign-in identity, so you cannot enter as them. Sign in again; if it persists, ask the server's operator (timecamp-scim admins list).")
		return
	}
	c.internalError(w, r, err)
}

// pendingChoice is what the choice cookie holds: who signed in, and the
// accounts they may choose from (checked again when they choose).
type pendingChoice struct {
	Subject string      `json:"s"`
	Email   string      `json:"e"`
	Options []choiceRef `json:"o"`
	Return  string      `json:"u,omitempty"`
	CSRF    string      `json:"c"`
	Started time.Time   `json:"t"`
}

type choiceRef struct {
	Account string `json:"a"`
	User    string `json:"u"`
	Bound   bool   `json:"b,omitempty"`
}

type chooseData struct {
	Email   string
	CSRF    string
	Action  string // where the choice is posted
	Choices []accountChoice
}

type accountChoice struct {
	ID, Name string
	Current  bool
	// New: choosing it links the account's administrator to the
	// person's sign-in identity for good.
	New bool
}

// offerChoice keeps the options in a sealed cookie and shows them.
func (c *Console) offerChoice(w http.ResponseWriter, r *http.Request, subject, email string, opts []adminOf, next string) {
	pc := pendingChoice{Subject: subject, Email: email, Return: next, CSRF: randomString(), Started: time.Now().UTC()}
	d := chooseData{Email: email, CSRF: pc.CSRF, Action: "/admin/choose"}
	for _, o := range opts {
		pc.Options = append(pc.Options, choiceRef{Account: o.account.ID, User: o.user.ID, Bound: o.bound})
		d.Choices = append(d.Choices, accountChoice{ID: o.account.ID, Name: o.account.Name, New: !o.bound})
	}
	sealed, err := c.seal(chooseCookie, pc)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	c.setCookie(w, chooseCookie, sealed, int(loginTTL.Seconds()))
	c.renderView(w, r, http.StatusOK, "choose", &view{Title: "Choose an account", Data: d})
}

// choose opens a session in the account the person chose.
func (c *Console) choose(w http.ResponseWriter, r *http.Request) {
	var pc pendingChoice
	ck, err := r.Cookie(c.cookieName(chooseCookie))
	if err == nil {
		err = c.open(chooseCookie, ck.Value, &pc)
	}
	if err != nil || pc.Subject == "" || time.Since(pc.Started) > loginTTL {
		c.setCookie(w, chooseCookie, "", -1)
		c.renderView(w, r, http.StatusBadRequest, "message", &view{Title: "Sign-in expired", Data: messageData{
			Title: "Sign-in expired", Message: "This sign-in was started too long ago or in another browser. Sign in again.", SignIn: true,
		}})
		return
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<16)
	if !c.sameSite(r) || r.ParseForm() != nil || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(pc.CSRF)) {
		c.errorPage(w, r, http.StatusForbidden, "Request refused", "The choice did not come from this sign-in, so it was refused. Sign in again.")
		return
	}
	want := r.PostFormValue("account")
	for _, ref := range pc.Options {
		if ref.Account != want {
			continue
		}
		o, ok, err := c.recheck(r.Context(), pc.Subject, ref)
		if err != nil {
			c.internalError(w, r, err)
			return
		}
		if !ok {
			break
		}
		c.setCookie(w, chooseCookie, "", -1)
		c.openSession(w, r, pc.Subject, pc.Email, o, pc.Return)
		return
	}
	c.errorPage(w, r, http.StatusForbidden, "Not an administrator there", "You are not an active administrator of that account (any more). Sign in again to see where you are.")
}

// recheck reads an option again when it is chosen: the user must still be
// an active administrator, and still bound to the identity (or to no one).
func (c *Console) recheck(ctx context.Context, subject string, ref choiceRef) (adminOf, bool, error) {
	acct, err := c.store.Account(ctx, ref.Account)
	if err != nil {
		return adminOf{}, false, ignoreNotFound(err)
	}
	u, err := c.dir.Get(ctx, ref.Account, schemas.User, ref.User)
	if err != nil {
		return adminOf{}, false, ignoreNotFound(err)
	}
	if !activeAdmin(u) {
		return adminOf{}, false, nil
	}
	b, err := c.store.BindingOfUser(ctx, ref.Account, ref.User)
	switch {
	case err == nil:
		return adminOf{account: *acct, user: u, bound: true}, b.Subject == subject, nil
	case isNotFound(err):
		return adminOf{account: *acct, user: u}, !ref.Bound, nil
	}
	return adminOf{}, false, err
}

func ignoreNotFound(err error) error {
	if isNotFound(err) {
		return nil
	}
	return err
}

// accounts lists the accounts the signed-in person may administer.
func (c *Console) accounts(w http.ResponseWriter, r *http.Request) {
	s := sessionOf(r.Context())
	opts, _, err := c.options(r.Context(), s.sess.Subject, s.sess.Email)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	d := chooseData{Email: s.sess.Email, CSRF: s.sess.CSRF, Action: "/admin/accounts"}
	for _, o := range opts {
		d.Choices = append(d.Choices, accountChoice{ID: o.account.ID, Name: o.account.Name, Current: o.account.ID == s.account.ID, New: !o.bound})
	}
	c.renderView(w, r, http.StatusOK, "accounts", &view{Title: "Accounts", Data: d})
}

// switchAccount moves the session to another account the person may
// administer (checked again now; binding it if it is not bound yet).
func (c *Console) switchAccount(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionOf(ctx)
	want := r.PostFormValue("account")
	opts, _, err := c.options(ctx, s.sess.Subject, s.sess.Email)
	if err != nil {
		c.internalError(w, r, err)
		return
	}
	for _, o := range opts {
		if o.account.ID != want {
			continue
		}
		if err := c.bind(ctx, s.sess.Subject, s.sess.Email, o); err != nil {
			c.bindFailed(w, r, err)
			return
		}
		s.sess.Account, s.sess.User = o.account.ID, o.user.ID
		s.sess.ReauthAt = time.Time{} // a re-authentication is for one account
		if err := c.store.SaveSession(ctx, s.sess); err != nil {
			c.internalError(w, r, err)
			return
		}
		c.redirectWith(w, r, "/admin/users", flash{Message: "You are now managing " + o.account.Name + "."})
		return
	}
	c.errorPage(w, r, http.StatusForbidden, "Not an administrator there", "You are not an active administrator of that account.")
}

// adminsByEmail finds, in every account, the active users whose effective
// role is administrator and who have the email (as userName or one of
// their emails, without regard to case).
func (c *Console) adminsByEmail(ctx context.Context, email string) ([]adminOf, error) {
	accounts, err := c.store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	q, _ := json.Marshal(email)
	f, err := scimfilter.Parse(fmt.Sprintf("userName eq %s or emails.value eq %s", q, q))
	if err != nil {
		return nil, err
	}
	var out []adminOf
	for _, a := range accounts {
		page, err := c.dir.List(ctx, a.ID, schemas.User, store.Query{Filter: f, Count: 10})
		if err != nil {
			return nil, err
		}
		for _, u := range page.Resources {
			if activeAdmin(u) && hasEmail(u, email) {
				out = append(out, adminOf{account: a, user: u})
			}
		}
	}
	return out, nil
}

// activeAdmin reports whether a user is active and has the effective role
// of administrator (the directory's rule, which also decides what making
// one needs).
func activeAdmin(u *store.Resource) bool { return directory.IsAdministrator(u.Attributes) }

// hasEmail reports whether the user has the email, as userName or one of
// their emails.
func hasEmail(u *store.Resource, email string) bool {
	if strings.EqualFold(str(u.Attributes["userName"]), email) {
		return true
	}
	for _, e := range list(u.Attributes["emails"]) {
		if m, ok := e.(map[string]any); ok && strings.EqualFold(str(m["value"]), email) {
			return true
		}
	}
	return false
}
