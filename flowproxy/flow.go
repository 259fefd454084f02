package flowproxy

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/flowclient"
	"github.com/hankogate/hankogate/flowproxy/redirect"
	"github.com/hankogate/hankogate/flowproxy/session"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// maxAutoSteps bounds the steps the gateway takes on its own (answering preflight).
const maxAutoSteps = 3

// capabilitiesAction is preflight's action; a server-side client has no WebAuthn.
const capabilitiesAction = "register_client_capabilities"

// deviceCookieTTL is used when Hanko's device cookie carries no Max-Age.
const deviceCookieTTL = 30 * 24 * time.Hour

// showFlow serves GET of a flow page: the stored state when there is one (post/redirect/get),
// else a fresh flow.
func (g *Gateway) showFlow(w http.ResponseWriter, r *http.Request, flow string) {
	c := g.newContext(w, r, flow)
	bearer, ok := g.flowBearer(w, r, flow)
	if !ok {
		return
	}
	q := r.URL.Query()
	st := g.loadState(r, flow)
	if st != nil && q.Get("new") == "" && !terminal(st.Resp.Name) {
		// A newer return URL (the user went to another protected page meanwhile) wins.
		if rd := g.cleanReturn(r, q.Get(g.cfg.RedirectParam)); rd != "" && rd != st.Return {
			st.Return = rd
			if err := g.saveState(w, r, st); err != nil {
				g.log.Error("storing flow state", zap.String("flow", flow), zap.Error(err))
			}
		}
		g.renderState(w, r, c, st, http.StatusOK)
		return
	}
	rd := q.Get(g.cfg.RedirectParam)
	if rd == "" && st != nil {
		rd = st.Return
	}
	g.startFlow(w, r, c, flow, bearer, g.cleanReturn(r, rd), "")
}

// flowBearer returns the session token the flow needs (profile only). Without a session the
// account page sends the browser to log in first; ok false means it has answered.
func (g *Gateway) flowBearer(w http.ResponseWriter, r *http.Request, flow string) (string, bool) {
	if flow != flowapi.FlowProfile {
		return "", true
	}
	e := g.authenticate(r)
	if e == nil {
		q := url.Values{g.cfg.RedirectParam: {g.cfg.Prefix + "/account"}}
		http.Redirect(w, r, g.cfg.Prefix+"/login?"+q.Encode(), http.StatusSeeOther)
		return "", false
	}
	return e.data.Token, true
}

// cleanReturn keeps a return URL only when it is safe to follow; "" otherwise.
func (g *Gateway) cleanReturn(r *http.Request, rd string) string {
	if t, ok := redirect.Safe(rd, r.Host, g.cfg.AllowedRedirectHosts); ok {
		return t
	}
	return ""
}

func terminal(state string) bool {
	return state == flowapi.StateSuccess || state == flowapi.StateError || state == flowapi.StateAccountDeleted
}

// startFlow creates a flow, answers preflight, stores and renders the first real state.
func (g *Gateway) startFlow(w http.ResponseWriter, r *http.Request, c pageCtx, flow, bearer, rd, notice string) {
	res, err := g.client.Start(r.Context(), flow, g.relay(r, bearer))
	if err != nil {
		g.apiFailure(w, r, "start "+flow, err)
		return
	}
	g.keepDeviceToken(w, res)
	res, err = g.autoSteps(r, flow, bearer, res)
	if err != nil {
		g.apiFailure(w, r, "preflight "+flow, err)
		return
	}
	resp := res.Response
	if resp.Name == flowapi.StateError || resp.Name == flowapi.StateSuccess {
		code := ""
		if resp.Error != nil {
			code = resp.Error.Code
		}
		if flow == flowapi.FlowProfile && code == flowapi.ErrUnauthorized {
			// The backend no longer accepts the session: log in again.
			g.endSession(w, r)
			q := url.Values{g.cfg.RedirectParam: {g.cfg.Prefix + "/account"}}
			http.Redirect(w, r, g.cfg.Prefix+"/login?"+q.Encode(), http.StatusSeeOther)
			return
		}
		g.log.Error("new flow did not reach a usable state", zap.String("flow", flow),
			zap.String("state", resp.Name), zap.String("error", code))
		g.message(w, r, http.StatusBadGateway, "Sign-in unavailable",
			"The sign-in service could not start. Please try again in a moment.")
		return
	}
	st := &flowState{Flow: flow, Resp: resp, Return: rd}
	if err := g.saveState(w, r, st); err != nil {
		g.log.Error("storing flow state", zap.String("flow", flow), zap.Error(err))
		g.message(w, r, http.StatusInternalServerError, "Sign-in unavailable", "The sign-in state could not be stored.")
		return
	}
	c.Notice = notice
	g.renderState(w, r, c, st, http.StatusOK)
}

