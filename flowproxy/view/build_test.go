package view

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/messages"
)

var ctx = Context{Title: "Site", Prefix: "/.hanko", Path: "/.hanko/login", CSRF: "gw-csrf", LinkQuery: "rd=%2Fadmin"}

// parse decodes a response literal; tests write responses as the wire JSON.
func parse(t *testing.T, body string) *flowapi.Response {
	t.Helper()
	var r flowapi.Response
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("bad test response: %v", err)
	}
	return &r
}

// formsOf returns the page's forms with the given action, including those on profile items.
func formsOf(p *Page, action string) []Form {
	var out []Form
	for _, f := range p.allForms() {
		if f.Action == action {
			out = append(out, f)
		}
	}
	return out
}

func field(t *testing.T, f Form, name string) Field {
	t.Helper()
	for _, fl := range f.Fields {
		if fl.Name == name {
			return fl
		}
	}
	t.Fatalf("form %s has no field %q (fields %+v)", f.Action, name, f.Fields)
	return Field{}
}

func hasField(f Form, name string) bool {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return true
		}
	}
	return false
}

const loginInit = `{"name":"login_init","status":200,"payload":{"request_options":{"publicKey":{"challenge":"abc","rpId":"localhost","timeout":600000}}},
"csrf_token":"x","actions":{
"continue_with_login_identifier":{"href":"/login?action=continue_with_login_identifier%40f","inputs":{"email":{"name":"email","type":"email","min_length":3,"max_length":120,"required":true}},"action":"continue_with_login_identifier","description":"Enter an identifier to login."},
"thirdparty_oauth":{"href":"h","inputs":{"code_verifier":{"name":"code_verifier","type":"string","hidden":true},"provider":{"name":"provider","type":"string","required":true,"hidden":true,"allowed_values":[{"value":"google","name":"Google"},{"value":"github","name":"GitHub"}]},"redirect_to":{"name":"redirect_to","type":"string","required":true,"hidden":true}},"action":"thirdparty_oauth","description":"Sign up/sign in with a third party provider via OAuth."},
"webauthn_generate_request_options":{"href":"h","inputs":{},"action":"webauthn_generate_request_options","description":"d"},
"webauthn_verify_assertion_response":{"href":"h","inputs":{"assertion_response":{"name":"assertion_response","type":"json","required":true}},"action":"webauthn_verify_assertion_response","description":"d"}},"links":null}`

func TestBuildLoginInit(t *testing.T) {
	p := Build(flowapi.FlowLogin, parse(t, loginInit), ctx)
	if p.Template != "login" || p.Heading != "Sign in" || p.State != "login_init" || p.Flow != "login" {
		t.Fatalf("page = %q %q %q %q", p.Template, p.Heading, p.State, p.Flow)
	}
	if !reflect.DeepEqual(p.Context, ctx) {
		t.Errorf("context not carried: %+v", p.Context)
	}
	id := formsOf(p, "continue_with_login_identifier")
	if len(id) != 1 {
		t.Fatalf("identifier forms = %d", len(id))
	}
	email := field(t, id[0], "email")
	want := Field{ID: email.ID, Name: "email", Type: "email", Label: "Email address", Required: true,
		MinLength: 3, MaxLength: 120, Autocomplete: "username webauthn"}
	if email.ID == "" || !equalField(email, want) {
		t.Errorf("email field = %+v, want %+v", email, want)
	}
	if p.Forms[0].Action != "continue_with_login_identifier" || p.Forms[0].Label != "Continue" {
		t.Errorf("first form = %s %q", p.Forms[0].Action, p.Forms[0].Label)
	}

	social := formsOf(p, "thirdparty_oauth")
	if len(social) != 2 {
		t.Fatalf("provider forms = %d, want one per allowed value", len(social))
	}
	labels := map[string]string{}
	for _, f := range social {
		pv := field(t, f, "provider")
		if pv.Type != "hidden" {
			t.Errorf("provider field type %q", pv.Type)
		}
		labels[pv.Value] = f.Label
		if hasField(f, "redirect_to") || hasField(f, "code_verifier") {
			t.Errorf("gateway-supplied hidden inputs rendered: %+v", f.Fields)
		}
	}
	if labels["google"] != "Continue with Google" || labels["github"] != "Continue with GitHub" {
		t.Errorf("provider labels = %v", labels)
	}

	verify := formsOf(p, "webauthn_verify_assertion_response")[0]
	ar := field(t, verify, "assertion_response")
	if !verify.NeedsJS || ar.Type != "hidden" || !ar.WebAuthn {
		t.Errorf("assertion form = %+v", verify)
	}
	if formsOf(p, "webauthn_generate_request_options")[0].NeedsJS {
		t.Error("options request needs no script")
	}
	if p.WebAuthnKind != "get" || p.WebAuthn != `{"publicKey":{"challenge":"abc","rpId":"localhost","timeout":600000}}` {
		t.Errorf("webauthn = %q %q", p.WebAuthnKind, p.WebAuthn)
	}
	if len(p.Links) != 1 || p.Links[0].Href != "/.hanko/register?rd=%2Fadmin" {
		t.Errorf("links = %+v", p.Links)
	}
	seen := map[string]bool{}
	for _, f := range p.allForms() {
		if f.Path != ctx.Path || f.CSRF != ctx.CSRF {
			t.Errorf("form %s posts to %q with %q", f.Action, f.Path, f.CSRF)
		}
		for _, id := range append([]string{f.ID}, fieldIDs(f)...) {
			if seen[id] {
				t.Errorf("duplicate id %q", id)
			}
			seen[id] = true
		}
	}
}

