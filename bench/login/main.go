// Command login signs a new user up through hankogate's HTML pages, the way a browser
// without JavaScript would, and prints the session cookie ("name=value") for the load
// benchmark. It receives the passcode mail itself: it runs an SMTP sink on -smtp, the
// address the gateway's embedded backend is configured to send through.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

func main() {
	site := flag.String("url", "http://127.0.0.1:9103", "gateway site")
	prefix := flag.String("prefix", "/.hanko", "gateway page prefix")
	smtpAddr := flag.String("smtp", "127.0.0.1:9125", "address to receive the passcode mail on")
	email := flag.String("email", "bench@example.com", "e-mail address to register")
	password := flag.String("password", "bench password 0123", "password to register")
	cookieName := flag.String("cookie", "hankogate", "session cookie name")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("login: ")

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	mails, stop, err := smtpSink(*smtpAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	session, err := register(ctx, *site, *prefix, *email, *password, *cookieName, mails)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*cookieName + "=" + session)
}

// register walks the registration pages until the gateway has set the session cookie and
// sent the browser on to the site, and returns the cookie's value.
func register(ctx context.Context, site, prefix, email, password, cookieName string, mails <-chan string) (string, error) {
	b, err := testbrowser.New(site, testbrowser.Options{Prefix: prefix, Timeout: 10 * time.Second})
	if err != nil {
		return "", err
	}
	p, err := b.Get(ctx, prefix+"/register")
	if err != nil {
		return "", err
	}
	if p, err = b.Follow(ctx, p); err != nil {
		return "", err
	}
	p, err = b.CompleteFlow(ctx, p, []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: func(*testbrowser.Page) (map[string]string, error) {
			code, err := passcode(ctx, mails)
			return map[string]string{"code": code}, err
		}},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "skip"}, // MFA, passkey and other optional onboarding
	})
	if err != nil {
		return "", err
	}
	value, err := b.Cookie(cookieName, "/")
	if err == nil && value == "" {
		err = fmt.Errorf("left the gateway pages at %s without a %s cookie (status %d)", p.URL, cookieName, p.Status)
	}
	return value, err
}

func passcode(ctx context.Context, mails <-chan string) (string, error) {
	select {
	case body := <-mails:
		if code := testsmtp.PasscodeFrom(body); code != "" {
			return code, nil
		}
		return "", fmt.Errorf("no passcode in the mail %q", body)
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the passcode mail: %w", ctx.Err())
	}
}

// smtpSink receives mail on addr and hands each message's body to the returned channel.
func smtpSink(addr string) (<-chan string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("smtp sink: %w", err)
	}
	mails := make(chan string, 4)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{mails: mails}, nil
	}))
	srv.Domain = "localhost"
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintln(os.Stderr, "login: smtp sink:", err)
		}
	}()
	return mails, func() { _ = srv.Close() }, nil
}

type sinkSession struct{ mails chan<- string }

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }

// Data keeps the body; the embedded backend sends plain 8-bit text.
func (s *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return fmt.Errorf("smtp sink: %w", err)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return fmt.Errorf("smtp sink: %w", err)
	}
	select {
	case s.mails <- string(body):
	default: // nobody waits for more than a few mails
	}
	return nil
}
