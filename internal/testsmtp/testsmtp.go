// Package testsmtp runs a real SMTP server on 127.0.0.1 for tests and keeps every message it
// receives, so that tests can read the passcodes a server mails.
package testsmtp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
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

// Message is one received e-mail.
type Message struct {
	From    string
	To      []string
	Subject string
	Body    string // the text/plain body, transfer encoding removed
	Raw     []byte
	// Username is the AUTH PLAIN user the client logged in with, "" without AUTH.
	Username string
}

// Server is a running SMTP server. It accepts any sender and recipient, and AUTH PLAIN with
// any credentials (plain-text auth is allowed since it only listens on loopback).
type Server struct {
	srv  *smtp.Server
	addr *net.TCPAddr

	mu       sync.Mutex
	msgs     []Message
	consumed map[string]int // per recipient: how many messages WaitFor returned
	arrived  chan struct{}  // closed and replaced on every message
	done     chan error     // Serve's result
	held     chan struct{}  // non-nil: messages wait in DATA until it is closed
	failing  bool           // messages are refused with a temporary error
}

// Hold makes the server stall every message in DATA (a slow mail server) until Release.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = make(chan struct{})
	}
}

// Release lets held messages (and later ones) through.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// Fail makes the server refuse messages with a temporary error (451) while on.
func (s *Server) Fail(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = on
}

// Start listens on 127.0.0.1:0 and stops the server when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("testsmtp: %v", err)
		}
	})
	return s
}

// Listen starts a server on addr for programs (bench/load); Close stops it.
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testsmtp: listen: %w", err)
	}
	s := &Server{addr: ln.Addr().(*net.TCPAddr), consumed: map[string]int{}, arrived: make(chan struct{}), done: make(chan error, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{srv: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 10 << 20
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	s.Release()
	if err := s.srv.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := <-s.done; err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Addr returns the host and port to send to.
func (s *Server) Addr() (host string, port int) { return s.addr.IP.String(), s.addr.Port }

// Messages returns every message received so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// WaitFor returns the next message to the address that no earlier WaitFor returned (so two
// passcode mails to one address are returned one after the other), waiting for it up to
// timeout; it fails the test when none arrives in time.
func (s *Server) WaitFor(t testing.TB, to string, timeout time.Duration) Message {
	t.Helper()
	m, err := s.Wait(to, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Wait is WaitFor reporting a timeout as an error, for use off the test's goroutine.
func (s *Server) Wait(to string, timeout time.Duration) (Message, error) {
	key := strings.ToLower(to)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		seen := 0
		for _, m := range s.msgs {
			if !sentTo(m, key) {
				continue
			}
			if seen == s.consumed[key] {
				s.consumed[key]++
				s.mu.Unlock()
				return m, nil
			}
			seen++
		}
		arrived := s.arrived
		s.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			return Message{}, fmt.Errorf("testsmtp: no new message to %s within %v (have %d in all)", to, timeout, len(s.Messages()))
		}
	}
}

func sentTo(m Message, lowerAddr string) bool {
	for _, r := range m.To {
		if strings.ToLower(r) == lowerAddr {
			return true
		}
	}
	return false
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

var passcode = regexp.MustCompile(`\b\d{6}\b`)

// PasscodeFrom returns the first 6-digit code in a text, "" if there is none.
func PasscodeFrom(body string) string { return passcode.FindString(body) }

type session struct {
	srv      *Server
	from     string
	to       []string
	username string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, _ string) error {
		s.username = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	s.srv.mu.Lock()
	held, failing := s.srv.held, s.srv.failing
	s.srv.mu.Unlock()
	if held != nil {
		<-held
	}
	if failing {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := Message{From: s.from, To: s.to, Raw: raw, Username: s.username}
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		dec := new(mime.WordDecoder)
		m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			m.Subject = msg.Header.Get("Subject")
		}
		m.Body = textBody(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	}
	s.srv.add(m)
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

// textBody returns the text/plain content of a message body (the first text/plain part of a
// multipart one), decoded; whatever cannot be parsed is returned as it is.
func textBody(contentType, encoding string, r io.Reader) string {
	media, params, err := mime.ParseMediaType(contentType)
	if err == nil && strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		var first string
		for {
			p, err := mr.NextPart()
			if err != nil {
				return first
			}
			text := textBody(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			pm, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if pm == "text/plain" || pm == "" {
				return text
			}
			if first == "" {
				first = text
			}
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // ignores line breaks
	}
	b, _ := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
