package liveflux

import "time"

// pongWait is how long a connection may stay silent (no pong, no message):
// 10/9 of the ping interval, but at least a second more than it, so that a
// short interval still leaves a client time to answer a ping.
func (h *WebSocketHandler) pongWait() time.Duration {
	return h.pingInterval + max(h.pingInterval/9, time.Second)
}

// checkLiveness runs on the handler's pingLoop: it drops a client silent
// for longer than the pong wait, and has a silent one pinged once per ping
// interval.
func (c *wsConn) checkLiveness(now time.Time) {
	// While a message is handled the reader does not read, so pongs wait:
	// a long action is no sign of a dead client.
	if !c.inAction.Load() && now.Sub(time.Unix(0, c.lastSeen.Load())) >= c.h.pongWait() {
		c.silentDrop() // no pong, no message: the client is gone
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

// heard records that the client sent a frame.
func (c *wsConn) heard() { c.lastSeen.Store(c.h.now().UnixNano()) }

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
		case <-tick.C:
			h.mu.Lock()
			if len(h.conns) == 0 {
				h.pinging = false
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
			conns = h.checkLiveness(conns[:0])
		}
	}
}

// checkLiveness checks every connection once, with conns as scratch space,
// which it returns.
func (h *WebSocketHandler) checkLiveness(conns []*wsConn) []*wsConn {
	h.mu.Lock()
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	now := h.now()
	for _, c := range conns {
		c.checkLiveness(now)
	}
	clear(conns)
	return conns
}

// pingTick is how often pingLoop looks at the connections.
func pingTick(interval time.Duration) time.Duration { return max(interval/4, time.Millisecond) }
