package view

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/messages"
)

// families maps a state to the template family that renders it; others render "generic".
var families = map[string]string{
	"login_init":                            "login",
	"login_method_chooser":                  "login",
	"login_password":                        "login",
	"login_passkey":                         "login",
	"registration_init":                     "registration",
	"passcode_confirmation":                 "passcode",
	"password_creation":                     "password",
	"login_password_recovery":               "password",
	"credential_onboarding_chooser":         "onboarding",
	"onboarding_email":                      "onboarding",
	"onboarding_username":                   "onboarding",
	"onboarding_create_passkey":             "onboarding",
	"onboarding_verify_passkey_attestation": "onboarding",
	"mfa_method_chooser":                    "mfa",
	"mfa_otp_secret_creation":               "mfa",
	"mfa_security_key_creation":             "mfa",
	"login_otp":                             "mfa",
	"login_security_key":                    "mfa",
	"device_trust":                          "mfa",
	"profile_init":                          "profile",
	"webauthn_credential_verification":      "profile",
	flowapi.StateSuccess:                    "success",
	flowapi.StateAccountDeleted:             "success",
	flowapi.StateError:                      "error",
}

// Families lists every template family a Page.Template can name.
func Families() []string {
	return []string{"login", "registration", "passcode", "password", "onboarding", "mfa",
		"profile", "success", "error", "message", "unavailable", "generic"}
}

// profileTarget names the hidden id input of an account page action whose candidates come
// from the profile payload rather than from allowed_values, and picks those candidates.
type profileTarget struct {
	input   string
	pick    func(*Profile) []candidate
	prefill string // a visible input to pre-fill with the item's current value, if any
}

// candidate is one value a form may carry: id is submitted, name labels it, current is
// the item's present value for profileTarget.prefill.
type candidate struct{ id, name, current string }

// email_delete and session_delete list their candidates in allowed_values; without them
// (Hanko's way of saying nothing may be deleted) they get no form at all.
// profileTargets also lists disconnect_thirdparty_oauth_provider, whose identity_id input
// Hanko reads without declaring it; Inputs accepts these inputs for that reason.
var profileTargets = map[string]profileTarget{
	"email_set_primary": {"email_id", func(p *Profile) []candidate {
		return emailCandidates(p, func(e ProfileEmail) bool { return !e.Primary })
	}, ""},
	"email_verify": {"email_id", func(p *Profile) []candidate {
		return emailCandidates(p, func(e ProfileEmail) bool { return !e.Verified })
	}, ""},
	"webauthn_credential_rename":           {"passkey_id", passkeyCandidates, "passkey_name"},
	"webauthn_credential_delete":           {"passkey_id", passkeyCandidates, ""},
	"security_key_delete":                  {"security_key_id", func(p *Profile) []candidate { return keyCandidates(p.SecurityKeys, p.msg) }, ""},
	"disconnect_thirdparty_oauth_provider": {"identity_id", identityCandidates, ""},
	"email_delete":                         {"email_id", none, ""},
	"session_delete":                       {"session_id", none, ""},
}

func none(*Profile) []candidate { return nil }

func passkeyCandidates(p *Profile) []candidate { return keyCandidates(p.Passkeys, p.msg) }

func emailCandidates(p *Profile, keep func(ProfileEmail) bool) []candidate {
	var out []candidate
	for _, e := range p.Emails {
		if keep(e) {
			out = append(out, candidate{id: e.ID, name: e.Address})
		}
	}
	return out
}

func keyCandidates(keys []ProfilePasskey, m messages.Messages) []candidate {
	var out []candidate
	for _, k := range keys {
		out = append(out, candidate{id: k.ID, name: cmp.Or(k.Name, m.T("item.passkey")), current: k.Name})
	}
	return out
}

func identityCandidates(p *Profile) []candidate {
	var out []candidate
	for _, i := range p.Identities {
		out = append(out, candidate{id: i.ID, name: i.Provider})
	}
	return out
}

// StateThirdParty is the state in which the browser visits the third-party provider.
const StateThirdParty = "thirdparty"

// GatewayActions are run by the gateway itself, never offered as a form: exchange_token
// needs the one-time token the provider's redirect brings and the PKCE verifier the
// gateway keeps.
var GatewayActions = map[string]bool{"exchange_token": true}

