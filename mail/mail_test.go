package mail_test

import (
	"context"
	"strings"
	"testing"

	"github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/mail/mailtest"
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
