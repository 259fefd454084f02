package testsmtp

import (
	"fmt"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"
)

func send(t *testing.T, s *Server, auth smtp.Auth, to []string, msg string) {
	t.Helper()
	host, port := s.Addr()
	if err := smtp.SendMail(fmt.Sprintf("%s:%d", host, port), auth, "noreply@example.com", to, []byte(strings.ReplaceAll(msg, "\n", "\r\n"))); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func TestPlainMessage(t *testing.T) {
	s := Start(t)
	send(t, s, nil, []string{"Alice@Example.com"}, "From: noreply@example.com\nTo: alice@example.com\nSubject: Use passcode 123456 to login\n\nYour code:\n\n123456\n")
	m := s.WaitFor(t, "alice@example.com", 5*time.Second)
	if m.From != "noreply@example.com" || m.To[0] != "Alice@Example.com" || m.Subject != "Use passcode 123456 to login" {
		t.Fatalf("message %+v", m)
	}
	if got := PasscodeFrom(m.Body); got != "123456" {
		t.Fatalf("passcode %q from %q", got, m.Body)
	}
	if len(s.Messages()) != 1 {
		t.Fatalf("messages %d", len(s.Messages()))
	}
}

func TestEncodingsAndAuth(t *testing.T) {
	s := Start(t)
	host, _ := s.Addr()
	auth := smtp.PlainAuth("", "mailer", "secret", host)
	send(t, s, auth, []string{"bob@example.com"}, "Subject: =?utf-8?q?Code_f=C3=BCr_Bob?=\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/html\n\n<p>html 111111</p>\n--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nCode =3D 654321\n--XX--\n")
	m := s.WaitFor(t, "bob@example.com", 5*time.Second)
	if m.Subject != "Code für Bob" || PasscodeFrom(m.Body) != "654321" || m.Username != "mailer" {
		t.Fatalf("message %+v", m)
	}
	send(t, s, nil, []string{"bob@example.com"}, "Content-Transfer-Encoding: base64\n\nQ29kZTogOTg3NjU0\n")
	if m := s.WaitFor(t, "bob@example.com", 5*time.Second); m.Body != "Code: 987654" {
		t.Fatalf("base64 body %q", m.Body)
	}
}

// WaitFor blocks until the message arrives and hands out each message once.
func TestWaitForOrder(t *testing.T) {
	s := Start(t)
	var wg sync.WaitGroup
	got := make(chan Message, 1)
	wg.Go(func() { got <- s.WaitFor(t, "carol@example.com", 10*time.Second) })
	send(t, s, nil, []string{"dave@example.com"}, "Subject: other\n\n000000\n")
	send(t, s, nil, []string{"carol@example.com", "erin@example.com"}, "Subject: first\n\n111111\n")
	wg.Wait()
	if m := <-got; m.Subject != "first" {
		t.Fatalf("first wait got %q", m.Subject)
	}
	send(t, s, nil, []string{"carol@example.com"}, "Subject: second\n\n222222\n")
	if m := s.WaitFor(t, "CAROL@example.com", 5*time.Second); m.Subject != "second" {
		t.Fatalf("second wait got %q", m.Subject)
	}
	if m := s.WaitFor(t, "erin@example.com", 5*time.Second); m.Subject != "first" {
		t.Fatalf("erin got %q", m.Subject)
	}
}

func TestPasscodeFrom(t *testing.T) {
	for in, want := range map[string]string{
		"Enter the following passcode:\n\n918135\n\nvalid for 5 minutes": "918135",
		"no code here 12345 or 1234567":                                  "",
		"first 111111 then 222222":                                       "111111",
	} {
		if got := PasscodeFrom(in); got != want {
			t.Errorf("PasscodeFrom(%q) = %q, want %q", in, got, want)
		}
	}
}
