package flowserver

import (
	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/devicetrust"
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

// deviceTrusted reports whether the request presents a valid device-trust token of the user.
func (s *Server) deviceTrusted(c *stepCtx, userID string) (bool, error) {
	for _, e := range devicetrust.Entries(c.Request()) {
		if e.UserID != userID {
			continue
		}
		ok, err := c.Q().TrustedDevice(c.Context(), userID, devicetrust.Hash(e.Token), c.Now())
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// trustDevice stores a new device token (hashed) and sets the cookie on the response.
func (s *Server) trustDevice(c *stepCtx) error {
	d := c.Data()
	token, err := devicetrust.NewToken()
	if err != nil {
		return err
	}
	now := c.Now()
	if err := c.Q().AddTrustedDevice(c.Context(), d.UserID, devicetrust.Hash(token), now, now.Add(devicetrust.Duration)); err != nil {
		return err
	}
	c.Header().Add("Set-Cookie", devicetrust.Cookie(c.Request(), d.UserID, token).String())
	c.Advance()
	return nil
}
