package flowproxy

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowapi"
	"github.com/hankogate/hankogate/flowproxy/cookies"
)

// Flow state travels in the browser, not in gateway memory, so any instance sharing the
// cookie keys can continue a flow (no sticky sessions).
const (
	// maxFlowChunks caps the cookies one flow's state may use (browsers keep ~50 per site).
	maxFlowChunks = 8
	// flowStateTTL matches Hanko's flow lifetime; an older state is useless anyway.
	flowStateTTL = 24 * time.Hour
	// maxStateJSON bounds the decompressed state, so a forged or corrupted value (it cannot be
	// forged without the keys, but keys leak) cannot inflate without limit.
	maxStateJSON = 1 << 20
)

// flowState is one flow's last Flow API response plus what the gateway needs to finish it.
type flowState struct {
	Flow   string            `json:"f"`
	Resp   *flowapi.Response `json:"r"`
	Return string            `json:"rd,omitempty"` // return URL, checked again before use
	// Verifier is the PKCE code_verifier of a third-party sign-in in progress. It travels
	// only sealed in this cookie and in the gateway's calls to Hanko.
	Verifier string `json:"cv,omitempty"`
	// Saved is when the state was stored (unix seconds): the third-party callback takes the
	// newest of the browser's thirdparty states.
	Saved int64 `json:"t,omitempty"`
	// Notice and Alert are shown once, on the first page showing this state (a preflight
	// page passes them on to the state after it).
	// Both are catalogue keys (see package messages).
	Notice string `json:"n,omitempty"`
	Alert  string `json:"a,omitempty"`
	// Email is the address the user last entered in this flow, which the passcode page names.
	Email string `json:"e,omitempty"`
	// Go sends the browser on to the provider when the thirdparty page is first shown (not
	// again when the user comes back to it).
	Go bool `json:"go,omitempty"`
	// Session binds the state to the session it was stored under (sessionBinding; "" for
	// none): a state read under another session, or none, is discarded, so nothing of one
	// user's flow reaches the next user of the browser.
	Session string `json:"s,omitempty"`
	// Shown marks a profile state already rendered once: the account page renders each
	// answer of the backend once and asks again for the next view.
	Shown bool `json:"sh,omitempty"`
	// StepUp is set on a login a route's rules asked for (see stepup.go).
	StepUp *stepUp `json:"su,omitempty"`
}

// A flate writer holds ~800 KB of tables and a reader ~40 KB: made afresh for every
// flow-state cookie they were most of a page step's allocation (and of its GC work while
// the CPUs hash). Pooled, a step reuses them.
var (
	flateWriters = sync.Pool{New: func() any {
		zw, err := flate.NewWriter(nil, flate.BestCompression)
		if err != nil {
			panic(err) // only for a level out of range
		}
		return zw
	}}
	flateReaders = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// stateCodec encrypts and authenticates compressed flow state.
type stateCodec struct{ codecs []securecookie.Codec }

func newStateCodec(pairs [][]byte) *stateCodec {
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		c.(*securecookie.SecureCookie).SetSerializer(securecookie.NopEncoder{}).
			MaxLength(maxFlowChunks * cookies.MaxLine).MaxAge(int(flowStateTTL / time.Second))
	}
	return &stateCodec{codecs: codecs}
}

