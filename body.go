package liveflux

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"time"
)

// DefaultBodyReadTimeout is how long a client has to send a POST body by
// default, before the time it earns by sending (see WithBodyReadTimeout).
const DefaultBodyReadTimeout = 10 * time.Second

// bodyMinRate is the rate, in bytes per second, at which a body earns
// more time: a client that sends at least that fast is never cut.
const bodyMinRate = 8 << 10

// WithBodyReadTimeout bounds the time a client has to send the body of a
// POST (a mount, an action, an upload): d from when the handler starts
// reading it, plus a second for every 8 KiB received, so that an upload
// that keeps moving is never cut while a client that trickles its bytes
// (one a second, to hold a connection and a goroutine) is. A client too
// slow gets 408 and its connection is closed. The handler sets the
// deadline itself (http.ResponseController), over any a middleware set
// before, so an http.Server needs no ReadTimeout for it, which would cut
// WebSocket connections too; those are not affected. A server that has a
// ReadTimeout keeps it instead. Defaults to DefaultBodyReadTimeout (10 s);
// raise it for large uploads over very slow links.
func WithBodyReadTimeout(d time.Duration) HandlerOption {
	return func(h *Handler) {
		if d > 0 {
			h.bodyTimeout = d
		}
	}
}

// readForm reads a POST body within its limits of size (the body limit,
// or for a multipart body the upload limits) and time
// (WithBodyReadTimeout), and returns its fields (not those of the URL
// query). The files of a multipart body are in r.MultipartForm.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, lift := h.withDeadline(w, r)
	r.Body = http.MaxBytesReader(w, body, h.bodyLimit(ct))
	var form url.Values
	var err error
	if ct == "multipart/form-data" {
		form, err = h.readMultipart(r, params["boundary"])
	} else if err = r.ParseForm(); err == nil {
		form = r.PostForm
	}
	if err == nil {
		// Left on the connection, the deadline would end the request's
		// context while the action runs. (After a failure it stays: it
		// bounds the server's wait for the rest of the body.)
		lift()
	}
	return form, err
}

// withDeadline returns r's body with a read deadline that grows as it is
// read (see WithBodyReadTimeout), and the function that lifts it. A server
// with a ReadTimeout keeps its own deadline.
func (h *Handler) withDeadline(w http.ResponseWriter, r *http.Request) (io.ReadCloser, func()) {
	body := r.Body
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ReadTimeout > 0 {
		return body, func() {}
	}
	rc := http.NewResponseController(w)
	base := time.Now().Add(h.bodyTimeout)
	if err := rc.SetReadDeadline(base); err != nil {
		h.noDeadline.Do(func() {
			h.logger.Warn("liveflux: POST bodies get no read deadline: the ResponseWriter does not support http.ResponseController (a middleware that does not unwrap); slow clients are not cut", "err", err)
		})
		return body, func() {}
	}
	return &deadlineBody{ReadCloser: body, rc: rc, base: base, end: base}, func() { rc.SetReadDeadline(time.Time{}) }
}

// deadlineBody is a request body whose connection has a read deadline:
// base plus a second for every bodyMinRate bytes read.
type deadlineBody struct {
	io.ReadCloser
	rc        *http.ResponseController
	base, end time.Time // the deadline before anything was read; the one set
	n         int64     // bytes read
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if end := b.base.Add(time.Duration(b.n/bodyMinRate) * time.Second); end.After(b.end) {
		b.end = end
		b.rc.SetReadDeadline(end)
	}
	return n, err
}

// refuseBody answers a POST whose body could not be read.
func refuseBody(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	var refused uploadRefusal
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("request body over %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge)
	case errors.As(err, &refused):
		http.Error(w, refused.Error(), http.StatusRequestEntityTooLarge)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The rest of the body may still come: the connection cannot
		// carry another request.
		w.Header().Set("Connection", "close")
		http.Error(w, "request body too slow", http.StatusRequestTimeout)
	default:
		http.Error(w, "malformed form body", http.StatusBadRequest)
	}
}
