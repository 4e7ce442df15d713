package liveflux

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// A connection's reader runs only while its client has sent something:
// it reads frames (frame.go) until the socket has nothing more, then, on
// a socket the handler can poll (a TCP connection on Linux), it arms the
// handler's poller and ends, holding no goroutine and no buffer; the
// poller starts a new reader when bytes arrive, and closing the
// connection starts one too, to clean up. Elsewhere (TLS terminated by
// the Go server, other systems) the reader blocks in a read, as a
// goroutine per connection.
//
// One reader runs at a time (readerState). A reader that has read a
// message handles it (handlePending) and hands the reading on to a new
// goroutine, which waits for the handling before it hands over the next
// message: messages are handled one at a time and in order, and the
// socket is read on meanwhile, so that a client that leaves while its
// action runs ends the action's context.

// Reader states.
const (
	readerRunning int32 = iota
	readerIdle
)

// errWouldBlock: the socket has nothing to read now.
var errWouldBlock = errors.New("liveflux: nothing to read")

// readRun is a reader goroutine: it reads until the socket is drained
// (and idles) or the connection ends (and cleans up).
func (c *wsConn) readRun() {
	if c.readLoop() {
		c.cleanup()
		c.h.wg.Done()
	}
}

// readLoop reads and dispatches what the client sends. It reports true
// when the connection has ended, false when it went idle.
func (c *wsConn) readLoop() (ended bool) {
	if c.rd == nil {
		c.rd = frameReaders.Get().(*frameReader)
		c.rd.limit, c.rd.deflate = c.h.readLimit, c.deflate
	}
	for {
		op, data, ctl, err := c.rd.next()
		switch {
		case err == errNeedMore:
			if c.broken {
				c.rd.buf = c.rd.buf[:0] // draining: what follows a protocol error is dropped
			}
			// A client heard from lately is likely to send again soon:
			// the reader waits in the runtime's poller a while before
			// going idle, which costs a round trip more than waiting.
			var n int
			var rerr error
			if until := c.lastSeen.Load() + int64(hotWindow); c.raw != nil && !c.blocking && time.Now().UnixNano() < until {
				n, rerr = c.readUntil(c.rd.space(), until)
			} else {
				n, rerr = c.readSome(c.rd.space())
			}
			if n > 0 {
				c.rd.grew(n)
				continue
			}
			if rerr == errWouldBlock && c.deadline != 0 {
				c.deadline = 0
				c.ws.NetConn().SetReadDeadline(time.Time{})
				continue // heard from meanwhile, or really idle: see again
			}
			if rerr == errWouldBlock {
				c.putReader()
				if c.goIdle() {
					return false
				}
				continue
			}
			c.putReader()
			c.endActions() // gone: a message still being handled learns it from its context
			c.handling.Wait()
			return true
		case err != nil:
			fe, _ := err.(*frameError)
			if fe == nil {
				fe = &frameError{websocket.CloseProtocolError, err.Error()}
			}
			if fe.code == websocket.CloseMessageTooBig {
				c.h.record(Measure{Kind: MeasureDropped, Reason: ReasonTooLarge})
				c.h.logger.Info("liveflux: websocket message over the read limit", "limit", c.h.readLimit)
			}
			c.broken = true
			c.rd.buf, c.rd.msg, c.rd.msgOp = c.rd.buf[:0], nil, 0
			c.closeWith(fe.code) // the writer closes the connection after its close frame
		case ctl != nil:
			if c.control(ctl) {
				c.putReader()
				c.endActions()
				c.handling.Wait()
				c.awaitEcho()
				return true
			}
		case c.broken:
		default:
			c.heard()
			c.h.record(Measure{Kind: MeasureMessageIn, Bytes: len(data)})
			c.handling.Wait() // messages are handled one at a time, in order
			c.handling.Add(1)
			// This goroutine handles the message at once, and a new one
			// reads on (which waits for the socket meanwhile).
			go c.readFn()
			c.handlePending(op, data)
			return false
		}
	}
}

// frameReaders are the frame readers of connections that are reading.
var frameReaders = sync.Pool{New: func() any { return new(frameReader) }}

// putReader lets the frame reader go unless it holds part of a frame or of
// a message: the connection idles, or ends.
func (c *wsConn) putReader() {
	c.rd.release()
	if len(c.rd.buf) > 0 || c.rd.msgOp != 0 {
		return
	}
	*c.rd = frameReader{raw: rawRead{fn: c.rd.raw.fn}} // fn is bound to this frameReader
	frameReaders.Put(c.rd)
	c.rd = nil
}

