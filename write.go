package liveflux

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// closeGrace is how long a client has to answer a close frame.
const closeGrace = time.Second

// closing reports whether the connection is being closed.
func (c *wsConn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dead || c.closeCode != 0
}

// reply queues msg for this connection alone. Only the message handler
// replies, and it writes its replies itself when it is done (handlePending).
func (c *wsConn) reply(msg []byte) { c.send(frame{data: msg}, false) }

// send implements peer: it queues f without waiting and, with kick, has
// the writer send it. A client whose queue is full (in messages, or in
// bytes: four times the write limit) is closed with 1013: it falls behind,
// and catches up when it reconnects.
func (c *wsConn) send(f frame, kick bool) {
	c.mu.Lock()
	if c.dead || c.closeCode != 0 {
		c.mu.Unlock()
		return
	}
	if n, queued := len(c.queue), c.queued; n >= c.h.sendQueue || queued+len(f.data) > 4*c.h.writeLimit {
		c.closeLocked(websocket.CloseTryAgainLater)
		c.mu.Unlock()
		c.h.record(Measure{Kind: MeasureDropped, Reason: ReasonSlow, Bytes: queued + len(f.data)})
		// Logged on a goroutine of its own: a sender may hold the hub's
		// locks, and a log may write to a slow file.
		go c.h.logger.Info("liveflux: websocket client too slow, closed with 1013 (it catches up when it reconnects)", "queued", n, "bytes", queued)
		return
	}
	c.queue = append(c.queue, f)
	c.queued += len(f.data)
	if kick {
		c.kickLocked()
	}
	c.mu.Unlock()
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
	c.closeCode = uint16(code)
	c.queue, c.queued = nil, 0
	c.kickLocked()
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
			code, echo := int(c.closeCode), c.echo
			c.dead, c.writing = true, false
			c.mu.Unlock()
			reason := closeReasons[code]
			if echo {
				reason = "" // the client's code, not a reason of ours
			}
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(c.h.writeTimeout))
			if !echo {
				// The reader drains what the client still sends until its
				// close frame answers ours (then the reader ends and
				// closes); closing at once could reset the connection
				// before the client read our close frame.
				time.AfterFunc(closeGrace, c.closeNet)
			}
			return
		case c.pong != nil:
			ping := c.pong
			c.pong = nil
			c.mu.Unlock()
			if !c.writeControl(websocket.PongMessage, ping.payload) {
				return
			}
			continue
		case c.pingDue:
			c.pingDue = false
			c.mu.Unlock()
			if !c.writeControl(websocket.PingMessage, nil) {
				return
			}
			continue
		case len(c.queue) == 0:
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare, c.queued = c.spare[:0], nil, 0
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

// write writes one message. A message for many connections is framed
// once for all of them (by the first writer to need it), and goes out with
// one write call and no allocation. On failure write drops the connection
// (the reader then ends) and reports false.
func (c *wsConn) write(f frame) bool {
	now := time.Now()
	var err error
	if f.shared != nil && (!c.deflate || len(f.data) < CompressMin) {
		err = c.writePlain(wsFrameOf(f).plainOf(f.data), now)
	} else {
		c.ws.EnableWriteCompression(len(f.data) >= CompressMin) // no-op unless negotiated
		c.setDeadline(now)
		if f.shared != nil {
			err = wsFrameOf(f).writeDeflated(c.ws, f.data)
		} else {
			err = c.ws.WriteMessage(websocket.TextMessage, f.data)
		}
	}
	if err == nil {
		c.h.record(Measure{Kind: MeasureMessageOut, Bytes: len(f.data)})
		return true
	}
	c.drop()
	return false
}

// writeControl writes a ping or a pong, and reports false (the connection
// dropped) on failure.
func (c *wsConn) writeControl(op int, payload []byte) bool {
	c.setDeadline(time.Now()) // WriteControl takes its own: the same
	if c.ws.WriteControl(op, payload, time.Unix(0, c.writeDL)) == nil {
		return true
	}
	c.drop()
	return false
}

