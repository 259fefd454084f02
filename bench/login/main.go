// Command login signs a new user up through hankogate's HTML pages, the way a browser
// without JavaScript would, and prints the session cookie ("name=value") for the load
// benchmark. It receives the passcode mail itself: it runs an SMTP sink (internal/testsmtp)
// on -smtp, the address the gateway's embedded backend is configured to send through.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
)

// mailWait bounds the wait for the passcode mail.
const mailWait = 30 * time.Second

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
	mails, err := testsmtp.Listen(*smtpAddr)
	if err != nil {
		log.Fatal(err)
	}
	defer mails.Close()
	session, err := register(ctx, *site, *prefix, *email, *password, *cookieName, mails)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*cookieName + "=" + session)
}

// register walks the registration pages until the gateway has set the session cookie and
// sent the browser on to the site, and returns the cookie's value.
func register(ctx context.Context, site, prefix, email, password, cookieName string, mails *testsmtp.Server) (string, error) {
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
			m, err := mails.Wait(email, mailWait)
			if err != nil {
				return nil, err
			}
			code := testsmtp.PasscodeFrom(m.Body)
			if code == "" {
				return nil, fmt.Errorf("no passcode in the mail %q", m.Body)
			}
			return map[string]string{"code": code}, nil
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
