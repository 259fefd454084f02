package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hankogate/hankogate/flowserver/mail"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/useradmin"
	"github.com/hankogate/hankogate/internal/gatewaytest"
	"github.com/hankogate/hankogate/internal/softauthn"
	"github.com/hankogate/hankogate/internal/testbrowser"
	"github.com/hankogate/hankogate/internal/testsmtp"
	"github.com/hankogate/hankogate/messages"
)

// These tests run the users and keys commands of the built binary, as an operator would,
// on the database of a site whose gateway runs (or is about to run) from the same home.

// cli runs the binary with args in the site's home and environment.
func (s *site) cli(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.home.Dir
	cmd.Env = s.home.Env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// admin runs a users or keys command on the config of the site's latest start and requires
// success.
func (s *site) admin(args ...string) string {
	s.t.Helper()
	return s.mustCLI(append(args, "--config", s.configFile(), "--adapter", "caddyfile")...)
}

// adminDB runs a users or keys command on the site's database file (--db) and requires
// success.
func (s *site) adminDB(args ...string) string {
	s.t.Helper()
	return s.mustCLI(append(args, "--db", s.db())...)
}

func (s *site) mustCLI(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.cli(args...)
	if err != nil {
		s.t.Fatalf("hankogate %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *site) configFile() string { return filepath.Join(s.home.Dir, s.configName()+".Caddyfile") }

func (s *site) listUsers() []useradmin.UserJSON {
	s.t.Helper()
	var users []useradmin.UserJSON
	if err := json.Unmarshal([]byte(s.admin("users", "list", "--json")), &users); err != nil {
		s.t.Fatal(err)
	}
	return users
}

var secretPattern = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)

// TestUsersMoveToAnotherDatabase is the move to another backend: a user registers with a
// password, a passkey and TOTP on site A; `users export` writes the users, `users import`
// (after a dry run) reads them into the empty database of site B on the same origin, and
// there the same user signs in with password + TOTP and with the passkey, as the same user
// id. On B, `users revoke` ends both sessions: the gateway refuses them within revalidate.
func TestUsersMoveToAnotherDatabase(t *testing.T) {
	a := newSite(t, true)
	gwA := a.start()
	const email, password = "pat@example.com", "moving password 1"
	auth := softauthn.New(a.url, "localhost")
	var secret string
	reg := newBrowser(t, a.url)
	p := startWithPasskeys(t, reg, "/.hanko/register?rd="+url.QueryEscape("/app/registered"))
	p = reg.CompleteFlow(p, []testbrowser.Step{
		{Action: "register_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "verify_passcode", Values: testbrowser.Later(func() map[string]string { return map[string]string{"code": a.passcode(email)} })},
		{Action: "register_password", Values: testbrowser.Fields("new_password", password)},
		{Action: "webauthn_generate_creation_options"},
		passkeyStep(auth, "webauthn_verify_attestation_response"),
		{Action: "continue_to_otp_secret_creation"},
		{Action: "otp_code_verify", Values: func(p *testbrowser.Page) (map[string]string, error) {
			m := secretPattern.FindStringSubmatch(p.Body)
			if m == nil {
				return nil, errors.New("no TOTP secret on the page")
			}
			secret = m[1]
			code, err := totp.GenerateCode(secret, time.Now())
			return map[string]string{"otp_code": code}, err
		}},
	})
	a.assertSignedIn(p, "/app/registered", "", email)
	userID, _ := a.identity("/app/registered")

	users := a.listUsers()
	if len(users) != 1 || users[0].ID != userID || users[0].Email != email || !users[0].EmailVerified ||
		users[0].Methods != (useradmin.Methods{Password: true, Passkeys: 1, TOTP: true}) || users[0].LastSignIn == nil {
		t.Fatalf("users list on A: %+v", users)
	}
	export := filepath.Join(t.TempDir(), "users.json")
	a.admin("users", "export", "-o", export)
	if fi, err := os.Stat(export); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v (want mode 0600: it holds password hashes)", fi, err)
	}
	doc, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"user_id": "` + userID + `"`, `"is_primary": true`, `"password": "$2a$`, `"secret": "` + secret + `"`, `"user_handle": null`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("export lacks %s:\n%s", want, doc)
		}
	}
	gwA.Stop()

	// Site B: a new home and database on the same origin (a move to another machine).
	b := *a
	b.home, b.starts, b.revalidate = gatewaytest.NewHome(t), 0, "1s"
	out := b.adminDB("users", "import", "-i", export, "--dry-run")
	if !strings.Contains(out, "would import 1 user(s)") {
		t.Errorf("dry run said %q", out)
	}
	if _, err := os.Stat(b.db()); !os.IsNotExist(err) {
		t.Fatalf("the dry run created the database: %v", err)
	}
	if out := b.adminDB("users", "import", "-i", export); !strings.Contains(out, "imported 1 user(s) (0 with a new id), 1 password(s), 1 TOTP secret(s), 1 passkey(s)") {
		t.Errorf("import said %q", out)
	}
	gwB := b.start()

	pw := newBrowser(t, b.url)
	p = pw.Get("/app/password")
	p = pw.CompleteFlow(pw.Follow(p), []testbrowser.Step{
		{Action: "continue_with_login_identifier", Values: testbrowser.Fields("email", email)},
		{Action: "continue_to_password_login"},
		{Action: "password_login", Values: testbrowser.Fields("password", password)},
		{Action: "otp_code_validate", Values: testbrowser.Later(func() map[string]string {
			code, err := totp.GenerateCode(secret, time.Now())
			if err != nil {
				t.Error(err)
			}
			return map[string]string{"otp_code": code}
		})},
		{Action: "skip"},
	})
	b.assertSignedIn(p, "/app/password", userID, email)

	pk := newBrowser(t, b.url)
	p = pk.Get("/app/passkey")
	loc, err := p.URL.Parse(p.Header.Get("Location"))
	if err != nil || p.Status != http.StatusSeeOther {
		t.Fatalf("GET /app/passkey without session: %d %q", p.Status, p.Header.Get("Location"))
	}
	p = pk.CompleteFlow(startWithPasskeys(t, pk, loc.RequestURI()), []testbrowser.Step{passkeyStep(auth, "webauthn_verify_assertion_response"), {Action: "skip"}})
	b.assertSignedIn(p, "/app/passkey", userID, email)

	sessions := b.admin("users", "sessions", email)
	if n := strings.Count(sessions, "\n"); n != 3 { // header + 2 sessions
		t.Errorf("users sessions:\n%s", sessions)
	}
	if out := b.admin("users", "revoke", userID); !strings.Contains(out, "ended 2 session(s)") {
		t.Errorf("revoke said %q", out)
	}
	for _, br := range []*testbrowser.T{pw, pk} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			p := br.Get("/app/after-revoke")
			if p.Status == http.StatusSeeOther && strings.HasPrefix(p.Header.Get("Location"), "/.hanko/login") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a revoked session still reaches the upstream 30s later: %d %s", p.Status, p.URL)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if strings.Contains(gwB.Log.String(), `"level":"error"`) {
		t.Errorf("errors in the log of B:\n%s", grepLines(gwB.Log.String(), `"level":"error"`))
	}
}

