// Package mailtest runs a real SMTP server for tests
// (github.com/emersion/go-smtp), with or without TLS, and reads what it
// received.
package mailtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is an email the server received.
type Message struct {
	From string
	To   []string
	Data []byte
	// TLS: the message came over TLS (implicit, or after STARTTLS).
	TLS bool
}

// Server is a running SMTP server.
type Server struct {
	// Addr is host:port.
	Addr string
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string

	srv  *smtp.Server
	mu   sync.Mutex
	msgs []Message
}

// Options configure a server of StartWith.
type Options struct {
	// Addr to listen on (default 127.0.0.1:0); a port a stopped server
	// used is waited for.
	Addr string
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// TLS, when set, is offered with STARTTLS; with ImplicitTLS the
	// connection is TLS from the first byte (smtps).
	TLS         *tls.Config
	ImplicitTLS bool
}

// Start starts a server on a free loopback port; it stops when the test
// ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartAt starts a server on addr (to bring one back on the port a
// stopped one used), requiring the credentials when given.
func StartAt(t testing.TB, addr, username, password string) *Server {
	return StartWith(t, Options{Addr: addr, Username: username, Password: password})
}

// StartWith starts a server as the options say; it stops when the test
// ends.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	s := &Server{Username: o.Username, Password: o.Password}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ln, err = net.Listen("tcp", o.Addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port may still be closing
	}
	if err != nil {
		t.Fatalf("SMTP server: listen on %s: %v", o.Addr, err)
	}
	s.Addr = ln.Addr().String()
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, conn: c}, nil }))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.TLSConfig = o.TLS
	if o.ImplicitTLS {
		ln = tls.NewListener(ln, o.TLS)
	}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// Messages returns the messages received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor waits until a message to the address arrived and returns the
// messages to it; it fails the test after the timeout.
func (s *Server) WaitFor(t testing.TB, to string, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var got []Message
		for _, m := range s.Messages() {
			for _, r := range m.To {
				if strings.EqualFold(r, to) {
					got = append(got, m)
				}
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMTP server: %d message(s) to %s after %s, want %d", len(got), to, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.s.Username || password != x.s.Password {
			return errors.New("invalid credentials")
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.Username != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	_, secure := x.conn.TLSConnectionState()
	x.s.msgs = append(x.s.msgs, Message{From: x.from, To: x.to, Data: b, TLS: secure})
	x.s.mu.Unlock()
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// Header returns a decoded header of the message.
func (m Message) Header(name string) string {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return ""
	}
	v := msg.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Parts returns the message's parts by content type (text/plain,
// text/html), decoded.
func (m Message) Parts() map[string]string {
	out := map[string]string{}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return out
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(msg.Body)
		out[mt] = string(b)
		return out
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			return out
		}
		b, _ := io.ReadAll(p)
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(b)
	}
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/invitations/[A-Za-z0-9_-]+`)

// Link returns the first invitation link of the plain-text part.
func (m Message) Link() string { return linkRE.FindString(m.Parts()["text/plain"]) }

// LocalAddress returns an address of this machine that is not a loopback
// address (where the server treats an SMTP relay as remote), or skips the
// test when the machine has none.
func LocalAddress(t testing.TB) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no network address other than loopback")
	return ""
}
