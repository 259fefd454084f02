// Command login signs a new user up through hankogate's HTML pages, the way a browser
// without JavaScript would, and prints the session cookie ("name=value") for the load
// benchmark. It receives the passcode mail itself: it runs an SMTP sink on -smtp, the
// address the gateway's embedded backend is configured to send through.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/net/html"

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
	c, err := register(ctx, *site, *prefix, *email, *password, *cookieName, mails)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name + "=" + c.Value)
}

// register walks the registration pages until the gateway has set the session cookie and
// sent the browser on to the site.
func register(ctx context.Context, site, prefix, email, password, cookieName string, mails <-chan string) (*http.Cookie, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	b := &browser{client: &http.Client{Jar: jar, Timeout: 10 * time.Second}, ctx: ctx, origin: site}
	p, err := b.get(site + prefix + "/register")
	for step := 0; step < 20 && err == nil; step++ {
		if p.state == "" && p.refresh == "" {
			if c := sessionCookie(jar, p.url, cookieName); c != nil {
				return c, nil
			}
			return nil, fmt.Errorf("left the gateway pages at %s without a %s cookie (status %d)", p.url, cookieName, p.status)
		}
		log.Printf("%d %s state=%q", p.status, p.url.Path, p.state)
		switch {
		case p.refresh != "":
			p, err = b.follow(p, p.refresh)
		case p.state == "registration_init":
			p, err = b.submit(p, "register_login_identifier", url.Values{"email": {email}})
		case p.state == "passcode_confirmation":
			var code string
			if code, err = passcode(ctx, mails); err == nil {
				p, err = b.submit(p, "verify_passcode", url.Values{"code": {code}})
			}
		case p.state == "password_creation":
			p, err = b.submit(p, "register_password", url.Values{"new_password": {password}})
		case p.forms["skip"] != nil: // MFA, passkey and other optional onboarding
			p, err = b.submit(p, "skip", nil)
		default:
			err = fmt.Errorf("no way on from state %q (actions %v, alert %q)", p.state, keys(p.forms), p.alert)
		}
	}
	if err == nil {
		err = errors.New("no session after 20 pages")
	}
	return nil, err
}

func sessionCookie(jar http.CookieJar, u *url.URL, name string) *http.Cookie {
	for _, c := range jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
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

// browser is an HTTP client with cookies that reads gateway pages.
type browser struct {
	client *http.Client
	ctx    context.Context
	origin string
}

func (b *browser) get(u string) (*page, error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

func (b *browser) follow(p *page, ref string) (*page, error) {
	u, err := p.url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("refresh url %q: %w", ref, err)
	}
	return b.get(u.String())
}

// submit posts the form for action with its hidden fields and the given values.
func (b *browser) submit(p *page, action string, values url.Values) (*page, error) {
	f := p.forms[action]
	if f == nil {
		return nil, fmt.Errorf("state %q has no %s form (actions %v, alert %q)", p.state, action, keys(p.forms), p.alert)
	}
	u, err := p.url.Parse(f.path)
	if err != nil {
		return nil, fmt.Errorf("form url %q: %w", f.path, err)
	}
	form := url.Values{}
	for k, v := range f.fields {
		form[k] = v
	}
	for k, v := range values {
		form[k] = v
	}
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Origin", b.origin)
	return b.do(req)
}

func (b *browser) do(req *http.Request) (*page, error) {
	resp, err := b.client.Do(req) // follows the gateway's 303s
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL, err)
	}
	return parsePage(resp.Request.URL, resp.StatusCode, body)
}

// page is what the login program needs from a gateway page.
type page struct {
	url     *url.URL
	status  int
	state   string           // data-state of the card, "" when not a gateway page
	refresh string           // target of a meta refresh
	alert   string           // text of role=alert elements
	forms   map[string]*form // by data-action
}

type form struct {
	path   string
	fields url.Values // hidden and pre-filled inputs
}

func parsePage(u *url.URL, status int, body []byte) (*page, error) {
	// Scripting off, like the browser we imitate: <noscript> content is then markup.
	doc, err := html.ParseWithOptions(bytes.NewReader(body), html.ParseOptionEnableScripting(false))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	p := &page{url: u, status: status, forms: map[string]*form{}}
	var walk func(n *html.Node, f *form)
	walk = func(n *html.Node, f *form) {
		if n.Type == html.ElementNode {
			switch {
			case n.Data == "main" && attr(n, "data-state") != "":
				p.state = attr(n, "data-state")
			case n.Data == "meta" && strings.EqualFold(attr(n, "http-equiv"), "refresh"):
				if _, target, ok := strings.Cut(attr(n, "content"), "url="); ok {
					p.refresh = target
				}
			case n.Data == "form" && attr(n, "data-action") != "":
				f = &form{path: attr(n, "action"), fields: url.Values{}}
				p.forms[attr(n, "data-action")] = f
			case n.Data == "input" && f != nil && attr(n, "name") != "" && attr(n, "value") != "":
				if t := attr(n, "type"); t != "checkbox" && t != "radio" || hasAttr(n, "checked") {
					f.fields.Set(attr(n, "name"), attr(n, "value"))
				}
			case attr(n, "role") == "alert":
				p.alert += strings.TrimSpace(text(n))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, f)
		}
	}
	walk(doc, nil)
	return p, nil
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var s strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		s.WriteString(text(c))
	}
	return s.String()
}

func keys(m map[string]*form) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
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
