package liveflux

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocketComponent is a component that handles actions arriving over
// WebSocket itself. HandleWS runs instead of Handle, under the same
// per-instance serialization, and what it returns (unless nil) is sent to
// the acting client as JSON, followed by an "ack" message. When it returns
// an error the instance keeps the state it had before.
type WebSocketComponent interface {
	Component
	HandleWS(ctx context.Context, message *WebSocketMessage) (interface{}, error)
}

// WebSocketHandler serves the whole protocol on one endpoint: WebSocket
// upgrades on it, and everything else as its embedded Handler does, over
// the same Store. Clients watching a component receive its new rendering
// after every action on it, whichever transport carried the action, and
// whatever Broadcast sends them.
type WebSocketHandler struct {
	*Handler

	allowedOrigins   map[string]bool // nil: same origin only
	csrfCheck        func(*http.Request) error
	requireTLS       bool
	rateMax          int
	rateWindow       time.Duration
	validator        func(*WebSocketMessage) error
	readLimit        int64
	compress         bool
	pingInterval     time.Duration
	writeTimeout     time.Duration
	sendQueue        int
	writeLimit       int
	backplane        Backplane // nil: this process only
	backplaneKeys    [][]byte
	outboxBytes      int
	presenceInterval time.Duration
	maxWatched       int
	nodes            otherNodes
	hub              *hub

	// ctx is the context of actions that arrive over WebSocket and of
	// the backplane; Shutdown cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	upgrader  websocket.Upgrader
	upgrades  *ipLimiter // nil without a rate limit
	poller    *poller    // idle connections' sockets (read.go); nil: none
	pollOnce  sync.Once  // starts it with the first connection
	writeBufs sync.Pool

	mu      sync.RWMutex
	conns   map[*wsConn]struct{}
	closed  bool
	pinging bool // pingLoop runs
	// wg counts the handler's goroutines: one per connection, done when it
	// is cleaned up, and the backplane's.
	wg sync.WaitGroup
}

// NewHandlerWS returns a WebSocketHandler with default options over store
// (a new MemoryStore when nil).
func NewHandlerWS(store Store) http.Handler {
	return NewWebSocketHandler(store)
}

// NewWebSocketHandler returns a handler serving HTTP and WebSocket over
// store (a new MemoryStore when nil).
func NewWebSocketHandler(store Store, opts ...WebSocketOption) *WebSocketHandler {
	h := &WebSocketHandler{
		Handler:          newHandler(store),
		readLimit:        DefaultReadLimit,
		writeLimit:       DefaultWriteLimit,
		outboxBytes:      DefaultBackplaneOutbox,
		pingInterval:     DefaultPingInterval,
		writeTimeout:     DefaultWriteTimeout,
		compress:         true,
		sendQueue:        DefaultSendQueue,
		presenceInterval: DefaultPresenceInterval,
		maxWatched:       DefaultMaxWatched,
		conns:            make(map[*wsConn]struct{}),
	}
	h.hub = newHub(h)
	for _, o := range opts {
		o.applyWebSocket(h)
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small read buffers keep idle connections cheap; write buffers
		// are taken from a pool only while a write is in progress.
		ReadBufferSize:  128,
		WriteBufferPool: &h.writeBufs,
		// ServeHTTP checks the origin before upgrading.
		CheckOrigin: func(*http.Request) bool { return true },
		// Clients that can apply diff updates ask for them; the newest
		// version a client offers is chosen.
		Subprotocols:      []string{SubprotocolV2, SubprotocolDiff},
		EnableCompression: h.compress,
	}
	if h.rateMax > 0 {
		h.upgrades = newIPLimiter(h.rateMax, h.rateWindow)
	}
	h.Handler.updates = h
	h.Handler.ctx = h.ctx
	h.Handler.maxRender = h.writeLimit
	h.nodes = newOtherNodes(h)
	return h
}

