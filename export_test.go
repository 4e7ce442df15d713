package liveflux

import "time"

// Hooks for the tests of package liveflux_test.

// SetClock makes h read the time from now: call it before h serves.
func SetClock(h *WebSocketHandler, now func() time.Time) { h.now = now }

// CheckLiveness runs one pass of h's liveness check (pings and drops) at
// the time of h's clock, as its ping loop does on every tick.
func CheckLiveness(h *WebSocketHandler) { h.checkLiveness(nil) }

// PongWait is how long h lets a connection stay silent.
func PongWait(h *WebSocketHandler) time.Duration { return h.pongWait() }

// LastHeard is the latest time, on h's clock, that h heard from any of its
// connections.
func LastHeard(h *WebSocketHandler) time.Time {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var last int64
	for c := range h.conns {
		last = max(last, c.lastSeen.Load())
	}
	return time.Unix(0, last)
}

// AppendDiffUpdate appends to dst the diff update of id from the body
// prev (revision base) to next (revision rev), and reports whether a diff
// is worth sending.
var AppendDiffUpdate = appendDiffUpdate

// RootBody is what the root element of a rendering holds.
var RootBody = rootBody

// AppendEditsUpdate appends to dst the edits update of id from the body
// prev (revision base) to next (revision rev), and reports whether edits
// are worth sending.
var AppendEditsUpdate = appendEditsUpdate

// EncodeUpdate encodes the update message of a full rendering.
var EncodeUpdate = encodeUpdate
