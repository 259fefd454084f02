package caddymodule

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

// recorder is an upstream that records every request it receives, as it received it.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	uri    string
	header http.Header
}

func startRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, seenRequest{uri: r.RequestURI, header: r.Header.Clone()})
		rec.mu.Unlock()
		fmt.Fprint(w, "upstream")
	}))
	t.Cleanup(rec.Close)
	return rec
}

// take returns and forgets what the upstream received so far.
func (rec *recorder) take() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	s := rec.seen
	rec.seen = nil
	return s
}

// hankoOptions are what every hanko block of these tests needs: a backend that is never
// asked (no request carries a session) and fixed cookie keys.
var hankoOptions = fmt.Sprintf(`api http://127.0.0.1:9
		cookie {
			secure off
			hash_key %s
			block_key %s
		}`, testHashKey, testBlockKey)

// loadSites loads sites (with {upstream} and {hanko} filled in) into this package's
// in-process Caddy.
func loadSites(t *testing.T, up *recorder, sites string) {
	t.Helper()
	sites = strings.NewReplacer("{upstream}", up.Listener.Addr().String(), "{hanko}", hankoOptions).Replace(sites)
	loadCaddy(t, caddyGlobals(t.TempDir(), "")+"\n"+sites)
}

// identitySpellings are the spellings of one header a lenient upstream may read as it.
func identitySpellings(name string) []string {
	lower := strings.ToLower(name)
	return []string{name, lower, strings.ToUpper(name), strings.ReplaceAll(name, "-", "_"), strings.ReplaceAll(lower, "-", "_")}
}

// getSpoofed sends GET url carrying every spelling of names with the value "evil".
func getSpoofed(t *testing.T, url string, names ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	for _, n := range names {
		for _, s := range identitySpellings(n) {
			req.Header[s] = []string{"evil"}
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// assertNothingSpoofed fails unless the upstream got exactly one request, and no header of
// it carries a spoofed value.
func assertNothingSpoofed(t *testing.T, up *recorder, what string) {
	t.Helper()
	seen := up.take()
	if len(seen) != 1 {
		t.Fatalf("%s: upstream got %d requests, want 1", what, len(seen))
	}
	for k, vs := range seen[0].header {
		for _, v := range vs {
			if strings.Contains(v, "evil") {
				t.Errorf("%s: spoofed %s: %s reached the upstream", what, k, v)
			}
		}
	}
}

// TestIdentityHeadersStrippedWhateverTheLayout: every identity header of every hanko
// handler is deleted from every request of the server, also from requests no hanko handler
// sees: outside its matcher, in sibling route and handle blocks, before hanko in a route
// block's written order, and on another site of the same listener.
func TestIdentityHeadersStrippedWhateverTheLayout(t *testing.T) {
	up := startRecorder(t)
	defaults := []string{"X-Auth-User-Id", "X-Auth-Email"}
	layouts := []struct {
		name  string
		sites string
		paths []string // requests no hanko handler lets through without stripping itself
		names []string
	}{
		{"hanko with a path matcher", `http://localhost:9180 {
	hanko /app/* {
		prefix /app/.hanko
		{hanko}
	}
	reverse_proxy {upstream}
}`, []string{"/other", "/", "/application"}, defaults},
		{"route blocks", `http://localhost:9180 {
	route /app/* {
		hanko {
			prefix /app/.hanko
			{hanko}
		}
		reverse_proxy {upstream}
	}
	route {
		reverse_proxy {upstream}
	}
}`, []string{"/other"}, defaults},
		{"handle blocks", `http://localhost:9180 {
	handle /app/* {
		hanko {
			prefix /app/.hanko
			{hanko}
		}
		reverse_proxy {upstream}
	}
	handle {
		reverse_proxy {upstream}
	}
}`, []string{"/other"}, defaults},
		{"reverse_proxy before hanko in a route block", `http://localhost:9180 {
	route {
		reverse_proxy /other {upstream}
		hanko {
			{hanko}
		}
		reverse_proxy {upstream}
	}
}`, []string{"/other"}, defaults},
		{"several hanko handlers with their own headers", `http://localhost:9180 {
	hanko /a/* {
		prefix /a/.hanko
		header X-A-User subject
		{hanko}
	}
	hanko /b/* {
		prefix /b/.hanko
		public /b/public/*
		header X-B-User subject
		header X-B-Mail email
		{hanko}
	}
	reverse_proxy {upstream}
}`, []string{"/other", "/b/public/x"}, []string{"X-A-User", "X-B-User", "X-B-Mail"}},
		{"custom header lines", `http://localhost:9180 {
	hanko /app/* {
		prefix /app/.hanko
		header X-Remote-User subject
		header X-Remote-Groups groups
		{hanko}
	}
	reverse_proxy {upstream}
}`, []string{"/other"}, []string{"X-Remote-User", "X-Remote-Groups"}},
		{"another site on the same listener", `http://localhost:9180 {
	hanko {
		{hanko}
	}
	reverse_proxy {upstream}
}

http://127.0.0.1:9180 {
	reverse_proxy {upstream}
}`, nil, defaults},
	}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			loadSites(t, up, l.sites)
			up.take()
			for _, p := range l.paths {
				if status := getSpoofed(t, testSite+p, l.names...); status != http.StatusOK {
					t.Fatalf("GET %s: %d, want 200 from the upstream", p, status)
				}
				assertNothingSpoofed(t, up, "GET "+p)
			}
			if l.name == "another site on the same listener" {
				if status := getSpoofed(t, fmt.Sprintf("http://127.0.0.1:%d/x", testHTTPPort), l.names...); status != http.StatusOK {
					t.Fatalf("other site: %d", status)
				}
				assertNothingSpoofed(t, up, "other site")
			}
		})
	}
}

