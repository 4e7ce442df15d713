package liveflux

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// wsConn is one client's WebSocket connection.
//
// Exactly one goroutine reads (run, for the connection's life); it hands
// each message to a goroutine of its own (handlePending) and waits for it.
// At most one goroutine writes (writeLoop, run by the message handler when
// it is done, or started when something is queued meanwhile, and ending
// when the queue is empty), so an idle connection costs one goroutine with
// a minimal stack. Nobody holds c.mu across I/O: senders only append to
// the queue.
type wsConn struct {
	h       *WebSocketHandler
	ws      *websocket.Conn
	owner   string        // the handshake's session digest (WithSessionKey)
	diffs   bool          // the client asked for diff updates (SubprotocolDiff)
	limiter *rate.Limiter // nil without a rate limit; reader only
	watched []string      // component IDs; guarded by h.mu

	mu        sync.Mutex
	queue     []outMsg // messages waiting for the writer
	spare     []outMsg // the writer's previous batch, reused
	closeCode int32    // set: the writer sends this close frame next, then closes
	writing   bool     // a writeLoop is running
	pingDue   bool
	dead      bool // nothing more is written
	writers   sync.WaitGroup
	writeFn   func() // c.writeLoop, bound once: go c.writeFn() allocates nothing

	lastSeen atomic.Int64 // UnixNano of the last frame the client sent
	inAction atomic.Bool  // a message is being handled
	lastPing int64        // UnixNano of the last ping; pingLoop only

	strikes       int32          // consecutive rate-limited messages; reader only
	pendingType   int32          // the message handlePending reads and handles
	readFailed    bool           // reading it failed: the reader stops
	pendingReader io.Reader      // (set by the reader, which then waits)
	handling      sync.WaitGroup // the reader waits for handlePending
	handleFn      func()         // c.handlePending, bound once
}

func newWSConn(h *WebSocketHandler, ws *websocket.Conn, owner string) *wsConn {
	c := &wsConn{h: h, ws: ws, owner: owner}
	// Set before the connection is registered, where pingLoop sees it; the
	// first ping is due one ping interval from now.
	c.heard()
	c.lastPing = time.Now().Add(-pingTick(h.pingInterval)).UnixNano()
	c.writeFn = c.writeLoop
	c.handleFn = c.handlePending
	if h.rateMax > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(float64(h.rateMax)/h.rateWindow.Seconds()), h.rateMax)
	}
	return c
}

// closeReasons are the reasons sent with the close codes the server uses.
var closeReasons = map[int]string{
	websocket.CloseGoingAway:               "server shutting down",
	websocket.CloseUnsupportedData:         "binary frames are not supported",
	websocket.CloseInvalidFramePayloadData: "invalid UTF-8",
	websocket.ClosePolicyViolation:         "rate limit exceeded",
	websocket.CloseTryAgainLater:           "client too slow",
}

// closeGrace is how long a client has to answer a close frame.
const closeGrace = time.Second

// start sets the connection up and starts its reader. The set-up runs
// here, not on the reader, whose stack is kept small; nothing on the
// reader sets deadlines either: liveness is checked when pinging.
func (c *wsConn) start() {
	c.ws.SetReadLimit(c.h.readLimit)
	c.ws.SetPongHandler(func(string) error { c.heard(); return nil })
	go c.run()
}

// pongWait is how long a connection may stay silent (no pong, no message):
// 10/9 of the ping interval, but at least a second more than it, so that a
// short interval still leaves a client time to answer a ping.
func (h *WebSocketHandler) pongWait() time.Duration {
	return h.pingInterval + max(h.pingInterval/9, time.Second)
}

// run is the connection's reader goroutine: it reads until the connection
// fails or closes, then cleans up. (No defers: they cost the parked reader
// a stack twice as large.)
func (c *wsConn) run() {
	c.readLoop()
	c.cleanup()
	c.h.wg.Done()
}

func (c *wsConn) readLoop() {
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return // gorilla already answered a too-big message with 1009
		}
		// The message is read and handled on a goroutine of its own, which
		// ends with it: the reader's stack stays small while it idles.
		c.pendingType, c.pendingReader = int32(typ), r
		c.handling.Add(1)
		go c.handleFn()
		c.handling.Wait()
		if c.readFailed {
			return
		}
	}
}

