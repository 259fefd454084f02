package flowproxy

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strings"
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

// noJSParam marks the preflight page's <noscript> refresh: the browser runs no script.
const noJSParam = "nojs"

// deviceCookieTTL is used when Hanko's device cookie carries no Max-Age.
const deviceCookieTTL = 30 * 24 * time.Hour

// showFlow serves GET (and HEAD) of a flow page: the stored state when there is one
// (post/redirect/get), else a fresh flow. ?nojs=1 is where a preflight page sends a browser
// without JavaScript: the gateway answers the stored preflight for it.
func (g *Gateway) showFlow(w http.ResponseWriter, r *http.Request, flow string) {
	c := g.newContext(w, r, flow)
	bearer, ok := g.flowBearer(w, r, flow)
	if !ok {
		return
	}
	q := r.URL.Query()
	head := r.Method == http.MethodHead
	nojs := q.Get(noJSParam) != ""
	st := g.loadState(r, flow)
	if st != nil && st.Shown && !(nojs && st.Resp.Name == flowapi.StatePreflight) {
		// The account page shows each answer of the backend once; this view gets a new one.
		// (A preflight left for a browser without JavaScript is answered at the backend.)
		st = nil
	}
	if st != nil && q.Get("new") == "" && !terminal(st.Resp.Name) {
		// A newer return URL (the user went to another protected page meanwhile) wins.
		dirty := false
		if rd := g.cleanReturn(r, q.Get(g.cfg.RedirectParam)); rd != "" && rd != st.Return {
			st.Return, dirty = rd, true
		}
		if nojs && !head && st.Resp.Name == flowapi.StatePreflight {
			g.answerPreflight(w, r, c, st, bearer)
			return
		}
		g.show(w, r, c, st, http.StatusOK, dirty)
		return
	}
	if head {
		// A HEAD request (link checkers, prefetchers) starts no flow at the backend.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		return
	}
	rd := q.Get(g.cfg.RedirectParam)
	if rd == "" && st != nil {
		rd = st.Return
	}
	c.stepUp = g.requestedStepUp(r, flow)
	g.startFlow(w, r, c, flow, bearer, g.cleanReturn(r, rd), "", nojs)
}

// flowBearer returns the session token the flow needs (profile only). Without a session the
// account page sends the browser to log in first; ok false means it has answered.
func (g *Gateway) flowBearer(w http.ResponseWriter, r *http.Request, flow string) (string, bool) {
	if flow != flowapi.FlowProfile {
		return "", true
	}
	e, verdict := g.authenticate(r)
	if verdict == unavailable {
		g.serviceUnavailable(w, r)
		return "", false
	}
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

// startFlow creates a flow and stores and renders its first state: the preflight page,
// which the passkey script answers with the browser's capabilities (a browser without
// JavaScript follows its <noscript> refresh to ?nojs=1). With nojs the gateway answers
// preflight at once. notice is shown on the first page after preflight.
func (g *Gateway) startFlow(w http.ResponseWriter, r *http.Request, c pageCtx, flow, bearer, rd, notice string, nojs bool) {
	rl := g.flowRelay(r, bearer, c.stepUp)
	res, err := g.client.Start(r.Context(), flow, rl)
	if err != nil {
		g.apiFailure(w, r, "start "+flow, err)
		return
	}
	g.keepDeviceToken(w, res)
	if nojs {
		if res, err = g.autoSteps(r, flow, rl, res); err != nil {
			g.apiFailure(w, r, "preflight "+flow, err)
			return
		}
	}
	st := &flowState{Flow: flow, Return: rd, Notice: notice, StepUp: c.stepUp}
	if st.StepUp != nil && notice == "" {
		st.Notice = st.StepUp.notice()
	}
	g.begin(w, r, c, st, res.Response)
}

// answerPreflight answers a stored preflight for a browser without JavaScript.
func (g *Gateway) answerPreflight(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, bearer string) {
	res, err := g.autoSteps(r, st.Flow, g.flowRelay(r, bearer, st.StepUp), &flowclient.Result{Response: st.Resp})
	if err != nil {
		g.apiFailure(w, r, "preflight "+st.Flow, err)
		return
	}
	g.keepDeviceToken(w, res)
	if limitedOutsideFlow(res.Response) {
		g.tooManyRequests(w, r, "preflight "+st.Flow, view.RetryAfter(res.Response.Payload))
		return
	}
	if res.Response.Name == flowapi.StateError {
		// A stale preflight (the flow expired while the page stood open): start afresh.
		g.restartFlow(w, r, c, st, bearer, st.Notice, true)
		return
	}
	g.begin(w, r, c, &flowState{Flow: st.Flow, Return: st.Return, Notice: st.Notice, Alert: st.Alert, StepUp: st.StepUp}, res.Response)
}

// begin stores and renders the first state of a flow; st carries everything but Resp.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, resp *flowapi.Response) {
	flow := st.Flow
	if limitedOutsideFlow(resp) {
		g.tooManyRequests(w, r, "start "+flow, view.RetryAfter(resp.Payload))
		return
	}
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
		g.message(w, r, http.StatusBadGateway, "page.start_failed")
		return
	}
	st.Resp = resp
	st.Shown = flow == flowapi.FlowProfile
	if resp.Name != flowapi.StatePreflight {
		// Shown right now, so not stored for later.
		c.Notice, c.Alert = st.Notice, st.Alert
		st.Notice, st.Alert = "", ""
	}
	if err := g.saveState(w, r, st); err != nil {
		g.log.Error("storing flow state", zap.String("flow", flow), zap.Error(err))
		g.message(w, r, http.StatusInternalServerError, "page.state_not_stored")
		return
	}
	g.renderState(w, r, c, st, http.StatusOK)
}

