package liveflux

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocketMessage is the envelope of every WebSocket frame, both ways.
type WebSocketMessage struct {
	Type        string          `json:"type"`
	ComponentID string          `json:"componentID"`
	Action      string          `json:"action,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
}

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

	allowedOrigins map[string]bool // nil: same origin only
	csrfCheck      func(*http.Request) error
	requireTLS     bool
	rateMax        int
	rateWindow     time.Duration
	validator      func(*WebSocketMessage) error
	readLimit      int64
	pingInterval   time.Duration
	writeTimeout   time.Duration
	sendQueue      int
	backplane      Backplane // nil: this process only

	// ctx is the context of actions that arrive over WebSocket; Shutdown
	// cancels it.
	ctx           context.Context
	cancel        context.CancelFunc
	stopBackplane context.CancelFunc

	upgrader  websocket.Upgrader
	upgrades  *ipLimiter // nil without a rate limit
	writeBufs sync.Pool

	mu      sync.RWMutex
	clients map[string]*watchers // component ID → watching connections
	conns   map[*wsConn]struct{}
	closed  bool
	pinging bool           // pingLoop runs
	wg      sync.WaitGroup // one per connection, done when it is cleaned up
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
		Handler:      newHandler(store),
		readLimit:    DefaultReadLimit,
		pingInterval: DefaultPingInterval,
		writeTimeout: DefaultWriteTimeout,
		sendQueue:    DefaultSendQueue,
		clients:      make(map[string]*watchers),
		conns:        make(map[*wsConn]struct{}),
	}
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
		// Clients that can apply diff updates ask for them.
		Subprotocols: []string{SubprotocolDiff},
	}
	if h.rateMax > 0 {
		h.upgrades = newIPLimiter(h.rateMax, h.rateWindow)
	}
	h.Handler.rendered = h.sendUpdate
	h.startBackplane()
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
		h.logger.Info("liveflux: websocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "status", status, "reason", why)
		http.Error(w, why, status)
		return
	}
	if h.upgrades != nil {
		if wait := h.upgrades.allow(clientIP(r), time.Now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			http.Error(w, "too many connection attempts", http.StatusTooManyRequests)
			return
		}
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	c := newWSConn(h, ws, h.ownerOf(r))
	c.diffs = ws.Subprotocol() == SubprotocolDiff
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
	// A fresh goroutine, not this one: its stack stays small while the
	// connection idles.
	c.start()
}

// pingLoop keeps connections alive and drops dead ones (see
// checkLiveness). One goroutine serves every connection of the handler; it
// runs while there are connections.
func (h *WebSocketHandler) pingLoop() {
	defer h.wg.Done()
	tick := time.NewTicker(pingTick(h.pingInterval))
	defer tick.Stop()
	var conns []*wsConn
	for {
		select {
		case <-h.ctx.Done():
			h.mu.Lock()
			h.pinging = false
			h.mu.Unlock()
			return
		case now := <-tick.C:
			h.mu.Lock()
			if len(h.conns) == 0 {
				h.pinging = false
				h.mu.Unlock()
				return
			}
			for c := range h.conns {
				conns = append(conns, c)
			}
			h.mu.Unlock()
			for _, c := range conns {
				c.checkLiveness(now)
			}
			clear(conns)
			conns = conns[:0]
		}
	}
}

// refuse returns the status and reason to refuse a handshake with, or 0.
func (h *WebSocketHandler) refuse(r *http.Request) (int, string) {
	switch {
	case h.isClosed():
		return http.StatusServiceUnavailable, "server shutting down"
	case h.requireTLS && r.TLS == nil:
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
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null"
	}
	return strings.EqualFold(u.Host, r.Host)
}

// clientIP is the address the connection comes from; headers such as
// X-Forwarded-For are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Broadcast sends payload, encoded as JSON once, to every client watching
// componentID. It never waits for a client: a client whose send queue is
// full is disconnected instead. It returns nil when nobody watches, and an
// error only when payload cannot be encoded or the handler is closed.
func (h *WebSocketHandler) Broadcast(componentID string, payload any) error {
	msg, err := encodeJSON(payload)
	if err != nil {
		return err
	}
	return h.deliver(context.Background(), componentID, msg)
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

// Watched returns the IDs of the components at least one client watches.
func (h *WebSocketHandler) Watched() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]string, 0, len(h.clients))
	for id := range h.clients {
		ids = append(ids, id)
	}
	return ids
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
	h.cancel() // ends actions in progress and the backplane subscription
	for _, c := range conns {
		c.closeWith(websocket.CloseGoingAway)
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.drop()
		}
		h.mu.Lock()
		clear(h.clients) // nobody is sent anything more
		h.mu.Unlock()
		return ctx.Err()
	}
}

func (h *WebSocketHandler) isClosed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// watchers are the connections watching one component, and the last
// rendering they were all sent, against which the next one is diffed.
type watchers struct {
	// The watching connections, guarded by WebSocketHandler.mu. Most
	// components have one watcher: it needs no map.
	one  *wsConn
	more map[*wsConn]struct{}

	diffs int // how many of them asked for diff updates; guarded like them

	mu   sync.Mutex // orders updates; taken under WebSocketHandler.mu (read)
	rev  uint64     // revision of body; 0: none
	body []byte     // body of the last rendering sent to every watcher

	// With a backplane: the revision last published to the other nodes,
	// the full update messages that wait to be published, in order, and
	// whether a goroutine is publishing them.
	pubRev     uint64
	outbox     [][]byte
	publishing bool
}

// sendUpdate sends a rendering to every client watching the component, on
// this node and, through the backplane, on the others. Renderings of one
// component are published in revision order; one that arrives after a
// newer one is not sent (clients would ignore it).
func (h *WebSocketHandler) sendUpdate(ctx context.Context, res result) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	publish := h.backplane != nil && !h.closed
	w := h.clients[res.id]
	if w == nil {
		if publish {
			h.publish1(ctx, res.id, encodeUpdate(res.id, res.html))
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	full := w.update(res)
	if !publish || (res.rev <= w.pubRev && res.rev != 0) {
		return
	}
	// The other nodes get the full rendering: each diffs it against what
	// its own clients hold (see fanout).
	w.pubRev = res.rev
	if full == nil {
		full = encodeUpdate(res.id, res.html)
	}
	if len(w.outbox) >= maxOutbox {
		// Publishing falls behind: the newest rendering stands for
		// everything pending.
		clear(w.outbox)
		w.outbox = w.outbox[:0]
	}
	w.outbox = append(w.outbox, full)
	if !w.publishing {
		w.publishing = true
		h.wg.Add(1) // under h.mu, with the handler open: before any Wait
		go h.drainOutbox(res.id, w)
	}
}

// update queues the rendering res for every watcher, unless they were sent
// a newer one: as a diff against the previous rendering to those that ask
// for diffs when every watcher holds that one, else in full. It returns the
// full update message if it encoded one. w.mu is held.
func (w *watchers) update(res result) (full []byte) {
	fullUpdate := func() []byte {
		if full == nil {
			full = encodeUpdate(res.id, res.html)
		}
		return full
	}
	if res.rev == 0 { // a component without Base: no revisions, no diffs
		w.send(fullUpdate(), res.origin)
		return full
	}
	if res.rev <= w.rev {
		return nil
	}
	body := rootBody(res.html)
	var diff []byte
	if w.body != nil && body != nil && res.rev == w.rev+1 && w.diffs > 0 {
		diff, _ = appendDiffUpdate(nil, res.id, res.rev, w.rev, w.body, body)
	}
	w.sendEach(diff, fullUpdate, res.origin)
	w.rev, w.body = res.rev, body
	return full
}

// maxOutbox bounds what waits to be published for one component.
const maxOutbox = 64

// drainOutbox publishes w's outbox in order, without holding a lock across
// the network, until it is empty. It runs on a goroutine of its own, so
// that no request waits for other requests' publishing.
func (h *WebSocketHandler) drainOutbox(id string, w *watchers) {
	defer h.wg.Done()
	for {
		w.mu.Lock()
		batch := w.outbox
		w.outbox = nil
		if len(batch) == 0 {
			w.publishing = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		for _, msg := range batch {
			h.publish1(h.ctx, id, msg)
		}
	}
}

// publish1 publishes one message to the other nodes, logging a failure.
func (h *WebSocketHandler) publish1(ctx context.Context, id string, msg []byte) {
	defer func() {
		if p := recover(); p != nil {
			h.logger.Error("liveflux: backplane panicked publishing an update", "id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := h.backplane.Publish(ctx, id, msg); err != nil {
		h.logger.Error("liveflux: update not delivered to other nodes", "id", id, "err", err)
	}
}

// sentTo records that the only watcher of id, c, was sent the rendering
// res in full, so the next update can be a diff against it.
func (h *WebSocketHandler) sentTo(c *wsConn, res result) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	w := h.clients[res.id]
	if w == nil || w.one != c || len(w.more) > 0 {
		return
	}
	w.mu.Lock()
	if res.rev > w.rev {
		w.rev, w.body = res.rev, rootBody(res.html)
	}
	w.mu.Unlock()
}

// fanout queues msg, which another node published, for every connection
// watching id: a rendering (an update with data.html) as this node's own
// renderings are sent, diffed against what its clients hold; anything else
// verbatim. It reports false when the handler is closed.
func (h *WebSocketHandler) fanout(id string, msg []byte) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if w := h.clients[id]; w != nil {
		w.mu.Lock()
		if res, ok := decodeRendering(id, msg); ok {
			w.update(res)
		} else {
			w.send(msg, nil)
		}
		w.mu.Unlock()
	}
	return !h.closed
}

// decodeRendering returns the rendering an update message of component id
// carries in full, or false when msg is something else.
func decodeRendering(id string, msg []byte) (result, bool) {
	if !bytes.HasPrefix(msg, []byte(`{"type":"update",`)) {
		return result{}, false
	}
	var m struct {
		ComponentID string `json:"componentID"`
		Data        struct {
			HTML *string `json:"html"`
		} `json:"data"`
	}
	if json.Unmarshal(msg, &m) != nil || m.ComponentID != id || m.Data.HTML == nil {
		return result{}, false
	}
	html := []byte(*m.Data.HTML)
	rev, ok := rootRevision(html)
	if !ok {
		return result{}, false
	}
	return result{id: id, html: html, rev: rev}, true
}

// preparedFrom is the number of watchers from which a message is framed
// once for all (which costs a buffer) instead of once per connection.
const preparedFrom = 4

// frame makes msg ready to be queued for every watcher.
func (w *watchers) frame(msg []byte) outMsg {
	if len(w.more)+1 >= preparedFrom {
		if pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg); err == nil {
			return outMsg{pm: pm}
		}
	}
	return outMsg{data: msg}
}

// send queues msg for every watcher. The acting connection, origin (if
// any), writes it itself once its handler is done; the others' writers are
// started.
func (w *watchers) send(msg []byte, origin *wsConn) {
	m := w.frame(msg)
	w.each(func(c *wsConn) { c.enqueue(m, c != origin) })
}

// sendEach queues an update for every watcher: diff (unless nil) for
// those that asked for diffs, the full update for the others.
func (w *watchers) sendEach(diff []byte, full func() []byte, origin *wsConn) {
	switch {
	case diff == nil:
		w.send(full(), origin)
	case w.diffs == w.len():
		w.send(diff, origin)
	default:
		d, f := w.frame(diff), w.frame(full())
		w.each(func(c *wsConn) {
			if c.diffs {
				c.enqueue(d, c != origin)
			} else {
				c.enqueue(f, c != origin)
			}
		})
	}
}

func (w *watchers) each(fn func(*wsConn)) {
	if w.one != nil {
		fn(w.one)
	}
	for c := range w.more {
		fn(c)
	}
}

func (w *watchers) len() int {
	if w.one == nil {
		return 0
	}
	return 1 + len(w.more)
}

func (w *watchers) has(c *wsConn) bool {
	_, ok := w.more[c]
	return ok || w.one == c
}

func (w *watchers) add(c *wsConn) {
	if c.diffs {
		w.diffs++
	}
	switch {
	case w.one == nil:
		w.one = c
	case w.more == nil:
		w.more = map[*wsConn]struct{}{c: {}}
	default:
		w.more[c] = struct{}{}
	}
}

// remove forgets c and reports whether no watcher is left.
func (w *watchers) remove(c *wsConn) (empty bool) {
	if !w.has(c) {
		return w.one == nil
	}
	if c.diffs {
		w.diffs--
	}
	if w.one == c {
		w.one = nil
		for other := range w.more { // promote one
			w.one = other
			delete(w.more, other)
			break
		}
	} else {
		delete(w.more, c)
	}
	return w.one == nil
}

// pingTick is how often pingLoop looks at the connections.
func pingTick(interval time.Duration) time.Duration { return max(interval/4, time.Millisecond) }

// watch records that c watches id. It reports false when c watches too
// many components already.
func (h *WebSocketHandler) watch(c *wsConn, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.clients[id]
	if w != nil && w.has(c) {
		return true
	}
	if len(c.watched) >= DefaultMaxWatched {
		return false
	}
	if w == nil {
		w = &watchers{}
		h.clients[id] = w
	}
	w.add(c)
	c.watched = append(c.watched, id)
	return true
}

// unwatch forgets that c watches id.
func (h *WebSocketHandler) unwatch(c *wsConn, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unwatchLocked(c, id)
	for i, w := range c.watched {
		if w == id {
			c.watched = append(c.watched[:i], c.watched[i+1:]...)
			break
		}
	}
}

func (h *WebSocketHandler) unwatchLocked(c *wsConn, id string) {
	w := h.clients[id]
	if w == nil {
		return
	}
	if w.remove(c) {
		delete(h.clients, id)
	}
}

// forget removes a closed connection from every map.
func (h *WebSocketHandler) forget(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range c.watched {
		h.unwatchLocked(c, id)
	}
	c.watched = nil
	delete(h.conns, c)
}

// encodeJSON encodes v without escaping <, > and & (the client parses it as
// JSON, never as HTML) and without a trailing newline.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

type htmlData struct {
	HTML string `json:"html"`
}

type urlData struct {
	URL string `json:"url"`
}

type serverMessage struct {
	Type        string `json:"type"`
	ComponentID string `json:"componentID"`
	Data        any    `json:"data,omitempty"`
	Message     string `json:"message,omitempty"`
	Code        int    `json:"code,omitempty"`
}

// encodeMessage encodes a message of the server. It cannot fail: every
// field is a string, a number or one of the data types above.
func encodeMessage(m serverMessage) []byte {
	b, err := encodeJSON(m)
	if err != nil {
		panic("liveflux: encoding a server message: " + err.Error())
	}
	return b
}

func encodeUpdate(id string, html []byte) []byte {
	return encodeMessage(serverMessage{Type: MessageUpdate, ComponentID: id, Data: htmlData{string(html)}})
}

func encodeError(id string, code int, message string) []byte {
	return encodeMessage(serverMessage{Type: MessageError, ComponentID: id, Message: message, Code: code})
}

// decodeFields turns an action's data (a JSON object whose values are
// strings or arrays of strings) into url.Values.
func decodeFields(data json.RawMessage) (url.Values, error) {
	if len(data) == 0 || string(data) == "null" {
		return url.Values{}, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.New("data must be an object")
	}
	vals := make(url.Values, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			vals[k] = []string{s}
			continue
		}
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, errors.New("data field " + strconv.Quote(k) + " must be a string or an array of strings")
		}
		vals[k] = ss
	}
	return vals, nil
}
