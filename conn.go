package liveflux

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// wsConn is one client's WebSocket connection.
//
// At most one goroutine reads (read.go), and only while the client sends:
// an idle connection has none. At most one goroutine writes (writeLoop,
// run by the message handler when it is done, or started when something
// is queued meanwhile, and ending when the queue is empty). Nobody holds
// c.mu across I/O: senders only append to the queue.
type wsConn struct {
	h        *WebSocketHandler
	ws       *websocket.Conn
	owner    string        // the handshake's session digest (WithSessionKey)
	limiter  *rate.Limiter // nil without a rate limit; reader only
	wantsURL atomic.Bool   // the client sent its URL (MessageURL): it is sent patches
	kind     updateKind    // the updates the client asked for in its handshake

	// The writer's side, guarded by mu. Every frame goes out through the
	// writer, control frames included: one goroutine writes at a time.
	writing   bool     // a writeLoop is running
	pingDue   bool     // the writer sends a ping
	dead      bool     // nothing more is written
	closeCode uint16   // set: the writer sends this close frame next, then closes
	echo      bool     // the close frame answers the client's
	gone      bool     // the connection closed (see stop, below)
	strikes   int32    // consecutive rate-limited messages (the reader's; here it fills a gap)
	pong      *control // the latest ping of the client, for the writer to answer
	mu        sync.Mutex
	queue     []frame // messages waiting for the writer
	queued    int     // their bytes
	spare     []frame // the writer's previous batch, reused
	writers   sync.WaitGroup
	writeFn   func() // c.writeLoop, bound once: go c.writeFn() allocates nothing

	lastSeen atomic.Int64 // UnixNano of the last frame the client sent
	lastPing int64        // UnixNano of the last ping; pingLoop only
	writeDL  int64        // UnixNano: the socket's write deadline is at least this; the writer only
	inAction atomic.Bool  // a message is being handled

	// The read side (read.go): the reader of the moment only.
	readerState atomic.Int32    // readerRunning or readerIdle
	rd          *frameReader    // while a reader runs, or a frame is half read; nil when idle
	raw         syscall.RawConn // the socket, read without waiting; nil: read waiting
	deadline    int64           // UnixNano of the socket's read deadline while the reader waits (0: none)
	fd          int32           // the socket's descriptor, for the poller
	deflate     bool            // the handshake negotiated permessage-deflate (set before the reader or a writer runs)
	blocking    bool            // reads wait (no poller for this socket)
	broken      bool            // a protocol error: what follows is dropped

	// stop cancels the context of the message being handled (nil: none);
	// once gone is set, a message handled from now on gets a cancelled
	// one (see begin). Guarded by mu.
	silent   bool // dropped for answering no ping (guarded by mu)
	stop     context.CancelFunc
	handling sync.WaitGroup // the next reader waits for handlePending
	readFn   func()         // c.readRun, bound once: go c.readFn() allocates nothing
}

