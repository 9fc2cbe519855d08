package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// The admin console, end to end: the built server, Dex as the OpenID
// Connect provider, a real SMTP server, and Chromium. One server and one
// Dex serve every step (each person has a browser context of their own),
// which keeps the test to well under a minute once Dex is built.
func TestAdminConsole(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	smtp := mailtest.Start(t)
	addr, dexAddr := freeAddr(t), freeAddr(t)
	base := "http://" + addr
	const pw = "correct horse battery"
	d := startDex(t, dexAddr, base+"/admin/callback",
		dexUser{"ada@acme.test", pw, true},       // the account's administrator
		dexUser{"bob@acme.test", pw, true},       // a user, not an administrator
		dexUser{"eve@acme.test", pw, false},      // an administrator whose email the provider has not verified
		dexUser{"zed@globex.test", pw, true},     // administrator (owner) of another account
		dexUser{"wes@globex.test", pw, true},     // its second administrator
		dexUser{"nobody@nowhere.test", pw, true}, // no user anywhere
		dexUser{"sam@shared.test", pw, true},     // administrator of both accounts
	)
	s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), token: randomToken(), env: []string{
		"SCIM_OIDC_ISSUER=" + d.Issuer, "SCIM_OIDC_CLIENT_ID=" + d.ClientID, "SCIM_OIDC_CLIENT_SECRET=" + d.ClientSecret,
		"SCIM_SMTP_URL=smtp://" + smtp.Addr, "SCIM_MAIL_FROM=Acme <invites@acme.test>",
	}}
	s.startAt(addr)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server logs (errors and warnings):\n%s", problems(s.logs.String()))
		}
	})
	c := s.Client

	// The account (named "default" by the bootstrap token): Ada is its
	// administrator (and owner), Eve another one, Bob and Carol users.
	admin := func(email, role string) string {
		return c.Post(t, "/Users", scimtest.UserBody(email, map[string]any{
			"emails":  []any{map[string]any{"value": email, "type": "work", "primary": true}},
			"name":    map[string]any{"givenName": strings.Split(email, "@")[0]},
			tcUser:    map[string]any{"role": role},
			"schemas": []any{userURN, tcUser},
		})).Expect(t, http.StatusCreated).Str("id")
	}
	ada := admin("ada@acme.test", "administrator")
	admin("eve@acme.test", "administrator")
	admin("bob@acme.test", "user")
	carol := admin("carol@acme.test", "user")
	c.Post(t, "/Projects", map[string]any{"schemas": []any{"urn:timecamp:params:scim:schemas:core:2.0:Project"}, "displayName": "Apollo"}).Expect(t, http.StatusCreated)

	// Another account, Globex, with its own administrator and a user.
	if _, err := s.run("accounts", "create", "--name", "Globex"); err != nil {
		t.Fatal(err)
	}
	out, err := s.run("tokens", "create", "--account", "Globex", "--name", "globex-okta")
	if err != nil {
		t.Fatal(err)
	}
	globex := &scimtest.Client{Base: c.Base, Token: regexp.MustCompile(`tcscim_\S+`).FindString(out)}
	globex.Post(t, "/Users", scimtest.UserBody("zed@globex.test", map[string]any{
		"schemas": []any{userURN, tcUser}, tcUser: map[string]any{"role": "administrator"},
	})).Expect(t, http.StatusCreated)
	wes := globex.Post(t, "/Users", scimtest.UserBody("wes@globex.test", map[string]any{
		"schemas": []any{userURN, tcUser}, tcUser: map[string]any{"role": "administrator"},
	})).Expect(t, http.StatusCreated).Str("id")
	globexUser := globex.Post(t, "/Users", scimtest.UserBody("yan@globex.test")).Expect(t, http.StatusCreated).Str("id")
	// Sam administers both accounts.
	admin("sam@shared.test", "administrator")
	globex.Post(t, "/Users", scimtest.UserBody("sam@shared.test", map[string]any{
		"schemas": []any{userURN, tcUser}, tcUser: map[string]any{"role": "administrator"},
	})).Expect(t, http.StatusCreated)

	ap := b.person(t)
	ap.logs = func() string { return problems(s.logs.String()) }
	step(t, "administrator signs in and lands on Users", func(t *testing.T) {
		ap.t = t
		ap.signIn(base+"/admin/", "ada@acme.test", pw)
		if loc := ap.location(); loc != base+"/admin/users" {
			t.Fatalf("landed on %s", loc)
		}
		ap.expectText("#seats", "Seats in use")
		ap.expectText(`tr[data-user="carol@acme.test"]`, "carol")
		ap.screenshot("users")
	})

	step(t, "role from the list shows in SCIM", func(t *testing.T) {
		ap.t = t
		sel := `tr[data-user="carol@acme.test"] select[name=role]`
		ap.run("change Carol's role",
			// SetValue fires "change", as a person choosing does: the
			// page's script submits the row's form.
			navigation(chromedp.SetValue(chromedp.CSS(sel), "supervisor")),
			chromedp.WaitVisible(chromedp.ID("#flash")),
		)
		ap.expectText("#flash", "carol@acme.test is now supervisor")
		if got := c.Get(t, "/Users/"+carol).Expect(t, http.StatusOK).At(tcUser + ".role"); got != "supervisor" {
			t.Fatalf("SCIM role after the console's change: %v", got)
		}
	})

	step(t, "invite two people", func(t *testing.T) {
		ap.t = t
		ap.run("invite",
			chromedp.Navigate(base+"/admin/invite"),
			chromedp.WaitVisible(chromedp.ID("#invite-form")),
			chromedp.SendKeys(chromedp.CSS(`textarea[name=addresses]`), "dan@acme.test\nfay@acme.test"),
		)
		ap.screenshot("invite")
		ap.run("send", navigation(chromedp.Submit(chromedp.ID("#invite-form"))), chromedp.WaitVisible(chromedp.ID("#flash")))
		ap.expectText("#flash", "Invited 2 people: dan@acme.test, fay@acme.test")
		for _, to := range []string{"dan@acme.test", "fay@acme.test"} {
			m := smtp.WaitFor(t, to, 1, 20*time.Second)[0]
			if !strings.HasPrefix(m.Link(), base+"/invitations/") {
				t.Fatalf("invitation to %s: link %q", to, m.Link())
			}
		}
	})

	step(t, "CSV with an existing address imports nothing", func(t *testing.T) {
		ap.t = t
		file := filepath.Join(t.TempDir(), "team.csv")
		csv := "email,givenName,role,group\ngil@acme.test,Gil,user,Engineering\ncarol@acme.test,Carol,user,\nhal@acme.test,Hal,guest,\n"
		if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		ap.run("upload",
			chromedp.Navigate(base+"/admin/invite"),
			chromedp.WaitVisible(chromedp.ID("#csv-form")),
			chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{file}),
			navigation(chromedp.Submit(chromedp.ID("#csv-form"))),
			chromedp.WaitVisible(chromedp.ID("#problems")),
		)
		ap.expectText("#problems", "Nothing was imported")
		ap.expectText("#problems", "Line 3: carol@acme.test already has a user in this account")
		ap.screenshot("csv-refused")
		for _, email := range []string{"gil@acme.test", "hal@acme.test"} {
			if n := num(c.Get(t, filterPath("/Users", `userName eq "`+email+`"`)), "totalResults"); n != 0 {
				t.Fatalf("%s was imported from a refused file", email)
			}
		}
		if n := num(c.Get(t, filterPath("/Groups", `displayName eq "Engineering"`)), "totalResults"); n != 0 {
			t.Fatal("a refused file created a group")
		}
	})

	step(t, "CSV preview then import", func(t *testing.T) {
		ap.t = t
		file := filepath.Join(t.TempDir(), "new.csv")
		if err := os.WriteFile(file, []byte("email,givenName,group,projects\ngil@acme.test,Gil,Engineering/Backend,Apollo\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ap.run("preview",
			chromedp.Navigate(base+"/admin/invite"),
			chromedp.WaitVisible(chromedp.ID("#csv-form")),
			chromedp.SetUploadFiles(chromedp.CSS(`input[name=file]`), []string{file}),
			navigation(chromedp.Submit(chromedp.ID("#csv-form"))),
			chromedp.WaitVisible(chromedp.ID("#preview-ok")),
		)
		if n := num(c.Get(t, filterPath("/Users", `userName eq "gil@acme.test"`)), "totalResults"); n != 0 {
			t.Fatal("the preview wrote the user")
		}
		ap.screenshot("csv-preview")
		ap.run("import", navigation(chromedp.Submit(chromedp.ID("#csv-import"))), chromedp.WaitVisible(chromedp.ID("#import-summary")))
		ap.expectText("#import-summary", "created 1 user and 2 groups")
		u := resources(t, c.Get(t, filterPath("/Users", `userName eq "gil@acme.test"`)))
		if len(u) != 1 {
			t.Fatal("the import did not create the user")
		}
		smtp.WaitFor(t, "gil@acme.test", 1, 20*time.Second)
	})

	step(t, "profile, groups, projects", func(t *testing.T) {
		ap.t = t
		ap.run("edit Carol",
			chromedp.Navigate(base+"/admin/users/"+carol),
			chromedp.WaitVisible(chromedp.ID("#profile")),
			chromedp.SetValue(chromedp.CSS(`input[name=familyName]`), "Lopez"),
			chromedp.Click(chromedp.CSS(`input[name=canViewRates]`)),
		)
		ap.screenshot("profile")
		ap.run("save", navigation(chromedp.Submit(chromedp.ID("#profile"))), chromedp.WaitVisible(chromedp.ID("#flash")))
		ap.expectText("#flash", "Saved")
		got := c.Get(t, "/Users/"+carol).Expect(t, http.StatusOK)
		if got.Str("name.familyName") != "Lopez" || got.At(tcUser+".canViewRates") != true || got.At(tcUser+".role") != "supervisor" {
			t.Fatalf("profile over SCIM: %s", got.Raw)
		}

		ap.run("create a group",
			chromedp.Navigate(base+"/admin/groups"),
			chromedp.WaitVisible(chromedp.ID("#create-group")),
			chromedp.SendKeys(chromedp.CSS(`#create-group input[name=name]`), "Sales"),
			navigation(chromedp.Submit(chromedp.ID("#create-group"))),
			chromedp.WaitVisible(chromedp.ID("#flash")),
		)
		ap.expectText(`li[data-group="Sales"]`, "Sales")
		ap.expectText(`li[data-group="Backend"]`, "Backend")
		ap.screenshot("groups")
		if n := num(c.Get(t, filterPath("/Groups", `displayName eq "Sales"`)), "totalResults"); n != 1 {
			t.Fatal("the console's group is not in SCIM")
		}

		ap.run("create and archive a project",
			chromedp.Navigate(base+"/admin/projects"),
			chromedp.WaitVisible(chromedp.ID("#create-project")),
			chromedp.SendKeys(chromedp.CSS(`#create-project input[name=name]`), "Gemini"),
			navigation(chromedp.Submit(chromedp.ID("#create-project"))),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-project="Gemini"]`)),
			navigation(chromedp.Click(chromedp.CSS(`tr[data-project="Gemini"] button.archive`))),
			chromedp.WaitVisible(chromedp.ID("#flash")),
		)
		ap.expectText(`tr[data-project="Gemini"]`, "Archived")
		ap.screenshot("projects")
		p := resources(t, c.Get(t, filterPath("/Projects", `displayName eq "Gemini"`)))
		if len(p) != 1 || p[0]["archived"] != true {
			t.Fatalf("project over SCIM: %v", p)
		}
	})

	var csrf string
	step(t, "a POST without the CSRF token is refused", func(t *testing.T) {
		ap.t = t
		ap.run("users", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(chromedp.ID("#users")))
		csrf = ap.value(`input[name=csrf]`)
		if csrf == "" {
			t.Fatal("no CSRF token in the page")
		}
		if st := ap.fetchStatus("POST", "/admin/users/"+carol+"/role", "role=guest"); st != http.StatusForbidden {
			t.Fatalf("POST without a CSRF token: %d", st)
		}
		if st := ap.fetchStatus("POST", "/admin/users/"+carol+"/role", "role=guest&csrf=forged"); st != http.StatusForbidden {
			t.Fatalf("POST with a wrong CSRF token: %d", st)
		}
		// The same through the form, its token removed, as a person sees it.
		ap.run("submit without token",
			chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('tr[data-user="carol@acme.test"] form.role-form input[name=csrf]').forEach(e => e.remove())`),
			navigation(chromedp.Submit(chromedp.CSS(`tr[data-user="carol@acme.test"] form.role-form`))),
			chromedp.WaitVisible(chromedp.ID("#message")),
		)
		ap.expectText("#message", "security token is missing")
		if got := c.Get(t, "/Users/"+carol).At(tcUser + ".role"); got != "supervisor" {
			t.Fatalf("the refused POST changed the role: %v", got)
		}
	})

	step(t, "a session of one account cannot read or change another's", func(t *testing.T) {
		ap.t = t
		if st := ap.fetchStatus("GET", "/admin/users/"+globexUser, ""); st != http.StatusNotFound {
			t.Fatalf("GET another account's user: %d", st)
		}
		form := url.Values{"csrf": {csrf}, "role": {"administrator"}}.Encode()
		if st := ap.fetchStatus("POST", "/admin/users/"+globexUser+"/role", form); st != http.StatusNotFound {
			t.Fatalf("POST to another account's user: %d", st)
		}
		if st := ap.fetchStatus("POST", "/admin/users/"+globexUser+"/active", url.Values{"csrf": {csrf}, "active": {"false"}}.Encode()); st != http.StatusNotFound {
			t.Fatalf("deactivate another account's user: %d", st)
		}
		got := globex.Get(t, "/Users/"+globexUser).Expect(t, http.StatusOK)
		if got.At(tcUser+".role") != "user" || got.At("active") != true {
			t.Fatalf("another account's user changed: %s", got.Raw)
		}
		// Nor does the account picker offer it.
		ap.run("accounts", chromedp.Navigate(base+"/admin/accounts"), chromedp.WaitVisible(chromedp.ID("#accounts")))
		if txt := ap.text("#accounts"); strings.Contains(txt, "Globex") || !strings.Contains(txt, "default") {
			t.Fatalf("account picker: %q", txt)
		}
	})

	step(t, "setting a password needs a fresh login", func(t *testing.T) {
		ap.t = t
		form := url.Values{"csrf": {csrf}, "password": {"n3w-Passw0rd!"}, "confirm": {"n3w-Passw0rd!"}}.Encode()
		if st := ap.fetchStatus("POST", "/admin/users/"+carol+"/password", form); st != http.StatusForbidden {
			t.Fatalf("password without a fresh login: %d", st)
		}
		ap.run("password page", chromedp.Navigate(base+"/admin/users/"+carol+"/password"), chromedp.WaitVisible(chromedp.ID("#reauth-needed")))
		ap.reauth("ada@acme.test", pw)
		ap.run("set the password",
			chromedp.WaitVisible(chromedp.ID("#password-form")),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "n3w-Passw0rd!"),
			chromedp.SendKeys(chromedp.CSS(`input[name=confirm]`), "n3w-Passw0rd!"),
			navigation(chromedp.Submit(chromedp.ID("#password-form"))),
			chromedp.WaitVisible(chromedp.ID("#flash")),
		)
		ap.expectText("#flash", "The password of carol@acme.test is set")
		// The re-authentication is used up.
		if st := ap.fetchStatus("POST", "/admin/users/"+carol+"/password", form); st != http.StatusForbidden {
			t.Fatalf("a second password on the same re-authentication: %d", st)
		}
	})

	step(t, "a SCIM token needs a fresh sign-in", func(t *testing.T) {
		ap.t = t
		// The finding: with the session alone (its cookie and CSRF token),
		// POST /admin/tokens minted a token that can set any password.
		form := url.Values{"csrf": {csrf}, "name": {"stolen-session"}}.Encode()
		if st := ap.fetchStatus("POST", "/admin/tokens", form); st != http.StatusForbidden {
			t.Fatalf("token without a fresh sign-in: %d", st)
		}
		if id := tokenID(t, s, "default", "stolen-session"); id != "" {
			t.Fatal("a token was made without a fresh sign-in")
		}
		ap.run("tokens page", chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.ID("#reauth-needed")))
		ap.screenshot("tokens-reauth")
		ap.reauth("ada@acme.test", pw)
		ap.run("token form", chromedp.WaitVisible(chromedp.ID("#create-token")))
	})

	step(t, "Activity names the SCIM token of a change", func(t *testing.T) {
		ap.t = t
		ap.run("create a token",
			chromedp.SendKeys(chromedp.CSS(`#create-token input[name=name]`), "okta-e2e"),
			navigation(chromedp.Submit(chromedp.ID("#create-token"))),
			chromedp.WaitVisible(chromedp.ID("#token-secret")),
		)
		secret := ap.text("#token-secret")
		ap.expectText("#tenant-url", base+"/scim/v2")
		ap.expectText(`tr[data-token="okta-e2e"] .created-by`, "ada@acme.test")
		ap.screenshot("tokens")
		// The fresh sign-in is used up: the form is gone again.
		ap.run("tokens page again", chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.ID("#reauth-needed")))
		okta := &scimtest.Client{Base: c.Base, Token: secret}
		okta.Patch(t, "/Users/"+carol, scimtest.Op("replace", "title", "Head of Sales")).Expect(t, http.StatusOK)
		okta.Get(t, "/Users?filter=bad%20filter").Expect(t, http.StatusBadRequest)

		// The server writes the activity log in batches, a fraction of a
		// second after the requests: look again until it is there.
		var txt string
		for try := 0; ; try++ {
			ap.run("activity", chromedp.Navigate(base+"/admin/activity?actor=okta-e2e"), chromedp.WaitVisible(chromedp.ID("#activity")))
			txt = ap.text("#activity")
			if strings.Contains(txt, "Refused (400)") || try == 20 {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		for _, want := range []string{"okta-e2e", "patch User carol@acme.test (title)", "Refused (400)"} {
			if !strings.Contains(txt, want) {
				t.Fatalf("activity filtered by the token lacks %q:\n%s", want, txt)
			}
		}
		ap.run("all activity", chromedp.Navigate(base+"/admin/activity"), chromedp.WaitVisible(chromedp.ID("#activity")))
		txt = ap.text("#activity")
		for _, want := range []string{"ada@acme.test", "change role User carol@acme.test", "set password", "create Token okta-e2e", "bulk create User gil@acme.test",
			"edit profile User carol@acme.test (canViewRates, name)"} {
			if !strings.Contains(txt, want) {
				t.Fatalf("activity lacks %q:\n%s", want, txt)
			}
		}
		if strings.Contains(txt, "n3w-Passw0rd") || strings.Contains(txt, secret) {
			t.Fatal("the activity page shows a secret")
		}
		ap.screenshot("activity")
		// Who made each token, the bootstrap one included.
		ap.run("token activity", chromedp.Navigate(base+"/admin/activity?type=Token"), chromedp.WaitVisible(chromedp.ID("#activity")))
		txt = ap.text("#activity")
		for _, want := range []string{"ada@acme.test\tcreate Token okta-e2e", "bootstrap (SCIM_BOOTSTRAP_TOKEN)\tcreate Token bootstrap"} {
			if !strings.Contains(strings.ReplaceAll(txt, "operator ", ""), want) {
				t.Fatalf("token activity lacks %q:\n%s", want, txt)
			}
		}
		// The token page says when the token was last used.
		ap.run("tokens", chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.ID("#tokens")))
		if txt := ap.text(`tr[data-token="okta-e2e"] .last-used`); strings.Contains(txt, "never") {
			t.Fatalf("token row after use: %q", txt)
		}
	})

	step(t, "making an administrator needs a fresh sign-in", func(t *testing.T) {
		ap.t = t
		// The finding: the session alone made administrators, who then
		// sign in and reach every credential after a fresh sign-in of
		// their own. The fresh sign-in above was used up by the token.
		sel := `tr[data-user="carol@acme.test"] select[name=role]`
		ap.run("make Carol an administrator",
			chromedp.Navigate(base+"/admin/users"),
			chromedp.WaitVisible(chromedp.ID("#users")),
			navigation(chromedp.SetValue(chromedp.CSS(sel), "administrator")),
			chromedp.WaitVisible(chromedp.ID("#confirm-first")),
		)
		ap.expectText("#message", "would let carol@acme.test sign in to the admin console as an administrator")
		ap.screenshot("confirm-first")
		if got := c.Get(t, "/Users/"+carol).At(tcUser + ".role"); got != "supervisor" {
			t.Fatalf("the refused change was made: role %v", got)
		}
		// Confirm in another tab, as the page offers; then send the kept
		// form again from this one.
		href := get(ap, "confirm link", chromedp.Evaluate[string](`document.getElementById("reauth-tab").href`))
		tab := ap.tab(t)
		tab.run("confirm it's you in another tab",
			chromedp.Navigate(href),
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.ID("login"), "ada@acme.test"),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.Click(chromedp.ID("submit-login")),
			chromedp.WaitReady(chromedp.CSS("body.console")),
		)
		tab.expectText("#message", "Go back to the tab that asked you")
		ap.run("make the change", navigation(chromedp.Submit(chromedp.ID("#replay"))), chromedp.WaitVisible(chromedp.ID("#flash")))
		ap.expectText("#flash", "carol@acme.test is now administrator")
		if got := c.Get(t, "/Users/"+carol).At(tcUser + ".role"); got != "administrator" {
			t.Fatalf("after a fresh sign-in: role %v", got)
		}
		// Lowering a role needs none.
		ap.run("Carol back to supervisor",
			navigation(chromedp.SetValue(chromedp.CSS(sel), "supervisor")),
			chromedp.WaitVisible(chromedp.ID("#flash")),
		)
		ap.expectText("#flash", "carol@acme.test is now supervisor")
	})

	step(t, "a non-administrator gets 403", func(t *testing.T) {
		p := b.person(t)
		p.signIn(base+"/admin/", "bob@acme.test", pw)
		p.expectText("#message", "bob@acme.test is not an active administrator")
		p.screenshot("forbidden")
		if st := p.fetchStatus("GET", "/admin/users", ""); st == http.StatusOK {
			t.Fatal("the refused user has a session")
		}
		p.signIn(base+"/admin/", "nobody@nowhere.test", pw)
		p.expectText("#message", "not an active administrator")
	})

	step(t, "an unverified email is refused", func(t *testing.T) {
		p := b.person(t)
		p.signIn(base+"/admin/", "eve@acme.test", pw)
		p.expectText("#message", "eve@acme.test is not verified")
	})

	step(t, "a session dies when its user stops being an administrator", func(t *testing.T) {
		w := b.person(t)
		w.signIn(base+"/admin/", "wes@globex.test", pw)
		w.expectText("#account-name", "Globex")
		if st := w.fetchStatus("GET", "/admin/users/"+carol, ""); st != http.StatusNotFound {
			t.Fatalf("Globex's administrator reads default's user: %d", st)
		}
		if st := w.fetchStatus("GET", "/admin/users/"+globexUser, ""); st != http.StatusOK {
			t.Fatalf("Globex's administrator reads Globex's user: %d", st)
		}
		globex.Patch(t, "/Users/"+wes, scimtest.Op("replace", tcUser+":role", "user")).Expect(t, http.StatusOK)
		if st := w.fetchStatus("GET", "/admin/users", ""); st != http.StatusForbidden {
			t.Fatalf("a demoted administrator's session: %d", st)
		}
	})

	step(t, "the same email administers two accounts: the person chooses, bound to their identity", func(t *testing.T) {
		p := b.person(t)
		p.logs = ap.logs
		p.signIn(base+"/admin/", "sam@shared.test", pw)
		p.expectText("#choose-intro", "several accounts")
		p.screenshot("choose-account")
		if txt := p.text("#accounts"); !strings.Contains(txt, "default") || !strings.Contains(txt, "Globex") {
			t.Fatalf("account picker: %q", txt)
		}
		// The server picked none: there is no session until Sam chooses.
		if st := p.fetchStatus("GET", "/admin/users", ""); st == http.StatusOK {
			t.Fatal("a session before choosing an account")
		}
		p.run("choose Globex", navigation(chromedp.Submit(chromedp.CSS(`li[data-account="Globex"] form`))), chromedp.WaitVisible(chromedp.ID("users")))
		p.expectText("#account-name", "Globex")
		out, err := s.run("admins", "list", "--account", "Globex")
		if err != nil || !strings.Contains(out, "sam@shared.test") || !strings.Contains(out, d.Issuer+" ") {
			t.Fatalf("admins list Globex: %s %v", out, err)
		}
		if out, _ := s.run("admins", "list", "--account", "default"); strings.Contains(out, "sam@shared.test") {
			t.Fatalf("Sam is bound in default without choosing it:\n%s", out)
		}
		// Signed in again, the binding decides: Globex, no question.
		p.run("sign out", navigation(chromedp.Submit(chromedp.CSS("header form"))), chromedp.WaitVisible(chromedp.ID("message")))
		p.signIn(base+"/admin/", "sam@shared.test", pw)
		p.expectText("#account-name", "Globex")
	})

	step(t, "another account's administrator with Ada's email does not capture her sign-in", func(t *testing.T) {
		// The finding: any account's SCIM client can create an
		// administrator with someone else's address.
		evil := s.newAccount(t, "Aaa Evil")
		evil.Post(t, "/Users", scimtest.UserBody("ada@acme.test", map[string]any{
			"schemas": []any{userURN, tcUser}, tcUser: map[string]any{"role": "administrator"},
		})).Expect(t, http.StatusCreated)
		p := b.person(t)
		p.logs = ap.logs
		p.signIn(base+"/admin/", "ada@acme.test", pw)
		p.expectText("#account-name", "default") // her binding, not the first account by name

		// The operator re-binds Ada (her identity moved): her sessions
		// end, and her next sign-in asks, as a first one does.
		out, err := s.run("admins", "unbind", "--account", "default", "ada@acme.test")
		if err != nil || !strings.Contains(out, "no longer bound") {
			t.Fatalf("admins unbind: %s %v", out, err)
		}
		if st := p.fetchStatus("GET", "/admin/users", ""); st == http.StatusOK {
			t.Fatal("Ada's session outlived the unbind")
		}
		p.signIn(base+"/admin/", "ada@acme.test", pw)
		p.expectText("#choose-intro", "several accounts")
		if txt := p.text("#accounts"); !strings.Contains(txt, "default") || !strings.Contains(txt, "Aaa Evil") {
			t.Fatalf("account picker after the unbind: %q", txt)
		}
		p.run("choose default", navigation(chromedp.Submit(chromedp.CSS(`li[data-account="default"] form`))), chromedp.WaitVisible(chromedp.ID("users")))
		p.expectText("#account-name", "default")
	})

	step(t, "revoking the bootstrap token in the console survives a restart", func(t *testing.T) {
		ap.t = t
		ap.run("revoke bootstrap",
			chromedp.Navigate(base+"/admin/tokens"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-token="bootstrap"]`)),
			navigation(chromedp.Submit(chromedp.CSS(`tr[data-token="bootstrap"] form`))),
			chromedp.WaitVisible(chromedp.ID("flash")),
		)
		ap.expectText("#flash", "revoked")
		c.Get(t, "/Users?count=1").Expect(t, http.StatusUnauthorized)
		s.stop()
		s.startAt(addr) // the same SCIM_BOOTSTRAP_TOKEN, as any deploy does
		c.Get(t, "/Users?count=1").Expect(t, http.StatusUnauthorized)
		if !strings.Contains(s.logs.String(), "SCIM_BOOTSTRAP_TOKEN holds the secret of a revoked token") {
			t.Fatalf("no error naming SCIM_BOOTSTRAP_TOKEN:\n%s", problems(s.logs.String()))
		}
		ap.run("tokens", chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.ID("tokens")))
		if txt := ap.text("#tokens"); strings.Contains(txt, "bootstrap") {
			t.Fatalf("the tokens page lists a new bootstrap token:\n%s", txt)
		}
	})

	step(t, "sign out", func(t *testing.T) {
		ap.t = t
		ap.run("sign out", chromedp.Navigate(base+"/admin/users"), chromedp.WaitVisible(chromedp.CSS("header form")),
			navigation(chromedp.Submit(chromedp.CSS("header form"))), chromedp.WaitVisible(chromedp.ID("#message")))
		ap.expectText("#message", "signed out")
		if st := ap.fetchStatus("GET", "/admin/users", ""); st == http.StatusOK {
			t.Fatal("still signed in after signing out")
		}
	})
	_ = ada
}

// step runs a subtest and stops the test when it fails: the steps build on
// each other.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}