// RedirectURL returns a thirdparty state's payload.redirect_url when it is an absolute
// http(s) URL with a host, else "".
func RedirectURL(resp *flowapi.Response) string {
	if resp == nil || resp.Name != StateThirdParty {
		return ""
	}
	raw := str(object(resp.Payload)["redirect_url"])
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || len(raw) > maxRedirectURL {
		return ""
	}
	return raw
}

// maxRedirectURL bounds a provider URL (an authorization URL with its state is < 2 KiB).
const maxRedirectURL = 8 << 10

// maxVariants bounds the forms one action expands into (one per allowed value or item).
const maxVariants = 100

// Build turns a Flow API response into a page. It never fails: anything it cannot read
// from a hostile or broken response is left out.
func Build(flow string, resp *flowapi.Response, c Context) *Page {
	p := &Page{Context: c, Flow: flow}
	if resp == nil {
		resp = &flowapi.Response{Name: flowapi.StateError, Error: &flowapi.Error{Code: flowapi.ErrTechnical}}
	}
	p.State = resp.Name
	p.Template = cmp.Or(families[resp.Name], "generic")
	m := c.Msg
	heading, known := m.Lookup("state." + resp.Name)
	p.Heading = cmp.Or(heading, humanise(resp.Name))
	if known {
		p.Intro, _ = m.Lookup("state." + resp.Name + ".intro")
	}
	if resp.Name == "passcode_confirmation" && c.Email != "" {
		p.Intro = m.T("state.passcode_confirmation.intro_to", c.Email)
	}

	payload := object(resp.Payload)
	var waitKey string
	p.Wait, waitKey = wait(payload)
	if p.Wait > 0 {
		p.WaitText = m.T(waitKey, p.Wait)
	}
	p.OTPSecret = clip(str(payload["otp_secret"]))
	p.OTPImage = otpImage(str(payload["otp_image_source"]))
	p.WebAuthn, p.WebAuthnKind = webAuthnOptions(payload)
	if resp.Name == "profile_init" {
		p.Profile = profile(payload)
		p.Profile.msg = m
	}

	b := &builder{c: c, flow: flow, state: resp.Name, profile: p.Profile}
	for _, name := range sortedKeys(resp.Actions) {
		if GatewayActions[name] {
			continue
		}
		p.Forms = append(p.Forms, b.actionForms(name, resp.Actions[name])...)
	}
	slices.SortStableFunc(p.Forms, func(x, y Form) int { return cmp.Compare(rank(x), rank(y)) })
	if p.Profile != nil {
		p.Forms = placeOnItems(p.Profile, p.Forms)
	}

	p.Error = cmp.Or(c.Alert, b.errorText(resp.Error))
	switch resp.Name {
	case flowapi.StateSuccess:
		if flow == flowapi.FlowRegistration {
			p.Heading = m.T("state.success.registration")
		}
	case flowapi.StateError:
		errorPage(p, resp.Error)
	}
	p.Links = links(p, resp)
	return p
}

// errorPage explains a dead flow and offers to start it again.
func errorPage(p *Page, e *flowapi.Error) {
	m := p.Msg
	p.Heading, p.Intro = m.T("error_page.heading"), ""
	if p.Error == "" {
		p.Intro = m.T("error_page.intro")
	}
	if e == nil {
		return
	}
	switch e.Code {
	case flowapi.ErrFlowExpired:
		p.Heading, p.Intro = m.T("error_page.expired"), m.T("error_page.expired.intro")
		p.Error = ""
	case flowapi.ErrUnauthorized:
		p.Heading, p.Intro = m.T("error_page.unauthorized"), m.T("error_page.unauthorized.intro")
		p.Error = ""
	}
}

func links(p *Page, resp *flowapi.Response) []Link {
	m := p.Msg
	switch {
	case p.State == StateThirdParty:
		if u := RedirectURL(resp); u != "" {
			return []Link{{Href: u, Label: m.T("link.provider")}}
		}
	case p.State == flowapi.StateError:
		return []Link{{Href: withQuery(p.Path, p.LinkQuery), Label: m.T("link.restart")}}
	case p.Template == "login" && p.Flow == flowapi.FlowLogin:
		return []Link{{Href: withQuery(p.Prefix+"/register", p.LinkQuery), Label: m.T("link.register")}}
	case p.Template == "registration" && p.Flow == flowapi.FlowRegistration:
		return []Link{{Href: withQuery(p.Prefix+"/login", p.LinkQuery), Label: m.T("link.login")}}
	case p.State == "profile_init":
		out := []Link{{Href: p.Prefix + "/logout", Label: m.T("link.logout")}}
		if p.BackURL != "" {
			out = append(out, Link{Href: p.BackURL, Label: m.T("link.back")})
		}
		return out
	}
	return nil
}

func withQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func rank(f Form) int {
	r, ok := actionRank[f.Action]
	if !ok {
		r = rankDefault
	}
	if f.Secondary && r < 500 {
		r += 500
	}
	return r
}

// builder turns actions into forms for one page.
type builder struct {
	c       Context
	flow    string
	state   string
	profile *Profile
	forms   int // forms built so far, for unique ids
	// visibleErrs and hiddenErr record input errors, which decide the top message.
	visibleErrs int
	hiddenErr   string
}

// actionForms builds the forms of one action: usually one; one per allowed value of a
// hidden input (provider buttons, deletable e-mails); on the account page one per item the
// action can act on.
func (b *builder) actionForms(name string, a *flowapi.Action) []Form {
	if a == nil {
		a = &flowapi.Action{}
	}
	label, fromTable := b.actionLabel(name, a)
	var fields []Field
	var expand string // hidden input whose value differs per form
	var variants []candidate
	var fill string // input pre-filled with the item's current value
	for _, key := range sortedKeys(a.Inputs) {
		in := a.Inputs[key]
		if in == nil || key == "" || strings.HasPrefix(key, "_") {
			continue
		}
		if expand == "" && in.IsHidden() && len(in.AllowedValues) > 0 {
			expand, variants = key, allowedCandidates(in.AllowedValues)
			fields = append(fields, Field{Name: key, Type: "hidden", Hidden: true, Required: in.IsRequired()})
			b.noteError(name, key, in, false)
			continue
		}
		if f, ok := b.field(name, key, in); ok {
			fields = append(fields, f)
		}
	}
	if t, ok := profileTargets[name]; ok && expand == "" && b.profile != nil {
		expand, variants, fill = t.input, t.pick(b.profile), t.prefill
		if !slices.ContainsFunc(fields, func(f Field) bool { return f.Name == t.input }) {
			fields = append(fields, Field{Name: t.input, Type: "hidden", Hidden: true, Required: true})
		}
	}
	if expand == "" {
		return []Form{b.form(name, label, fields, "", "")}
	}
	if len(variants) > maxVariants {
		variants = variants[:maxVariants]
	}
	forms := make([]Form, 0, len(variants))
	for _, v := range variants {
		vf := slices.Clone(fields)
		for i := range vf {
			switch vf[i].Name {
			case expand:
				vf[i].Value = v.id
			case fill:
				vf[i].Value = cmp.Or(vf[i].Value, v.current)
			}
		}
		long := label + " " + v.name
		if fromTable && strings.Contains(label, "%s") {
			long = strings.Replace(label, "%s", v.name, 1)
		}
		f := b.form(name, long, vf, expand, v.id)
		f.short = strings.TrimSpace(strings.Replace(label, "%s", "", 1))
		forms = append(forms, f)
	}
	return forms
}

func allowedCandidates(values []flowapi.AllowedValue) []candidate {
	var out []candidate
	for _, v := range values {
		id, ok := scalar(v.Value)
		if !ok {
			continue
		}
		out = append(out, candidate{id: id, name: clip(cmp.Or(v.Name, id))})
	}
	return out
}

func (b *builder) form(action, label string, fields []Field, itemKey, item string) Form {
	b.forms++
	id := "form-" + strconv.Itoa(b.forms)
	f := Form{
		ID: id, Path: b.c.Path, CSRF: b.c.CSRF, Action: action, Label: label,
		Fields:    fields,
		Secondary: secondaryActions[action],
		Danger:    dangerActions[action],
		itemKey:   itemKey,
		item:      item,
	}
	if b.state == "profile_init" {
		f.Section = cmp.Or(profileSections[action], "other")
	}
	for i := range f.Fields {
		f.Fields[i].ID = id + "-" + strconv.Itoa(i+1)
		f.NeedsJS = f.NeedsJS || f.Fields[i].WebAuthn
	}
	return f
}

