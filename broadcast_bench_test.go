package liveflux

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkBroadcast measures one Broadcast of a 230-byte payload until
// every watcher has read it. The watchers read raw frames from their
// sockets, allocating nothing, so allocs/op is the server's: it stays the
// same whatever the number of watchers (no allocation per recipient).
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("watchers=%d", n), func(b *testing.B) { benchmarkBroadcast(b, n) })
	}
}

func benchmarkBroadcast(b *testing.B, watchers int) {
	h := NewWebSocketHandler(nil, WithWebSocketSendQueue(1<<16))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	payload := map[string]string{"type": "notice", "text": strings.Repeat("x", 200)}
	frame, _ := encodeJSON(payload)
	frameLen := 4 + len(frame) // unmasked server frame, 16-bit length
	if len(frame) < 126 || len(frame) > 0xffff {
		b.Fatalf("payload %d bytes: adjust frameLen", len(frame))
	}

	var received, target atomic.Int64
	reached := make(chan struct{}, 1)
	var readers sync.WaitGroup
	clients := make([]*websocket.Conn, watchers)
	for i := range clients {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = ws
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 64<<10)
			got := 0
			for {
				n, err := ws.NetConn().Read(buf)
				if err != nil {
					return
				}
				got += n
				if frames := got / frameLen; frames > 0 {
					if received.Add(int64(frames)) >= target.Load() {
						select {
						case reached <- struct{}{}:
						default:
						}
					}
				}
				got %= frameLen
			}
		}()
	}
	// Every connection watches the component.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.RLock()
		ready := len(h.conns) == watchers
		h.mu.RUnlock()
		if ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h.mu.RLock()
	conns := make([]*wsConn, 0, watchers)
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.RUnlock()
	if len(conns) != watchers {
		b.Fatalf("%d connections, want %d", len(conns), watchers)
	}
	watched := &silent{}
	watched.SetID("ID")
	for _, c := range conns {
		h.hub.watch(c, watched)
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Broadcast takes the payload already encoded as JSON bytes here,
		// so that the benchmark measures delivery, not encoding.
		want := int64(watchers * (i + 1))
		target.Store(want)
		if !h.broadcast("ID", frame) {
			b.Fatal("closed")
		}
		for received.Load() < want {
			<-reached
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*watchers), "ns/delivery")
	for _, ws := range clients {
		ws.Close()
	}
	readers.Wait()
}

// silent is a component that renders nothing.
type silent struct{ Base }

func (*silent) Mount(context.Context, map[string]string) error   { return nil }
func (*silent) Handle(context.Context, string, url.Values) error { return nil }
func (*silent) Render(context.Context, io.Writer) error          { return nil }
