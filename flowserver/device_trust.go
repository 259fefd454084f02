package flowserver

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hankogate/hankogate/flowapi"
)

// Device trust (Hanko's defaults): the cookie holds "<user_id>:<token>" entries, newest
// first, for up to 20 users of the device; a token is good for 30 days.
const (
	deviceTrustDuration = 720 * time.Hour
	deviceTrustMaxUsers = 20
	deviceTokenBytes    = 64
)

// registerDeviceTrust defines device_trust, offered after a second factor.
func (s *Server) registerDeviceTrust(r *registry) {
	st := r.State("device_trust", flowapi.FlowLogin)
	st.Action(&action{
		Name:        "trust_device",
		Description: "Remember this device so that later sign-ins skip the second factor.",
		Run:         s.trustDevice,
	})
	st.Action(skipAction(nil))
	st.Action(backAction())
	r.plan(flowapi.FlowLogin, phaseDeviceTrust, func(c *stepCtx) []string {
		if s.mfaUsageState(c) != "" {
			return []string{"device_trust"}
		}
		return nil
	})
}

func hashDeviceToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// deviceEntries parses the device-trust cookie of the request.
func deviceEntries(r *http.Request) [][2]string {
	ck, err := r.Cookie(flowapi.DeviceTrustCookie)
	if err != nil {
		return nil
	}
	var out [][2]string
	for _, e := range strings.Split(ck.Value, "|") {
		if user, token, ok := strings.Cut(e, ":"); ok && user != "" && token != "" {
			out = append(out, [2]string{user, token})
		}
	}
	return out
}

// deviceTrusted reports whether the request presents a valid device-trust token of the user.
func (s *Server) deviceTrusted(c *stepCtx, userID string) (bool, error) {
	for _, e := range deviceEntries(c.Request()) {
		if e[0] != userID {
			continue
		}
		ok, err := c.Q().TrustedDevice(c.Context(), userID, hashDeviceToken(e[1]), c.Now())
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// trustDevice stores a new device token (hashed) and sets the cookie on the response.
func (s *Server) trustDevice(c *stepCtx) error {
	d := c.Data()
	raw := make([]byte, deviceTokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("random: %w", err)
	}
	token := base64.URLEncoding.EncodeToString(raw)
	now := c.Now()
	if err := c.Q().AddTrustedDevice(c.Context(), d.UserID, hashDeviceToken(token), now, now.Add(deviceTrustDuration)); err != nil {
		return err
	}
	entries := []string{d.UserID + ":" + token}
	for _, e := range deviceEntries(c.Request()) {
		if e[0] != d.UserID && len(entries) < deviceTrustMaxUsers {
			entries = append(entries, e[0]+":"+e[1])
		}
	}
	ck := &http.Cookie{Name: flowapi.DeviceTrustCookie, Value: strings.Join(entries, "|"), Path: "/",
		MaxAge: int(deviceTrustDuration / time.Second), HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode}
	c.Header().Add("Set-Cookie", ck.String())
	c.Advance()
	return nil
}
