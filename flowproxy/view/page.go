// Package view turns a Flow API state into the data a page template renders, and a posted
// HTML form back into an action's input_data. It knows the Flow API, not HTTP or cookies.
package view

import "html/template"

// Context is what the gateway knows about the request a page is built for.
type Context struct {
	Title  string // site title
	Prefix string // gateway prefix, e.g. "/.hanko"
	Path   string // URL every form of this page posts to, e.g. "/.hanko/login"
	CSRF   string // gateway CSRF token; every form carries it as field CSRFField
	Notice string // gateway message shown above the state (e.g. "your sign-in expired")
	// LinkQuery is an encoded query string appended to cross links (login <-> register) so
	// the return URL survives, e.g. "rd=%2Fadmin"; empty for none.
	LinkQuery string
}

// Names of the gateway's own form fields; no Flow API input starts with "_".
const (
	CSRFField   = "_csrf"
	ActionField = "_action"
)

// Page is everything a template needs. Templates only read it.
type Page struct {
	Context
	Flow     string // login | registration | profile
	State    string // Flow API state name
	Template string // template family rendering State, e.g. "login", "passcode", "generic"
	Heading  string
	Intro    string
	Error    string // flow-level error message, shown at the top
	Wait     int    // seconds from resend_after / retry_after, shown as a wait message

	Forms []Form

	OTPSecret string       // mfa_otp_secret_creation
	OTPImage  template.URL // only a data:image/png;base64 URL, else empty
	// WebAuthn is the JSON of request_options / creation_options for the passkey script.
	WebAuthn string
	Profile  *Profile // profile_init
	Links    []Link
}

// Form is one Flow API action rendered as <form method="post" data-action="Action">.
type Form struct {
	Action    string // Flow API action name
	Label     string // submit button text
	Fields    []Field
	Secondary bool // a less prominent button (back, skip, resend)
	NeedsJS   bool // WebAuthn: the passkey script fills the json field and submits
}

// Field is one Flow API input.
type Field struct {
	Name         string
	Type         string // HTML input type: text, email, password, checkbox, hidden
	Label        string
	Value        string
	Required     bool
	Hidden       bool
	MinLength    int
	MaxLength    int
	Choices      []Choice
	Error        string
	Autocomplete string
}

// Choice is one allowed value of an input.
type Choice struct {
	Value string
	Label string
}

// Link is a plain navigation link (e.g. "Create an account").
type Link struct {
	Href  string
	Label string
}

// Profile is the account page's data from the profile_init payload.
type Profile struct {
	UserID   string
	Emails   []ProfileEmail
	Passkeys []ProfilePasskey
	Sessions []ProfileSession
	HasOTP   bool
}

type ProfileEmail struct {
	ID       string
	Address  string
	Primary  bool
	Verified bool
}

type ProfilePasskey struct {
	ID        string
	Name      string
	CreatedAt string
	LastUsed  string
}

type ProfileSession struct {
	ID        string
	UserAgent string
	IP        string
	Current   bool
	LastUsed  string
}
