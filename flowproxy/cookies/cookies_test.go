package cookies

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSetChunkedRoundTripAndLimit(t *testing.T) {
	a := Attrs{Domain: "example.com", SameSite: http.SameSiteLaxMode}
	for _, size := range []int{0, 1, 100, 4000, 4096, 9000, 20000} {
		value := strings.Repeat("v", size)
		w := httptest.NewRecorder()
		if err := a.SetChunked(w, httptest.NewRequest("GET", "/", nil), "gw_flow_login", value, "/.hanko", time.Hour, 8); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		for _, line := range w.Header().Values("Set-Cookie") {
			if n := len("Set-Cookie: ") + len(line); n > MaxLine {
				t.Fatalf("size %d: line of %d bytes", size, n)
			}
			for _, want := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/.hanko", "Domain=example.com", "Max-Age=3600"} {
				if !strings.Contains(line, want) {
					t.Fatalf("size %d: %q lacks %s", size, line, want)
				}
			}
			c, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatal(err)
			}
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		got, ok := ReadChunked(req, "gw_flow_login", 8)
		if !ok || got != value {
			t.Fatalf("size %d: read back %d bytes, ok %v", size, len(got), ok)
		}
	}
}

func TestSetChunkedCapAndCleanup(t *testing.T) {
	a := Attrs{Insecure: true, SameSite: http.SameSiteStrictMode}
	w := httptest.NewRecorder()
	if err := a.SetChunked(w, httptest.NewRequest("GET", "/", nil), "f", strings.Repeat("x", 5*4096), "/", 0, 3); err == nil {
		t.Fatal("want ErrTooLarge beyond the chunk cap")
	}
	// A shorter value deletes the chunks the browser still holds.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "f_0=a; f_1=b; f_2=c; other=1")
	w = httptest.NewRecorder()
	if err := a.SetChunked(w, r, "f", "short", "/", 0, 3); err != nil {
		t.Fatal(err)
	}
	lines := w.Header().Values("Set-Cookie")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "f_0=short") ||
		!strings.HasPrefix(lines[1], "f_1=;") || !strings.HasPrefix(lines[2], "f_2=;") {
		t.Fatalf("Set-Cookie = %q", lines)
	}
	if strings.Contains(lines[0], "Secure") {
		t.Fatal("insecure cookies must not be Secure")
	}
}

func TestSetRefusesOversizedLine(t *testing.T) {
	w := httptest.NewRecorder()
	if err := Set(w, Attrs{}.New("big", strings.Repeat("a", 4090), "/", 0)); err == nil {
		t.Fatal("want error for a line over 4096 bytes")
	}
	if len(w.Header().Values("Set-Cookie")) != 0 {
		t.Fatal("nothing may be written")
	}
}

func TestValue(t *testing.T) {
	h := http.Header{"Cookie": {`a=1; hankogate=abc; b="q"`, "c=3"}}
	for name, want := range map[string]string{"a": "1", "hankogate": "abc", "b": "q", "c": "3"} {
		if got, ok := Value(h, name); !ok || got != want {
			t.Errorf("Value(%s) = %q, %v", name, got, ok)
		}
	}
	if _, ok := Value(h, "hanko"); ok {
		t.Error("prefix of a name must not match")
	}
	if n := testing.AllocsPerRun(100, func() { Value(h, "c") }); n != 0 {
		t.Errorf("Value allocates %v times", n)
	}
}

func TestRemove(t *testing.T) {
	own := func(n string) bool { return n == "gw" || strings.HasPrefix(n, "gw_") }
	h := http.Header{"Cookie": {"app=1; gw=secret; gw_csrf=x", "other=2;gw_flow_login_0=y"}}
	Remove(h, own)
	if got := h.Get("Cookie"); got != "app=1; other=2" || len(h["Cookie"]) != 1 {
		t.Fatalf("Cookie = %q", h["Cookie"])
	}
	h = http.Header{"Cookie": {"gw=only"}}
	Remove(h, own)
	if _, ok := h["Cookie"]; ok {
		t.Fatal("an emptied Cookie header must be removed")
	}
	h = http.Header{"Cookie": {"app=1; b=2"}}
	if n := testing.AllocsPerRun(100, func() { Remove(h, own) }); n != 0 {
		t.Errorf("Remove allocates %v times when nothing is removed", n)
	}
}

func TestRemoveKeepsOrderAndSpacing(t *testing.T) {
	own := func(n string) bool { return n == "gw" }
	cases := map[string]string{
		"gw=1":                 "",
		"a=1; gw=2":            "a=1",
		"gw=2; a=1":            "a=1",
		"a=1; gw=2; b=3":       "a=1; b=3",
		"a=1;gw=2;b=3;c=4":     "a=1; b=3; c=4",
		" a=1 ; b=2 ; gw=3 ":   "a=1 ; b=2",
		"a=1; b=2; gw=3; gw=4": "a=1; b=2",
		";;gw=1;;a=1;;":        "a=1",
	}
	for in, want := range cases {
		h := http.Header{"Cookie": {in}}
		Remove(h, own)
		if got := h.Get("Cookie"); got != want || (want == "" && h["Cookie"] != nil) {
			t.Errorf("Remove(%q) = %q, want %q", in, got, want)
		}
	}
	line := "a=1; b=2; gw=" + strings.Repeat("x", 2000)
	h := http.Header{"Cookie": {line}}
	if n := testing.AllocsPerRun(100, func() { h["Cookie"][0] = line; Remove(h, own) }); n != 0 {
		t.Errorf("Remove of a trailing cookie allocates %v times", n)
	}
}
