// Package mail words the embedded server's passcode mails (from the message catalogue, in
// the user's language) and delivers them: through SMTP, to the log in development, or to a
// Mailer of the embedding program, always via a durable outbox (see Outbox).
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowserver/token"
	"github.com/hankogate/hankogate/messages"
)

// Passcode mail templates (Hanko's names). The *_attempted ones carry no code: they answer
// an attempt on an address whose account state must not be disclosed.
const (
	TemplateLogin                      = "login"
	TemplateRecovery                   = "recovery"
	TemplateEmailVerification          = "email_verification"
	TemplateEmailLoginAttempted        = "email_login_attempted"
	TemplateEmailRegistrationAttempted = "email_registration_attempted"
)

// Mail is one passcode e-mail.
type Mail struct {
	To       string
	Subject  string
	Body     string
	Template string // Template* constant
	Code     string // "" for templates without a code
	Language string // X-Language of the request
}

// Mailer delivers passcode mails: SMTP, the development log, or the embedding program's own
// (tests capture codes with it). Send is called by the outbox's senders after the step
// committed, from several goroutines at once; an error makes the outbox try again later.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Compose fills subject and body for a template from the catalogue (keys
// mail.<template>.subject and .body) in the language lang (the request's X-Language).
func Compose(cat *messages.Catalog, service, to, template, code, lang string, ttl time.Duration) Mail {
	m := Mail{To: to, Template: template, Code: code, Language: lang}
	msg := cat.Messages(cat.Match(lang))
	switch template {
	case TemplateEmailLoginAttempted, TemplateEmailRegistrationAttempted:
		m.Subject = msg.T("mail." + template + ".subject")
		m.Body = msg.T("mail."+template+".body", service)
	case TemplateRecovery, TemplateEmailVerification:
		m.Subject = msg.T("mail."+template+".subject", code)
		m.Body = msg.T("mail."+template+".body", service, code, int(ttl.Minutes()))
	default:
		m.Subject = msg.T("mail.login.subject", code)
		m.Body = msg.T("mail.login.body", service, code, int(ttl.Minutes()))
	}
	return m
}

// SMTPConfig names the mail server passcodes are sent through.
type SMTPConfig struct {
	Host     string
	Port     int
	From     string
	Username string
	Password string
	TLS      string // "none" | "starttls" | "tls"
}

// Log returns a Mailer that writes passcodes to the log instead of mailing them.
// Development only.
func Log(log *zap.Logger) Mailer { return logMailer{log: log} }

type logMailer struct{ log *zap.Logger }

func (l logMailer) Send(_ context.Context, m Mail) error {
	fields := []zap.Field{zap.String("email", m.To), zap.String("template", m.Template)}
	if m.Code != "" {
		fields = append(fields, zap.String("passcode", m.Code))
	}
	l.log.Warn("passcode e-mail not sent: no SMTP server configured, logging the passcode instead (development only, never use in production)", fields...)
	return nil
}

// SMTP returns a Mailer that sends through the server of cfg, from service's name unless
// cfg.From names a sender.
func SMTP(cfg SMTPConfig, service string) Mailer { return smtpMailer{cfg: cfg, service: service} }

type smtpMailer struct {
	cfg     SMTPConfig
	service string
}

func (s smtpMailer) Send(ctx context.Context, m Mail) error {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tlsCfg := &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	var err error
	if s.cfg.TLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	// Shutdown cancels ctx: a stalled server must not hold it up for the whole timeout.
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("smtp hello: %w", err)
	}
	if s.cfg.TLS == "starttls" {
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return fmt.Errorf("smtp from address: %w", err)
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if from.Name == "" {
		from.Name = s.service
	}
	if _, err := wc.Write(s.message(from, m)); err != nil {
		return fmt.Errorf("smtp write: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("smtp end of data: %w", err)
	}
	// The server has taken the message: a failed QUIT must not make the outbox send it twice.
	_ = c.Quit()
	return nil
}

func (s smtpMailer) message(from *mail.Address, m Mail) []byte {
	var b bytes.Buffer
	id, _ := token.UUID()
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from.String())
	hdr("To", (&mail.Address{Address: m.To}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+id+"@"+s.cfg.Host+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	if m.Language != "" {
		hdr("Content-Language", m.Language)
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return b.Bytes()
}
