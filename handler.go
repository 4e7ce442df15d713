package liveflux

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"
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

	maxParams int        // bytes of mount parameters
	posts     *ipLimiter // nil without WithHTTPRateLimit

	// rendered, when set, receives every rendering an action produced
	// (whichever transport carried it), after the store released the
	// instance. The WebSocket handler uses it to update watchers.
	rendered func(ctx context.Context, res result)
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
// Retry-After. A client is an IP address, or an IPv6 /64, as the
// connection gives it (X-Forwarded-For is not trusted: behind a proxy
// every client shares the proxy's address). Off by default.
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

// WithSessionKey binds every component instance to the session that
// mounted it: key returns the session of a request (for example the value
// of your session cookie, or a user ID), and a request from any other
// session that names the instance gets the same 404 as an unknown ID, over
// HTTP and WebSocket alike. key must return a non-empty, unguessable value
// for every visitor; requests for which it returns "" share one anonymous
// session. Binding requires components to embed Base.
//
// Without this option (the default) knowing a component's 128-bit random ID
// is what allows driving it, so IDs must not leak to other users.
func WithSessionKey(key func(*http.Request) string) HandlerOption {
	return func(h *Handler) { h.session = key }
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
	return &Handler{
		store:    store,
		registry: DefaultRegistry,
		logger:   slog.Default(),
		maxBody:  DefaultMaxBodyBytes,
		cop:      http.NewCrossOriginProtection(),

		maxParams: DefaultMaxParamBytes,
	}
}

