package useradmin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hankogate/hankogate/flowserver/store"
)

// UserJSON is a user as `users list --json` prints it.
type UserJSON struct {
	ID            string     `json:"id"`
	Email         string     `json:"email,omitempty"`
	EmailVerified bool       `json:"email_verified"`
	Username      string     `json:"username,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastSignIn    *time.Time `json:"last_sign_in"`
	Methods       Methods    `json:"methods"`
}

// Methods are the ways a user can sign in.
type Methods struct {
	Password     bool `json:"password"`
	Passkeys     int  `json:"passkeys"`
	SecurityKeys int  `json:"security_keys"`
	TOTP         bool `json:"totp"`
}

// WriteUsers prints users as a table, or with asJSON as a JSON array of UserJSON.
func WriteUsers(w io.Writer, users []*store.UserOverview, asJSON bool) error {
	return write(w, users, asJSON, func(u *store.UserOverview) UserJSON {
		return UserJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Username: u.Username,
			CreatedAt: u.CreatedAt, LastSignIn: u.LastSignIn,
			Methods: Methods{Password: u.Password, Passkeys: u.Passkeys, SecurityKeys: u.SecurityKeys, TOTP: u.TOTP}}
	}, "ID\tEMAIL\tVERIFIED\tUSERNAME\tCREATED\tLAST SIGN-IN\tMETHODS", func(u *store.UserOverview) []string {
		return []string{u.ID, dash(u.Email), yesNo(u.EmailVerified), dash(u.Username), stamp(&u.CreatedAt), stamp(u.LastSignIn), methods(u)}
	})
}

// write prints items as a JSON array of their toJSON forms, or as a table with header
// (tab-separated) and one row per item.
func write[T, J any](w io.Writer, items []T, asJSON bool, toJSON func(T) J, header string, row func(T) []string) error {
	if asJSON {
		out := make([]J, len(items))
		for i, it := range items {
			out[i] = toJSON(it)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		fmt.Fprintln(tw, strings.Join(row(it), "\t"))
	}
	return tw.Flush()
}

func methods(u *store.UserOverview) string {
	var m []string
	if u.Password {
		m = append(m, "password")
	}
	if u.Passkeys > 0 {
		m = append(m, count(u.Passkeys, "passkey"))
	}
	if u.SecurityKeys > 0 {
		m = append(m, count(u.SecurityKeys, "security key"))
	}
	if u.TOTP {
		m = append(m, "totp")
	}
	if len(m) == 0 {
		return "passcode only"
	}
	return strings.Join(m, ", ")
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// SessionJSON is a session as `users sessions --json` prints it.
type SessionJSON struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
	ExpiresAt time.Time `json:"expires_at"`
	IPAddress string    `json:"ip_address"`
	UserAgent string    `json:"user_agent"`
}

// WriteSessions prints sessions as a table, or with asJSON as a JSON array of SessionJSON.
func WriteSessions(w io.Writer, sessions []*store.Session, asJSON bool) error {
	return write(w, sessions, asJSON, func(s *store.Session) SessionJSON {
		return SessionJSON{ID: s.ID, CreatedAt: s.CreatedAt, LastUsed: s.LastUsed, ExpiresAt: s.ExpiresAt,
			IPAddress: s.IPAddress, UserAgent: s.UserAgent}
	}, "SESSION\tCREATED\tLAST USED\tEXPIRES\tIP\tUSER AGENT", func(s *store.Session) []string {
		return []string{s.ID, stamp(&s.CreatedAt), stamp(&s.LastUsed), stamp(&s.ExpiresAt), dash(s.IPAddress), dash(oneLine(s.UserAgent))}
	})
}

func stamp(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine keeps a client-supplied string (the user agent) from breaking the table or the
// terminal: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
