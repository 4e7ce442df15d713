package liveflux

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWebSocketOptionValues(t *testing.T) {
	t.Parallel()
	type settings struct {
		readLimit    int64
		pingInterval time.Duration
		pongWait     time.Duration
		writeTimeout time.Duration
		sendQueue    int
		rateMax      int
		rateWindow   time.Duration
		limited      bool // handshakes are rate limited
	}
	defaults := settings{DefaultReadLimit, DefaultPingInterval, 60 * time.Second, DefaultWriteTimeout, DefaultSendQueue, 0, 0, false}
	with := func(change func(*settings)) settings { s := defaults; change(&s); return s }
	for _, c := range []struct {
		name string
		opts []WebSocketOption
		want settings
	}{
		{"defaults", nil, defaults},
		{"read limit", []WebSocketOption{WithWebSocketReadLimit(256)}, with(func(s *settings) { s.readLimit = 256 })},
		{"read limit 0 keeps the default", []WebSocketOption{WithWebSocketReadLimit(0)}, defaults},
		{"negative read limit keeps the default", []WebSocketOption{WithWebSocketReadLimit(-1)}, defaults},
		{"ping interval", []WebSocketOption{WithWebSocketPingInterval(90 * time.Second)}, with(func(s *settings) { s.pingInterval, s.pongWait = 90*time.Second, 100*time.Second })},
		{"short ping interval leaves a second to answer", []WebSocketOption{WithWebSocketPingInterval(100 * time.Millisecond)}, with(func(s *settings) { s.pingInterval, s.pongWait = 100*time.Millisecond, 1100*time.Millisecond })},
		{"ping interval 0 keeps the default", []WebSocketOption{WithWebSocketPingInterval(0)}, defaults},
		{"write timeout", []WebSocketOption{WithWebSocketWriteTimeout(time.Second)}, with(func(s *settings) { s.writeTimeout = time.Second })},
		{"write timeout 0 keeps the default", []WebSocketOption{WithWebSocketWriteTimeout(0)}, defaults},
		{"send queue", []WebSocketOption{WithWebSocketSendQueue(5)}, with(func(s *settings) { s.sendQueue = 5 })},
		{"send queue 0 keeps the default", []WebSocketOption{WithWebSocketSendQueue(0)}, defaults},
		{"rate limit", []WebSocketOption{WithWebSocketRateLimit(10, time.Second)}, with(func(s *settings) { s.rateMax, s.rateWindow, s.limited = 10, time.Second, true })},
		{"rate limit of 0 is off", []WebSocketOption{WithWebSocketRateLimit(0, time.Second)}, defaults},
		{"rate limit over no window is off", []WebSocketOption{WithWebSocketRateLimit(10, 0)}, defaults},
		{"last option wins", []WebSocketOption{WithWebSocketSendQueue(5), WithWebSocketSendQueue(7)}, with(func(s *settings) { s.sendQueue = 7 })},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := NewWebSocketHandler(NewMemoryStore(), c.opts...)
			got := settings{h.readLimit, h.pingInterval, h.pongWait(), h.writeTimeout, h.sendQueue, h.rateMax, h.rateWindow, h.upgrades != nil}
			if got != c.want {
				t.Fatalf("settings %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestWebSocketAllowedOriginsAccumulate(t *testing.T) {
	t.Parallel()
	h := NewWebSocketHandler(nil,
		WithWebSocketAllowedOrigins("https://A.example/"),
		WithWebSocketAllowedOrigins("http://b.example:8080"))
	want := map[string]bool{"https://a.example": true, "http://b.example:8080": true}
	if fmt.Sprint(h.allowedOrigins) != fmt.Sprint(want) {
		t.Fatalf("allowed origins %v, want %v", h.allowedOrigins, want)
	}
}

// TestWSConnSendQueueOverflow fills a connection's queue while its writer
// is busy: one message more than the queue holds closes it with 1013.
func TestWSConnSendQueueOverflow(t *testing.T) {
	t.Parallel()
	const size = 3
	h := NewWebSocketHandler(nil, WithWebSocketSendQueue(size))
	c := newWSConn(h, nil, "")
	c.writing = true // a writer is busy: nothing drains the queue
	for i := range size {
		c.reply([]byte{byte('a' + i)})
	}
	if len(c.queue) != size || c.closeCode != 0 {
		t.Fatalf("after %d messages: queue %d, close code %d", size, len(c.queue), c.closeCode)
	}
	c.reply([]byte("overflow"))
	if c.closeCode != websocket.CloseTryAgainLater || c.queue != nil {
		t.Fatalf("after overflowing: close code %d, queue %d", c.closeCode, len(c.queue))
	}
	c.reply([]byte("late"))
	c.closeWith(websocket.CloseGoingAway)
	if c.queue != nil || c.closeCode != websocket.CloseTryAgainLater {
		t.Fatalf("a closing connection took more: queue %d, close code %d", len(c.queue), c.closeCode)
	}
}

func TestIPLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_000_000, 0)
	l := newIPLimiter(3, 3*time.Second) // one token a second, bursts of 3
	for i := range 3 {
		if wait := l.allow("10.0.0.1", t0); wait != 0 {
			t.Fatalf("attempt %d within the burst waits %v", i+1, wait)
		}
	}
	if wait := l.allow("10.0.0.1", t0); wait < 900*time.Millisecond || wait > time.Second {
		t.Fatalf("attempt over the burst waits %v, want about a second", wait)
	}
	// A refused attempt takes no token: a second later one is there.
	if wait := l.allow("10.0.0.1", t0.Add(time.Second)); wait != 0 {
		t.Fatalf("a second later: wait %v", wait)
	}
	if wait := l.allow("10.0.0.2", t0); wait != 0 {
		t.Fatalf("another IP waits %v", wait)
	}
	// Memory follows the active clients: idle buckets are dropped.
	for i := range 1000 {
		l.allow(fmt.Sprintf("10.1.%d.%d", i/256, i%256), t0.Add(time.Second))
	}
	if n := l.size(); n != 1002 {
		t.Fatalf("%d buckets, want 1002", n)
	}
	l.allow("10.0.0.3", t0.Add(5*time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after everyone else went idle, want 1", n)
	}
}
