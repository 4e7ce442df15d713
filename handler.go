package liveflux

import (
	"compress/gzip"
	"context"
	"crypto/cipher"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultMaxBodyBytes is the largest POST body a Handler accepts by default.
const DefaultMaxBodyBytes = 1 << 20

// Handler serves the HTTP half of the Liveflux protocol on one endpoint:
// GET returns the client runtime, POST mounts components and runs actions.
// Mount it where ClientOptions.Endpoint points (by default "/liveflux").
type Handler struct {
	store    Store
	registry *Registry
	logger   *slog.Logger
	maxBody  int64
	cop      *http.CrossOriginProtection
	session  func(*http.Request) string // nil: IDs are bearer capabilities

	maxParams   int            // bytes of mount parameters
	maxRender   int            // bytes of a rendering; 0: any (a WebSocketHandler's write limit)
	posts       *ipLimiter     // nil without WithHTTPRateLimit
	uploads     uploadLimits   // WithMaxUploadBytes, WithMaxUploadFiles (upload.go)
	bodyTimeout time.Duration  // WithBodyReadTimeout (body.go)
	noDeadline  sync.Once      // warns once that bodies cannot get a deadline
	proxies     trustedProxies // WithTrustedProxies (proxy.go)
	sealers     []cipher.AEAD  // WithParamKey (seal.go)
	metrics     Metrics        // WithMetrics (metrics.go); nil: none

	// updates receives every rendering an action produced, whichever
	// transport carried it.
	updates updateSink

	topics    *topicIndex      // who subscribes to what on this node
	mailboxes *mailboxes       // topic messages on their way to subscribers
	presence  *presence        // presence lists
	ctx       context.Context  // of the handler's own work; nil: Background
	now       func() time.Time // its clock; tests replace it

	storeFailing atomic.Bool // the store failed a topic delivery (logged)
}

// HandlerOption configures a Handler. Every HandlerOption is also a
// WebSocketOption, so NewWebSocketHandler accepts them too.
type HandlerOption func(*Handler)

// applyWebSocket lets a HandlerOption configure a WebSocketHandler's Handler.
func (o HandlerOption) applyWebSocket(w *WebSocketHandler) { o(w.Handler) }

// WithRegistry makes the handler create components from r instead of
// DefaultRegistry.
func WithRegistry(r *Registry) HandlerOption {
	return func(h *Handler) {
		if r != nil {
			h.registry = r
		}
	}
}

// WithLogger sets where the handler logs component failures, panics and
// refused requests. Defaults to slog.Default().
func WithLogger(l *slog.Logger) HandlerOption {
	return func(h *Handler) {
		if l != nil {
			h.logger = l
		}
	}
}

// WithMaxBodyBytes limits the size of a POST body; a larger one is refused
// with 413. Defaults to DefaultMaxBodyBytes (1 MiB).
func WithMaxBodyBytes(n int64) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.maxBody = n
		}
	}
}

// WithMaxParamBytes limits the mount parameters (names and values
// together, over HTTP or Handler.Mount); more are refused with 413.
// Defaults to DefaultMaxParamBytes (64 KiB).
func WithMaxParamBytes(n int) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.maxParams = n
		}
	}
}

// WithHTTPRateLimit allows each client at most max POSTs (mounts and
// actions) per window, in bursts of up to max; more get 429 with
// Retry-After. A client is an IP address, or an IPv6 /64: the
// connection's, or behind a proxy listed in WithTrustedProxies the one it
// forwards for (without that option every client behind a proxy shares
// the proxy's address). Off by default.
func WithHTTPRateLimit(max int, window time.Duration) HandlerOption {
	return func(h *Handler) {
		if max > 0 && window > 0 {
			h.posts = newIPLimiter(max, window)
		}
	}
}

// WithCrossOriginProtection replaces the check that refuses cross-site
// POSTs. Defaults to http.NewCrossOriginProtection(), which trusts
// same-origin requests and requests from non-browser clients; use
// AddTrustedOrigin on your own to allow other origins. Passing nil turns the
// check off, which is only safe when another layer enforces it.
func WithCrossOriginProtection(p *http.CrossOriginProtection) HandlerOption {
	return func(h *Handler) { h.cop = p }
}

// NewHandler returns an HTTP-only handler over store. A nil store means a
// new MemoryStore with its defaults.
func NewHandler(store Store, opts ...HandlerOption) *Handler {
	h := newHandler(store)
	for _, o := range opts {
		o(h)
	}
	return h
}

func newHandler(store Store) *Handler {
	if store == nil {
		store = NewMemoryStore()
	}
	h := &Handler{
		store:       store,
		registry:    DefaultRegistry,
		logger:      slog.Default(),
		maxBody:     DefaultMaxBodyBytes,
		cop:         http.NewCrossOriginProtection(),
		maxParams:   DefaultMaxParamBytes,
		bodyTimeout: DefaultBodyReadTimeout,
		updates:     nobodyWatches{},
		sealers:     randomSealers(),
		topics:      newTopicIndex(),
		now:         time.Now,
	}
	h.mailboxes = newMailboxes(h)
	h.presence = newPresence(h)
	if s, ok := store.(interface{ onRemove(func(string)) }); ok {
		s.onRemove(h.gone) // what it keeps for an instance goes with it
	}
	return h
}

