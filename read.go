package liveflux

import (
	"io"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

func (c *wsConn) readLoop() {
	for {
		typ, r, err := c.ws.NextReader()
		if err != nil {
			// Gone (gorilla already answered a too-big message with
			// 1009): a message still being handled learns it from its
			// context.
			c.endActions()
			c.handling.Wait()
			return
		}
		c.handling.Wait() // messages are handled one at a time, in order
		// The message is read and handled on a goroutine of its own, which
		// ends with it: the reader's stack stays small while it idles.
		// Once the message is read the reader reads on, to learn of a
		// close while it is handled.
		c.pendingType, c.pendingReader = int32(typ), r
		c.handling.Add(1)
		c.reading.Add(1)
		go c.handleFn()
		c.reading.Wait()
		if c.readFailed {
			c.handling.Wait()
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
	typ := c.pendingType
	// The read limit counts what travels; a compressed message is held to
	// it once decompressed too.
	limit := c.h.readLimit
	data, err := io.ReadAll(io.LimitReader(c.pendingReader, limit+1))
	c.pendingReader = nil
	tooBig := err == nil && int64(len(data)) > limit
	c.readFailed = err != nil
	c.reading.Done()
	if tooBig {
		c.h.record(Measure{Kind: MeasureDropped, Reason: ReasonTooLarge, Bytes: len(data)})
		c.h.logger.Info("liveflux: websocket message over the read limit once decompressed", "limit", limit)
		c.closeWith(websocket.CloseMessageTooBig)
		return
	}
	if err != nil {
		return
	}
	c.heard()
	c.h.record(Measure{Kind: MeasureMessageIn, Bytes: len(data)})
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
	if c.writing || c.dead || (len(c.queue) == 0 && c.closeCode == 0 && !c.pingDue) {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.writers.Add(1)
	c.mu.Unlock()
	c.writeLoop()
}