func fieldIDs(f Form) []string {
	var ids []string
	for _, fl := range f.Fields {
		ids = append(ids, fl.ID)
	}
	return ids
}

func equalField(a, b Field) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Type == b.Type && a.Label == b.Label && a.Value == b.Value &&
		a.Checked == b.Checked && a.Required == b.Required && a.Hidden == b.Hidden && a.MinLength == b.MinLength &&
		a.MaxLength == b.MaxLength && a.Error == b.Error && a.Autocomplete == b.Autocomplete &&
		a.InputMode == b.InputMode && a.WebAuthn == b.WebAuthn && len(a.Choices) == len(b.Choices)
}

func TestBuildFields(t *testing.T) {
	tests := []struct {
		name, flow, state, action, input string
		json                             string
		want                             Field
		omitted                          bool
	}{
		{name: "password login", flow: "login", state: "login_password", action: "password_login", input: "password",
			json: `{"type":"password","required":true,"value":"leak"}`,
			want: Field{Type: "password", Label: "Password", Required: true, Autocomplete: "current-password"}},
		{name: "new password", flow: "registration", state: "password_creation", action: "register_password", input: "new_password",
			json: `{"type":"password","min_length":8,"required":true}`,
			want: Field{Type: "password", Label: "New password", Required: true, MinLength: 8, Autocomplete: "new-password"}},
		{name: "profile password is string but secret", flow: "profile", state: "profile_init", action: "password_update", input: "password",
			json: `{"type":"string","min_length":8,"max_length":72,"required":true}`,
			want: Field{Type: "password", Label: "New password", Required: true, MinLength: 8, MaxLength: 72, Autocomplete: "new-password"}},
		{name: "passcode", flow: "login", state: "passcode_confirmation", action: "verify_passcode", input: "code",
			json: `{"type":"string","required":true}`,
			want: Field{Type: "text", Label: "Code from the email", Required: true, Autocomplete: "one-time-code", InputMode: "numeric"}},
		{name: "otp", flow: "login", state: "login_otp", action: "otp_code_validate", input: "otp_code",
			json: `{"type":"string","required":true}`,
			want: Field{Type: "text", Label: "Code from your authenticator app", Required: true, Autocomplete: "one-time-code", InputMode: "numeric"}},
		{name: "preserved value", flow: "login", state: "onboarding_email", action: "email_address_set", input: "email",
			json: `{"type":"string","max_length":120,"value":"a@b.example"}`,
			want: Field{Type: "text", Label: "Email address", MaxLength: 120, Value: "a@b.example", Autocomplete: "email"}},
		{name: "boolean", flow: "login", state: "login_init", action: "remember_me", input: "remember_me",
			json: `{"type":"boolean","required":true,"value":true}`,
			want: Field{Type: "checkbox", Label: "Stay signed in", Value: "true", Checked: true, Required: true}},
		{name: "boolean unchecked", flow: "login", state: "login_init", action: "remember_me", input: "remember_me",
			json: `{"type":"boolean"}`,
			want: Field{Type: "checkbox", Label: "Stay signed in", Value: "true"}},
		{name: "hidden with value", flow: "login", state: "x", action: "a", input: "token",
			json: `{"type":"string","hidden":true,"value":"t1"}`,
			want: Field{Type: "hidden", Label: "Token", Value: "t1", Hidden: true}},
		{name: "hidden without value", flow: "login", state: "x", action: "a", input: "redirect_to",
			json: `{"type":"string","hidden":true,"required":true}`, omitted: true},
		{name: "json for the script", flow: "login", state: "login_passkey", action: "webauthn_verify_assertion_response", input: "assertion_response",
			json: `{"type":"json","required":true}`,
			want: Field{Type: "hidden", Label: "Assertion response", Required: true, Hidden: true, WebAuthn: true}},
		{name: "visible json", flow: "profile", state: "profile_init", action: "patch_metadata", input: "patch_metadata",
			json: `{"type":"json","required":true,"hidden":false}`,
			want: Field{Type: "textarea", Label: "Metadata (JSON merge patch)", Required: true}},
		{name: "visible choice", flow: "login", state: "x", action: "a", input: "colour",
			json: `{"type":"string","allowed_values":[{"value":"r","name":"Red"},{"value":{"x":1},"name":"bad"},{"value":2,"name":"Two"}]}`,
			want: Field{Type: "text", Label: "Colour", Choices: make([]Choice, 2)}},
		{name: "unknown type, negative lengths", flow: "login", state: "x", action: "a", input: "thing",
			json: `{"type":"blob","min_length":-5,"max_length":-1,"value":{"o":1}}`,
			want: Field{Type: "text", Label: "Thing"}},
		{name: "number", flow: "login", state: "x", action: "a", input: "n",
			json: `{"type":"number","value":42}`,
			want: Field{Type: "text", Label: "N", Value: "42", InputMode: "numeric"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"name":"` + tt.state + `","status":200,"payload":{},"actions":{"` + tt.action +
				`":{"href":"h","action":"` + tt.action + `","inputs":{"` + tt.input + `":` + tt.json + `}}}}`
			p := Build(tt.flow, parse(t, body), ctx)
			forms := formsOf(p, tt.action)
			if len(forms) != 1 {
				t.Fatalf("forms = %d", len(forms))
			}
			if tt.omitted {
				if hasField(forms[0], tt.input) {
					t.Fatalf("field %s should be left to the gateway", tt.input)
				}
				return
			}
			got := field(t, forms[0], tt.input)
			tt.want.ID, tt.want.Name = got.ID, tt.input
			if !equalField(got, tt.want) {
				t.Errorf("field = %+v\nwant    %+v", got, tt.want)
			}
			if forms[0].NeedsJS != tt.want.WebAuthn {
				t.Errorf("NeedsJS = %v", forms[0].NeedsJS)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name, body          string
		wantError           string
		wantField, fieldErr string
	}{
		{name: "wrong password", body: `{"name":"login_password","status":400,"payload":{},"actions":{"password_login":{"inputs":{"password":{"name":"password","type":"password","required":true,"error":{"code":"value_invalid_error","message":"The value is invalid."}}}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please correct the marked field.", wantField: "password", fieldErr: "The password is not correct."},
		{name: "too short uses min length", body: `{"name":"password_creation","status":400,"payload":{},"actions":{"register_password":{"inputs":{"new_password":{"type":"password","min_length":8,"error":{"code":"value_too_short_error","message":"x"}}}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please correct the marked field.", wantField: "new_password", fieldErr: "This is too short: use at least 8 characters."},
		{name: "invalid email", body: `{"name":"login_init","status":400,"payload":{},"actions":{"continue_with_login_identifier":{"inputs":{"email":{"type":"email","error":{"code":"value_invalid_error","message":"The value is invalid."}}}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please correct the marked field.", wantField: "email", fieldErr: "Please enter a valid email address."},
		{name: "refused sign-up address", body: `{"name":"registration_init","status":400,"payload":{},"actions":{"register_login_identifier":{"inputs":{"email":{"type":"email","error":{"code":"value_invalid_error","message":"The value is invalid."}}}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please correct the marked field.", wantField: "email", fieldErr: "Sign-up is not possible with this email address. Please check it or use another one."},
		{name: "unknown input code keeps API text", body: `{"name":"x","status":400,"payload":{},"actions":{"a":{"inputs":{"v":{"type":"string","error":{"code":"new_code","message":"<b>Nope</b>"}}}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please correct the marked field.", wantField: "v", fieldErr: "<b>Nope</b>"},
		{name: "error on a hidden input goes to the top", body: `{"name":"profile_init","status":400,"payload":{},"actions":{"email_delete":{"inputs":{"email_id":{"type":"string","hidden":true,"required":true,"allowed_values":[{"value":"e1","name":"a@b.c"}],"error":{"code":"value_invalid_error","message":"The value is invalid. Must be one of: e1"}}}}},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please check this value."},
		{name: "form error without field details", body: `{"name":"login_password_recovery","status":400,"payload":{},"actions":{},"error":{"code":"form_data_invalid_error","message":"Form data invalid."}}`,
			wantError: "Please check your entry and try again."},
		{name: "known flow error", body: `{"name":"passcode_confirmation","status":401,"payload":{},"actions":{},"error":{"code":"passcode_max_attempts_reached","message":"m"}}`,
			wantError: "The code was entered wrongly too many times. Please request a new code."},
		{name: "unknown flow error shows API text", body: `{"name":"x","status":418,"payload":{},"actions":{},"error":{"code":"teapot","message":"<script>alert(1)</script>"}}`,
			wantError: "<script>alert(1)</script>"},
		{name: "unknown flow error without text", body: `{"name":"x","status":418,"payload":{},"actions":{},"error":{"code":"teapot","message":"  "}}`,
			wantError: "Something went wrong. Please try again."},
		{name: "huge message is shortened", body: `{"name":"x","status":418,"payload":{},"actions":{},"error":{"code":"teapot","message":"` + strings.Repeat("é", 1000) + `"}}`,
			wantError: strings.Repeat("é", maxText/2) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Build("login", parse(t, tt.body), ctx)
			if p.Error != tt.wantError {
				t.Errorf("Error = %q, want %q", p.Error, tt.wantError)
			}
			if tt.wantField == "" {
				return
			}
			for _, f := range p.allForms() {
				if hasField(f, tt.wantField) {
					if got := field(t, f, tt.wantField).Error; got != tt.fieldErr {
						t.Errorf("field error = %q, want %q", got, tt.fieldErr)
					}
					return
				}
			}
			t.Errorf("no field %s", tt.wantField)
		})
	}
}

func TestBuildPayload(t *testing.T) {
	const png = "data:image/png;base64,iVBORw0KGgo="
	tests := []struct {
		name, payload  string
		wait           int
		waitFor        string
		image, secret  string
		webauthn, kind string
	}{
		{name: "resend_after", payload: `{"resend_after":59}`, wait: 59, waitFor: "Please wait 59 seconds before requesting a new code."},
		{name: "retry_after fraction rounds up", payload: `{"retry_after":1.2}`, wait: 2, waitFor: "Please wait 2 seconds before trying again."},
		{name: "negative wait", payload: `{"retry_after":-3}`},
		{name: "wait of wrong type", payload: `{"retry_after":"60"}`},
		{name: "absurd wait is capped", payload: `{"retry_after":1e300}`, wait: maxWait, waitFor: "Please wait 86400 seconds before trying again."},
		{name: "otp", payload: `{"otp_secret":"ABC","otp_image_source":"` + png + `"}`, image: png, secret: "ABC"},
		{name: "otp javascript url", payload: `{"otp_secret":"ABC","otp_image_source":"javascript:alert(1)"}`, secret: "ABC"},
		{name: "otp svg", payload: `{"otp_image_source":"data:image/svg+xml;base64,PHN2Zz4="}`},
		{name: "otp remote", payload: `{"otp_image_source":"https://evil.example/qr.png"}`},
		{name: "otp png prefix then junk", payload: `{"otp_image_source":"data:image/png;base64,AA\" onerror=\"x"}`},
		{name: "otp wrong types", payload: `{"otp_image_source":5,"otp_secret":{"a":1}}`},
		{name: "creation options", payload: "{\"creation_options\": {\"publicKey\" : {\"rp\":{\"id\":\"localhost\"}}}}", webauthn: `{"publicKey":{"rp":{"id":"localhost"}}}`, kind: "create"},
		{name: "options not an object", payload: `{"request_options":"{\"publicKey\":{}}"}`},
		{name: "payload not an object", payload: `[1,2,3]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Build("login", parse(t, `{"name":"s","status":200,"payload":`+tt.payload+`,"actions":{}}`), ctx)
			if p.Wait != tt.wait || p.WaitText != tt.waitFor {
				t.Errorf("wait = %d %q, want %d %q", p.Wait, p.WaitText, tt.wait, tt.waitFor)
			}
			if string(p.OTPImage) != tt.image || p.OTPSecret != tt.secret {
				t.Errorf("otp = %q %q", p.OTPImage, p.OTPSecret)
			}
			if p.WebAuthn != tt.webauthn || p.WebAuthnKind != tt.kind {
				t.Errorf("webauthn = %q %q", p.WebAuthn, p.WebAuthnKind)
			}
			if p.WebAuthn != "" && !json.Valid([]byte(p.WebAuthn)) {
				t.Error("webauthn is not JSON")
			}
		})
	}
}

func TestBuildHostile(t *testing.T) {
	tests := []struct{ name, body string }{
		{"nil action", `{"name":"login_init","actions":{"back":null}}`},
		{"nil input", `{"name":"login_init","actions":{"a":{"inputs":{"x":null}}}}`},
		{"null everything", `{"name":null,"payload":null,"actions":null,"error":null}`},
		{"payload string", `{"name":"profile_init","payload":"hello","actions":{"email_set_primary":{"inputs":{"email_id":{"type":"string","hidden":true}}}}}`},
		{"profile wrong types", `{"name":"profile_init","payload":{"user":{"emails":[1,"x",{"id":5},{"id":"e","address":{"a":1},"is_primary":"yes"}],"passkeys":{"a":1},"mfa_config":[]},"sessions":"no"},"actions":{"email_set_primary":{"inputs":{"email_id":{"type":"string","hidden":true}}}}}`},
		{"underscore inputs", `{"name":"x","actions":{"a":{"inputs":{"_csrf":{"type":"string","value":"evil"},"_action":{"type":"string"},"":{"type":"string"}}}}}`},
		{"allowed values of odd types", `{"name":"x","actions":{"a":{"inputs":{"v":{"type":"string","hidden":true,"allowed_values":[{"value":null},{"value":[1]},{"value":true,"name":""}]}}}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parse(t, tt.body)
			for _, flow := range []string{"login", "registration", "profile", ""} {
				p := Build(flow, r, ctx)
				for _, f := range p.allForms() {
					for _, fl := range f.Fields {
						if strings.HasPrefix(fl.Name, "_") || fl.Name == "" {
							t.Errorf("field %q rendered", fl.Name)
						}
					}
				}
			}
		})
	}
	if p := Build("login", nil, ctx); p.Template != "error" || p.Error == "" || len(p.Links) != 1 {
		t.Errorf("nil response page = %+v", p)
	}
}

func TestBuildActionKeyWins(t *testing.T) {
	p := Build("login", parse(t, `{"name":"x","actions":{"skip":{"action":"account_delete","description":"Skip"}}}`), ctx)
	if len(p.Forms) != 1 || p.Forms[0].Action != "skip" || p.Forms[0].Label != "Skip for now" || !p.Forms[0].Secondary {
		t.Errorf("forms = %+v", p.Forms)
	}
}

func TestBuildUnknownState(t *testing.T) {
	p := Build("login", parse(t, `{"name":"brand_new_state","status":200,"payload":{},"actions":{
		"do_thing":{"description":"Do the new thing.","inputs":{"answer":{"type":"string","required":true}}},
		"another_step_with_a_really_long_description":{"description":"`+strings.Repeat("long ", 30)+`"}}}`), ctx)
	if p.Template != "generic" || p.Heading != "Brand new state" {
		t.Errorf("page = %q %q", p.Template, p.Heading)
	}
	if f := formsOf(p, "do_thing"); len(f) != 1 || f[0].Label != "Do the new thing." || field(t, f[0], "answer").Label != "Answer" {
		t.Errorf("do_thing = %+v", f)
	}
	if f := formsOf(p, "another_step_with_a_really_long_description"); len(f) != 1 || f[0].Label != "Another step with a really long description" {
		t.Errorf("long description label = %+v", f)
	}
	if len(p.Links) != 0 {
		t.Errorf("links = %+v", p.Links)
	}
}

func TestBuildStates(t *testing.T) {
	tests := []struct {
		flow, body              string
		template, heading, link string
	}{
		{"registration", `{"name":"registration_init","actions":{}}`, "registration", "Create an account", "/.hanko/login?rd=%2Fadmin"},
		{"login", `{"name":"passcode_confirmation","actions":{}}`, "passcode", "Check your email", ""},
		{"login", `{"name":"login_password_recovery","actions":{}}`, "password", "Choose a new password", ""},
		{"registration", `{"name":"onboarding_create_passkey","actions":{}}`, "onboarding", "Create a passkey", ""},
		{"login", `{"name":"device_trust","actions":{}}`, "mfa", "Trust this device?", ""},
		{"login", `{"name":"success","actions":{}}`, "success", "You're signed in", ""},
		{"registration", `{"name":"success","actions":{}}`, "success", "Your account is ready", ""},
		{"profile", `{"name":"account_deleted","actions":{}}`, "success", "Account deleted", ""},
		{"profile", `{"name":"profile_init","payload":{},"actions":{}}`, "profile", "Your account", "/.hanko/logout"},
		{"login", `{"name":"error","status":500,"actions":{},"error":{"code":"technical_error","message":"x"}}`, "error", "Something went wrong", "/.hanko/login?rd=%2Fadmin"},
		{"login", `{"name":"error","status":410,"actions":{},"error":{"code":"flow_expired_error","message":"x"}}`, "error", "This page has expired", "/.hanko/login?rd=%2Fadmin"},
	}
	for _, tt := range tests {
		p := Build(tt.flow, parse(t, tt.body), ctx)
		if p.Template != tt.template || p.Heading != tt.heading {
			t.Errorf("%s: page = %q %q, want %q %q", tt.body, p.Template, p.Heading, tt.template, tt.heading)
		}
		var link string
		if len(p.Links) > 0 {
			link = p.Links[0].Href
		}
		if link != tt.link {
			t.Errorf("%s: link = %q, want %q", tt.body, link, tt.link)
		}
	}
	noQuery := ctx
	noQuery.LinkQuery = ""
	if p := Build("login", parse(t, `{"name":"login_init","actions":{}}`), noQuery); p.Links[0].Href != "/.hanko/register" {
		t.Errorf("link without query = %q", p.Links[0].Href)
	}
}

const profileInit = `{"name":"profile_init","status":200,"payload":{
"sessions":[{"id":"s-cur","current":true,"user_agent":"Linux (Chrome)","ip_address":"127.0.0.1","last_used":"2026-11-25T17:18:33.13245Z"},{"id":"s-other","current":false,"user_agent":"Mac (Safari)"}],
"user":{"user_id":"u1","emails":[{"id":"e1","address":"a@example.com","is_primary":true,"is_verified":true},{"id":"e2","address":"b@example.com","is_primary":false,"is_verified":false}],
"passkeys":[{"id":"p1","name":"Laptop","created_at":"2026-11-25T17:18:33.152402955Z"}],"security_keys":[{"id":"k1"}],
"identities":[{"id":"123","provider":"Google","identity_id":"i1"}],"mfa_config":{"auth_app_set_up":true},"username":{"username":"alice"}}},
"actions":{
"email_delete":{"inputs":{"email_id":{"type":"string","required":true,"hidden":true,"allowed_values":[{"value":"e2","name":"b@example.com"},{"value":"gone","name":"gone@example.com"}]}}},
"email_set_primary":{"inputs":{"email_id":{"type":"string","required":true,"hidden":true}}},
"email_verify":{"inputs":{"email_id":{"type":"string","required":true,"hidden":true}}},
"webauthn_credential_rename":{"inputs":{"passkey_id":{"type":"string","required":true,"hidden":true},"passkey_name":{"type":"string","required":true}}},
"webauthn_credential_delete":{"inputs":{"passkey_id":{"type":"string","required":true,"hidden":true}}},
"security_key_delete":{"inputs":{"security_key_id":{"type":"string","required":true,"hidden":true}}},
"session_delete":{"inputs":{"session_id":{"type":"string","required":true,"hidden":true,"allowed_values":[{"value":"s-other","name":"s-other"}]}}},
"disconnect_thirdparty_oauth_provider":{"inputs":{}},
"email_create":{"inputs":{"email":{"type":"email","required":true}}},
"account_delete":{"inputs":{}},
"patch_metadata":{"inputs":{"patch_metadata":{"type":"json","hidden":false}}},
"brand_new":{"inputs":{}}}}`

func TestBuildProfile(t *testing.T) {
	p := Build("profile", parse(t, profileInit), ctx)
	pr := p.Profile
	if pr == nil || pr.UserID != "u1" || pr.Username != "alice" || !pr.HasOTP || len(pr.Emails) != 2 ||
		len(pr.Passkeys) != 1 || len(pr.SecurityKeys) != 1 || len(pr.Sessions) != 2 || len(pr.Identities) != 1 {
		t.Fatalf("profile = %+v", pr)
	}
	if pr.Sessions[0].LastUsed != "25 Nov 2026, 17:18 UTC" || pr.Passkeys[0].CreatedAt != "25 Nov 2026, 17:18 UTC" {
		t.Errorf("times = %q %q", pr.Sessions[0].LastUsed, pr.Passkeys[0].CreatedAt)
	}
	actions := func(forms []Form) string {
		var s []string
		for _, f := range forms {
			s = append(s, f.Action)
		}
		return strings.Join(s, ",")
	}
	if got := actions(pr.Emails[0].Forms); got != "" {
		t.Errorf("primary verified e-mail forms = %s", got)
	}
	if got := actions(pr.Emails[1].Forms); got != "email_delete,email_set_primary,email_verify" {
		t.Errorf("second e-mail forms = %s", got)
	}
	for _, f := range pr.Emails[1].Forms {
		if field(t, f, "email_id").Value != "e2" || f.AriaLabel == "" || f.Section != "emails" {
			t.Errorf("e-mail form %+v", f)
		}
	}
	if del := pr.Emails[1].Forms[0]; del.Label != "Remove" || del.AriaLabel != "Remove b@example.com" || !del.Danger {
		t.Errorf("delete form label %q / %q", del.Label, del.AriaLabel)
	}
	if got := actions(pr.Passkeys[0].Forms); got != "webauthn_credential_delete,webauthn_credential_rename" {
		t.Errorf("passkey forms = %s", got)
	}
	rename := pr.Passkeys[0].Forms[1]
	if field(t, rename, "passkey_id").Value != "p1" || field(t, rename, "passkey_name").Value != "Laptop" {
		t.Errorf("rename = %+v", rename.Fields)
	}
	if got := actions(pr.SecurityKeys[0].Forms); got != "security_key_delete" {
		t.Errorf("security key forms = %s", got)
	}
	if got := actions(pr.Sessions[0].Forms) + "|" + actions(pr.Sessions[1].Forms); got != "|session_delete" {
		t.Errorf("session forms = %s", got)
	}
	if f := pr.Identities[0].Forms; len(f) != 1 || field(t, f[0], "identity_id").Value != "i1" {
		t.Errorf("identity forms = %+v", f)
	}
	// An allowed value naming no listed item keeps its form on the page.
	if got := p.Section("emails"); len(got) != 2 || got[0].Action != "email_create" || field(t, got[1], "email_id").Value != "gone" {
		t.Errorf("emails section = %+v", got)
	}
	if got := actions(p.Section("account")); got != "account_delete" {
		t.Errorf("account section = %s", got)
	}
	if got := actions(p.Section("other")); got != "brand_new,patch_metadata" {
		t.Errorf("other section = %s", got)
	}
	if p.NeedsJS() {
		t.Error("profile page needs no script")
	}
}

func TestBuildProfileNothingDeletable(t *testing.T) {
	p := Build("profile", parse(t, `{"name":"profile_init","payload":{"user":{"emails":[{"id":"e1","address":"a@example.com","is_primary":true,"is_verified":true}]}},
		"actions":{"email_delete":{"inputs":{"email_id":{"type":"string","required":true,"hidden":true}}},
		"email_set_primary":{"inputs":{"email_id":{"type":"string","required":true,"hidden":true}}}}}`), ctx)
	// Hanko offers email_delete without allowed_values when no address may be deleted, and
	// email_set_primary with only the primary address: neither has anything to act on.
	if f := p.allForms(); len(f) != 0 {
		t.Errorf("forms = %+v", f)
	}
}

func TestMessageAndLogout(t *testing.T) {
	m := Message(ctx, "page.api_down")
	if m.Template != "message" || m.Heading != "Sign-in service unavailable" || !strings.HasPrefix(m.Intro, "The sign-in service could not be reached") || len(m.Forms) != 0 {
		t.Errorf("message = %+v", m)
	}
	l := LogoutConfirm(ctx)
	if l.Template != "message" || len(l.Forms) != 1 {
		t.Fatalf("logout = %+v", l)
	}
	f := l.Forms[0]
	if f.Action != "logout" || f.Path != ctx.Path || f.CSRF != ctx.CSRF || len(f.Fields) != 0 || f.Label == "" {
		t.Errorf("logout form = %+v", f)
	}
}

// TestInputErrorsInEveryLanguage: a value_invalid_error on an input without its own text
// (a username, a code, a hidden choice) is shown in the page's language, never in the
// backend's English.
func TestInputErrorsInEveryLanguage(t *testing.T) {
	const backendText = "The value is invalid."
	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	invalid := `"error":{"code":"value_invalid_error","message":"` + backendText + `"}`
	for _, c := range []struct{ name, body, field string }{
		{"username", `{"name":"registration_init","status":400,"payload":{},"actions":{"register_login_identifier":{"inputs":{"username":{"name":"username","type":"string",` + invalid + `}}}},"error":{"code":"form_data_invalid_error","message":"m"}}`, "username"},
		{"otp code", `{"name":"login_otp","status":400,"payload":{},"actions":{"otp_code_validate":{"inputs":{"otp_code":{"name":"otp_code","type":"string",` + invalid + `}}}},"error":{"code":"form_data_invalid_error","message":"m"}}`, "otp_code"},
		{"hidden choice", `{"name":"profile_init","status":400,"payload":{},"actions":{"email_delete":{"inputs":{"email_id":{"name":"email_id","type":"string","hidden":true,` + invalid + `}}}},"error":{"code":"form_data_invalid_error","message":"m"}}`, ""},
	} {
		seen := map[string]string{}
		for _, lang := range []string{"en", "de", "fr"} {
			lctx := ctx
			lctx.Msg = cat.Messages(lang)
			p := Build("login", parse(t, c.body), lctx)
			got := p.Error
			if c.field != "" {
				for _, f := range p.allForms() {
					if hasField(f, c.field) {
						got = field(t, f, c.field).Error
					}
				}
			}
			if got == "" || got == backendText {
				t.Errorf("%s in %s: %q, want the catalogue's text for an invalid value", c.name, lang, got)
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%s: %s shows %q as %s does", c.name, lang, got, other)
			}
			seen[got] = lang
		}
	}
}
