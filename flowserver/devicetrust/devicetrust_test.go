package devicetrust

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hankogate/hankogate/flowapi"
)

// The new entry comes first, the user's older entry goes, other users' entries stay (at
// most 20 users), malformed entries are ignored.
func TestCookieKeepsOtherUsers(t *testing.T) {
	var old []string
	for i := range 25 {
		old = append(old, fmt.Sprintf("user%d:token%d", i, i))
	}
	old = append(old, "user3:older", "broken", ":x", "y:")
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: flowapi.DeviceTrustCookie, Value: strings.Join(old, "|")})
	if n := len(Entries(r)); n != 26 {
		t.Fatalf("%d entries parsed, want 26", n)
	}
	ck := Cookie(r, "user3", "fresh")
	entries := strings.Split(ck.Value, "|")
	if len(entries) != maxUsers || entries[0] != "user3:fresh" || entries[1] != "user0:token0" {
		t.Fatalf("cookie %q", ck.Value)
	}
	if strings.Contains(ck.Value, "user3:token3") || strings.Contains(ck.Value, "older") {
		t.Fatalf("old entry of the user kept: %q", ck.Value)
	}
	if !ck.HttpOnly || !ck.Secure || ck.MaxAge != int(Duration.Seconds()) {
		t.Fatalf("cookie attributes %+v", ck)
	}
	if Hash("a") == Hash("b") || len(Hash("a")) != 64 {
		t.Fatal("Hash is no SHA-256 hex")
	}
}
