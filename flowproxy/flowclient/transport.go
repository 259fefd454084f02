package flowclient

import (
	"bytes"
	"io"
	"net/http"
)

// HandlerTransport returns a RoundTripper that serves requests with h in-process (no network),
// used for the embedded Flow API server. The handler runs synchronously and its answer is
// buffered, which suits Flow API responses (the client reads at most MaxBody of it).
func HandlerTransport(h http.Handler) http.RoundTripper {
	return handlerTransport{h: h}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	// The handler sees a server-side request, as it would behind a listener.
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if in.RemoteAddr == "" {
		in.RemoteAddr = "127.0.0.1:0"
	}
	w := &bufferedWriter{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	// A handler that gave up because the caller's deadline passed has no usable answer. One
	// that answered anyway has done its work (a flow step committed): its answer is the
	// truth, late or not.
	if err := req.Context().Err(); err != nil && (w.status == 0 || w.status >= 500) {
		return nil, err
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return &http.Response{
		Status:        http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}, nil
}

// bufferedWriter collects a handler's answer; headers are snapshotted at WriteHeader as a
// real connection would send them.
type bufferedWriter struct {
	header http.Header
	sent   http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	w.sent = w.header.Clone()
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}
