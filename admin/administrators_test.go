package admin_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/directory"
	"github.com/timecamp/timecamp-scim/schemas"
	"github.com/timecamp/timecamp-scim/store"
)

// The finding: with a session alone (a copied cookie and the page's CSRF
// token), the console made administrators — an address the thief controls
// would then sign in and do the fresh sign-in itself, and reach every
// credential. Every console change that makes someone an administrator
// now needs the fresh sign-in a token needs, whatever form it comes
// through; without one it is refused (403, nothing written: the whole
// account read back over SCIM is unchanged). With one it goes through and
// uses it up. Lowering a role needs none.
func TestMakingAnAdministratorNeedsAFreshSignIn(t *testing.T) {
	type fixture struct {
		e      *admEnv
		carol  *store.Resource // a user
		bob    *store.Resource // an administrator
		admins string          // a group that grants administrator, without members
		team   string          // a group that grants nothing, with Carol in it
	}
	cases := []struct {
		name string
		post func(f *fixture) (path string, form url.Values)
		// done checks the change was made, over SCIM.
		done func(t *testing.T, f *fixture)
	}{
		{"role from the users list",
			func(f *fixture) (string, url.Values) {
				return "/admin/users/" + f.carol.ID + "/role", url.Values{"role": {"administrator"}, "back": {"/admin/users?q=carol"}}
			},
			func(t *testing.T, f *fixture) { f.e.wantRole(t, f.carol.ID, "administrator") }},
		{"role on the profile",
			func(f *fixture) (string, url.Values) {
				return "/admin/users/" + f.carol.ID, url.Values{"role": {"administrator"}, "givenName": {"Carolina"}, "group": {f.team}}
			},
			func(t *testing.T, f *fixture) {
				u := f.e.scim(t, "/Users/"+f.carol.ID)
				if f.e.effectiveRole(u) != "administrator" || u["name"].(map[string]any)["givenName"] != "Carolina" {
					t.Fatalf("profile saved: %v", u)
				}
			}},
		{"group on the profile: one that grants administrator",
			func(f *fixture) (string, url.Values) {
				return "/admin/users/" + f.carol.ID, url.Values{"role": {"user"}, "givenName": {"Carolina"}, "group": {f.admins}}
			},
			func(t *testing.T, f *fixture) { f.e.wantRole(t, f.carol.ID, "administrator") }},
		{"a new email of an administrator (an unbound one is signed in by it)",
			func(f *fixture) (string, url.Values) {
				return "/admin/users/" + f.bob.ID, url.Values{"role": {"administrator"}, "email": {"mallory@evil.test"}}
			},
			func(t *testing.T, f *fixture) {
				if got := f.e.scim(t, "/Users/"+f.bob.ID)["emails"]; !strings.Contains(jsonString(got), "mallory@evil.test") {
					t.Fatalf("emails: %v", got)
				}
			}},
		{"reactivating an administrator",
			func(f *fixture) (string, url.Values) {
				f.e.patchUser(f.bob.ID, "active", false)
				return "/admin/users/" + f.bob.ID + "/active", url.Values{"active": {"true"}}
			},
			func(t *testing.T, f *fixture) {
				if f.e.scim(t, "/Users/"+f.bob.ID)["active"] != true {
					t.Fatal("not reactivated")
				}
			}},
		{"inviting an administrator",
			func(f *fixture) (string, url.Values) {
				return "/admin/invite", url.Values{"addresses": {"dan@acme.test, fay@acme.test"}, "role": {"administrator"}, "access": {"none"}}
			},
			func(t *testing.T, f *fixture) {
				f.e.wantRole(t, f.e.userID(t, "dan@acme.test"), "administrator")
				f.e.wantRole(t, f.e.userID(t, "fay@acme.test"), "administrator")
			}},
		{"inviting into a group that grants administrator",
			func(f *fixture) (string, url.Values) {
				return "/admin/invite", url.Values{"addresses": {"dan@acme.test"}, "role": {"user"}, "group": {f.admins}, "access": {"none"}}
			},
			func(t *testing.T, f *fixture) { f.e.wantRole(t, f.e.userID(t, "dan@acme.test"), "administrator") }},
		{"a CSV file naming the administrator role",
			func(f *fixture) (string, url.Values) {
				return "/admin/invite/csv/import", url.Values{"name": {"team.csv"}, "csv": {"email,givenName,role\ngil@acme.test,Gil,user\ndan@acme.test,Dan,administrator\n"}}
			},
			func(t *testing.T, f *fixture) {
				f.e.wantRole(t, f.e.userID(t, "dan@acme.test"), "administrator")
				f.e.wantRole(t, f.e.userID(t, "gil@acme.test"), "user")
			}},
		{"a CSV file putting people in a new group under one that grants administrator",
			func(f *fixture) (string, url.Values) {
				return "/admin/invite/csv/import", url.Values{"name": {"team.csv"}, "csv": {"email,group\ndan@acme.test,Admins/Night shift\n"}}
			},
			func(t *testing.T, f *fixture) { f.e.wantRole(t, f.e.userID(t, "dan@acme.test"), "administrator") }},
		{"a group's role set to administrator",
			func(f *fixture) (string, url.Values) {
				return "/admin/groups/" + f.team, url.Values{"name": {"Team"}, "grantsRole": {"administrator"}}
			},
			func(t *testing.T, f *fixture) { f.e.wantRole(t, f.carol.ID, "administrator") }},
		{"a group moved under one that grants administrator",
			func(f *fixture) (string, url.Values) {
				return "/admin/groups/" + f.team, url.Values{"name": {"Team"}, "parent": {f.admins}}
			},
			func(t *testing.T, f *fixture) { f.e.wantRole(t, f.carol.ID, "administrator") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newAdmEnv(t)
			f := &fixture{e: e, carol: e.user(e.account.ID, "carol@acme.test", schemas.RoleUser), bob: e.user(e.account.ID, "bob@acme.test", schemas.RoleAdministrator)}
			f.admins = e.group(t, "Admins", "administrator")
			f.team = e.group(t, "Team", "", f.carol.ID)
			path, form := tc.post(f)
			before := e.snapshot(t)

			// Without a fresh sign-in: refused, why, and the form kept.
			st, body := e.post(t, path, form)
			if st != http.StatusForbidden || !strings.Contains(body, "Confirm it&#39;s you first") || !strings.Contains(body, "sign in to the admin console as an administrator") {
				t.Fatalf("without a fresh sign-in: %d\n%s", st, body)
			}
			if after := e.snapshot(t); after != before {
				t.Fatalf("a refused change wrote something:\nbefore %s\nafter  %s", before, after)
			}
			if !strings.Contains(body, `href="/admin/reauth?return=%2fadmin%2fconfirmed"`) && !strings.Contains(body, `href="/admin/reauth?return=%2Fadmin%2Fconfirmed"`) {
				t.Fatalf("the page offers no fresh sign-in:\n%s", body)
			}
			for k, vs := range form {
				if !strings.Contains(body, `name="`+k+`" value="`) || !strings.Contains(body, `value="`+htmlEscape(vs[0])+`"`) {
					t.Fatalf("the page does not keep %s=%q:\n%s", k, vs[0], body)
				}
			}
			// A fresh sign-in too old is none.
			e.freshen(time.Now().Add(-10 * time.Minute))
			if st, _ := e.post(t, path, form); st != http.StatusForbidden || e.snapshot(t) != before {
				t.Fatalf("on a stale fresh sign-in: %d", st)
			}

			// After a fresh sign-in: done, and the fresh sign-in used up.
			e.freshen(time.Now())
			if st, body := e.post(t, path, form); st != http.StatusSeeOther && st != http.StatusOK {
				t.Fatalf("with a fresh sign-in: %d\n%s", st, body)
			}
			tc.done(t, f)
			if s, err := e.st.Session(bg, e.sessionID); err != nil || !s.ReauthAt.IsZero() {
				t.Fatalf("the fresh sign-in is not used up: %v %v", s, err)
			}
		})
	}

	t.Run("one fresh sign-in, one change", func(t *testing.T) {
		e := newAdmEnv(t)
		carol := e.user(e.account.ID, "carol@acme.test", schemas.RoleUser)
		dan := e.user(e.account.ID, "dan@acme.test", schemas.RoleUser)
		e.freshen(time.Now())
		if st, _ := e.post(t, "/admin/users/"+carol.ID+"/role", url.Values{"role": {"administrator"}}); st != http.StatusSeeOther {
			t.Fatalf("first: %d", st)
		}
		if st, _ := e.post(t, "/admin/users/"+dan.ID+"/role", url.Values{"role": {"administrator"}}); st != http.StatusForbidden {
			t.Fatalf("a second administrator on one fresh sign-in: %d", st)
		}
		e.wantRole(t, dan.ID, "user")
	})

	t.Run("what makes no administrator needs none", func(t *testing.T) {
		e := newAdmEnv(t)
		bob := e.user(e.account.ID, "bob@acme.test", schemas.RoleAdministrator)
		carol := e.user(e.account.ID, "carol@acme.test", schemas.RoleUser)
		admins := e.group(t, "Admins", "")
		leads := e.group(t, "Leads", "administrator", bob.ID)
		for _, c := range []struct {
			path string
			form url.Values
		}{
			{"/admin/users/" + bob.ID + "/role", url.Values{"role": {"user"}}},                           // lowering: Bob stays one through Leads
			{"/admin/users/" + carol.ID + "/role", url.Values{"role": {"supervisor"}}},                   // raising, short of administrator
			{"/admin/groups/" + admins, url.Values{"name": {"Admins"}, "grantsRole": {"administrator"}}}, // a grant nobody receives
			{"/admin/groups/" + leads, url.Values{"name": {"Leads"}, "grantsRole": {"supervisor"}}},      // a grant lowered
			{"/admin/users/" + carol.ID, url.Values{"role": {"supervisor"}, "givenName": {"Carol"}}},     // a profile, no new role
		} {
			if st, body := e.post(t, c.path, c.form); st != http.StatusSeeOther {
				t.Fatalf("POST %s %v without a fresh sign-in: %d\n%s", c.path, c.form, st, body)
			}
		}
		e.wantRole(t, bob.ID, "supervisor") // his own role user, Leads' supervisor
		e.wantRole(t, carol.ID, "supervisor")
	})

	t.Run("the identity provider's SCIM token needs no fresh sign-in", func(t *testing.T) {
		e := newAdmEnv(t)
		carol := e.user(e.account.ID, "carol@acme.test", schemas.RoleUser)
		req, _ := http.NewRequest(http.MethodPatch, e.srv.URL+"/scim/v2/Users/"+carol.ID, strings.NewReader(
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"`+schemas.TimeCampUserURN+`:role","value":"administrator"}]}`))
		req.Header.Set("Authorization", "Bearer "+e.token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("SCIM PATCH: %d", resp.StatusCode)
		}
		e.wantRole(t, carol.ID, "administrator")
	})
}

// admEnv is env signed in as its administrator, with a SCIM token to read
// the account back as the identity provider does.
type admEnv struct {
	*env
	client    *http.Client
	csrf      string
	sessionID string
	token     string
}

func newAdmEnv(t *testing.T) *admEnv {
	e := newEnv(t, true)
	c, csrf := e.signIn(e.admin, "ada@acme.test", time.Now().Add(time.Hour))
	secret, _, err := e.st.CreateToken(bg, e.account.ID, store.TokenSpec{Name: "idp"})
	if err != nil {
		t.Fatal(err)
	}
	return &admEnv{env: e, client: c, csrf: csrf, sessionID: store.HashSessionSecret("secret-of-" + e.admin.ID), token: secret}
}

func (e *admEnv) post(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	f := url.Values{"csrf": {e.csrf}}
	for k, v := range form {
		f[k] = v
	}
	st, body, _ := do(t, e.client, "POST", e.srv.URL+path, f)
	return st, body
}

// freshen gives the session a fresh sign-in made at at, as the provider's
// re-authentication does.
func (e *admEnv) freshen(at time.Time) {
	s, err := e.st.Session(bg, e.sessionID)
	if err != nil {
		e.t.Fatal(err)
	}
	s.ReauthAt = at
	if err := e.st.SaveSession(bg, s); err != nil {
		e.t.Fatal(err)
	}
}

// scimBody GETs a SCIM path with the token.
func (e *admEnv) scimBody(t *testing.T, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/scim/v2"+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	return string(raw)
}

func (e *admEnv) scim(t *testing.T, path string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(e.scimBody(t, path)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// snapshot is every user and group of the account, as SCIM returns them.
func (e *admEnv) snapshot(t *testing.T) string {
	return e.scimBody(t, "/Users?count=100") + "\n" + e.scimBody(t, "/Groups?count=100")
}

func (e *admEnv) effectiveRole(u map[string]any) any {
	ext, _ := u[schemas.TimeCampUserURN].(map[string]any)
	return ext["effectiveRole"]
}

func (e *admEnv) wantRole(t *testing.T, id, role string) {
	t.Helper()
	if got := e.effectiveRole(e.scim(t, "/Users/"+id)); got != role {
		t.Fatalf("user %s: effective role %v, want %s", id, got, role)
	}
}

func (e *admEnv) userID(t *testing.T, userName string) string {
	t.Helper()
	list := e.scim(t, "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`))
	res, _ := list["Resources"].([]any)
	if len(res) != 1 {
		t.Fatalf("no user %s", userName)
	}
	return res[0].(map[string]any)["id"].(string)
}

// group creates a group granting role ("": none) with members.
func (e *admEnv) group(t *testing.T, name, role string, members ...string) string {
	t.Helper()
	ext := map[string]any{}
	if role != "" {
		ext["grantsRole"] = role
	}
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	body := map[string]any{"schemas": []any{schemas.GroupURN, schemas.TimeCampGroupURN}, "displayName": name, schemas.TimeCampGroupURN: ext}
	if ms != nil {
		body["members"] = ms
	}
	g, err := e.dir.Create(bg, e.account.ID, schemas.Group, body)
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

func (e *admEnv) patchUser(id, path string, v any) {
	if _, err := e.dir.Patch(bg, e.account.ID, schemas.User, id, []directory.PatchOp{{Op: "replace", Path: path, Value: v}}, ""); err != nil {
		e.t.Fatal(err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}