// autoSteps answers states the browser never sees (preflight: no WebAuthn without the script).
func (g *Gateway) autoSteps(r *http.Request, flow, bearer string, res *flowclient.Result) (*flowclient.Result, error) {
	for i := 0; i < maxAutoSteps && res.Response.Name == flowapi.StatePreflight; i++ {
		a := res.Response.Actions[capabilitiesAction]
		if a == nil {
			return nil, fmt.Errorf("%w: preflight without %s", flowclient.ErrMalformed, capabilitiesAction)
		}
		req := flowapi.ActionRequest{
			InputData: map[string]any{
				"webauthn_available":                        false,
				"webauthn_conditional_mediation_available":  false,
				"webauthn_platform_authenticator_available": false,
			},
			CSRFToken: res.Response.CSRFToken,
		}
		var err error
		res, err = g.client.Act(r.Context(), flow, a.Href, req, g.relay(r, bearer))
		if err != nil {
			return nil, err
		}
	}
	if res.Response.Name == flowapi.StatePreflight {
		return nil, fmt.Errorf("%w: preflight repeated", flowclient.ErrMalformed)
	}
	return res, nil
}

func (g *Gateway) renderState(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, status int) {
	c.LinkQuery = g.linkQuery(st.Return)
	g.render(w, r, status, view.Build(st.Flow, st.Resp, c.Context))
}

// postFlow executes the posted action on the stored state and redirects back (PRG).
func (g *Gateway) postFlow(w http.ResponseWriter, r *http.Request, flow string) {
	if !g.checkPost(w, r) {
		return
	}
	c := g.newContext(w, r, flow)
	bearer, ok := g.flowBearer(w, r, flow)
	if !ok {
		return
	}
	st := g.loadState(r, flow)
	if st == nil || terminal(st.Resp.Name) {
		g.startFlow(w, r, c, flow, bearer, g.cleanReturn(r, r.URL.Query().Get(g.cfg.RedirectParam)), noticeNoState)
		return
	}
	name := r.PostForm.Get(view.ActionField)
	action := st.Resp.Actions[name]
	if name == "" || action == nil {
		c.Notice = noticeGone
		g.renderState(w, r, c, st, http.StatusConflict)
		return
	}
	req := flowapi.ActionRequest{InputData: view.Inputs(action, r.PostForm), CSRFToken: st.Resp.CSRFToken}
	res, err := g.client.Act(r.Context(), flow, action.Href, req, g.relay(r, bearer))
	if err == nil {
		g.keepDeviceToken(w, res)
		res, err = g.autoSteps(r, flow, bearer, res)
	}
	if err != nil {
		g.apiFailure(w, r, flow+" "+name, err)
		return
	}
	g.outcome(w, r, c, st, bearer, res)
}

// outcome acts on the answer to an executed action.
func (g *Gateway) outcome(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, bearer string, res *flowclient.Result) {
	resp := res.Response
	switch resp.Name {
	case flowapi.StateSuccess:
		g.succeed(w, r, st, res)
		return
	case flowapi.StateAccountDeleted:
		g.endSession(w, r)
		g.clearState(w, r, st.Flow)
		g.message(w, r, http.StatusOK, "Account deleted", "Your account has been deleted and you have been signed out.")
		return
	case flowapi.StateError:
		notice := noticeFailed
		code := ""
		if resp.Error != nil {
			code = resp.Error.Code
		}
		switch code {
		case flowapi.ErrOperationNotPermitted:
			notice = noticeStale
		case flowapi.ErrFlowExpired:
			notice = noticeExpired
		}
		g.log.Info("flow ended in an error state; starting a new one",
			zap.String("flow", st.Flow), zap.Int("status", resp.Status), zap.String("error", code))
		g.startFlow(w, r, c, st.Flow, bearer, st.Return, notice)
		return
	}
	next := &flowState{Flow: st.Flow, Resp: resp, Return: st.Return}
	if err := g.saveState(w, r, next); err != nil {
		g.log.Error("storing flow state", zap.String("flow", st.Flow), zap.Error(err))
		g.message(w, r, http.StatusInternalServerError, "Sign-in unavailable", "The sign-in state could not be stored.")
		return
	}
	http.Redirect(w, r, c.Path, http.StatusSeeOther)
}