// handlePending reads and handles the pending message, then writes what it queued itself
// rather than starting a writer: a reply leaves without a goroutine
// hand-off.
func (c *wsConn) handlePending() {
	defer c.handling.Done()
	// Reading is not acting: a client that sends part of a message and
	// then nothing is as silent as one that sends nothing, and is dropped
	// after the pong wait like it (see checkLiveness).
	data, err := io.ReadAll(c.pendingReader)
	c.pendingReader = nil
	if err != nil {
		c.readFailed = true
		return
	}
	c.heard()
	c.inAction.Store(true)
	defer c.inAction.Store(false)
	switch {
	case c.closing():
		// A close frame is on its way: what the client sent since is
		// dropped, not acted on.
	case c.pendingType != websocket.TextMessage:
		c.closeWith(websocket.CloseUnsupportedData)
	case !utf8.Valid(data):
		c.closeWith(websocket.CloseInvalidFramePayloadData)
	default:
		c.handle(data)
	}
	c.mu.Lock()
	if c.writing || c.dead || (len(c.queue) == 0 && c.closeCode == 0 && !c.pingDue) {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.writers.Add(1)
	c.mu.Unlock()
	c.writeLoop()
}

// closing reports whether the connection is being closed.
func (c *wsConn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead || c.closeCode != 0
}

// cleanup runs when the reader stops: the connection is dropped, the
// writer is waited for, and the handler forgets the connection.
func (c *wsConn) cleanup() {
	c.mu.Lock()
	c.dead = true
	c.queue, c.spare = nil, nil
	c.mu.Unlock()
	c.ws.Close()
	c.writers.Wait()
	c.h.forget(c)
}

// handle dispatches one text message. A panic anywhere in it (a
// validator, a reply that cannot be encoded, a store) is logged and
// answered with an error of code 500; the connection goes on.
func (c *wsConn) handle(data []byte) {
	var msg WebSocketMessage
	defer func() {
		if p := recover(); p != nil {
			c.h.logger.Error("liveflux: panic handling a WebSocket message",
				"id", msg.ComponentID, "type", msg.Type, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.send(encodeError(msg.ComponentID, http.StatusInternalServerError, "internal error"))
		}
	}()
	err := json.Unmarshal(data, &msg)
	if c.limiter != nil {
		if !c.limiter.Allow() {
			c.strikes++
			if int(c.strikes) > c.h.rateMax {
				c.closeWith(websocket.ClosePolicyViolation)
				return
			}
			// Named when possible, so the client can tell which action
			// was dropped.
			c.send(encodeError(msg.ComponentID, http.StatusTooManyRequests, "rate limit exceeded"))
			return
		}
		c.strikes = 0
	}
	if err != nil {
		c.send(encodeError("", http.StatusBadRequest, "malformed message"))
		return
	}
	if c.h.validator != nil {
		if err := c.h.validator(&msg); err != nil {
			c.send(encodeError(msg.ComponentID, http.StatusBadRequest, "message rejected: "+err.Error()))
			return
		}
	}
	if msg.ComponentID == "" {
		c.send(encodeError("", http.StatusBadRequest, "missing componentID"))
		return
	}
	switch msg.Type {
	case MessageInit:
		c.init(msg.ComponentID)
	case MessageAction:
		c.act(&msg)
	case MessageLeave:
		c.h.unwatch(c, msg.ComponentID)
	default:
		c.send(encodeError(msg.ComponentID, http.StatusBadRequest, "unknown message type"))
	}
}

// init makes c watch a component and sends it the current rendering.
func (c *wsConn) init(id string) {
	res, err := c.h.act(c.h.ctx, actRequest{id: id, owner: c.owner, allowed: c.watchFn(id)})
	if err != nil {
		c.sendErr(id, err)
		return
	}
	c.send(encodeUpdate(id, res.html))
	c.h.sentTo(c, res)
}

// watchFn returns the function that makes c watch id, which act calls
// once the session check passed, while it holds the instance: every
// rendering made after c's own is made once c watches, so c is sent it.
// (Watching after the action, a newer rendering sent meanwhile would be
// missed, and the client left on an older one for good.)
func (c *wsConn) watchFn(id string) func() error {
	return func() error {
		if !c.h.watch(c, id) {
			return NewError(http.StatusBadRequest, "too many components on one connection")
		}
		return nil
	}
}

func (c *wsConn) act(msg *WebSocketMessage) {
	id := msg.ComponentID
	if msg.Action == "" {
		c.send(encodeError(id, http.StatusBadRequest, "missing action"))
		return
	}
	fields, err := decodeFields(msg.Data)
	if err != nil {
		c.send(encodeError(id, http.StatusBadRequest, err.Error()))
		return
	}
	res, err := c.h.act(c.h.ctx, actRequest{id: id, action: msg.Action, data: fields, msg: msg, owner: c.owner, allowed: c.watchFn(id)})
	if err != nil {
		c.sendErr(id, err)
		return
	}
	if res.ws {
		if res.reply != nil {
			b, err := encodeJSON(res.reply)
			if err != nil {
				c.h.logger.Error("liveflux: cannot encode HandleWS reply", "id", id, "err", err)
				c.send(encodeError(id, http.StatusInternalServerError, "component failed"))
				return
			}
			c.send(b)
		}
		c.send(encodeMessage(serverMessage{Type: MessageAck, ComponentID: id}))
	} else {
		res.origin = c
		c.h.publish(c.h.ctx, res)
	}
	if res.redirect != "" {
		c.send(encodeMessage(serverMessage{Type: MessageRedirect, ComponentID: id, Data: urlData{res.redirect}}))
	}
}

func (c *wsConn) sendErr(id string, err error) {
	status, msg := clientError(err)
	c.send(encodeError(id, status, msg))
}

// outMsg is a message waiting to be written: one for this connection only,
// or one framed once for every watcher of a component.
type outMsg struct {
	data []byte
	pm   *websocket.PreparedMessage
}

// send queues a reply for this connection alone. Only the message handler
// replies, and it writes its replies itself when it is done (handlePending).
func (c *wsConn) send(msg []byte) { c.enqueue(outMsg{data: msg}, false) }

// enqueue queues m without waiting and, with kick, has the writer send it.
// A client whose queue is full is closed with 1013: it falls behind, and
// catches up when it reconnects.
func (c *wsConn) enqueue(m outMsg, kick bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.closeCode != 0 {
		return
	}
	if len(c.queue) >= c.h.sendQueue {
		c.closeLocked(websocket.CloseTryAgainLater)
		return
	}
	c.queue = append(c.queue, m)
	if kick {
		c.kickLocked()
	}
}

// closeWith makes the writer send a close frame and close the connection.
func (c *wsConn) closeWith(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code)
}

func (c *wsConn) closeLocked(code int) {
	if c.dead || c.closeCode != 0 {
		return
	}
	c.closeCode = int32(code)
	c.queue = nil
	c.kickLocked()
}

// checkLiveness runs on the handler's pingLoop: it drops a client silent
// for longer than the pong wait, and has a silent one pinged once per ping
// interval.
func (c *wsConn) checkLiveness(now time.Time) {
	// While a message is handled the reader does not read, so pongs wait:
	// a long action is no sign of a dead client.
	if !c.inAction.Load() && now.Sub(time.Unix(0, c.lastSeen.Load())) >= c.h.pongWait() {
		c.drop() // no pong, no message: the client is gone
		return
	}
	if time.Duration(now.UnixNano()-c.lastPing) < c.h.pingInterval {
		return
	}
	c.lastPing = now.UnixNano()
	c.mu.Lock()
	c.pingDue = true
	c.kickLocked()
	c.mu.Unlock()
}

// kickLocked starts the writer unless it runs.
func (c *wsConn) kickLocked() {
	if c.writing || c.dead {
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.writeFn()
}

// writeLoop is the connection's only writer while it runs.
func (c *wsConn) writeLoop() {
	defer c.writers.Done()
	for {
		c.mu.Lock()
		switch {
		case c.dead:
			c.writing = false
			c.mu.Unlock()
			return
		case c.closeCode != 0:
			code := int(c.closeCode)
			c.dead, c.writing = true, false
			c.mu.Unlock()
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, closeReasons[code]), time.Now().Add(c.h.writeTimeout))
			// The reader drains what the client still sends until its
			// close frame answers ours (then the reader ends and closes);
			// closing at once could reset the connection before the client
			// read our close frame.
			time.AfterFunc(closeGrace, func() { c.ws.Close() })
			return
		case c.pingDue:
			c.pingDue = false
			c.mu.Unlock()
			if !c.write(outMsg{}) {
				return
			}
			continue
		case len(c.queue) == 0:
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		for _, msg := range batch {
			if !c.write(msg) {
				return
			}
		}
		clear(batch)
		c.mu.Lock()
		c.spare = batch[:0]
		c.mu.Unlock()
	}
}

// write writes one message, or a ping when m is empty. A prepared message
// goes out with one write call and no allocation. On failure write drops
// the connection (the reader then ends) and reports false.
func (c *wsConn) write(m outMsg) bool {
	deadline := time.Now().Add(c.h.writeTimeout)
	var err error
	switch {
	case m.pm != nil:
		c.ws.SetWriteDeadline(deadline)
		err = c.ws.WritePreparedMessage(m.pm)
	case m.data != nil:
		c.ws.SetWriteDeadline(deadline)
		err = c.ws.WriteMessage(websocket.TextMessage, m.data)
	default:
		err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	}
	if err == nil {
		return true
	}
	c.drop()
	return false
}

// drop closes the connection without a close frame: nothing more is
// written, and the reader ends.
func (c *wsConn) drop() {
	c.mu.Lock()
	c.dead = true
	c.queue = nil
	c.mu.Unlock()
	c.ws.Close()
}

// heard records that the client sent a frame.
func (c *wsConn) heard() { c.lastSeen.Store(time.Now().UnixNano()) }
