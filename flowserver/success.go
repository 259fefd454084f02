package flowserver

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowserver/engine"
	"github.com/hankogate/hankogate/flowserver/store"
	"github.com/hankogate/hankogate/flowserver/token"
)

// registerSuccess defines success for login and registration: registration writes the
// user, both issue the session, in the same transaction as the flow update.
func (s *Server) registerSuccess(r *registry) {
	r.State(flowapi.StateSuccess, flowapi.FlowLogin, flowapi.FlowRegistration).OnEnter(s.enterSuccess)
}

func (s *Server) enterSuccess(c *stepCtx) error {
	d := c.Data()
	if c.FlowName() == flowapi.FlowRegistration {
		if err := s.createUser(c); err != nil || c.Failed() {
			return err
		}
	}
	profile, err := s.loadProfile(c.Context(), c.Q(), d.UserID)
	if err != nil {
		return fmt.Errorf("load user: %w", err)
	}
	si, err := c.issueSession(d.UserID, primaryEmailClaim(profile), d.AMR)
	if err != nil {
		return err
	}
	c.SetPayload("claims", si.claimsPayload())
	user, err := asObject(profile)
	if err != nil {
		return err
	}
	c.SetPayload("user", user)
	if c.FlowName() == flowapi.FlowLogin {
		last := map[string]string{"login_method": d.LoginMethod}
		if d.MFAMethod != "" {
			last["mfa_method"] = d.MFAMethod
		}
		c.SetPayload("last_login", last)
	}
	c.Finish()
	return nil
}

// createUser writes the user collected by a registration flow.
func (s *Server) createUser(c *stepCtx) error {
	d := c.Data()
	now := c.Now()
	ctx, q := c.Context(), c.Q()
	// Another registration may have taken the address since this flow checked it.
	if _, err := q.EmailByAddress(ctx, d.Email); err == nil {
		c.Fail(engine.Discontinued)
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := q.CreateUser(ctx, &store.User{ID: d.UserID, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	emailID, err := token.UUID()
	if err != nil {
		return err
	}
	if err := q.CreateEmail(ctx, &store.Email{ID: emailID, UserID: d.UserID, Address: d.Email, Verified: d.EmailVerified,
		Primary: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		return err
	}
	if d.PasswordHash != "" {
		if err := q.SetPassword(ctx, d.UserID, d.PasswordHash, now); err != nil {
			return err
		}
		d.PasswordHash = ""
	}
	for _, fn := range c.s.flows.userCreated {
		if err := fn(c, d.UserID); err != nil {
			return err
		}
	}
	return nil
}

// asObject turns a struct into a map so that payload keys come out sorted, as Hanko's.
func asObject(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
