package csrf

import (
	"net/http/httptest"
	"testing"
)

func TestToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if len(a) != 43 || a == b {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !Equal(a, a) || Equal(a, b) || Equal("", "") || Equal(a, a[:42]) {
		t.Fatal("Equal")
	}
}

func TestSameOrigin(t *testing.T) {
	cases := []struct {
		name string
		tls  bool
		hdr  map[string]string
		want bool
	}{
		{"no signals", false, nil, true},
		{"same-origin", false, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://app.test"}, true},
		{"typed", false, map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"cross-site", false, map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"same-site", false, map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"foreign origin", false, map[string]string{"Origin": "http://evil.test"}, false},
		{"null origin", false, map[string]string{"Origin": "null"}, false},
		{"scheme mismatch", false, map[string]string{"Origin": "https://app.test"}, false},
		{"tls", true, map[string]string{"Origin": "https://app.test"}, true},
		{"tls downgrade", true, map[string]string{"Origin": "http://app.test"}, false},
		{"port differs", false, map[string]string{"Origin": "http://app.test:8080"}, false},
		{"good origin bad site", false, map[string]string{"Origin": "http://app.test", "Sec-Fetch-Site": "cross-site"}, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "http://app.test/.hanko/login", nil)
		origin := "http://app.test"
		if c.tls {
			origin = "https://app.test"
		}
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if got := SameOrigin(r, origin); got != c.want {
			t.Errorf("%s: SameOrigin = %v, want %v", c.name, got, c.want)
		}
	}
}