// restartFlow starts the flow of st anew, for the same return URL and step-up (a restart
// must neither drop what the route asked for nor send the device-trust token it withholds).
func (g *Gateway) restartFlow(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, bearer, notice string, nojs bool) {
	c.stepUp = st.StepUp
	g.startFlow(w, r, c, st.Flow, bearer, st.Return, notice, nojs)
}

// autoSteps answers preflight on the server side, for browsers without JavaScript: no
// WebAuthn, so no passkey states appear.
func (g *Gateway) autoSteps(r *http.Request, flow string, rl flowclient.Relay, res *flowclient.Result) (*flowclient.Result, error) {
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
		res, err = g.client.Act(r.Context(), flow, a.Href, req, rl)
		if err != nil {
			return nil, err
		}
	}
	if res.Response.Name == flowapi.StatePreflight {
		return nil, fmt.Errorf("%w: preflight repeated", flowclient.ErrMalformed)
	}
	return res, nil
}

// show renders a stored state, spending its one-time messages and provider redirect (the
// state is stored again without them); dirty asks to store it in any case.
func (g *Gateway) show(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, status int, dirty bool) {
	p := g.page(c, st)
	if st.Resp.Name != flowapi.StatePreflight && (st.Notice != "" || st.Alert != "" || st.Go) {
		st.Notice, st.Alert, st.Go = "", "", false
		dirty = true
	}
	if st.Flow == flowapi.FlowProfile && !st.Shown {
		st.Shown, dirty = true, true
	}
	if dirty && r.Method != http.MethodHead {
		if err := g.saveState(w, r, st); err != nil {
			g.log.Error("storing flow state", zap.String("flow", st.Flow), zap.Error(err))
		}
	}
	g.render(w, r, status, p)
}

func (g *Gateway) renderState(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, status int) {
	g.render(w, r, status, g.page(c, st))
}

