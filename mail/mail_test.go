package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/mail/mailtest"
	"github.com/timecamp/timecamp-scim/transport/transporttest"
)

func TestSMTPDeliversBothParts(t *testing.T) {
	srv := mailtest.StartAt(t, "127.0.0.1:0", "user", "pass")
	cfg, err := mail.ParseSMTPURL("smtp://user:pass@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &mail.Message{
		ID: "abc", From: "Zoë Sender <from@example.com>", To: "to@example.com",
		Subject: "Café\r\nBcc: evil@example.com", Text: "plain ünïcode line\nsecond line", HTML: "<p>html</p>",
	}
	if err := mail.NewSMTP(cfg).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, "to@example.com", 1, 0)[0]
	parts := got.Parts()
	if parts["text/plain"] != "plain ünïcode line\r\nsecond line" || parts["text/html"] != "<p>html</p>" {
		t.Fatalf("parts: %q", parts)
	}
	if got.Header("Subject") != "Café Bcc: evil@example.com" || got.Header("Bcc") != "" || got.Header("Message-ID") != "<abc@example.com>" {
		t.Fatalf("headers: subject %q, bcc %q, id %q", got.Header("Subject"), got.Header("Bcc"), got.Header("Message-ID"))
	}
	// Wrong credentials are an error that does not repeat the password.
	bad, _ := mail.ParseSMTPURL("smtp://user:wrong-secret@" + srv.Addr)
	err = mail.NewSMTP(bad).Send(context.Background(), m)
	if err == nil || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("bad credentials: %v", err)
	}
}

// Mail goes over TLS unless the operator says otherwise: to a server that
// does not offer STARTTLS nothing is sent, a certificate that fails
// verification is an error (never a fall back to clear text), and a good
// one carries the message, with STARTTLS or implicit TLS. Only a relay on
// this machine, or one the URL marks tls=none, gets clear text. Real SMTP
// servers on this machine's network address (not loopback), with
// certificates of a test CA.
func TestSMTPRequiresTLS(t *testing.T) {
	host := mailtest.LocalAddress(t)
	ca := transporttest.NewCA(t)
	good := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, host)}}
	wrongName := &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mail.elsewhere.test")}}
	selfCA := transporttest.NewCA(t) // a CA the client does not trust
	untrusted := &tls.Config{Certificates: []tls.Certificate{selfCA.Issue(t, host)}}
	m := &mail.Message{From: "from@example.com", To: "to@example.com", Subject: "s", Text: "accept: https://x.test/invitations/abc", HTML: "<p>h</p>"}
	send := func(rawURL string) error {
		cfg, err := mail.ParseSMTPURL(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		s := mail.NewSMTP(cfg)
		s.TLSConfig = &tls.Config{RootCAs: ca.Pool()}
		return s.Send(context.Background(), m)
	}
	at := func(srv *mailtest.Server) string { return host + ":" + strings.Split(srv.Addr, ":")[1] }

	for _, tc := range []struct {
		name    string
		opts    mailtest.Options
		scheme  string // smtp or smtps
		query   string
		wantErr string // "" delivers, over TLS unless query says tls=none
	}{
		{"no STARTTLS offered", mailtest.Options{}, "smtp", "", "does not offer STARTTLS"},
		{"no STARTTLS, tls=none", mailtest.Options{}, "smtp", "?tls=none", ""},
		{"STARTTLS, good certificate", mailtest.Options{TLS: good}, "smtp", "", ""},
		{"STARTTLS, certificate for another name", mailtest.Options{TLS: wrongName}, "smtp", "", "STARTTLS"},
		{"STARTTLS, certificate of an unknown CA", mailtest.Options{TLS: untrusted}, "smtp", "", "STARTTLS"},
		{"smtps, good certificate", mailtest.Options{TLS: good, ImplicitTLS: true}, "smtps", "", ""},
		{"smtps, certificate of an unknown CA", mailtest.Options{TLS: untrusted, ImplicitTLS: true}, "smtps", "", "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Addr = host + ":0"
			srv := mailtest.StartWith(t, tc.opts)
			err := send(tc.scheme + "://" + at(srv) + tc.query)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
				}
				time.Sleep(50 * time.Millisecond)
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("the server received %d message(s) after the error", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := srv.WaitFor(t, "to@example.com", 1, 5*time.Second)[0]
			if wantTLS := tc.query == ""; got.TLS != wantTLS {
				t.Fatalf("delivered with TLS %v, want %v", got.TLS, wantTLS)
			}
		})
	}

	// A relay on this machine (loopback) may go without STARTTLS.
	local := mailtest.Start(t)
	if err := send("smtp://" + local.Addr); err != nil {
		t.Fatalf("a loopback relay without STARTTLS: %v", err)
	}
}

func TestParseSMTPURL(t *testing.T) {
	for raw, want := range map[string]mail.Security{
		"smtp://mail.example.com":           mail.RequireSTARTTLS,
		"smtp://u:p@mail.example.com:25":    mail.RequireSTARTTLS,
		"smtps://u:p@mail.example.com":      mail.ImplicitTLS,
		"smtp://127.0.0.1:2525":             mail.LoopbackOptionalTLS,
		"smtp://localhost":                  mail.LoopbackOptionalTLS,
		"smtp://[::1]:25":                   mail.LoopbackOptionalTLS,
		"smtp://relay.internal:25?tls=none": mail.NoTLS,
		"smtp://127.0.0.2:25?tls=none":      mail.NoTLS,
	} {
		c, err := mail.ParseSMTPURL(raw)
		if err != nil || c.Security != want {
			t.Errorf("%s: %+v, %v; want security %d", raw, c, err, want)
		}
	}
	for raw, want := range map[string]string{
		"smtps://mail.example.com?tls=none":        "smtp:// only",
		"smtp://u:hunter2@relay.internal?tls=none": "clear text",
		"smtp://relay.internal?tls=optional":       "one value, none",
		"smtp://relay.internal?starttls=no":        `no parameter "starttls"`,
		"http://mail.example.com":                  "must start with smtps:// or smtp://",
		"smtp://u:hunter2@mail.example.com/path":   "no path",
	} {
		_, err := mail.ParseSMTPURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want an error saying %q without the password", raw, err, want)
		}
	}
	c, _ := mail.ParseSMTPURL("smtp://relay.internal:25?tls=none")
	if c.Redacted() != "smtp://relay.internal:25?tls=none" || c.Plaintext() == "" {
		t.Errorf("tls=none: redacted %s, plaintext %q", c.Redacted(), c.Plaintext())
	}
	c, _ = mail.ParseSMTPURL("smtp://u:hunter2@mail.example.com")
	if strings.Contains(c.Redacted(), "hunter2") || c.Plaintext() != "" {
		t.Errorf("redacted %s, plaintext %q", c.Redacted(), c.Plaintext())
	}
}
