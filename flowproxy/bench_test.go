package flowproxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkAuthenticated measures the path of a request with a valid session that this
// instance has seen before: strip identity headers, look the cookie up, set identity headers,
// hide the gateway's cookies, call next. No network, no cookie decryption.
func BenchmarkAuthenticated(b *testing.B) {
	_, d := recordedSession(b)
	gw, err := New(Config{
		APIURL:   "http://hanko.test",
		Cookie:   CookieConfig{Keys: []KeyPair{testKeys(0)}},
		Headers:  []HeaderMapping{{Name: "X-Auth-User-Id", Claim: "subject"}, {Name: "X-Auth-Email", Claim: "email"}},
		Verifier: recordedTokens{},
		Logger:   zap.NewNop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	c, _ := recordedTokens{}.Verify(context.Background(), d.Token)
	v, _ := gw.sessionCodec.Encode(d)
	gw.cacheConfirmed(v, d, c, gw.now())

	line := "theme=dark; lang=en; " + gw.names.session + "=" + v
	cookieLine := []string{line}
	r := httptest.NewRequest(http.MethodGet, "/app/page?x=1", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	reached := 0
	next := func(http.ResponseWriter, *http.Request) error { reached++; return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cookieLine[0] = line
		r.Header["Cookie"] = cookieLine
		if err := gw.ServeHTTP(w, r, next); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if reached == 0 || r.Header.Get("X-Auth-User-Id") != d.UserID || strings.Contains(r.Header.Get("Cookie"), "hankogate") {
		b.Fatalf("not authenticated: %v", r.Header)
	}
}

// BenchmarkFirstSight is a valid cookie this instance has not decoded yet (decrypt, read the
// claims), excluding the one-time backend revalidation.
func BenchmarkFirstSight(b *testing.B) {
	_, d := recordedSession(b)
	gw, err := New(Config{APIURL: "http://hanko.test", Cookie: CookieConfig{Keys: []KeyPair{testKeys(0)}}, Verifier: recordedTokens{}})
	if err != nil {
		b.Fatal(err)
	}
	v, _ := gw.sessionCodec.Encode(d)
	r := httptest.NewRequest(http.MethodGet, "/app", nil)
	r.Header.Set("Cookie", gw.names.session+"="+v)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if gw.decodeSession(r, v, gw.now()) == nil {
			b.Fatal("decode failed")
		}
		gw.auth.Remove(v)
	}
}
