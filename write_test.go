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