// page builds the page of a stored state.
func (g *Gateway) page(c pageCtx, st *flowState) *view.Page {
	c.LinkQuery = g.linkQuery(st.Return)
	if st.Resp.Name != flowapi.StatePreflight {
		c.Notice, c.Alert = cmp.Or(c.Notice, st.Notice), cmp.Or(c.Alert, st.Alert)
	}
	offered := st.StepUp.offered(st.Resp)
	stuck := st.StepUp.stuck(offered)
	if stuck {
		c.Notice = noticeStepUpNone
	}
	// Notices and alerts are catalogue keys until here.
	c.Notice, c.Alert = st.StepUp.noticeText(c.Msg, c.Notice), c.Msg.T(c.Alert)
	c.Email = st.Email
	p := view.Build(st.Flow, offered, c.Context)
	if stuck {
		p.Links = append(p.Links, view.Link{Href: g.cfg.Prefix + "/account", Label: c.Msg.T("link.account")})
	}
	switch {
	case st.Resp.Name == flowapi.StatePreflight:
		p.NoScriptRefresh = c.Path + "?" + noJSParam + "=1"
	case st.Go:
		p.Refresh = view.RedirectURL(st.Resp)
	}
	return p
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
		g.startFlow(w, r, c, flow, bearer, g.cleanReturn(r, r.URL.Query().Get(g.cfg.RedirectParam)), noticeNoState, false)
		return
	}
	name := r.PostForm.Get(view.ActionField)
	action := st.StepUp.offered(st.Resp).Actions[name]
	if name == "" || action == nil || view.GatewayActions[name] {
		if flow == flowapi.FlowProfile {
			// The account page is never shown from a stored answer: ask the backend anew.
			g.startFlow(w, r, c, flow, bearer, "", noticeGone, false)
			return
		}
		c.Notice = noticeGone
		g.renderState(w, r, c, st, http.StatusConflict)
		return
	}
	req := flowapi.ActionRequest{InputData: view.Inputs(action, r.PostForm), CSRFToken: st.Resp.CSRFToken}
	carry := flowState{Email: postedEmail(req.InputData)}
	if thirdPartyStarts[name] {
		// The gateway, not the page, names where the provider sends the browser back and
		// holds the PKCE verifier (Hanko then needs no cookie of its own in the browser).
		carry.Verifier = newCodeVerifier()
		req.InputData["redirect_to"] = g.callbackURL(r)
		req.InputData["code_verifier"] = carry.Verifier
	}
	res, err := g.client.Act(r.Context(), flow, action.Href, req, g.flowRelay(r, bearer, st.StepUp))
	if err != nil {
		g.apiFailure(w, r, flow+" "+name, err)
		return
	}
	g.keepDeviceToken(w, res)
	if flow == flowapi.FlowProfile && g.cfg.OnAccountAction != nil && accepted(res.Response) {
		if e, _ := g.authenticate(r); e != nil {
			g.cfg.OnAccountAction(r, e.identity, name)
		}
	}
	g.outcome(w, r, c, st, bearer, res, carry)
}

// maxEmail bounds an address kept for the passcode page (RFC 5321 allows 254).
const maxEmail = 254

// postedEmail returns the e-mail address an action sends (email, or an identifier that is
// an address), which a following passcode page names; "" for none.
func postedEmail(in map[string]any) string {
	for _, key := range []string{"email", "identifier"} {
		if s, ok := in[key].(string); ok && strings.Contains(s, "@") && len(s) <= maxEmail {
			return strings.TrimSpace(s)
		}
	}
	return ""
}

// limitedOutsideFlow reports a 429 that ended outside the flow's states (the embedded backend's
// limit on starting flows): there is no state to show it in.
func limitedOutsideFlow(resp *flowapi.Response) bool {
	return resp.Status == http.StatusTooManyRequests && resp.Name == flowapi.StateError
}

// accepted reports whether the backend carried out an action (rather than refusing it or
// ending the flow in an error).
func accepted(resp *flowapi.Response) bool {
	return resp.Status < 400 && resp.Name != flowapi.StateError
}

