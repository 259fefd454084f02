package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// claims decodes a JWT payload the way the gateway does (numbers as json.Number).
func claims(t testing.TB, payload string) map[string]any {
	t.Helper()
	var c map[string]any
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func subject(t testing.TB, payload string) *Subject {
	s := NewSubject(claims(t, payload))
	return &s
}

func compile(t testing.TB, c Config) *Rules {
	t.Helper()
	r, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const alice = `{"sub":"7F0B6A0E-0000-4000-8000-000000000001","iat":1000,"amr":["pwd","totp"],
	"email":{"address":"Alice@Example.com","is_primary":true,"is_verified":true},"role":["admin","dev"],"level":3,"staff":true}`

func TestSubjectFromHankoClaims(t *testing.T) {
	s := subject(t, alice)
	if s.Email != "alice@example.com" || s.Domain != "example.com" || s.UserID != "7f0b6a0e-0000-4000-8000-000000000001" ||
		s.AuthTime != 1000 || len(s.AMR) != 2 {
		t.Fatalf("%+v", s)
	}
	for name, payload := range map[string]string{
		"unverified":    `{"email":{"address":"a@example.com","is_primary":true,"is_verified":false}}`,
		"not primary":   `{"email":{"address":"a@example.com","is_primary":false,"is_verified":true}}`,
		"plain string":  `{"email":"a@example.com"}`,
		"verified text": `{"email":{"address":"a@example.com","is_primary":true,"is_verified":"true"}}`,
		"hostile":       `{"email":{"address":"a@example.com.","is_primary":true,"is_verified":true}}`,
	} {
		if s := subject(t, payload); s.Email != "" || s.Domain != "" {
			t.Errorf("%s: e-mail %q counted", name, s.Email)
		}
	}
}

func TestCheck(t *testing.T) {
	now := time.Unix(1000+600, 0)
	s := subject(t, alice)
	cases := []struct {
		name string
		cfg  Config
		want Decision
	}{
		{"no rules", Config{}, Pass},
		{"allow email", Config{Allow: []Match{{Kind: KindEmails, Values: []string{"bob@example.com", "ALICE@example.com"}}}}, Pass},
		{"allow other email", Config{Allow: []Match{{Kind: KindEmails, Values: []string{"bob@example.com"}}}}, Forbidden},
		{"allow domain", Config{Allow: []Match{{Kind: KindDomains, Values: []string{"EXAMPLE.com"}}}}, Pass},
		{"subdomain needs wildcard", Config{Allow: []Match{{Kind: KindDomains, Values: []string{"*.example.com"}}}}, Forbidden},
		{"parent domain is not it", Config{Allow: []Match{{Kind: KindDomains, Values: []string{"com"}}}}, Forbidden},
		{"allow user", Config{Allow: []Match{{Kind: KindUsers, Values: []string{"7f0b6a0e-0000-4000-8000-000000000001"}}}}, Pass},
		{"allow claim list", Config{Allow: []Match{{Kind: KindClaim, Claim: "role", Values: []string{"admin"}}}}, Pass},
		{"allow claim number", Config{Allow: []Match{{Kind: KindClaim, Claim: "level", Values: []string{"3"}}}}, Pass},
		{"allow claim bool", Config{Allow: []Match{{Kind: KindClaim, Claim: "staff", Values: []string{"true"}}}}, Pass},
		{"allow claim missing", Config{Allow: []Match{{Kind: KindClaim, Claim: "group", Values: []string{"admin"}}}}, Forbidden},
		{"allow claim object never", Config{Allow: []Match{{Kind: KindClaim, Claim: "email", Values: []string{"alice@example.com"}}}}, Forbidden},
		{"any allow line", Config{Allow: []Match{{Kind: KindEmails, Values: []string{"x@y.io"}}, {Kind: KindDomains, Values: []string{"example.com"}}}}, Pass},
		{"deny wins", Config{Allow: []Match{{Kind: KindDomains, Values: []string{"example.com"}}}, Deny: []Match{{Kind: KindEmails, Values: []string{"alice@example.com"}}}}, Forbidden},
		{"deny only", Config{Deny: []Match{{Kind: KindClaim, Claim: "role", Values: []string{"dev"}}}}, Forbidden},
		{"deny other", Config{Deny: []Match{{Kind: KindEmails, Values: []string{"mallory@example.com"}}}}, Pass},
		{"amr met", Config{RequireAMR: [][]string{{"password"}}}, Pass},
		{"amr mfa met", Config{RequireAMR: [][]string{{"mfa"}}}, Pass},
		{"amr passkey", Config{RequireAMR: [][]string{{"passkey"}}}, StepUp},
		{"amr alternatives", Config{RequireAMR: [][]string{{"passkey", "mfa"}}}, Pass},
		{"amr all lines", Config{RequireAMR: [][]string{{"pwd"}, {"security_key"}}}, StepUp},
		{"forbidden before step-up", Config{Allow: []Match{{Kind: KindUsers, Values: []string{"someone"}}}, RequireAMR: [][]string{{"passkey"}}}, Forbidden},
		{"max_age met", Config{MaxAge: 15 * time.Minute}, Pass},
		{"max_age exceeded", Config{MaxAge: 5 * time.Minute}, StepUp},
	}
	for _, c := range cases {
		if got := compile(t, c.cfg).Check(s, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	var none *Rules
	if none.Check(s, now) != Pass {
		t.Error("nil rules must pass")
	}
	// Without a verified address e-mail and domain rules cannot tell: allow lines never
	// match, deny lines refuse (a denied user must not pass on an unverified address).
	unverified := subject(t, `{"sub":"u","email":{"address":"mallory@example.com","is_primary":true,"is_verified":false}}`)
	for _, c := range []struct {
		cfg  Config
		want Decision
	}{
		{Config{Allow: []Match{{Kind: KindDomains, Values: []string{"example.com"}}}}, Forbidden},
		{Config{Deny: []Match{{Kind: KindEmails, Values: []string{"mallory@example.com"}}}}, Forbidden},
		{Config{Deny: []Match{{Kind: KindDomains, Values: []string{"evil.example"}}}}, Forbidden},
		{Config{Deny: []Match{{Kind: KindUsers, Values: []string{"x"}}}}, Pass},
		{Config{Deny: []Match{{Kind: KindClaim, Claim: "role", Values: []string{"guest"}}}}, Pass},
	} {
		r := compile(t, c.cfg)
		if got := r.Check(unverified, now); got != c.want {
			t.Errorf("unverified address, %+v: %v, want %v", c.cfg, got, c.want)
		}
	}
	if got := compile(t, Config{Deny: []Match{{Kind: KindUsers, Values: []string{"x"}}}}).Check(subject(t, `{"amr":["pwd"]}`), now); got != Forbidden {
		t.Errorf("no user id, deny users: %v, want forbidden", got)
	}
	// Unknown sign-in time fails max_age closed.
	if compile(t, Config{MaxAge: time.Hour}).Check(subject(t, `{"sub":"u"}`), now) != StepUp {
		t.Error("missing iat passed max_age")
	}
}

func TestCompileErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"bad email":     {Allow: []Match{{Kind: KindEmails, Values: []string{"alice@example.com."}}}},
		"bad domain":    {Allow: []Match{{Kind: KindDomains, Values: []string{"@example.com"}}}},
		"no values":     {Deny: []Match{{Kind: KindUsers}}},
		"kind":          {Allow: []Match{{Kind: "groups", Values: []string{"x"}}}},
		"claim no name": {Allow: []Match{{Kind: KindClaim, Values: []string{"x"}}}},
		"method":        {RequireAMR: [][]string{{"retina"}}},
		"empty line":    {RequireAMR: [][]string{{}}},
		"max_age":       {MaxAge: -time.Second},
	} {
		if _, err := Compile(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRequirementRoundTripAndFirstFactors(t *testing.T) {
	r := compile(t, Config{RequireAMR: [][]string{{"passkey", "Password"}, {"passkey", "mfa"}}})
	q := r.Requirement()
	back, err := ParseRequirement(q.String())
	if err != nil || back.String() != "passkey,pwd passkey,mfa" {
		t.Fatalf("%q, %v", back.String(), err)
	}
	ff := back.FirstFactors()
	if !ff[AMRPasskey] || !ff[AMRPassword] || ff[AMRPasscode] || ff[AMRExternal] {
		t.Errorf("first factors %v", ff)
	}
	if ff := (Requirement{{"passkey"}}).FirstFactors(); len(ff) != 1 || !ff[AMRPasskey] {
		t.Errorf("passkey only: %v", ff)
	}
	if ff := (Requirement{{"ext:github"}}).FirstFactors(); len(ff) != 1 || !ff[AMRExternal] {
		t.Errorf("ext: %v", ff)
	}
	for q, want := range map[string]bool{"passkey": false, "pwd passkey,otp": false, "mfa": true, "passkey,totp": true, "pwd security_key": true} {
		if r, _ := ParseRequirement(q); r.SecondFactor() != want {
			t.Errorf("%q: SecondFactor %v, want %v", q, !want, want)
		}
	}
	if !(Requirement{{"ext"}}).Satisfied([]string{"ext:github"}) || (Requirement{{"ext:google"}}).Satisfied([]string{"ext:github"}) {
		t.Error("ext matching")
	}
	for _, bad := range []string{"retina", "passkey,", string(make([]byte, 300))} {
		if _, err := ParseRequirement(bad); err == nil {
			t.Errorf("ParseRequirement(%q) accepted", bad)
		}
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	r := compile(t, benchConfig)
	s := subject(t, alice)
	now := time.Unix(1100, 0)
	if n := testing.AllocsPerRun(100, func() { r.Check(s, now) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

var benchConfig = Config{
	Allow: []Match{
		{Kind: KindEmails, Values: []string{"bob@example.com", "carol@example.com"}},
		{Kind: KindClaim, Claim: "role", Values: []string{"ops"}},
		{Kind: KindDomains, Values: []string{"*.corp.example", "example.com"}},
	},
	Deny:       []Match{{Kind: KindEmails, Values: []string{"mallory@example.com"}}, {Kind: KindUsers, Values: []string{"x"}}},
	RequireAMR: [][]string{{"passkey", "mfa"}},
	MaxAge:     time.Hour,
}

func BenchmarkCheck(b *testing.B) {
	r := compile(b, benchConfig)
	s := subject(b, alice)
	now := time.Unix(1100, 0)
	b.ReportAllocs()
	for b.Loop() {
		if r.Check(s, now) != Pass {
			b.Fatal("want pass")
		}
	}
}
