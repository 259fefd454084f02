package rules

import (
	"strings"
	"testing"
)

func TestNormalizeEmailAccepts(t *testing.T) {
	for in, want := range map[string]string{
		"alice@example.com":               "alice@example.com",
		"Alice@Example.COM":               "alice@example.com",
		"a.b+tag@sub.example.com":         "a.b+tag@sub.example.com",
		"o'hara@example.com":              "o'hara@example.com",
		"user@éxample.com":                "user@xn--xample-9ua.com",
		"user@ÉXAMPLE.com":                "user@xn--xample-9ua.com",
		"user@xn--xample-9ua.com":         "user@xn--xample-9ua.com",
		"user@ｅｘａｍｐｌｅ.com":                "user@example.com", // full-width letters map to ASCII
		"user@bücher.example":             "user@xn--bcher-kva.example",
		"x@localhost":                     "x@localhost",
		"1@2.example":                     "1@2.example",
		"a-b@a-b.example":                 "a-b@a-b.example",
		"a{b}c|d~e@example.com":           "a{b}c|d~e@example.com",
		strings.Repeat("a", 64) + "@x.io": strings.Repeat("a", 64) + "@x.io",
	} {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Addresses a rule must never take for an allowed one (or for any address at all).
func TestNormalizeEmailRejectsHostile(t *testing.T) {
	hostile := []string{
		"",
		"alice",
		"@example.com",
		"alice@",
		"alice@@example.com",
		"alice@evil.com@example.com",
		"alice@example.com@evil.com",
		`"alice@example.com"@evil.com`,
		`"alice"@example.com`,
		"alice(comment)@example.com",
		"alice@example.com(comment)",
		"alice@example.com.",             // trailing dot
		"alice@example.com..",            // two trailing dots
		"alice@.example.com",             // leading dot
		"alice@example..com",             // empty label
		"alice@example.com\u3002",        // ideographic full stop = trailing dot
		"alice@example.com\uff0e",        // full-width full stop = trailing dot
		"alice@example\uff0ecom\u3002",   // mapped dots, trailing
		"alice@example.com\uff20evil",    // full-width @ inside the domain
		"alice\uff20example.com",         // full-width @ is not an @
		".alice@example.com",             // leading dot in local part
		"alice.@example.com",             // trailing dot in local part
		"al..ice@example.com",            // doubled dot
		"alice @example.com",             // space
		"alice@ example.com",             // space
		"alice@example.com ",             // trailing space
		"alice\x00@example.com",          // NUL
		"alice@example.com\x00.evil.com", // NUL in domain
		"alice@example.com\r\nBcc: x@y",  // header injection
		"alice@[127.0.0.1]",              // IP literal
		"alice@127.0.0.1",                // IPv4 as domain
		"alice@0x7f.1",                   // numeric-looking last label
		"alice@example.com:443",          // port
		"alice@example.com/path",         // path
		"alice@exa_mple.com",             // underscore
		"alice@-example.com",             // leading hyphen
		"alice@example-.com",             // trailing hyphen
		"alice@xn--.com",                 // broken punycode
		"alice@xn--a.com",                // invalid punycode
		"alice@exa\u00admple.com",        // soft hyphen
		"alice@example.com\ufe0f",        // variation selector
		"alicé@example.com",              // non-ASCII local part
		"alice@exam\u200bple.com",        // zero-width space
		"alice@example\u202e.com",        // bidi override
		"alice<alice@example.com>",       // display form
		"alice@example.com,bob@example.com",
		"alice@example.com;bob@example.com",
		"alice\\@example.com",
		strings.Repeat("a", 65) + "@example.com",        // local part too long
		"a@" + strings.Repeat("b", 64) + ".com",         // label too long
		"a@" + strings.Repeat("abcdefghi.", 26) + "com", // address too long
		"alice@example.com%00",
	}
	if len(hostile) < 30 {
		t.Fatal("the table must keep at least 30 hostile addresses")
	}
	for _, in := range hostile {
		if got, err := NormalizeEmail(in); err == nil {
			t.Errorf("NormalizeEmail(%q) accepted as %q", in, got)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	for _, bad := range []string{"", ".", "example.com.", "*.example.com", "a..b", "1.2.3.4", "exa mple.com", "ex@mple.com"} {
		if got, err := NormalizeDomain(bad); err == nil {
			t.Errorf("NormalizeDomain(%q) accepted as %q", bad, got)
		}
	}
	if got, err := NormalizeDomain("Bücher.Example"); err != nil || got != "xn--bcher-kva.example" {
		t.Errorf("NormalizeDomain = %q, %v", got, err)
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", "a@ｅｘａｍｐｌｅ.com", "x@xn--bcher-kva.example", "a@b.c\u3002"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		// The normal form is ASCII, has one @, no trailing dot, and is a fixed point.
		if strings.Count(n, "@") != 1 || strings.HasSuffix(n, ".") || strings.ToLower(n) != n {
			t.Fatalf("%q normalised to %q", s, n)
		}
		for i := 0; i < len(n); i++ {
			if n[i] >= 0x80 || n[i] <= ' ' {
				t.Fatalf("%q normalised to non-ASCII %q", s, n)
			}
		}
		if again, err := NormalizeEmail(n); err != nil || again != n {
			t.Fatalf("normal form %q not stable: %q, %v", n, again, err)
		}
	})
}
