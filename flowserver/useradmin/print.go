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
	if asJSON {
		out := make([]UserJSON, len(users))
		for i, u := range users {
			out[i] = UserJSON{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Username: u.Username,
				CreatedAt: u.CreatedAt, LastSignIn: u.LastSignIn,
				Methods: Methods{Password: u.Password, Passkeys: u.Passkeys, SecurityKeys: u.SecurityKeys, TOTP: u.TOTP}}
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tVERIFIED\tUSERNAME\tCREATED\tLAST SIGN-IN\tMETHODS")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, dash(u.Email), yesNo(u.EmailVerified), dash(u.Username),
			stamp(&u.CreatedAt), stamp(u.LastSignIn), methods(u))
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
	if asJSON {
		out := make([]SessionJSON, len(sessions))
		for i, s := range sessions {
			out[i] = SessionJSON{ID: s.ID, CreatedAt: s.CreatedAt, LastUsed: s.LastUsed, ExpiresAt: s.ExpiresAt,
				IPAddress: s.IPAddress, UserAgent: s.UserAgent}
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tCREATED\tLAST USED\tEXPIRES\tIP\tUSER AGENT")
	for _, s := range sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, stamp(&s.CreatedAt), stamp(&s.LastUsed), stamp(&s.ExpiresAt),
			dash(s.IPAddress), dash(oneLine(s.UserAgent)))
	}
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
