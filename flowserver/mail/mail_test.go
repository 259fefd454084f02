package mail

import (
	"context"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/messages"
)

// Passcode mails are worded in the language the gateway relays (X-Language), with the code,
// the service and the validity filled in; an unknown language gets English.
func TestMailInUsersLanguage(t *testing.T) {
	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ lang, template, subject, body string }{
		{"de-CH", TemplateLogin, "Ihr Anmeldecode: 123456", "um sich bei Shop anzumelden:\n\n123456\n\nDer Code ist 5 Minuten gültig."},
		{"fr", TemplateRecovery, "Votre code pour réinitialiser le mot de passe : 123456", "votre mot de passe Shop :\n\n123456\n\nLe code est valable 5 minutes."},
		{"ja", TemplateEmailVerification, "Your code to confirm your address: 123456", "for Shop:\n\n123456\n\nIt expires in 5 minutes."},
		{"", TemplateEmailLoginAttempted, "Sign-in attempt", "Someone tried to sign in to Shop"},
		{"de", TemplateEmailRegistrationAttempted, "Registrierungsversuch", "ein Konto bei Shop zu erstellen"},
	} {
		m := Compose(cat, "Shop", "a@example.com", tt.template, "123456", tt.lang, 5*time.Minute)
		if m.Subject != tt.subject || !strings.Contains(m.Body, tt.body) || strings.Contains(m.Body, "%!") {
			t.Errorf("%s %s: subject %q body %q", tt.lang, tt.template, m.Subject, m.Body)
		}
	}
}

// dropAtQuit is an SMTP server that accepts every message and then, instead of answering
// QUIT, closes the connection. It reports the messages it accepted.
func dropAtQuit(t *testing.T) (port int, accepted <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		tp := textproto.NewConn(conn)
		tp.PrintfLine("220 localhost")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			switch verb, _, _ := strings.Cut(strings.ToUpper(line), " "); verb {
			case "QUIT":
				return
			case "DATA":
				tp.PrintfLine("354 go on")
				body, err := tp.ReadDotBytes()
				if err != nil {
					return
				}
				got <- string(body)
				tp.PrintfLine("250 accepted")
			default:
				tp.PrintfLine("250 ok")
			}
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}

// TestSentWhenQuitFails: once the server has accepted the message (its answer to the end of
// DATA), the mail is sent: a connection lost at QUIT must not make the outbox send it again.
func TestSentWhenQuitFails(t *testing.T) {
	port, accepted := dropAtQuit(t)
	m := SMTP(SMTPConfig{Host: "127.0.0.1", Port: port, From: "gate@example.com", TLS: "none"}, "Shop")
	if err := m.Send(context.Background(), Mail{To: "a@example.com", Subject: "s", Body: "b"}); err != nil {
		t.Fatalf("accepted mail reported as failed: %v", err)
	}
	select {
	case <-accepted:
	default:
		t.Fatal("the server accepted no message")
	}
}