// control has the writer answer a ping, notes a pong, and has the writer
// answer a close frame: then it reports true, the connection is over.
// The answers go through the writer, after what it is writing: a frame
// written from here could land between the writer's frames, or a message
// after the close frame.
func (c *wsConn) control(ctl *control) bool {
	c.heard()
	switch ctl.op {
	case websocket.PingMessage:
		c.mu.Lock()
		if !c.dead && c.closeCode == 0 {
			c.pong = ctl // only the latest ping needs an answer (RFC 6455, 5.5.3)
			c.kickLocked()
		}
		c.mu.Unlock()
	case websocket.CloseMessage:
		// Echo the client's code (RFC 6455, 5.5.1), as gorilla does; no
		// code, no payload (1005 is never sent).
		code := websocket.CloseNoStatusReceived
		if len(ctl.payload) >= 2 {
			code = int(binary.BigEndian.Uint16(ctl.payload))
			if !validCloseCode(code) {
				code = websocket.CloseProtocolError
			}
		}
		c.mu.Lock()
		if !c.dead && c.closeCode == 0 { // else ours is on its way: this answers it
			c.echo = true
			c.closeLocked(code)
		}
		c.mu.Unlock()
		return true
	}
	return false
}

// validCloseCode reports whether a client may close with code (RFC 6455,
// 7.4, and the codes IANA registered since).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return code >= 3000 && code <= 4999
}

// awaitEcho waits, for closeGrace at most, until the writer has sent the
// close frame that answers the client's (or has given up): the socket
// closes once the reader ends.
func (c *wsConn) awaitEcho() {
	c.mu.Lock()
	echo := c.echo
	c.mu.Unlock()
	if !echo {
		return
	}
	done := make(chan struct{})
	go func() {
		c.writers.Wait()
		close(done)
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// readSome reads what the socket has into p: without waiting on a socket
// the handler polls (errWouldBlock when it has nothing), waiting
// otherwise.
func (c *wsConn) readSome(p []byte) (int, error) {
	if c.raw == nil || c.blocking {
		n, err := c.ws.NetConn().Read(p)
		if n > 0 {
			return n, nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return 0, err
	}
	return c.rd.raw.read(c.raw, p, false) // never parks: the poller waits instead
}

// hotWindow is how long a reader waits for more after the client was
// last heard from, before it goes idle.
const hotWindow = 100 * time.Millisecond

// readUntil reads what the socket has into p, waiting for it until
// about the time until (the socket's deadline moves by steps, not at
// every message); errWouldBlock when nothing came.
func (c *wsConn) readUntil(p []byte, until int64) (int, error) {
	if until-c.deadline > int64(hotWindow/4) {
		c.deadline = until
		c.ws.NetConn().SetReadDeadline(time.Unix(0, until))
	}
	return c.rd.raw.read(c.raw, p, true)
}

// goIdle arms the poller and reports true: this reader ends, and a new
// one starts when the socket has bytes, or the connection closes. It
// reports false (read on, waiting in the read) when the connection cannot
// be polled.
func (c *wsConn) goIdle() bool {
	if c.raw == nil || c.h.poller == nil {
		c.blocking = true
		return false
	}
	c.readerState.Store(readerIdle)
	if err := c.h.poller.arm(c, int(c.fd)); err != nil {
		if c.readerState.CompareAndSwap(readerIdle, readerRunning) {
			c.blocking = true
			return false
		}
		return true // closed meanwhile, and a reader started to clean up
	}
	return true
}

// wakeReader starts a reader unless one runs.
func (c *wsConn) wakeReader() {
	if c.readerState.CompareAndSwap(readerIdle, readerRunning) {
		go c.readFn()
	}
}

// handlePending handles the message the reader read, then writes what it
// queued itself rather than starting a writer: a reply leaves without a
// goroutine hand-off.
func (c *wsConn) handlePending(typ byte, data []byte) {
	defer c.handling.Done()
	c.inAction.Store(true)
	defer c.inAction.Store(false)
	switch {
	case c.closing():
		// A close frame is on its way: what the client sent since is
		// dropped, not acted on.
	case typ != websocket.TextMessage:
		c.closeWith(websocket.CloseUnsupportedData)
	case !utf8.Valid(data):
		c.closeWith(websocket.CloseInvalidFramePayloadData)
	default:
		c.handle(data)
	}
	c.mu.Lock()
	if c.writing || c.dead || (len(c.queue) == 0 && c.closeCode == 0 && !c.pingDue && c.pong == nil) {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.writers.Add(1)
	c.mu.Unlock()
	c.writeLoop()
}