func (c *stateCodec) encode(name string, st *flowState) (string, error) {
	// Links are always null at Hanko and are not rendered; drop them.
	trimmed := *st
	if st.Resp != nil {
		resp := *st.Resp
		resp.Links = nil
		trimmed.Resp = &resp
	}
	raw, err := json.Marshal(&trimmed)
	if err != nil {
		return "", fmt.Errorf("encoding flow state: %w", err)
	}
	var buf bytes.Buffer
	zw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(raw); err != nil {
		return "", fmt.Errorf("compressing flow state: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("compressing flow state: %w", err)
	}
	v, err := securecookie.EncodeMulti(name, buf.Bytes(), c.codecs...)
	if err != nil {
		return "", fmt.Errorf("sealing flow state: %w", err)
	}
	return v, nil
}

var errStateInvalid = errors.New("flow state cookie invalid")

func (c *stateCodec) decode(name, value string) (*flowState, error) {
	var sealed []byte
	if err := securecookie.DecodeMulti(name, value, &sealed, c.codecs...); err != nil {
		return nil, errStateInvalid
	}
	zr := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(zr)
	if err := zr.(flate.Resetter).Reset(bytes.NewReader(sealed), nil); err != nil {
		return nil, errStateInvalid
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxStateJSON+1))
	if err != nil || len(raw) > maxStateJSON {
		return nil, errStateInvalid
	}
	var st flowState
	if err := json.Unmarshal(raw, &st); err != nil || st.Resp == nil || st.Flow == "" {
		return nil, errStateInvalid
	}
	return &st, nil
}

// loadState returns the stored state of flow, or nil when there is none or it is unusable
// (tampered, expired, for another flow, stored under another session). A tampered state is
// logged.
func (g *Gateway) loadState(r *http.Request, flow string) *flowState {
	base := g.names.flow(flow)
	v, ok := cookies.ReadChunked(r, base, maxFlowChunks)
	if !ok {
		return nil
	}
	st, err := g.stateCodec.decode(base, v)
	if err != nil {
		g.log.Info("discarding unreadable flow state cookie (tampered, expired or rotated keys)")
		return nil
	}
	if st.Flow != flow {
		return nil
	}
	if st.Session != g.sessionBinding(r) {
		g.log.Debug("discarding flow state stored under another session", zap.String("flow", flow))
		return nil
	}
	return st
}

// saveState writes st to the flow's chunked cookie.
func (g *Gateway) saveState(w http.ResponseWriter, r *http.Request, st *flowState) error {
	base := g.names.flow(st.Flow)
	st.Saved = g.now().Unix()
	st.Session = g.sessionBinding(r)
	v, err := g.stateCodec.encode(base, st)
	if err != nil {
		return err
	}
	return g.attrs.SetChunked(w, r, base, v, g.cfg.Prefix, flowStateTTL, maxFlowChunks)
}

// clearStates deletes every flow's cookies (all chunks the browser sent).
func (g *Gateway) clearStates(w http.ResponseWriter, r *http.Request) {
	for flow := range flowPages {
		g.attrs.DeleteChunked(w, r, g.names.flow(flow), g.cfg.Prefix, maxFlowChunks)
	}
}

// sessionBinding names the session a request is made under, for binding flow state to it: a
// digest of the session id of a session cookie sealed with our keys and unexpired, or ""
// without one. It asks neither the backend nor this instance's denylist, so that every
// instance sharing the keys agrees (no sticky sessions): a revoked session binds until its
// cookie changes, and any change of the cookie (sign-in, sign-out, expiry) discards the
// states stored before. Whether the session is valid is the flows' own check.
func (g *Gateway) sessionBinding(r *http.Request) string {
	v, ok := cookies.Value(r.Header, g.names.session)
	if !ok || v == "" {
		return ""
	}
	d, ok := g.sessionData(v, g.now())
	if !ok {
		return ""
	}
	sum := sha256.Sum256([]byte(d.SessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// valueCodec seals small values (CSRF token, device token) in their own cookies.
type valueCodec struct{ codecs []securecookie.Codec }

func newValueCodec(pairs [][]byte) *valueCodec {
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		c.(*securecookie.SecureCookie).SetSerializer(securecookie.JSONEncoder{}).MaxAge(0)
	}
	return &valueCodec{codecs: codecs}
}

func (c *valueCodec) encode(name string, v any) (string, error) {
	return securecookie.EncodeMulti(name, v, c.codecs...)
}

func (c *valueCodec) decode(name, value string, dst any) error {
	return securecookie.DecodeMulti(name, value, dst, c.codecs...)
}