// ServeHTTP upgrades WebSocket handshakes and serves other requests as the
// embedded Handler does.
func (h *WebSocketHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		h.Handler.ServeHTTP(w, r)
		return
	}
	if status, why := h.refuse(r); status != 0 {
		h.record(Measure{Kind: MeasureDropped, Reason: ReasonRefused, Transport: TransportWebSocket})
		h.logger.InfoContext(r.Context(), "liveflux: websocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "status", status, "reason", why)
		http.Error(w, why, status)
		return
	}
	if h.upgrades != nil {
		if wait := h.upgrades.allow(h.clientAddr(r), h.now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			http.Error(w, "too many connection attempts", http.StatusTooManyRequests)
			h.record(Measure{Kind: MeasureDropped, Reason: ReasonRateLimit, Transport: TransportWebSocket})
			h.logger.InfoContext(r.Context(), "liveflux: websocket handshake rate limited", "remote", r.RemoteAddr, "retry_after", wait)
			return
		}
	}
	h.pollOnce.Do(func() { h.poller = newPoller() })
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	c := newWSConn(h, ws, h.ownerOf(r))
	c.deflate = h.compress && offersDeflate(r) // before any writer may run
	switch ws.Subprotocol() {
	case SubprotocolV2:
		c.kind = edits
	case SubprotocolDiff:
		c.kind = spanDiffs
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	if !h.pinging {
		h.pinging = true
		h.wg.Add(1)
		go h.pingLoop()
	}
	h.mu.Unlock()
	h.record(Measure{Kind: MeasureConnOpened})
	h.logger.DebugContext(r.Context(), "liveflux: websocket opened", "remote", r.RemoteAddr, "subprotocol", ws.Subprotocol())
	// A fresh goroutine, not this one: its stack stays small while the
	// connection idles.
	c.start()
}

// offersDeflate reports whether the handshake r offers permessage-deflate,
// which the upgrader then accepts (with compression on).
func offersDeflate(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Extensions") {
		for _, ext := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.TrimSpace(name) == "permessage-deflate" {
				return true
			}
		}
	}
	return false
}

// refuse returns the status and reason to refuse a handshake with, or 0.
func (h *WebSocketHandler) refuse(r *http.Request) (int, string) {
	switch {
	case h.isClosed():
		return http.StatusServiceUnavailable, "server shutting down"
	case h.requireTLS && !h.secure(r):
		return http.StatusForbidden, "TLS required"
	case !h.originAllowed(r):
		return http.StatusForbidden, "origin not allowed"
	}
	if h.csrfCheck != nil {
		if err := h.csrfCheck(r); err != nil {
			return http.StatusForbidden, "CSRF check failed"
		}
	}
	return 0, ""
}

func (h *WebSocketHandler) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: cross-site hijacking needs one
	}
	if h.allowedOrigins != nil {
		return h.allowedOrigins[strings.ToLower(origin)]
	}
	return h.sameOrigin(origin, r)
}

// Broadcast sends payload, encoded as JSON once, to every client watching
// componentID. It never waits for a client: a client whose send queue is
// full is disconnected instead. It returns nil when nobody watches, and an
// error only when payload cannot be encoded, is over the write limit
// (WithWebSocketWriteLimit), or the handler is closed.
func (h *WebSocketHandler) Broadcast(componentID string, payload any) error {
	msg, err := encodeJSON(payload)
	if err != nil {
		return err
	}
	if len(msg) > h.writeLimit {
		h.record(Measure{Kind: MeasureDropped, Reason: ReasonTooLarge, Bytes: len(msg)})
		return fmt.Errorf("liveflux: broadcast of %d bytes: %w", len(msg), ErrTooLarge)
	}
	if !h.broadcast(componentID, msg) {
		return ErrClosed
	}
	return nil
}

// Refresh renders the component again and sends the rendering to every
// client watching it, as after an action. Use it when state a component
// shows changed elsewhere (a background job, another component). It waits
// for any action running on the instance, so do not call it from within an
// action of the same instance (Handle already re-renders it), and call it
// from a goroutine when refreshing other components from within an action,
// lest two actions wait for each other.
func (h *WebSocketHandler) Refresh(ctx context.Context, componentID string) error {
	if h.isClosed() {
		return ErrClosed
	}
	res, err := h.act(ctx, actRequest{id: componentID, server: true})
	if err != nil {
		return err
	}
	h.publish(ctx, res)
	return nil
}

// Close closes every connection with 1001 (going away) and waits for their
// goroutines to end. New handshakes are refused with 503; HTTP requests are
// still served. After Close, Broadcast and Refresh return ErrClosed;
// closing again does nothing.
func (h *WebSocketHandler) Close() error {
	return h.Shutdown(context.Background())
}

// Shutdown is Close with a deadline. When ctx is done first, Shutdown
// drops the connections without waiting for their close handshake and
// returns ctx.Err() at once: actions still running are abandoned, not
// waited for (their context is canceled, and what they send is dropped).
func (h *WebSocketHandler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	conns := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	h.hub.close()
	h.cancel() // ends actions in progress and the backplane subscription
	h.nodes.close()
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway)
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		h.pollOnce.Do(func() {})
		if h.poller != nil {
			h.poller.stop() // every connection is gone
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.drop()
		}
		h.hub.clear() // nobody is sent anything more
		return ctx.Err()
	}
}

// unregister forgets a connection that was cleaned up.
func (h *WebSocketHandler) unregister(c *wsConn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

func (h *WebSocketHandler) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}