func newWSConn(h *WebSocketHandler, ws *websocket.Conn, owner string) *wsConn {
	c := &wsConn{h: h, ws: ws, owner: owner}
	// Set before the connection is registered, where pingLoop sees it; the
	// first ping is due one ping interval from now.
	c.heard()
	c.lastPing = h.now().Add(-pingTick(h.pingInterval)).UnixNano()
	c.writeFn = c.writeLoop
	c.readFn = c.readRun
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

// start sets the connection up and starts its reader. The set-up runs
// here, not on the reader, whose stack is kept small; nothing on the
// reader sets deadlines either: liveness is checked when pinging.
func (c *wsConn) start() {
	if sc, ok := c.ws.NetConn().(syscall.Conn); ok && c.h.poller != nil {
		if raw, err := sc.SyscallConn(); err == nil {
			if raw.Control(func(fd uintptr) { c.fd = int32(fd) }) == nil {
				c.raw = raw
			}
		}
	}
	go c.readFn()
}

// cleanup runs when the reader stops: the connection is dropped, the
// writer is waited for, and the handler forgets the connection.
func (c *wsConn) cleanup() {
	c.endActions()
	c.mu.Lock()
	reason := closeReason(c.closeCode)
	switch {
	case c.silent:
		reason = ReasonSilent
	case c.echo:
		reason = ReasonGone // the client closed
	}
	c.dead = true
	c.queue, c.spare, c.queued = nil, nil, 0
	c.mu.Unlock()
	c.ws.Close()
	c.writers.Wait()
	if c.raw != nil && c.h.poller != nil {
		c.h.poller.forget(c, int(c.fd))
	}
	c.h.hub.forget(c)
	c.h.unregister(c)
	c.h.record(Measure{Kind: MeasureConnClosed, Reason: reason})
	c.h.logger.Debug("liveflux: websocket closed", "reason", reason, "owner", c.owner != "")
}

// speaks implements peer.
func (c *wsConn) speaks() updateKind { return c.kind }

// handle dispatches one text message. A panic anywhere in it (a
// validator, a reply that cannot be encoded, a store) is logged and
// answered with an error of code 500; the connection goes on.
func (c *wsConn) handle(data []byte) {
	var msg WebSocketMessage
	defer func() {
		if p := recover(); p != nil {
			c.h.logger.Error("liveflux: panic handling a WebSocket message",
				"id", msg.ComponentID, "type", msg.Type, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			c.reply(encodeError(msg.ComponentID, http.StatusInternalServerError, "internal error"))
		}
	}()
	err := json.Unmarshal(data, &msg)
	if c.limiter != nil {
		if !c.limiter.Allow() {
			c.strikes++
			c.h.record(Measure{Kind: MeasureDropped, Reason: ReasonRateLimit, Transport: TransportWebSocket})
			if int(c.strikes) > c.h.rateMax {
				c.closeWith(websocket.ClosePolicyViolation)
				return
			}
			// Named when possible, so the client can tell which action
			// was dropped.
			c.reply(encodeError(msg.ComponentID, http.StatusTooManyRequests, "rate limit exceeded"))
			return
		}
		c.strikes = 0
	}
	if err != nil {
		c.reply(encodeError("", http.StatusBadRequest, "malformed message"))
		return
	}
	if c.h.validator != nil {
		if err := c.h.validator(&msg); err != nil {
			c.reply(encodeError(msg.ComponentID, http.StatusBadRequest, "message rejected: "+err.Error()))
			return
		}
	}
	if msg.ComponentID == "" {
		c.reply(encodeError("", http.StatusBadRequest, "missing componentID"))
		return
	}
	switch msg.Type {
	case MessageInit:
		ctx, done := c.begin()
		defer done()
		c.init(ctx, msg.ComponentID)
	case MessageAction:
		ctx, done := c.begin()
		defer done()
		c.act(ctx, &msg)
	case MessageLeave:
		c.h.hub.unwatch(c, msg.ComponentID)
	case MessageURL:
		ctx, done := c.begin()
		defer done()
		c.pageURL(ctx, &msg)
	default:
		c.reply(encodeError(msg.ComponentID, http.StatusBadRequest, "unknown message type"))
	}
}

// begin returns the context of the message about to be handled, as
// r.Context() is an HTTP action's: it ends when the connection closes
// (endActions), when the handler shuts down, or when done is called, once
// the message is handled. Only a message being handled holds one: an idle
// connection costs nothing more.
func (c *wsConn) begin() (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancel(c.h.ctx)
	c.mu.Lock()
	if c.gone {
		cancel()
	} else {
		c.stop = cancel
	}
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		c.stop = nil
		c.mu.Unlock()
		cancel()
	}
}

// endActions cancels the context of the message being handled: the
// connection is gone.
func (c *wsConn) endActions() {
	c.mu.Lock()
	c.gone = true
	stop := c.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// init makes c watch a component and sends it the current rendering.
func (c *wsConn) init(ctx context.Context, id string) {
	start := time.Now()
	res, err := c.h.act(ctx, actRequest{id: id, owner: c.owner, watcher: c, streams: true})
	c.h.recordSince(start, Measure{Kind: MeasureAction, Transport: TransportWebSocket, Component: res.kind, Err: err})
	if err != nil {
		c.sendErr(id, err)
		return
	}
	c.reply(encodeUpdate(id, res.html))
	c.h.repliedInFull(c, res)
	if len(res.streams) > 0 && c.speaks() == edits {
		for _, m := range encodeStreams(id, res.streams, c.h.writeLimit) {
			c.reply(m)
		}
	}
}

// watch makes c watch id. The engine calls it once the session check
// passed, while it holds the instance: every rendering made after c's own
// is made once c watches, so c is sent it. (Watching after the action, a
// newer rendering sent meanwhile would be missed, and the client left on an
// older one for good.)
func (c *wsConn) watch(comp Component) error {
	if !c.h.hub.watch(c, comp) {
		return NewError(http.StatusBadRequest, "too many components on one connection")
	}
	return nil
}

func (c *wsConn) act(ctx context.Context, msg *WebSocketMessage) {
	id := msg.ComponentID
	if msg.Action == "" {
		c.reply(encodeError(id, http.StatusBadRequest, "missing action"))
		return
	}
	fields, err := decodeFields(msg.Data)
	if err != nil {
		c.reply(encodeError(id, http.StatusBadRequest, err.Error()))
		return
	}
	direct := func(ctx context.Context, comp Component) (any, bool, error) {
		wc, ok := comp.(WebSocketComponent)
		if !ok {
			return nil, false, nil
		}
		var reply any
		err := c.h.call(ctx, comp, "HandleWS", func() (err error) {
			reply, err = wc.HandleWS(ctx, msg)
			return err
		})
		return reply, true, err
	}
	start := time.Now()
	res, err := c.h.act(ctx, actRequest{id: id, action: msg.Action, data: fields, direct: direct, owner: c.owner, watcher: c})
	c.h.recordSince(start, Measure{Kind: MeasureAction, Transport: TransportWebSocket, Component: res.kind, Action: msg.Action, Err: err})
	if err != nil {
		c.sendErr(id, err)
		return
	}
	if res.direct {
		if res.reply != nil {
			b, err := encodeJSON(res.reply)
			if err != nil {
				c.h.logger.Error("liveflux: cannot encode HandleWS reply", "id", id, "err", err)
				c.reply(encodeError(id, http.StatusInternalServerError, "component failed"))
				return
			}
			if len(b) > c.h.writeLimit {
				c.h.logger.Error("liveflux: HandleWS reply over the write limit refused", "id", id, "bytes", len(b), "limit", c.h.writeLimit)
				c.reply(encodeError(id, http.StatusInternalServerError, fmt.Sprintf("reply over %d bytes", c.h.writeLimit)))
				return
			}
			c.reply(b)
		}
		c.reply(encodeMessage(serverMessage{Type: MessageAck, ComponentID: id}))
		if len(res.streams) > 0 { // HandleWS streamed: every watcher is told
			c.h.publish(c.h.ctx, result{id: id, streams: res.streams, origin: c})
		}
	} else {
		res.origin = c
		c.h.publish(c.h.ctx, res)
	}
	c.follow(id, res)
}

// follow sends c what an action on instance id asked for besides its
// rendering: its events, its URL patch and its redirect.
func (c *wsConn) follow(id string, res result) {
	for _, e := range res.events {
		c.reply(encodeEvent(id, e))
	}
	c.sendPatch(id, res.patch)
	if res.redirect != "" {
		c.reply(encodeMessage(serverMessage{Type: MessageRedirect, ComponentID: id, Data: urlData{res.redirect}}))
	}
}

func (c *wsConn) sendErr(id string, err error) {
	status, msg := clientError(err)
	c.reply(encodeError(id, status, msg))
}
