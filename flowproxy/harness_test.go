package flowproxy

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/html"

	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/session"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// testKeys returns a valid (random-looking, fixed) key pair, different per n.
func testKeys(n byte) KeyPair {
	hash := sha256.Sum256([]byte{'h', n})
	block := sha256.Sum256([]byte{'b', n})
	return KeyPair{Hash: hash[:], Block: block[:]}
}

// recordedTokens is the Verifier for transcript tests: the recorded Hanko JWTs cannot be
// verified (their signing keys are unknown), so it reads their claims and treats them as
// freshly issued (exp one hour from now) so the tests do not depend on the recording date.
// The real JWKS verifier is tested in package session and in TestLoginVerifiesWithJWKS.
type recordedTokens struct{}

func (recordedTokens) Verify(_ context.Context, token string) (session.Claims, error) {
	c, err := session.PayloadClaims(token)
	if err != nil {
		return nil, err
	}
	c["exp"] = json.Number(jsonInt(time.Now().Add(time.Hour).Unix()))
	return c, nil
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// harness is a site protected by a gateway, an upstream that echoes what it received, and a
// browser-like client with a cookie jar that does not follow redirects by itself.
type harness struct {
	t      *testing.T
	gw     *Gateway
	site   *httptest.Server
	client *http.Client
	logs   *observer.ObservedLogs

	*siteCounts // shared by copies of the harness (other browsers on the same site)
}

// siteCounts are what the site saw.
type siteCounts struct {
	reached  atomic.Int64   // requests the gateway let through to the upstream
	inflight atomic.Int64   // requests in the gateway's ServeHTTP
	serving  sync.WaitGroup // the same, to wait for
}

// upstreamSeen is what the protected upstream reports about a request.
type upstreamSeen struct {
	Path   string              `json:"path"`
	Header map[string][]string `json:"header"`
}

func newHarness(t *testing.T, backend http.Handler, mutate func(*Config)) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	cfg := Config{
		APIURL:    "http://hanko.test",
		Transport: transportTo(backend),
		Cookie:    CookieConfig{Insecure: true, Keys: []KeyPair{testKeys(0)}},
		Public:    []string{"/public/*"},
		Headers: []HeaderMapping{
			{Name: "X-Auth-User-Id", Claim: "subject"},
			{Name: "X-Auth-Email", Claim: "email"},
			{Name: "X-Auth-Amr", Claim: "amr"},
			{Name: "X-Auth-Session", Claim: "session_id"},
			{Name: "X-Auth-Exp", Claim: "exp"},
			{Name: "X-Auth-Username", Claim: "username"},
		},
		Verifier: recordedTokens{},
		Logger:   zap.New(core),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, gw: gw, logs: logs, siteCounts: &siteCounts{}}
	upstream := func(w http.ResponseWriter, r *http.Request) error {
		h.reached.Add(1)
		return echoUpstream(w, r)
	}
	h.site = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.serving.Add(1)
		h.inflight.Add(1)
		defer h.serving.Done()
		defer h.inflight.Add(-1)
		if err := gw.ServeHTTP(w, r, upstream); err != nil {
			t.Errorf("ServeHTTP: %v", err)
		}
	}))
	t.Cleanup(h.site.Close)
	jar, _ := cookiejar.New(nil)
	h.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() { _ = gw.Close() })
	return h
}

// testClock is a clock tests move while background session checks read it.
type testClock struct{ n atomic.Int64 }

// useClock makes the gateway read a test clock, starting now.
func (h *harness) useClock() *testClock {
	c := &testClock{}
	c.n.Store(time.Now().UnixNano())
	h.gw.now = c.now
	return c
}

func (c *testClock) now() time.Time      { return time.Unix(0, c.n.Load()) }
func (c *testClock) add(d time.Duration) { c.n.Add(int64(d)) }

func echoUpstream(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(upstreamSeen{Path: r.URL.Path, Header: r.Header})
}

// transportTo sends API calls to h in-process (nil: a transport that always fails to connect).
func transportTo(h http.Handler) http.RoundTripper {
	if h == nil {
		return nil
	}
	return flowclient.HandlerTransport(h)
}

type page struct {
	status int
	header http.Header
	body   string
}

// do sends req like a browser without JavaScript: a preflight page's <noscript> refresh is
// followed (use doRaw to see the preflight page itself).
func (h *harness) do(req *http.Request) page {
	h.t.Helper()
	p := h.doRaw(req)
	if m := noscriptRefresh.FindStringSubmatch(p.body); m != nil && strings.Contains(p.body, `data-state="preflight"`) {
		return h.get(html.UnescapeString(m[1]))
	}
	return p
}

// noscriptRefresh is the preflight page's refresh for browsers without JavaScript.
var noscriptRefresh = regexp.MustCompile(`<noscript><meta http-equiv="refresh" content="0;url=([^"]+)"></noscript>`)

func (h *harness) doRaw(req *http.Request) page {
	h.t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// get navigates like a browser without JavaScript.
func (h *harness) get(path string) page {
	h.t.Helper()
	return h.do(h.navigation(path))
}

// getRaw navigates without following a preflight page's refresh (a browser whose script
// is about to answer it).
func (h *harness) getRaw(path string) page {
	h.t.Helper()
	return h.doRaw(h.navigation(path))
}

func (h *harness) navigation(path string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, h.site.URL+path, nil)
	req.Header.Set("Accept", browserAccept)
	req.Header.Set("User-Agent", "Mozilla/5.0 test")
	return req
}

// post submits a form.
func (h *harness) post(path string, form url.Values) page {
	h.t.Helper()
	return h.do(h.postRequest(path, form))
}

func (h *harness) postRequest(path string, form url.Values) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, h.site.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", browserAccept)
	req.Header.Set("Origin", h.site.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

// htmlForm is one rendered <form>.
type htmlForm struct {
	action, path string
	fields       url.Values
}

// forms parses the page's forms with their hidden and pre-filled fields.
func forms(t *testing.T, body string) []htmlForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []htmlForm
	var cur *htmlForm
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch n.Data {
			case "form":
				out = append(out, htmlForm{action: attr["data-action"], path: attr["action"], fields: url.Values{}})
				cur = &out[len(out)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input", "select", "textarea":
				if cur != nil && attr["name"] != "" {
					cur.fields.Set(attr["name"], attr["value"])
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

// form finds the form of action on a page.
func (h *harness) form(p page, action string) htmlForm {
	h.t.Helper()
	for _, f := range forms(h.t, p.body) {
		if f.action == action {
			return f
		}
	}
	h.t.Fatalf("no form for action %q on page (status %d):\n%s", action, p.status, p.body)
	return htmlForm{}
}

// cookie returns the jar's cookie name for path on the site.
func (h *harness) cookie(name, path string) *http.Cookie {
	u, _ := url.Parse(h.site.URL + path)
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// seen decodes the upstream's echo.
func (h *harness) seen(p page) upstreamSeen {
	h.t.Helper()
	var s upstreamSeen
	if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &s) != nil {
		h.t.Fatalf("upstream not reached: %d %s", p.status, p.body)
	}
	return s
}

// logged reports whether any log line contains s (in its message or any field).
func (h *harness) logged(s string) bool {
	for _, e := range h.logs.All() {
		if strings.Contains(e.Message, s) {
			return true
		}
		for _, f := range e.Context {
			if strings.Contains(f.String, s) || (f.Interface != nil && strings.Contains(toString(f.Interface), s)) {
				return true
			}
		}
	}
	return false
}

func toString(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	b, _ := json.Marshal(v)
	return string(b)
}
