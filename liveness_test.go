package liveflux_test

import (
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// newClockFixture is newFixture with a fake clock and a ping interval of a
// minute: liveness is checked only when the test calls check.
func newClockFixture(tb testing.TB, opts ...liveflux.WebSocketOption) (*fixture, *fakeClock) {
	tb.Helper()
	clock := newFakeClock()
	opts = append([]liveflux.WebSocketOption{liveflux.WithWebSocketPingInterval(time.Minute)}, opts...)
	return startFixture(tb, fixtureConfig{clock: clock}, opts...), clock
}

// check runs one liveness pass at the fake clock's time.
func (f *fixture) check() { liveflux.CheckLiveness(f.h) }

// pongClient connects a client that answers pings and counts them.
func (f *fixture) pongClient(tb testing.TB) (*wsClient, *atomic.Int32) {
	tb.Helper()
	var pings atomic.Int32
	c := f.dialIdle(tb)
	pong := c.ws.PingHandler()
	c.ws.SetPingHandler(func(s string) error { pings.Add(1); return pong(s) })
	c.startReading()
	return c, &pings
}

// roundTrip has c's earlier frames (a pong) handled by the server: an
// init of id is answered only after them. It shows that c is connected.
func (c *wsClient) roundTrip(id string) {
	c.tb.Helper()
	c.init(id)
}

// TestWebSocketPing checks that a client that never answers pings is
// dropped after the pong wait, and one that answers is kept.
func TestWebSocketPing(t *testing.T) {
	t.Parallel()
	f, clock := newClockFixture(t)
	id := f.mount(t, "counter", nil)
	deaf := f.dialIdle(t)
	deaf.ws.SetPingHandler(func(string) error { return nil }) // never pongs
	deaf.startReading()
	deaf.init(id)
	alive, pings := f.pongClient(t)
	alive.init(id)

	wait := liveflux.PongWait(f.h)
	clock.advance(time.Minute) // a ping interval: both are pinged
	f.check()
	waitFor(t, "the alive client to be pinged", func() bool { return pings.Load() == 1 })
	alive.roundTrip(id) // its pong is in
	clock.advance(wait - time.Minute)
	f.check() // the deaf one was silent for the pong wait, the alive one not
	if err := deaf.waitEnd(); err == nil {
		t.Fatal("deaf client not dropped")
	}
	alive.roundTrip(id) // still connected
	if !watching(f.h, id) {
		t.Fatal("alive client no longer watches")
	}
}

// Guards against: idle connections dropped before their first ping (the
// ping loop's tick could come after the pong wait). Whatever the phase of
// the ticks, a client answering pings is never dropped.
func TestIdleClientsSurviveTheirFirstPing(t *testing.T) {
	t.Parallel()
	f, clock := newClockFixture(t)
	id := f.mount(t, "counter", nil)
	const interval, tick = time.Minute, time.Minute / 4 // tick: the ping loop's
	for _, phase := range []time.Duration{0, time.Millisecond, tick / 2, tick - time.Millisecond} {
		c, pings := f.pongClient(t)
		c.init(id)                         // the handler has set the connection up
		lastPing := clock.now().Add(-tick) // as it does
		clock.advance(phase)
		var want int32
		for range 12 { // three ping intervals, the client silent but for pongs
			clock.advance(tick)
			f.check()
			if now := clock.now(); now.Sub(lastPing) >= interval {
				lastPing, want = now, want+1
				waitFor(t, "a ping", func() bool { return pings.Load() == want })
				waitFor(t, "its pong", func() bool { return liveflux.LastHeard(f.h).Equal(now) })
			}
		}
		assertEqual(t, pings.Load(), 3, "pings in three intervals")
		c.roundTrip(id) // not dropped
		c.close()
	}
}

// Guards against: a client that sent part of a message and then nothing
// was never dropped (liveness was not checked while a message was "in
// action", which began before it was read). Real time: with a fake one
// the test could not tell that the server is reading the message.
func TestHalfAMessageDoesNotPinTheConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketPingInterval(100*time.Millisecond)) // pong wait 1.1 s
	c := f.dialIdle(t)
	c.ws.SetPingHandler(func(string) error { return nil }) // a silent client
	w, err := c.ws.NextWriter(websocket.TextMessage)
	assertNoError(t, err)
	// More than the write buffer: a first fragment goes out, the message
	// stays unfinished.
	_, err = w.Write([]byte(`{"type":"init","componentID":"` + strings.Repeat("x", 8<<10)))
	assertNoError(t, err)
	start := time.Now()
	c.startReading()
	if err := c.waitEnd(); err == nil {
		t.Fatal("connection ended without an error")
	}
	t.Logf("half-message connection dropped after %v", time.Since(start).Round(10*time.Millisecond))
}

// Guards against: a healthy client dropped while its long action ran (its
// pongs wait while the reader waits for the action).
func TestLongActionKeepsHealthyClient(t *testing.T) {
	t.Parallel()
	f, clock := newClockFixture(t)
	b := newBlocker(t, f)
	id := f.mount(t, "blocker", nil)
	c, _ := f.pongClient(t)
	c.init(id)
	c.sendAction(id, "block", nil)
	b.awaitStarted(t)
	clock.advance(2 * liveflux.PongWait(f.h))
	f.check()
	b.release <- struct{}{}
	c.nextUpdate(id) // the action's update: the client was kept
}

// Guards against: new connections dropped by the liveness check (their
// liveness was set after they were registered): 400 fresh connections,
// with pings every 4 ms, all stay connected for 300 ms. Real time: the
// check must race with the handshakes.
func TestNewConnectionsAreNotDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketPingInterval(4*time.Millisecond))
	var dropped, failed atomic.Int32
	var wg sync.WaitGroup
	for range 400 {
		wg.Go(func() {
			ws, _, err := f.dialRaw(nil, "")
			if err != nil {
				failed.Add(1)
				return
			}
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					var nerr net.Error
					if !errors.As(err, &nerr) || !nerr.Timeout() {
						dropped.Add(1)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of 400 handshakes failed", n)
	}
	if n := dropped.Load(); n > 0 {
		t.Errorf("%d of 400 fresh connections dropped within 300ms", n)
	}
}