// succeed turns a success state into the gateway's session cookie and sends the browser on.
func (g *Gateway) succeed(w http.ResponseWriter, r *http.Request, st *flowState, res *flowclient.Result) {
	token := res.Header.Get(flowapi.HeaderAuthToken)
	if token == "" {
		for _, ck := range res.Cookies {
			if ck.Name == g.cfg.HankoCookie && ck.Value != "" {
				token = ck.Value
			}
		}
	}
	if token == "" {
		g.log.Error("flow succeeded without a session token (neither X-Auth-Token nor cookie)",
			zap.String("flow", st.Flow), zap.String("cookie", g.cfg.HankoCookie))
		g.message(w, r, http.StatusBadGateway, "Sign-in incomplete",
			"The sign-in service did not hand out a session. Please try again.")
		return
	}
	claims, err := g.verifier.Verify(r.Context(), token)
	if err != nil {
		g.log.Error("session token from the flow failed verification", zap.Error(err))
		g.message(w, r, http.StatusBadGateway, "Sign-in incomplete",
			"The session handed out by the sign-in service could not be verified. Please try again.")
		return
	}
	now := g.now()
	d := sessionData(token, claims)
	if d.UserID == "" || d.SessionID == "" || d.Expires <= now.Unix() {
		g.log.Error("session token lacks sub, session_id or a future exp")
		g.message(w, r, http.StatusBadGateway, "Sign-in incomplete", "The session handed out is unusable. Please try again.")
		return
	}
	if l := g.cfg.Cookie.Lifetime; l > 0 && now.Add(l).Unix() < d.Expires {
		d.Expires = now.Add(l).Unix()
	}
	v, err := g.sessionCodec.Encode(d)
	if err == nil {
		err = cookies.Set(w, g.attrs.New(g.names.session, v, "/", time.Unix(d.Expires, 0).Sub(now)))
	}
	if err != nil {
		g.log.Error("issuing session cookie", zap.Error(err))
		g.message(w, r, http.StatusInternalServerError, "Sign-in incomplete", "The session could not be stored.")
		return
	}
	e := g.newAuthEntry(d, claims)
	e.confirmed(now, g.cfg.Revalidate, g.grace())
	g.auth.put(v, e, now)
	g.clearState(w, r, st.Flow)
	// A new CSRF token for the signed-in browser: a token planted before login is useless after.
	g.attrs.Delete(w, g.names.csrf, g.cfg.Prefix)
	target := redirect.Target(st.Return, r.Host, g.cfg.AllowedRedirectHosts)
	g.log.Info("signed in", zap.String("flow", st.Flow), zap.String("user_id", d.UserID), zap.String("session_id", d.SessionID))
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// sessionData is the session cookie content for a verified token.
func sessionData(token string, c session.Claims) session.Data {
	return session.Data{Token: token, UserID: c.String("sub"), SessionID: c.String("session_id"), Expires: c.Expiry()}
}

// keepDeviceToken stores Hanko's device-trust cookie in the gateway's device cookie, so that
// later flows from this browser send it back (else MFA is asked every time).
func (g *Gateway) keepDeviceToken(w http.ResponseWriter, res *flowclient.Result) {
	for _, ck := range res.Cookies {
		if ck.Name != flowapi.DeviceTrustCookie || ck.Value == "" {
			continue
		}
		ttl := deviceCookieTTL
		if ck.MaxAge > 0 {
			ttl = time.Duration(ck.MaxAge) * time.Second
		}
		v, err := g.valueCodec.encode(g.names.device, ck.Value)
		if err == nil {
			err = cookies.Set(w, g.attrs.New(g.names.device, v, g.cfg.Prefix, ttl))
		}
		if err != nil {
			g.log.Error("storing device trust cookie", zap.Error(err))
		}
	}
}