// setDeadline has gorilla set the socket's write deadline to the write
// timeout from now before the frame it writes next.
func (c *wsConn) setDeadline(now time.Time) {
	c.writeDL = now.UnixNano() + int64(c.h.writeTimeout)
	c.ws.SetWriteDeadline(time.Unix(0, c.writeDL))
}

// writePlain writes an uncompressed frame framed beforehand, straight to
// the socket. Gorilla sets the socket's write deadline before each frame
// it writes, which costs a timer update per frame (a fifth of a fan-out's
// CPU); here the deadline moves only when less than three quarters of the
// write timeout is left. Every frame goes out through the writer of the
// moment (control frames included), which keeps c.writeDL: the socket's
// deadline is what it says.
func (c *wsConn) writePlain(b []byte, now time.Time) error {
	if t := now.UnixNano(); c.writeDL-t < int64(c.h.writeTimeout)*3/4 {
		c.writeDL = t + int64(c.h.writeTimeout)
		if err := c.ws.NetConn().SetWriteDeadline(time.Unix(0, c.writeDL)); err != nil {
			return err
		}
	}
	_, err := c.ws.NetConn().Write(b)
	return err
}

// silentDrop drops a connection whose client answered no ping.
func (c *wsConn) silentDrop() {
	c.mu.Lock()
	c.silent = true
	c.mu.Unlock()
	c.drop()
}

// drop closes the connection without a close frame: nothing more is
// written, and the reader ends.
func (c *wsConn) drop() {
	c.mu.Lock()
	c.dead = true
	c.queue, c.queued = nil, 0
	c.mu.Unlock()
	c.closeNet()
}

// closeNet closes the socket, and has a reader notice (an idle
// connection has none running).
func (c *wsConn) closeNet() {
	c.ws.Close()
	c.wakeReader()
}

// wsFrame is a message framed once for every WebSocket connection it
// goes to: plain is its uncompressed frame, written as it is; deflated is
// its compressed form, for the connections that negotiated
// permessage-deflate. Each is made when a connection first needs it.
type wsFrame struct {
	plainOnce, deflateOnce sync.Once
	plain                  []byte
	deflated               *websocket.PreparedMessage // nil when preparing it failed
}

// wsFrameOf returns f's shared frame (the first caller makes it).
func wsFrameOf(f frame) *wsFrame {
	f.shared.once.Do(func() { f.shared.prepared = new(wsFrame) })
	return f.shared.prepared.(*wsFrame)
}

// plainOf returns the uncompressed frame of data.
func (w *wsFrame) plainOf(data []byte) []byte {
	w.plainOnce.Do(func() { w.plain = plainFrame(data) })
	return w.plain
}

// plainFrame frames data as one unmasked, uncompressed text frame, as a
// server sends it (RFC 6455, 5.2).
func plainFrame(data []byte) []byte {
	n := len(data)
	var b []byte
	switch {
	case n < 126:
		b = append(make([]byte, 0, 2+n), 0x80|websocket.TextMessage, byte(n))
	case n < 1<<16:
		b = append(make([]byte, 0, 4+n), 0x80|websocket.TextMessage, 126, byte(n>>8), byte(n))
	default:
		b = append(make([]byte, 0, 10+n), 0x80|websocket.TextMessage, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, data...)
}

// writeDeflated writes the message compressed, prepared once for all the
// connections that compress.
func (w *wsFrame) writeDeflated(ws *websocket.Conn, data []byte) error {
	w.deflateOnce.Do(func() {
		if pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data); err == nil {
			w.deflated = pm
		}
	})
	if w.deflated == nil {
		return ws.WriteMessage(websocket.TextMessage, data)
	}
	return ws.WritePreparedMessage(w.deflated)
}