// actionLabel returns the button text and whether it came from our own table (only then
// may it hold a %s for the allowed value's name).
func (b *builder) actionLabel(name string, a *flowapi.Action) (string, bool) {
	if l, ok := b.c.Msg.Lookup("action." + b.state + "/" + name); ok {
		return l, true
	}
	if l, ok := b.c.Msg.Lookup("action." + name); ok {
		return l, true
	}
	if d := strings.TrimSpace(a.Description); d != "" && len(d) <= 60 {
		return d, false
	}
	return cmp.Or(humanise(name), b.c.Msg.T("action.fallback")), false
}

// field maps one input to a form field; ok is false for inputs the page must not show and
// the gateway supplies itself (hidden, no value: redirect_to, code_verifier, token, ...).
func (b *builder) field(action, key string, in *flowapi.Input) (Field, bool) {
	secret := in.Type == flowapi.TypePassword || key == "password" || key == "new_password"
	f := Field{
		Name:      key,
		Type:      "text",
		Label:     b.inputLabel(action, key),
		Required:  in.IsRequired(),
		Hidden:    in.IsHidden(),
		MinLength: max(0, deref(in.MinLength)),
		MaxLength: max(0, deref(in.MaxLength)),
	}
	if v, ok := scalar(in.Value); ok && !secret {
		f.Value = v
	}
	switch {
	case in.Type == flowapi.TypeJSON && in.Hidden != nil && !*in.Hidden:
		// Declared visible (patch_metadata): the user types the JSON.
		f.Type = "textarea"
	case in.Type == flowapi.TypeJSON:
		f.Type, f.Hidden, f.WebAuthn = "hidden", true, true
	case f.Hidden:
		if in.Type == flowapi.TypeBoolean && f.Value == "" {
			// Capabilities (preflight): false unless the passkey script knows better.
			f.Value = "false"
		}
		if f.Value == "" {
			b.noteError(action, key, in, false)
			return Field{}, false
		}
		f.Type = "hidden"
	case in.Type == flowapi.TypeBoolean:
		f.Type, f.Value = "checkbox", "true"
		f.Checked = in.Value == true
	case secret:
		f.Type = "password"
	case in.Type == flowapi.TypeEmail:
		f.Type = "email"
	case in.Type == flowapi.TypeNumber:
		f.InputMode = "numeric"
	}
	if !f.Hidden && f.Type != "checkbox" {
		for _, c := range allowedCandidates(in.AllowedValues) {
			f.Choices = append(f.Choices, Choice{Value: c.id, Label: c.name})
		}
	}
	f.Autocomplete, f.InputMode = b.autocomplete(action, key, secret, f.InputMode)
	f.Error = b.noteError(action, key, in, !f.Hidden)
	return f, true
}

func (b *builder) autocomplete(action, key string, secret bool, mode string) (string, string) {
	switch {
	case key == "code" || key == "otp_code":
		return "one-time-code", "numeric"
	case secret && (action == "password_login" || b.state == "login_password") && key == "password":
		return "current-password", mode
	case secret:
		return "new-password", mode
	case b.flow == flowapi.FlowLogin && action == "continue_with_login_identifier":
		return "username webauthn", mode
	case key == "email":
		return "email", mode
	case key == "username":
		return "username", mode
	}
	return "", mode
}

func (b *builder) inputLabel(action, key string) string {
	if l, ok := b.c.Msg.Lookup("input." + action + "/" + key); ok {
		return l
	}
	if l, ok := b.c.Msg.Lookup("input." + key); ok {
		return l
	}
	return humanise(key)
}

// noteError returns the human text of an input's error and records where it will be shown.
func (b *builder) noteError(action, key string, in *flowapi.Input, visible bool) string {
	if in.Error == nil {
		return ""
	}
	m := b.c.Msg
	msg, _ := m.Lookup("input_error." + action + "/" + key + "/" + in.Error.Code)
	if msg == "" && (in.Type == flowapi.TypeEmail || key == "email") {
		msg, _ = m.Lookup("input_error.email/" + in.Error.Code)
	}
	generic, hasGeneric := m.Lookup("input_error." + in.Error.Code)
	switch {
	case msg != "":
	case in.Error.Code == flowapi.ErrValueTooShort && deref(in.MinLength) > 0:
		msg = m.T("input_error.too_short_min", *in.MinLength)
	case in.Error.Code == flowapi.ErrValueTooLong && deref(in.MaxLength) > 0:
		msg = m.T("input_error.too_long_max", *in.MaxLength)
	case hasGeneric:
		msg = generic
	case strings.TrimSpace(in.Error.Message) != "":
		msg = clip(in.Error.Message)
	default:
		msg = m.T("input_error.not_accepted")
	}
	if visible {
		b.visibleErrs++
	} else if b.hiddenErr == "" {
		b.hiddenErr = msg
	}
	return msg
}

