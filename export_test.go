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