// Store returns the store the handler keeps instances in.
func (h *Handler) Store() Store { return h.store }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
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
			h.logger.Error("liveflux: panic serving a POST", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if h.cop != nil {
		if err := h.cop.Check(r); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
	}
	if h.rateLimited(w, r) {
		return
	}
	form, err := h.readForm(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("request body over %d bytes", h.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	kind := form.Get(FieldKind)
	if kind == "" {
		http.Error(w, "missing "+FieldKind, http.StatusBadRequest)
		return
	}
	ids, hasID := form[FieldID]
	action := form.Get(FieldAction)
	for _, f := range [...]string{FieldKind, FieldID, FieldAction} {
		delete(form, f)
	}

	var res result
	if hasID {
		if len(ids) != 1 || ids[0] == "" {
			http.Error(w, "empty "+FieldID, http.StatusBadRequest)
			return
		}
		res, err = h.act(r.Context(), actRequest{kind: kind, id: ids[0], action: action, data: form, owner: h.ownerOf(r)})
	} else {
		params := make(map[string]string, len(form))
		for k, v := range form {
			params[k] = v[0]
		}
		owner := h.ownerOf(r)
		res, err = h.mount(r.Context(), kind, params, owner, h.quotaOf(r, owner))
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
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	if res.redirect != "" {
		hdr.Set(HeaderRedirect, res.redirect)
	}
	w.Write(res.html)
}

// readForm parses a url-encoded or multipart body of at most maxBody bytes
// and returns its fields (not those of the URL query).
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if ct == "multipart/form-data" {
		err = r.ParseMultipartForm(h.maxBody)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// result is what mounting or acting produced.
type result struct {
	id       string
	html     []byte // the rendering, root element included
	rev      uint64 // its revision
	redirect string
	reply    any     // HandleWS's return value
	origin   *wsConn // the connection that acted, over WebSocket
	ws       bool    // the action ran HandleWS
}

// Mount mounts a new instance of kind with params for the page that r
// requested and returns its HTML, root element included, so the page shows
// the component on first paint without a round trip. The client adopts it
// when the page loads. With WithSessionKey, the instance is bound to r's
// session. It counts toward the quota of r's session or client address
// (see WithMaxInstancesPerSession), like a mount over HTTP.
func (h *Handler) Mount(r *http.Request, kind string, params map[string]string) (template.HTML, error) {
	owner := h.ownerOf(r)
	res, err := h.mount(r.Context(), kind, params, owner, h.quotaOf(r, owner))
	if err != nil {
		return "", err
	}
	return template.HTML(res.html), nil
}

// ownerOf returns the digest of r's session, or "" without WithSessionKey.
// Stores keep the digest, never the session key itself.
func (h *Handler) ownerOf(r *http.Request) string {
	if h.session == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(h.session(r)))
	return hex.EncodeToString(sum[:])
}

func (h *Handler) mount(ctx context.Context, kind string, params map[string]string, owner, quota string) (result, error) {
	if err := h.checkParams(params); err != nil {
		return result{}, err
	}
	c, err := h.registry.New(kind)
	if err != nil {
		return result{}, err
	}
	if h.session != nil {
		b, ok := c.(baser)
		if !ok {
			return result{}, fmt.Errorf("liveflux: kind %q: session binding needs a component embedding liveflux.Base", kind)
		}
		b.base().owner = owner
	}
	if b, ok := c.(baser); ok {
		b.base().quota = quota
	}
	c.SetID(rand.Text())
	if err := h.call(c, "Mount", func() error { return c.Mount(ctx, params) }); err != nil {
		return result{}, err
	}
	html, err := h.render(ctx, c, params)
	if err != nil {
		return result{}, err
	}
	// The instance becomes visible to others only now, fully rendered.
	if err := h.store.Set(ctx, c); err != nil {
		return result{}, fmt.Errorf("liveflux: store %s: %w", kind, err)
	}
	return result{id: c.GetID(), html: html, redirect: takeRedirect(c)}, nil
}

// actRequest says what to do to an instance, on whose behalf.
type actRequest struct {
	kind   string // must match the instance's; "" matches any
	id     string
	action string // "" only re-renders
	data   url.Values
	msg    *WebSocketMessage // set over WebSocket: a WebSocketComponent gets it
	owner  string            // the caller's session digest (see ownerOf)
	server bool              // server code (Refresh): trusted, no session check
	// allowed, when set, runs once the caller is known to be allowed to
	// use the instance, before the action, while the instance is held; an
	// error it returns fails the request.
	allowed func() error
}

// act runs one action on an instance and renders it. For a component
// implementing WebSocketComponent, an action over WebSocket runs HandleWS
// instead of Handle and renders nothing.
func (h *Handler) act(ctx context.Context, req actRequest) (result, error) {
	id := req.id
	res := result{id: id}
	err := h.store.Update(ctx, id, func(c Component) error {
		if req.kind != "" && c.GetKind() != req.kind {
			return notFound(id)
		}
		if h.session != nil && !req.server && subtle.ConstantTimeCompare([]byte(ownerOf(c)), []byte(req.owner)) != 1 {
			return notFound(id) // the same answer as for an unknown ID
		}
		if req.allowed != nil {
			if err := req.allowed(); err != nil {
				return err
			}
		}
		if wc, ok := c.(WebSocketComponent); ok && req.msg != nil {
			res.ws = true
			err := h.call(c, "HandleWS", func() (err error) {
				res.reply, err = wc.HandleWS(ctx, req.msg)
				return err
			})
			if err == nil {
				res.redirect = takeRedirect(c)
			}
			return err
		}
		if req.action != "" {
			if err := h.call(c, "Handle", func() error { return c.Handle(ctx, req.action, req.data) }); err != nil {
				return err
			}
		}
		html, err := h.render(ctx, c, nil)
		if err != nil {
			return err
		}
		res.html, res.rev = html, revision(c)
		res.redirect = takeRedirect(c)
		return nil
	})
	if err != nil {
		return result{}, err
	}
	return res, nil
}

// publish hands a rendering an action produced to h.rendered, so that every
// client watching the instance sees it.
func (h *Handler) publish(ctx context.Context, res result) {
	if res.html != nil && h.rendered != nil {
		h.rendered(ctx, res)
	}
}

// render writes c inside its root element and, on success, records the new
// revision on c. params, when given, become data-flux-param-* attributes so
// that the client can mount the component again from them.
func (h *Handler) render(ctx context.Context, c Component, params map[string]string) ([]byte, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	var rev uint64 // 0 without Base: clients apply it whatever they show
	if _, ok := c.(baser); ok {
		rev = revision(c) + 1
	}
	writeRootOpen(buf, c.GetKind(), c.GetID(), rev, params)
	if err := h.call(c, "Render", func() error { return c.Render(ctx, buf) }); err != nil {
		return nil, err
	}
	buf.WriteString("</div>")
	setRevision(c, rev)
	return append([]byte(nil), buf.Bytes()...), nil
}

// call runs one of c's methods, turns a panic into an error wrapping
// ErrPanic, and logs failures.
func (h *Handler) call(c Component, method string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("liveflux: %s.%s: %w: %v", c.GetKind(), method, ErrPanic, p)
			h.logger.Error("liveflux: component panicked",
				"kind", c.GetKind(), "id", c.GetID(), "method", method,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	err = fn()
	if err != nil {
		var e *Error
		level := slog.LevelError
		if errors.As(err, &e) {
			level = slog.LevelInfo // the component chose to tell the client
		}
		h.logger.Log(context.Background(), level, "liveflux: component failed",
			"kind", c.GetKind(), "id", c.GetID(), "method", method, "err", err)
	}
	return err
}
