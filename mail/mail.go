// Package mail sends email: over SMTP (smtps:// with implicit TLS, or
// smtp:// with STARTTLS, which is required; with credentials), or, with no
// SMTP server configured, into the log.
//
// Invitation emails carry links that let someone join an account, so they
// travel over TLS unless the operator says otherwise: a server that does
// not offer STARTTLS (or a man in the middle who strips the offer) gets no
// message, and a certificate that fails verification is an error, never a
// reason to go on in clear text. Only a relay on the same machine
// (a loopback address), or one the URL names with ?tls=none (a relay on a
// private network), is spoken to without TLS.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Message is an email with a plain-text and an HTML part.
type Message struct {
	// ID makes the Message-ID (<ID@domain of From>): the same message
	// sent twice carries the same Message-ID, so mail systems drop the
	// second copy.
	ID      string
	From    string // an address, maybe with a name: "TimeCamp <no-reply@example.com>"
	To      string // one address
	Subject string
	Text    string
	HTML    string
	// Link is the message's main link, for the log sender.
	Link string
}

// Sender delivers messages.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// Compose renders a message as RFC 5322 bytes: multipart/alternative with
// the text part first, both quoted-printable UTF-8.
func Compose(m *Message) ([]byte, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("sender address %q: %w", m.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("recipient address %q: %w", m.To, err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.ctype+"; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(strings.ReplaceAll(part.content, "\r\n", "\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	domain := "localhost"
	if _, d, ok := strings.Cut(from.Address, "@"); ok && d != "" {
		domain = d
	}
	id := m.ID
	if id == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	var out bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&out, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+oneLine(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Auto-Submitted", "auto-generated")
	header("Content-Type", "multipart/alternative; boundary=\""+mw.Boundary()+"\"")
	out.WriteString("\r\n")
	out.Write(bytes.ReplaceAll(bytes.ReplaceAll(body.Bytes(), []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
	return out.Bytes(), nil
}

func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// Security is how the connection to an SMTP server is protected.
type Security int

const (
	// RequireSTARTTLS: smtp://, upgraded with STARTTLS, which the server
	// must offer.
	RequireSTARTTLS Security = iota
	// ImplicitTLS: smtps://, TLS from the first byte.
	ImplicitTLS
	// LoopbackOptionalTLS: smtp:// to a loopback address (a relay on the
	// same machine): STARTTLS when the server offers it, else clear text.
	LoopbackOptionalTLS
	// NoTLS: smtp://…?tls=none, clear text (a relay on a private network).
	NoTLS
)

// SMTPConfig is an SMTP server to send through, from SCIM_SMTP_URL.
type SMTPConfig struct {
	Host     string
	Port     string
	Security Security
	Username string
	Password string
}

// ParseSMTPURL reads smtp://[user[:password]@]host[:port][?tls=none] (port
// 587 by default, STARTTLS required unless the host is a loopback address
// or tls=none says not to use TLS) or smtps://… (port 465, implicit TLS).
// Errors never repeat the password.
func ParseSMTPURL(raw string) (*SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("SCIM_SMTP_URL is not a URL; write smtps://user:password@host:465 or smtp://user:password@host:587")
	}
	c := &SMTPConfig{Host: u.Hostname(), Port: u.Port()}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		if c.Port == "" {
			c.Port = "587"
		}
		if isLoopback(c.Host) {
			c.Security = LoopbackOptionalTLS
		}
	case "smtps":
		c.Security = ImplicitTLS
		if c.Port == "" {
			c.Port = "465"
		}
	default:
		return nil, fmt.Errorf("SCIM_SMTP_URL must start with smtps:// or smtp://, got %q", u.Scheme+"://")
	}
	if c.Host == "" {
		return nil, errors.New("SCIM_SMTP_URL needs a host, e.g. smtps://user:password@smtp.example.com:465")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("SCIM_SMTP_URL takes no path: smtps://user:password@host:port")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("SCIM_SMTP_URL: its query is not readable; the one it takes is ?tls=none")
	}
	for k, v := range q {
		switch {
		case k != "tls":
			return nil, fmt.Errorf("SCIM_SMTP_URL takes no parameter %q; the one it takes is ?tls=none", k)
		case len(v) != 1 || v[0] != "none":
			return nil, errors.New("SCIM_SMTP_URL: tls takes one value, none (to send without TLS to a relay on a private network)")
		case c.Security == ImplicitTLS:
			return nil, errors.New("SCIM_SMTP_URL: smtps:// is TLS; ?tls=none goes with smtp:// only")
		}
		c.Security = NoTLS
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
		if c.Security == NoTLS {
			return nil, errors.New("SCIM_SMTP_URL: with ?tls=none the password would travel in clear text; use TLS (smtps://, or smtp:// with STARTTLS), or a relay that needs no credentials")
		}
	}
	return c, nil
}

// isLoopback reports whether a host is this machine: localhost, or a
// loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Redacted is the URL without its password, for logs.
func (c *SMTPConfig) Redacted() string {
	scheme := "smtp"
	if c.Security == ImplicitTLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(c.Host, c.Port)}
	if c.Username != "" {
		u.User = url.User(c.Username)
	}
	if c.Security == NoTLS {
		u.RawQuery = "tls=none"
	}
	return u.String()
}

// Plaintext says why mail may go to this server in clear text ("" when
// it may not): for the log, once, at start.
func (c *SMTPConfig) Plaintext() string {
	switch c.Security {
	case LoopbackOptionalTLS:
		return "the SMTP server is on this machine (a loopback address): STARTTLS is used when it offers it, clear text otherwise"
	case NoTLS:
		return "SCIM_SMTP_URL says tls=none: invitation emails, and the links in them, go to the SMTP server in clear text"
	}
	return ""
}

// SMTP sends through an SMTP server.
type SMTP struct {
	Config SMTPConfig
	// Timeout bounds one delivery (connect to QUIT); default 30s.
	Timeout time.Duration
	// TLSConfig, when set, is used for TLS (tests); ServerName defaults
	// to the host.
	TLSConfig *tls.Config
}

// NewSMTP returns a sender for the configuration.
func NewSMTP(c *SMTPConfig) *SMTP { return &SMTP{Config: *c} }

// Send delivers one message.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	data, err := Compose(m)
	if err != nil {
		return err
	}
	from, _ := mail.ParseAddress(m.From)
	to, _ := mail.ParseAddress(m.To)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Config.Host, s.Config.Port)
	tlsConf := &tls.Config{ServerName: s.Config.Host, MinVersion: tls.VersionTLS12}
	if s.TLSConfig != nil {
		tlsConf = s.TLSConfig.Clone()
		if tlsConf.ServerName == "" {
			tlsConf.ServerName = s.Config.Host
		}
	}
	var conn net.Conn
	if s.Config.Security == ImplicitTLS {
		conn, err = (&tls.Dialer{Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.Config.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("SMTP server %s: %w", addr, err)
	}
	defer c.Close()
	switch offered, _ := c.Extension("STARTTLS"); {
	case s.Config.Security == ImplicitTLS, s.Config.Security == NoTLS:
	case offered:
		// A certificate that fails verification ends the delivery: no
		// going on in clear text.
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("SMTP server %s: STARTTLS: %w", addr, err)
		}
	case s.Config.Security == RequireSTARTTLS:
		return fmt.Errorf("SMTP server %s does not offer STARTTLS, so nothing was sent: invitation links must not travel in clear text "+
			"(a man in the middle may have removed the offer). Use smtps:// (port 465), a server that offers STARTTLS, "+
			"or, for a relay on a private network, add ?tls=none to SCIM_SMTP_URL", addr)
	}
	if s.Config.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("SMTP server %s does not offer authentication, but SCIM_SMTP_URL has credentials", addr)
		}
		// PlainAuth refuses to send the password over a connection that is
		// not encrypted, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.Config.Username, s.Config.Password, s.Config.Host)); err != nil {
			return fmt.Errorf("SMTP server %s: authentication as %s: %w", addr, s.Config.Username, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("SMTP server %s: MAIL FROM: %w", addr, err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("SMTP server %s: RCPT TO: %w", addr, err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP server %s: DATA: %w", addr, err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("SMTP server %s: sending the message: %w", addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("SMTP server %s: the message was not accepted: %w", addr, err)
	}
	_ = c.Quit() // the message is accepted; a failed goodbye changes nothing
	return nil
}

// Log stands in for an SMTP server when none is configured: it sends
// nothing. Its caller writes the message's link to the log instead (the
// invitation worker's one line about each email), so that someone trying
// the server out can follow it; see Unsent.
type Log struct{}

// Send checks that the message could be sent, and sends nothing.
func (Log) Send(ctx context.Context, m *Message) error {
	_, err := Compose(m)
	return err
}

// Unsent says why nothing is sent.
func (Log) Unsent() string { return "no SCIM_SMTP_URL configured" }

// Unsent is implemented by a Sender that delivers nothing (Log): what its
// caller logs about a message then says that it was not sent, and why.
type Unsent interface{ Unsent() string }
