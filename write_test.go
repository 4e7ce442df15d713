package liveflux_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// TestWebSocketSlowClient checks that a client that does not read delays
// nobody, and is dropped.
func TestWebSocketSlowClient(t *testing.T) {
	t.Parallel()
	const writeTimeout = 3 * time.Second
	f := newFixture(t, liveflux.WithWebSocketSendQueue(8), liveflux.WithWebSocketWriteTimeout(writeTimeout))
	id, own := f.mount(t, "counter", nil), f.mount(t, "counter", nil)
	slow := f.dialIdle(t)
	slow.sendInit(id)
	slow.sendInit(own)
	waitFor(t, "the slow client to watch", func() bool { return watching(f.h, own) })
	fast := f.watchers(t, id, 3)
	// Far more than the socket buffers hold, one at a time so that the
	// fast clients never fall behind.
	pad := strings.Repeat("x", 128<<10)
	var slowest time.Duration
	for i := range 100 {
		start := time.Now()
		payload := map[string]any{"type": "tick", "i": i, "pad": pad}
		assertNoError(t, f.h.Broadcast(id, payload))
		want := string(encodeVerbatim(t, payload))
		for _, c := range fast {
			if got := string(c.next()); got != want {
				t.Fatalf("tick %d: got %.80q…", i, got)
			}
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest >= writeTimeout {
		t.Fatalf("a broadcast took %v to reach the fast clients: the slow one held them up", slowest)
	}
	waitFor(t, "the slow client to be dropped", func() bool { return !watching(f.h, own) })
	slow.startReading()
	if err := slow.waitEnd(); err == nil {
		t.Fatal("slow client not disconnected")
	}
	// The fast ones are still connected.
	for _, c := range fast {
		c.init(id)
	}
}

// A message for many watchers is framed once for all of them: every frame
// length form (7-bit, 16-bit, 64-bit) reaches plain and compressing
// clients whole, before and after the socket's write deadline has moved.
func TestSharedFramesOfEverySize(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketWriteTimeout(200*time.Millisecond))
	id := f.mount(t, "counter", nil)
	cs := f.watchers(t, id, 5)
	for range 2 {
		c, _, _, _ := dialCompressing(t, f)
		c.init(id)
		cs = append(cs, c)
	}
	for i, size := range []int{2, 125, 126, 127, 511, 512, 65535, 65536, 70000} {
		if i == 4 {
			time.Sleep(300 * time.Millisecond) // the deadline set by the first frames has passed
		}
		text := strings.Repeat("a", size-2) // its JSON: size bytes
		assertNoError(t, f.h.Broadcast(id, text))
		for j, c := range cs {
			if got := string(c.next()); got != `"`+text+`"` {
				t.Fatalf("client %d, a %d-byte message: got %d bytes %.40q…", j, size, len(got), got)
			}
		}
	}
}