// errorText is the message at the top of the page. When the details sit beside visible
// fields a generic line suffices; errors on inputs the user cannot see are shown here.
func (b *builder) errorText(e *flowapi.Error) string {
	if e == nil {
		return b.hiddenErr
	}
	if e.Code == flowapi.ErrFormDataInvalid {
		if b.hiddenErr != "" {
			return b.hiddenErr
		}
		switch {
		case b.visibleErrs == 1:
			return b.c.Msg.T("form.correct_one")
		case b.visibleErrs > 1:
			return b.c.Msg.T("form.correct_many")
		}
	}
	if t, ok := b.c.Msg.Lookup("error." + e.Code); ok {
		return t
	}
	return cmp.Or(clip(strings.TrimSpace(e.Message)), b.c.Msg.T("error."+flowapi.ErrTechnical))
}

// placeOnItems moves forms that act on one profile item beside that item; the rest stay.
func placeOnItems(p *Profile, forms []Form) []Form {
	var rest []Form
	for _, f := range forms {
		if f.item == "" || !attach(p, f) {
			rest = append(rest, f)
		}
	}
	return rest
}

func attach(p *Profile, f Form) bool {
	// Beside the item, the short label reads well; the full one names the item for screen readers.
	f.AriaLabel, f.Label = f.Label, cmp.Or(f.short, f.Label)
	switch f.itemKey {
	case "email_id":
		return attachTo(p.Emails, f, func(e *ProfileEmail) (string, *[]Form) { return e.ID, &e.Forms })
	case "passkey_id":
		return attachTo(p.Passkeys, f, keyForms)
	case "security_key_id":
		return attachTo(p.SecurityKeys, f, keyForms)
	case "session_id":
		return attachTo(p.Sessions, f, func(s *ProfileSession) (string, *[]Form) { return s.ID, &s.Forms })
	case "identity_id":
		return attachTo(p.Identities, f, func(i *ProfileIdentity) (string, *[]Form) { return i.ID, &i.Forms })
	}
	return false
}

func keyForms(k *ProfilePasskey) (string, *[]Form) { return k.ID, &k.Forms }

// attachTo appends f to the forms of the item f acts on; item gives an item's id and forms.
func attachTo[T any](items []T, f Form, item func(*T) (string, *[]Form)) bool {
	for i := range items {
		if id, forms := item(&items[i]); id == f.item {
			*forms = append(*forms, f)
			return true
		}
	}
	return false
}

// scalar renders a JSON scalar as a form value; objects, arrays and null are not values.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// Message is a plain page (backend down, signed out, ...) whose heading is the catalogue's
// text of key and whose text is that of key+".text".
func Message(c Context, key string) *Page {
	return &Page{Context: c, Template: "message", Heading: c.Msg.T(key), Intro: c.Msg.T(key + ".text")}
}

// RateLimited tells the browser that the backend refused a sign-in step for now and when
// to try again (seconds), with a link to the page it came from (c.Path).
func RateLimited(c Context, seconds int) *Page {
	return &Page{Context: c, Template: "message", State: "rate_limited",
		Heading: c.Msg.T("page.rate_limited"),
		Intro:   c.Msg.T("page.rate_limited.text", seconds),
		Links:   []Link{{Href: c.Path, Label: c.Msg.T("link.try_again")}}}
}

// Unavailable tells a signed-in browser that its session cannot be checked because the
// sign-in service is unavailable, and offers to retry (a same-site URL).
func Unavailable(c Context, retry string) *Page {
	return &Page{Context: c, Template: "unavailable", State: "unavailable",
		Heading: c.Msg.T("page.unavailable"),
		Intro:   c.Msg.T("page.unavailable.text"),
		Links:   []Link{{Href: retry, Label: c.Msg.T("link.try_again")}}}
}

// LogoutConfirm asks before signing out; its one form posts action "logout" to c.Path.
func LogoutConfirm(c Context) *Page {
	p := &Page{Context: c, Template: "message", Heading: c.Msg.T("logout.heading"), Intro: c.Msg.T("logout.text")}
	p.Forms = []Form{{ID: "form-1", Path: c.Path, CSRF: c.CSRF, Action: "logout", Label: c.Msg.T("logout.button")}}
	return p
}