// Store returns the store the handler keeps instances in.
func (h *Handler) Store() Store { return h.store }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if r.Header.Get("Sec-WebSocket-Key") != "" {
			refuseHandshake(w, r)
			return
		}
		serveRuntime(w, r)
	case http.MethodPost:
		h.servePost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *Handler) servePost(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// Component methods recover on their own (see call); this covers
		// the rest, a Store for one, with a 500 rather than a dropped
		// connection.
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.logger.ErrorContext(r.Context(), "liveflux: panic serving a POST", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if h.cop != nil {
		if err := h.cop.Check(h.asSent(r)); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
	}
	if h.rateLimited(w, r) {
		return
	}
	form, err := h.readForm(w, r)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if err != nil {
		refuseBody(w, err)
		return
	}
	kind := form.Get(FieldKind)
	if kind == "" {
		http.Error(w, "missing "+FieldKind, http.StatusBadRequest)
		return
	}
	ids, hasID := form[FieldID]
	action, pageURL, sealed := form.Get(FieldAction), form.Get(FieldURL), form.Get(FieldSealed)
	for _, f := range [...]string{FieldKind, FieldID, FieldAction, FieldURL, FieldSealed} {
		delete(form, f)
	}

	asJSON := accepts(r.Header.Get("Accept"), MediaTypeAnswer)
	ctx := r.Context()
	if !asJSON {
		ctx = withEventsInHeader(ctx)
	}
	var res result
	start := time.Now()
	if hasID {
		if len(ids) != 1 || ids[0] == "" {
			http.Error(w, "empty "+FieldID, http.StatusBadRequest)
			return
		}
		res, err = h.act(withFiles(ctx, r.MultipartForm), actRequest{kind: kind, id: ids[0], action: action, data: form, owner: h.ownerOf(r), url: pageURL})
		h.recordSince(start, Measure{Kind: MeasureAction, Transport: TransportHTTP, Component: kind, Action: action, Err: err})
	} else {
		params := make(map[string]string, len(form))
		for k, v := range form {
			params[k] = v[0]
		}
		owner := h.ownerOf(r)
		res, err = h.mount(ctx, mountRequest{kind: kind, params: params, owner: owner, quota: h.quotaOf(r, owner), url: pageURL, sealed: sealed})
		h.recordSince(start, Measure{Kind: MeasureMount, Transport: TransportHTTP, Component: kind, Err: err})
	}
	if err != nil {
		status, msg := clientError(err)
		http.Error(w, msg, status)
		return
	}
	if hasID {
		h.publish(r.Context(), res)
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	if res.redirect != "" {
		hdr.Set(HeaderRedirect, res.redirect)
	}
	if asJSON {
		hdr.Set("Content-Type", MediaTypeAnswer)
		writeBody(w, r, encodeAnswer(res))
		return
	}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	if len(res.events) > 0 {
		hdr.Set(HeaderEvents, encodeEvents(res.events))
	}
	writeBody(w, r, res.html)
}

// GzipMin is the smallest answer to a POST that is sent gzip'd, in bytes,
// to a client whose Accept-Encoding lists gzip (browsers do): below it,
// compressing costs more than it saves.
const GzipMin = 1024

// varyEncoding is the Vary header of answers, shared (a header set by
// key allocates nothing).
var varyEncoding = []string{"Accept-Encoding"}

// gzips are the gzip writers of answers, reused.
var gzips = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// writeBody writes an answer's body, gzip'd when it is large enough and
// the client accepts it.
func writeBody(w http.ResponseWriter, r *http.Request, body []byte) {
	w.Header()["Vary"] = varyEncoding
	if len(body) < GzipMin || !accepts(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Write(body)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	zw := gzips.Get().(*gzip.Writer)
	zw.Reset(w)
	zw.Write(body)
	zw.Close()
	zw.Reset(nil)
	gzips.Put(zw)
}

// accepts reports whether an Accept or Accept-Encoding header value lists
// token (a media type or an encoding, in any letter case) with a quality
// above 0.
func accepts(header, token string) bool {
	for _, p := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(p, ";")
		if !strings.EqualFold(strings.TrimSpace(name), token) {
			continue
		}
		q := 1.0
		for _, param := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(param), "q="); ok {
				q, _ = strconv.ParseFloat(v, 64)
			}
		}
		return q > 0
	}
	return false
}

// refuseHandshake answers a WebSocket handshake the handler does not
// upgrade: a plain Handler's, or one that reached a WebSocketHandler
// without its Upgrade header (a proxy that does not pass it on). It is
// not answered with the client runtime, which the client would download
// again on every attempt to connect.
func refuseHandshake(w http.ResponseWriter, r *http.Request) {
	msg := "WebSocket handshake without an Upgrade header: a proxy on the way does not pass it on"
	if websocket.IsWebSocketUpgrade(r) {
		msg = "this endpoint serves HTTP only"
	}
	http.Error(w, msg, http.StatusBadRequest)
}

// Mount mounts a new instance of kind with params for the page that r
// requested and returns its HTML, root element included, so the page shows
// the component on first paint without a round trip. The client adopts it
// when the page loads. With WithSessionKey, the instance is bound to r's
// session. It counts toward the quota of r's session or client address
// (see WithMaxInstancesPerSession), like a mount over HTTP.
// Use MountID when the page needs the instance's ID too.
func (h *Handler) Mount(r *http.Request, kind string, params map[string]string) (template.HTML, error) {
	_, html, err := h.MountID(r, kind, params)
	return html, err
}

// MountID is Mount that also returns the new instance's ID, for example to
// Refresh it or Broadcast to it later.
func (h *Handler) MountID(r *http.Request, kind string, params map[string]string) (id string, html template.HTML, err error) {
	owner := h.ownerOf(r)
	start := time.Now()
	res, err := h.mount(r.Context(), mountRequest{kind: kind, params: params, owner: owner, quota: h.quotaOf(r, owner), url: r.URL.RequestURI(), trusted: true})
	h.recordSince(start, Measure{Kind: MeasureMount, Transport: TransportHTTP, Component: kind, Err: err})
	if err != nil {
		return "", "", err
	}
	return res.id, template.HTML(res.html), nil
}