// TestHankoOnlyInNamedRouteRefused: Caddy loads named routes after the server's routes, so a
// strip can no longer go in front of them; such a config is refused at load, not served
// with spoofable headers.
func TestHankoOnlyInNamedRouteRefused(t *testing.T) {
	up := startRecorder(t)
	loadSites(t, up, `http://localhost:9180 {
	reverse_proxy {upstream}
}`)
	sites := strings.NewReplacer("{upstream}", up.Listener.Addr().String(), "{hanko}", hankoOptions).Replace(`&(protected) {
	hanko {
		prefix /app/.hanko
		{hanko}
	}
	reverse_proxy {upstream}
}

http://localhost:9180 {
	handle /app/* {
		invoke protected
	}
	handle {
		reverse_proxy {upstream}
	}
}`)
	config := fmt.Sprintf("{\n\tskip_install_trust\n\tadmin localhost:%d\n\thttp_port %d\n\thttps_port 9543\n\tgrace_period 1ns\n}\n\n%s\n", testAdminPort, testHTTPPort, sites)
	adapted, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(config), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(fmt.Sprintf("http://localhost:%d/load", testAdminPort), "application/json", bytes.NewReader(adapted))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(string(body), "named route") {
		t.Errorf("load: %d %s, want it refused naming the named route", resp.StatusCode, body)
	}
	// The previous config keeps serving.
	if status := getSpoofed(t, testSite+"/still"); status != http.StatusOK {
		t.Errorf("after the refused load: %d", status)
	}
}

// rawGet sends a request line exactly as given (no client-side cleaning or escaping).
func rawGet(t *testing.T, target string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", testHTTPPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: localhost:%d\r\nAccept: application/json\r\nConnection: close\r\n\r\n", target, testHTTPPort)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPublicPathTricksNeverReachUpstream: with `public /public/*`, paths that an upstream
// resolves outside /public/ (Tomcat's path parameters, encoded dot segments and slashes,
// backslashes) are served as protected through a real Caddy: 401, and the upstream never
// sees them.
func TestPublicPathTricksNeverReachUpstream(t *testing.T) {
	up := startRecorder(t)
	loadSites(t, up, `http://localhost:9180 {
	hanko {
		public /public/*
		{hanko}
	}
	reverse_proxy {upstream}
}`)
	up.take()
	for _, target := range []string{
		"/public/..;/admin",
		"/public/..;x=y/admin",
		"/public;/../admin",
		"/public/%2e%2e/admin",
		"/public/.%2e/admin",
		"/public/%2e%2e;/admin",
		"/public%2f..%2fadmin",
		"/public/..%2fadmin",
		"/public/..%5cadmin",
		"/public/..\\admin",
		"/public/%252e%252e/admin",
		"/public/%00/../../admin",
		"//public/../admin",
	} {
		status := rawGet(t, target)
		if status != http.StatusUnauthorized && status != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 401 (or Caddy's 400)", target, status)
		}
		if seen := up.take(); len(seen) != 0 {
			t.Errorf("GET %s reached the upstream as %s", target, seen[0].uri)
		}
	}
	if status := rawGet(t, "/public/doc"); status != http.StatusOK {
		t.Errorf("GET /public/doc: %d, want 200", status)
	}
	if seen := up.take(); len(seen) != 1 || seen[0].uri != "/public/doc" {
		t.Errorf("upstream saw %v for /public/doc", seen)
	}
}
