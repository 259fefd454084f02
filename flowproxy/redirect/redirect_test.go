package redirect

import (
	"strings"
	"testing"
)

func TestSafeAccepts(t *testing.T) {
	allowed := []string{"app.example.com", "Docs.Example.com", "api.example.com:8443"}
	cases := []struct{ in, want string }{
		{"/", "/"},
		{"/admin", "/admin"},
		{"/admin?x=1&y=%2F", "/admin?x=1&y=%2F"},
		{"/a/b/c#frag", "/a/b/c#frag"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/path//double", "/path//double"},
		{"  /admin  ", "/admin"},
		{"/ad\tmin", "/admin"},
		{"https://app.example.com/x", "https://app.example.com/x"},
		{"HTTPS://APP.EXAMPLE.COM/x", "HTTPS://APP.EXAMPLE.COM/x"},
		{"http://docs.example.com", "http://docs.example.com"},
		{"https://app.example.com:8443/x", "https://app.example.com:8443/x"},
		{"https://api.example.com:8443/", "https://api.example.com:8443/"},
		{"https://own.test/back", "https://own.test/back"},
	}
	for _, c := range cases {
		got, ok := Safe(c.in, "own.test", allowed)
		if !ok || got != c.want {
			t.Errorf("Safe(%q) = %q, %v; want %q, true", c.in, got, ok, c.want)
		}
	}
}

func TestSafeRefusesHostile(t *testing.T) {
	allowed := []string{"good.com", "api.good.com:8443"}
	hostile := []string{
		"",
		"//evil.com",
		"///evil.com",
		"////evil.com",
		"/\\evil.com",
		"\\/evil.com",
		"\\\\evil.com",
		"/%2F%2Fevil.com",
		"/%2fevil.com",
		"/%5Cevil.com",
		"/%5cevil.com",
		"/%252F%252Fevil.com",
		"/%25252F%25252Fevil.com",
		"%2F%2Fevil.com",
		"javascript:alert(1)",
		"JavaScript:alert(1)",
		"java\tscript:alert(1)",
		" javascript:alert(1)",
		"\x01javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox(1)",
		"file:///etc/passwd",
		"ftp://good.com/",
		"\t/\t/evil.com",
		"/\t/evil.com",
		"/\n/evil.com",
		"/\r/evil.com",
		"\n//evil.com",
		"https:evil.com",
		"https:/evil.com",
		"http:evil.com",
		"https:\\\\evil.com",
		"https:/\\evil.com",
		"https://evil.com",
		"https://evil.com/good.com",
		"https://good.com.evil.com",
		"https://evilgood.com",
		"https://good.com@evil.com",
		"https://good.com:pass@evil.com",
		"https://evil.com#@good.com",
		"https://evil.com?@good.com",
		"https://evil.com\\@good.com",
		"https://evil.com%40good.com",
		"https://good.com%2F@evil.com",
		"https://good.com\\.evil.com",
		"https://api.good.com/",
		"https://api.good.com:9999/",
		"https://good.com./",
		"https://",
		"https:///good.com",
		"http://[::1]/",
		"/。evil.com",
		"/\u3002evil.com",
		"/%E3%80%82evil.com",
		"/\uff0fevil.com",
		"\uff0f\uff0fevil.com",
		"/%EF%BC%8F%EF%BC%8Fevil.com",
		"/\uff3cevil.com",
		"https://good\u3002com/",
		"https://evil\u2024com/",
		"/\x00/evil.com",
		"/%00/evil.com",
		"/ok%0d%0aSet-Cookie:x=y",
		"/ok\x7f",
		"/ok%7f",
		"/ok%C2%85",
		"/ok%ZZ",
		"/ok%",
		"/ok%FF%FE",
		"/ok path",
		"evil.com",
		"evil.com/admin",
		"./admin",
		"../admin",
		"?x=1",
		"#frag",
		"/" + strings.Repeat("a", MaxLength),
		strings.Repeat("/", 3000),
		"\\/\\/evil.com",
		"/\\/evil.com",
		"http://evil.com:80@good.com/",
		"https://%65vil.com/",
		"https://good.com%00.evil.com/",
		"mailto:a@good.com",
		"//good.com",
		"https:good.com",
	}
	for _, in := range hostile {
		if got, ok := Safe(in, "own.test", allowed); ok {
			t.Errorf("Safe(%q) accepted as %q", in, got)
		}
		if got := Target(in, "own.test", allowed); got != Fallback {
			t.Errorf("Target(%q) = %q, want fallback", in, got)
		}
	}
}
