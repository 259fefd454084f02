// Package view turns a Flow API state into the data a page template renders, and a posted
// HTML form back into an action's input_data. It knows the Flow API, not HTTP or cookies.
package view

import (
	"html/template"
	"slices"

	"github.com/hankogate/hankogate/messages"
)

// Context is what the gateway knows about the request a page is built for.
type Context struct {
	Title  string // site title
	Prefix string // gateway prefix, e.g. "/.hanko"
	Path   string // URL every form of this page posts to, e.g. "/.hanko/login"
	CSRF   string // gateway CSRF token; every form carries it as field CSRFField
	Notice string // gateway message shown above the state (e.g. "your sign-in expired")
	// Alert is a gateway error shown as the page's error (e.g. the provider refused the
	// sign-in); it replaces the state's own error text.
	Alert string
	// LinkQuery is an encoded query string appended to cross links (login <-> register) so
	// the return URL survives, e.g. "rd=%2Fadmin"; empty for none.
	LinkQuery string

	// Msg are the texts in the page's language (the zero value is English).
	Msg messages.Messages
	// Languages are links to this page in each language the gateway offers (none when it
	// offers one).
	Languages []Language
	// Email is the address the last passcode went to, when the gateway knows it; the
	// passcode page names it.
	Email string
	// BackURL is the site's address the account page links back to ("" for no link).
	BackURL string
	// Logo is the URL of the site's logo ("" for none).
	Logo string
	// Stylesheets are extra stylesheets after the gateway's own (the operator's css).
	Stylesheets []string
}

// Language is one entry of the language switcher.
type Language struct {
	Tag     string // e.g. "de"
	Name    string // the language's own name, e.g. "Deutsch"
	Href    string // this page in that language
	Current bool
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
	Wait     int    // seconds from resend_after / retry_after
	WaitText string // the wait message, e.g. "Please wait 30 seconds before requesting a new code."

	// Forms are the page's forms in display order. On the account page, forms that act on
	// one listed item (an e-mail, passkey, session, ...) sit in that item instead.
	Forms []Form

	OTPSecret string       // mfa_otp_secret_creation
	OTPImage  template.URL // only a data:image/png;base64 URL, else empty
	// WebAuthn is the JSON of request_options / creation_options for the passkey script.
	WebAuthn string
	// WebAuthnKind says what WebAuthn holds: "get" (request_options) or "create"
	// (creation_options); empty without WebAuthn.
	WebAuthnKind string
	Profile      *Profile // profile_init
	Links        []Link

	// NoScriptRefresh, when set, is where a browser without JavaScript goes at once (a
	// <noscript> refresh): the preflight page, which the passkey script answers instead.
	NoScriptRefresh string
	// Refresh, when set, is where every browser goes at once: the provider's sign-in page.
	// A refresh, unlike a redirect answering the form post, is not bound by the page's
	// form-action policy.
	Refresh string
}

// T is the page's text of a catalogue key, formatted with args (for templates:
// {{$.T "profile.created" .CreatedAt}}).
func (p *Page) T(key string, args ...any) string { return p.Msg.T(key, args...) }

// Lang is the page's language tag, for <html lang>.
func (p *Page) Lang() string { return p.Msg.Lang() }

// NeedsJS reports whether some form of the page only works with the passkey script.
func (p *Page) NeedsJS() bool {
	for _, f := range p.allForms() {
		if f.NeedsJS {
			return true
		}
	}
	return false
}

// JSRequired reports whether the page offers nothing but passkey forms (besides back/skip
// buttons), so that a browser without JavaScript should be told why it cannot go on.
func (p *Page) JSRequired() bool {
	return p.NeedsJS() && !slices.ContainsFunc(p.Forms, func(f Form) bool { return !f.Secondary && !f.NeedsJS })
}

// Section returns the forms of one account page section (see Form.Section).
func (p *Page) Section(name string) []Form {
	var out []Form
	for _, f := range p.Forms {
		if f.Section == name {
			out = append(out, f)
		}
	}
	return out
}

// Primary returns the forms that are not Secondary, in order.
func (p *Page) Primary() []Form { return filterForms(p.Forms, false) }

// SecondaryForms returns the less prominent forms (back, skip, resend...), in order.
func (p *Page) SecondaryForms() []Form { return filterForms(p.Forms, true) }

func filterForms(forms []Form, secondary bool) []Form {
	var out []Form
	for _, f := range forms {
		if f.Secondary == secondary {
			out = append(out, f)
		}
	}
	return out
}

// allForms lists every form of the page, including those placed beside profile items.
func (p *Page) allForms() []Form {
	all := append([]Form(nil), p.Forms...)
	if pr := p.Profile; pr != nil {
		for _, e := range pr.Emails {
			all = append(all, e.Forms...)
		}
		for _, k := range pr.Passkeys {
			all = append(all, k.Forms...)
		}
		for _, k := range pr.SecurityKeys {
			all = append(all, k.Forms...)
		}
		for _, s := range pr.Sessions {
			all = append(all, s.Forms...)
		}
		for _, i := range pr.Identities {
			all = append(all, i.Forms...)
		}
	}
	return all
}

// Form is one Flow API action rendered as <form method="post" data-action="Action">.
type Form struct {
	ID        string // unique within the page, e.g. "form-3"
	Path      string // where the form posts (Context.Path)
	CSRF      string // gateway CSRF token (Context.CSRF)
	Action    string // Flow API action name
	Label     string // submit button text
	AriaLabel string // fuller button name when Label alone is ambiguous (e.g. "Remove a@b.c")
	Fields    []Field
	Secondary bool   // a less prominent button (back, skip, resend)
	Danger    bool   // destructive (delete, remove, revoke)
	NeedsJS   bool   // WebAuthn: the passkey script fills the json field and submits
	Section   string // account page section: emails, username, password, passkeys, mfa, sessions, identities, account, other

	// itemKey/item name the profile item (input name and id) the form acts on; short is
	// the label to use beside that item.
	itemKey, item, short string
}

// Field is one Flow API input.
type Field struct {
	ID           string // unique within the page; the error element is ID + "-error"
	Name         string
	Type         string // HTML input type: text, email, password, checkbox, hidden; or textarea
	Label        string
	Value        string
	Checked      bool // checkbox: pre-checked
	Required     bool
	Hidden       bool
	MinLength    int
	MaxLength    int
	Choices      []Choice // rendered as <select> for a visible input
	Error        string
	Autocomplete string
	InputMode    string // e.g. "numeric" for codes
	WebAuthn     bool   // a json field the passkey script fills
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
	UserID       string
	Username     string
	Emails       []ProfileEmail
	Passkeys     []ProfilePasskey
	SecurityKeys []ProfilePasskey
	Sessions     []ProfileSession
	Identities   []ProfileIdentity
	HasOTP       bool

	msg messages.Messages // for the names of unnamed passkeys in button labels
}

type ProfileEmail struct {
	ID       string
	Address  string
	Primary  bool
	Verified bool
	Forms    []Form // verify, make primary, delete
}

type ProfilePasskey struct {
	ID        string
	Name      string
	CreatedAt string
	LastUsed  string
	Forms     []Form // rename, delete
}

type ProfileSession struct {
	ID        string
	UserAgent string
	IP        string
	Current   bool
	LastUsed  string
	Forms     []Form // revoke
}

// ProfileIdentity is a linked third-party account.
type ProfileIdentity struct {
	ID       string // identity_id
	Provider string
	Forms    []Form // disconnect
}