// outcome acts on the answer to an executed action. carry holds what the next state keeps
// besides the response: the PKCE verifier of a third-party start, an alert to show.
func (g *Gateway) outcome(w http.ResponseWriter, r *http.Request, c pageCtx, st *flowState, bearer string, res *flowclient.Result, carry flowState) {
	resp := res.Response
	fromPreflight := st.Resp.Name == flowapi.StatePreflight
	switch resp.Name {
	case flowapi.StateSuccess:
		g.succeed(w, r, st, res)
		return
	case flowapi.StateAccountDeleted:
		g.endSession(w, r)
		g.message(w, r, http.StatusOK, "page.account_deleted")
		return
	case flowapi.StatePreflight:
		if fromPreflight {
			g.apiFailure(w, r, st.Flow+" preflight", fmt.Errorf("%w: preflight repeated", flowclient.ErrMalformed))
			return
		}
	case flowapi.StateError:
		if limitedOutsideFlow(resp) {
			// Starting a new flow would be refused as well.
			g.tooManyRequests(w, r, st.Flow+" action", view.RetryAfter(resp.Payload))
			return
		}
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
		nojs := false
		if fromPreflight {
			// The capabilities the script sent were refused. An expired preflight page just
			// starts over; anything else continues without passkeys rather than in a loop.
			notice, nojs = st.Notice, code != flowapi.ErrFlowExpired
		}
		g.restartFlow(w, r, c, st, bearer, cmp.Or(carry.Alert, notice), nojs)
		return
	}
	if resp.Status >= 400 && resp.Status < 500 && g.cfg.OnRejected != nil {
		g.cfg.OnRejected(r, st.Flow, resp.Status)
	}
	next := &flowState{Flow: st.Flow, Resp: resp, Return: st.Return, Verifier: carry.Verifier, Alert: carry.Alert,
		Email: cmp.Or(carry.Email, st.Email), StepUp: st.StepUp}
	if fromPreflight {
		next.Notice, next.Alert = st.Notice, cmp.Or(next.Alert, st.Alert)
	}
	if resp.Name == view.StateThirdParty {
		if st.Resp.Name == view.StateThirdParty {
			next.Verifier = st.Verifier // e.g. a refused exchange_token: the same sign-in
		} else {
			next.Go = true
			if view.RedirectURL(resp) == "" {
				// Stored all the same, so that the page's back button works.
				if err := g.saveState(w, r, next); err != nil {
					g.log.Error("storing flow state", zap.String("flow", st.Flow), zap.Error(err))
				}
				g.log.Error("thirdparty state without a usable redirect_url", zap.String("flow", st.Flow))
				g.message(w, r, http.StatusBadGateway, "page.no_provider_url")
				return
			}
		}
	}
	if err := g.saveState(w, r, next); err != nil {
		g.log.Error("storing flow state", zap.String("flow", st.Flow), zap.Error(err))
		g.message(w, r, http.StatusInternalServerError, "page.state_not_stored")
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
		g.message(w, r, http.StatusBadGateway, "page.no_session")
		return
	}
	claims, err := g.verifier.Verify(r.Context(), token)
	if err != nil {
		g.log.Error("session token from the flow failed verification", zap.Error(err))
		g.message(w, r, http.StatusBadGateway, "page.session_unverified")
		return
	}
	now := g.now()
	d := sessionData(token, claims)
	if d.UserID == "" || d.SessionID == "" || d.Expires <= now.Unix() {
		g.log.Error("session token lacks sub, session_id or a future exp")
		g.message(w, r, http.StatusBadGateway, "page.session_unusable")
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
		g.message(w, r, http.StatusInternalServerError, "page.session_not_stored")
		return
	}
	e := g.cacheConfirmed(v, d, claims, now)
	// Every flow of the browser ends with a sign-in; none may continue under the new session.
	g.clearStates(w, r)
	// A new CSRF token for the signed-in browser: a token planted before login is useless after.
	g.attrs.Delete(w, g.names.csrf, g.cfg.Prefix)
	target := redirect.Target(st.Return, r.Host, g.cfg.AllowedRedirectHosts)
	g.log.Info("signed in", zap.String("flow", st.Flow), zap.String("user_id", d.UserID), zap.String("session_id", d.SessionID))
	if g.cfg.OnSignedIn != nil {
		g.cfg.OnSignedIn(r, st.Flow, e.identity)
	}
	g.replaced(r, d.SessionID)
	if !st.StepUp.requirement().Satisfied(e.subject.AMR) {
		g.unmet(w, r, st.StepUp, st.Return)
		return
	}
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