// TestAdminCommandsOnAFile runs the commands on a database file (--db) without a server:
// wrong paths and bad documents fail with a clear message and write nothing, a Hanko export
// imports (from standard input), a second import of the same users is refused line by
// line, and the signing keys can be rotated and the replaced one removed.
func TestAdminCommandsOnAFile(t *testing.T) {
	s := &site{t: t, home: gatewaytest.NewHome(t)}
	fails := func(wantErr string, args ...string) {
		t.Helper()
		out, errOut, err := s.cli(args...)
		if err == nil || !strings.Contains(errOut, wantErr) {
			t.Errorf("hankogate %s: %v\nstdout %s\nstderr %s\nwant an error with %q", strings.Join(args, " "), err, out, errOut, wantErr)
		}
	}
	db := s.db()
	fails("no database at", "users", "list", "--db", db)
	fails("either --db or --config", "users", "list", "--db", db, "--config", "Caddyfile")
	fails("no hanko handler with the embedded backend", "users", "list", "--config", writeFile(t, "Caddyfile", "localhost {\n\trespond ok\n}\n"), "--adapter", "caddyfile")

	bad := writeFile(t, "bad.json", "[\n  {\"emails\": [{\"address\": \"a@example.com\", \"is_primary\": true, \"is_verified\": true}]},\n  {\"user_id\": \"nope\", \"emails\": []}\n]\n")
	fails("line 3: [1].user_id: \"nope\" is not a UUID", "users", "import", "-i", bad, "--db", db)
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused import created the database: %v", err)
	}

	sample, err := os.ReadFile(filepath.Join("..", "..", "flowserver", "transfer", "testdata", "hanko-export.json"))
	if err != nil {
		t.Fatal(err)
	}
	hankoExport := writeFile(t, "hanko-export.json", string(sample))
	if out := s.adminDB("users", "import", "-i", hankoExport, "--dry-run"); !strings.Contains(out, "would import 3 user(s)") {
		t.Errorf("dry run into no database said %q", out)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a dry run created the database: %v", err)
	}
	cmd := exec.Command(binary, "users", "import", "-i", "-", "--db", db)
	cmd.Env, cmd.Stdin = s.home.Env(), bytes.NewReader(sample)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "imported 3 user(s)") {
		t.Fatalf("import of a Hanko export: %v\n%s", err, out)
	}
	fails("line 3: [0].user_id: a user with id 7f0b6a0e-5d2c-4c8e-9d6b-2c1f3e4a5b6c already exists", "users", "import", "-i", hankoExport, "--db", db)
	list := s.adminDB("users", "list")
	for _, want := range []string{"ada@example.com", "password, 1 passkey, 1 security key, totp", "grace", "linus@example.net", "passcode only"} {
		if !strings.Contains(list, want) {
			t.Errorf("users list lacks %q:\n%s", want, list)
		}
	}
	if n := strings.Count(list, "\n"); n != 4 {
		t.Errorf("users list after a refused second import:\n%s", list)
	}
	fails("not an e-mail address", "users", "add", "not-an-address", "--db", db)
	fails("already belongs to a user", "users", "add", "ADA@example.com", "--db", db)
	s.adminDB("users", "delete", "grace")
	fails("no such user", "users", "delete", "grace", "--db", db)

	if out := s.adminDB("keys", "list"); out != "" {
		t.Errorf("keys of a database no server has opened: %q", out)
	}
	// The first rotation creates the first key (as a server's start would), the second the next.
	if keys := strings.Split(strings.TrimSpace(s.adminDB("keys", "rotate")), "\n"); len(keys) != 1 || !strings.Contains(keys[0], "signs new sessions") {
		t.Fatalf("keys after the first rotation:\n%s", strings.Join(keys, "\n"))
	}
	keys := strings.Split(strings.TrimSpace(s.adminDB("keys", "rotate")), "\n")
	if len(keys) != 2 || !strings.Contains(keys[0], "signs new sessions") || !strings.Contains(keys[1], "verifies until") {
		t.Fatalf("keys after a rotation:\n%s", strings.Join(keys, "\n"))
	}
	newest, older := strings.Fields(keys[0])[0], strings.Fields(keys[1])[0]
	fails("rotate first", "keys", "remove", newest, "--db", db)
	fails("unknown signing key", "keys", "remove", "no-such-kid", "--db", db)
	if out := s.adminDB("keys", "remove", older); strings.Contains(out, older) || !strings.Contains(out, newest) {
		t.Errorf("keys after removing %s:\n%s", older, out)
	}
}

