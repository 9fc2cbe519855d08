package e2e

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/scim/scimtest"
)

// Invitations, black-box: the built server sends through a real SMTP
// server on loopback, and the links in the emails are followed over HTTP.

type acceptPage struct {
	status int
	body   string
}

func fetch(t *testing.T, method, link, formToken string) acceptPage {
	t.Helper()
	var req *http.Request
	if method == http.MethodPost {
		req, _ = http.NewRequest(method, link, strings.NewReader(url.Values{"form_token": {formToken}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		u, _ := url.Parse(link)
		req.Header.Set("Origin", "http://"+u.Host)
	} else {
		req, _ = http.NewRequest(method, link, nil)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return acceptPage{resp.StatusCode, string(b)}
}

var formToken = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

// acceptLink opens the link and presses Accept, as a person would.
func acceptLink(t *testing.T, link string) acceptPage {
	t.Helper()
	offer := fetch(t, http.MethodGet, link, "")
	m := formToken.FindStringSubmatch(offer.body)
	if offer.status != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d %s", link, offer.status, offer.body)
	}
	return fetch(t, http.MethodPost, link, m[1])
}

func invitee(userName string) map[string]any {
	return scimtest.UserBody(userName, map[string]any{
		"emails": []any{map[string]any{"value": userName, "primary": true}},
	})
}

func invitationStatus(r *scimtest.Response) any { return r.At(tcUser + ".invitationStatus") }

func TestInvitationsOverSMTP(t *testing.T) {
	smtp := mailtest.StartAt(t, "127.0.0.1:0", "scim", "smtp-pass-e2e")
	s := startServer(t, "SCIM_SMTP_URL=smtp://scim:smtp-pass-e2e@"+smtp.Addr, "SCIM_MAIL_FROM=Acme Invites <invites@acme.test>")
	c := s.Client

	// A new user gets an email whose link (the base URL derived from
	// SCIM_ADDR) accepts the invitation.
	u := c.Post(t, "/Users", invitee("first@acme.test")).Expect(t, http.StatusCreated)
	if invitationStatus(u) != "pending" {
		t.Fatalf("new user: %s", u.Raw)
	}
	m := smtp.WaitFor(t, "first@acme.test", 1, 20*time.Second)[0]
	link := m.Link()
	if !strings.HasPrefix(link, "http://"+s.addr+"/invitations/") || !strings.Contains(m.Header("Subject"), "default") {
		t.Fatalf("email: subject %q, link %q", m.Header("Subject"), link)
	}
	if offer := fetch(t, http.MethodGet, link, ""); !strings.Contains(offer.body, "default") {
		t.Fatalf("the page does not name the account: %s", offer.body)
	}
	if p := acceptLink(t, link); p.status != http.StatusOK {
		t.Fatalf("accept: %d %s", p.status, p.body)
	}
	if got := c.Get(t, "/Users/"+u.Str("id")).Expect(t, http.StatusOK); invitationStatus(got) != "accepted" || got.Str(tcUser+".acceptedAt") == "" {
		t.Fatalf("after accepting: %s", got.Raw)
	}
	if p := fetch(t, http.MethodGet, link, ""); p.status != http.StatusGone {
		t.Fatalf("used link: %d", p.status)
	}

	// A resend voids the old link.
	id := c.Post(t, "/Users", invitee("second@acme.test")).Expect(t, http.StatusCreated).Str("id")
	old := smtp.WaitFor(t, "second@acme.test", 1, 20*time.Second)[0].Link()
	c.Patch(t, "/Users/"+id, scimtest.Op("replace", tcUser+":resendInvitation", true)).Expect(t, http.StatusOK)
	fresh := smtp.WaitFor(t, "second@acme.test", 2, 20*time.Second)[1].Link()
	if p := fetch(t, http.MethodGet, old, ""); p.status != http.StatusNotFound {
		t.Fatalf("voided link: %d %s", p.status, p.body)
	}
	if p := acceptLink(t, fresh); p.status != http.StatusOK {
		t.Fatalf("fresh link: %d %s", p.status, p.body)
	}

	// A deactivated user's link is refused.
	id = c.Post(t, "/Users", invitee("third@acme.test")).Expect(t, http.StatusCreated).Str("id")
	link = smtp.WaitFor(t, "third@acme.test", 1, 20*time.Second)[0].Link()
	c.Patch(t, "/Users/"+id, scimtest.Op("replace", "active", false)).Expect(t, http.StatusOK)
	if p := fetch(t, http.MethodGet, link, ""); p.status != http.StatusGone || !strings.Contains(p.body, "withdrawn") {
		t.Fatalf("deactivated user's link: %d %s", p.status, p.body)
	}

	// An account with invitations off invites nobody.
	if _, err := s.run("accounts", "set-invitations", "default", "off"); err != nil {
		t.Fatalf("set-invitations: %v", err)
	}
	if out, _ := s.run("accounts", "show", "default"); !strings.Contains(out, "invites: off") {
		t.Fatalf("accounts show: %s", out)
	}
	if r := c.Post(t, "/Users", invitee("sso@acme.test")).Expect(t, http.StatusCreated); invitationStatus(r) != "none" {
		t.Fatalf("invitations off: %s", r.Raw)
	}

	// Neither the SMTP password nor any token reaches the log.
	s.stop()
	logs := s.logs.String()
	for _, secret := range []string{"smtp-pass-e2e", tokenOf(link), tokenOf(fresh), tokenOf(old)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds a secret (%q):\n%s", secret, logs)
		}
	}
	for _, m := range smtp.Messages() {
		if strings.Contains(strings.Join(m.To, ","), "sso@") {
			t.Fatal("an email went to the user of an account with invitations off")
		}
	}
}

func tokenOf(link string) string { return link[strings.LastIndex(link, "/")+1:] }

// An expired link is refused (a server with a short SCIM_INVITATION_TTL).
func TestInvitationExpires(t *testing.T) {
	smtp := mailtest.Start(t)
	s := startServer(t, "SCIM_SMTP_URL=smtp://"+smtp.Addr, "SCIM_INVITATION_TTL=4s")
	id := s.Client.Post(t, "/Users", invitee("slow@acme.test")).Expect(t, http.StatusCreated).Str("id")
	link := smtp.WaitFor(t, "slow@acme.test", 1, 20*time.Second)[0].Link()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := fetch(t, http.MethodGet, link, "")
		if p.status == http.StatusGone && strings.Contains(p.body, "expired") {
			break
		}
		if p.status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("link: %d %s", p.status, p.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := s.Client.Get(t, "/Users/"+id).Expect(t, http.StatusOK); invitationStatus(got) != "expired" {
		t.Fatalf("user: %s", got.Raw)
	}
}

// Without SCIM_SMTP_URL the email is logged with its accept link.
func TestInvitationLinkLoggedWithoutSMTP(t *testing.T) {
	s := startServer(t)
	s.Client.Post(t, "/Users", invitee("trial@acme.test")).Expect(t, http.StatusCreated)
	linkRE := regexp.MustCompile(`link=(http://[^\s"]+/invitations/[A-Za-z0-9_-]+)`)
	var link []string
	for try := 0; link == nil; try++ {
		addr := s.addr
		s.stop() // the log is read once the process is gone
		link = linkRE.FindStringSubmatch(s.logs.String())
		if link != nil && !strings.HasPrefix(link[1], "http://"+addr+"/") {
			t.Fatalf("logged link %s, want one on http://%s", link[1], addr)
		}
		if link == nil && try == 5 {
			t.Fatalf("no link in the log:\n%s", s.logs)
		}
		s.start() // a restart delivers what is still queued
	}
	// The restarted server listens elsewhere; the token is what counts.
	if p := acceptLink(t, "http://"+s.addr+"/invitations/"+tokenOf(link[1])); p.status != http.StatusOK {
		t.Fatalf("accept: %d %s", p.status, p.body)
	}
}
