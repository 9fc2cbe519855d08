package invite

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	imail "github.com/timecamp/timecamp-scim/mail"
	"github.com/timecamp/timecamp-scim/store"
)

// Link returns the accept link of a token.
func Link(baseURL, token string) string {
	return strings.TrimRight(baseURL, "/") + "/invitations/" + token
}

type emailData struct {
	Name, Account, Link, Expires string
}

var textEmail = texttemplate.Must(texttemplate.New("text").Parse(`Hello{{if .Name}} {{.Name}}{{end}},

you have been invited to join {{.Account}} on TimeCamp.

Accept the invitation by opening this link:

{{.Link}}

The link works once and expires on {{.Expires}}.
If you did not expect this invitation, you can ignore this email.
`))

var htmlEmail = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Invitation to {{.Account}}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; color: #222;">
<p>Hello{{if .Name}} {{.Name}}{{end}},</p>
<p>you have been invited to join <strong>{{.Account}}</strong> on TimeCamp.</p>
<p><a href="{{.Link}}" style="display: inline-block; padding: 10px 18px; background: #2e7d32; color: #fff; text-decoration: none; border-radius: 4px;">Accept the invitation</a></p>
<p>Or open this link: <a href="{{.Link}}">{{.Link}}</a></p>
<p style="color: #666; font-size: 90%;">The link works once and expires on {{.Expires}}.
If you did not expect this invitation, you can ignore this email.</p>
</body></html>
`))

// message builds the invitation email of an outbox entry.
func (w *Worker) message(acct *store.Account, u *store.Resource, inv *store.Invitation, to string, e *store.OutboxEntry) (*imail.Message, error) {
	d := emailData{
		Name:    displayName(u.Attributes),
		Account: acct.Name,
		Link:    Link(w.BaseURL, e.Token),
		Expires: inv.ExpiresAt.UTC().Format("2 January 2006, 15:04 UTC"),
	}
	var text, html strings.Builder
	if err := textEmail.Execute(&text, d); err != nil {
		return nil, err
	}
	if err := htmlEmail.Execute(&html, d); err != nil {
		return nil, err
	}
	return &imail.Message{
		ID:      "invitation-" + e.ID,
		From:    w.From,
		To:      to,
		Subject: "You are invited to join " + acct.Name + " on TimeCamp",
		Text:    text.String(),
		HTML:    html.String(),
		Link:    d.Link,
	}, nil
}