// TestAdminCommandsLeaveTheOutbox: a passcode mail is due while every command that works on
// the database runs (a user asked for a code at that moment). The commands have no mail
// server and are no server: none may take the mail. It stays queued with its code, and the
// gateway started afterwards sends it.
func TestAdminCommandsLeaveTheOutbox(t *testing.T) {
	s := newSite(t, false)
	const email, code = "queued@example.com", "402917"
	s.adminDB("users", "add", email)
	ctx := context.Background()
	st, err := store.Open(ctx, s.db())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	queued := mail.Compose(cat, "hankogate", email, mail.TemplateLogin, code, "en", 5*time.Minute)
	if err := st.Tx(ctx, func(q store.Q) error { return mail.Enqueue(ctx, q, queued, now, now.Add(5*time.Minute)) }); err != nil {
		t.Fatal(err)
	}

	export := filepath.Join(t.TempDir(), "users.json")
	for _, args := range [][]string{
		{"users", "list"}, {"users", "sessions", email}, {"users", "revoke", email}, {"users", "export", "-o", export},
		{"keys", "list"}, {"keys", "rotate"}, {"keys", "rotate"},
	} {
		s.adminDB(args...)
	}
	keys := strings.Split(strings.TrimSpace(s.adminDB("keys", "list")), "\n")
	s.adminDB("keys", "remove", strings.Fields(keys[len(keys)-1])[0])

	m, err := st.Read().DueMail(ctx, time.Now())
	if err != nil || m.To != email || m.Code != code {
		t.Fatalf("the queued mail after the commands: %+v, %v (want it due, with its code)", m, err)
	}
	s.start()
	if got := testsmtp.PasscodeFrom(s.smtp.WaitFor(t, email, gatewaytest.PasscodeTimeout).Body); got != code {
		t.Fatalf("the gateway sent the code %q, want %q", got, code)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
