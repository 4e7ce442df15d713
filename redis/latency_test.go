package fluxredis_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// TestLatencyFigures measures, without asserting anything about time, how
// long an action takes to show: on the acting client and on a client of
// another node, with Redis, and on the acting client with the in-memory
// store of a single process. Run with -v to see the figures.
func TestLatencyFigures(t *testing.T) {
	const rounds = 200
	_, a, b := twoNodes(t)
	id := a.mount()
	ca, cb := dial(t, a), dial(t, b)
	for _, c := range []*wsClient{ca, cb} {
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
	}
	var self, cross []time.Duration
	for i := 1; i <= rounds; i++ {
		start := time.Now()
		ca.send(liveflux.MessageAction, id, "inc")
		mine := ca.expectCount(id, i)
		theirs := cb.expectCount(id, i)
		self = append(self, mine.At.Sub(start))
		cross = append(cross, theirs.At.Sub(start))
	}

	// The same round trip in one process with the in-memory store.
	h := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(newRegistry(t, nil)), liveflux.WithLogger(quiet))
	mux := http.NewServeMux()
	mux.Handle("/liveflux", h)
	srv := httptest.NewServer(mux)
	defer func() { h.Close(); srv.Close() }()
	mem := &node{t: t, h: h, srv: srv}
	mid := mem.mount()
	cm := dial(t, mem)
	cm.send(liveflux.MessageInit, mid, "")
	cm.expectCount(mid, 0)
	var local []time.Duration
	for i := 1; i <= rounds; i++ {
		start := time.Now()
		cm.send(liveflux.MessageAction, mid, "inc")
		m := cm.expectCount(mid, i)
		local = append(local, m.At.Sub(start))
	}

	t.Logf("action → update over WebSocket, %d rounds each (loopback Redis and HTTP):", rounds)
	t.Logf("  %-40s %s", "single process, in-memory store:", summary(local))
	t.Logf("  %-40s %s", "Redis store, acting client (node A):", summary(self))
	t.Logf("  %-40s %s", "Redis store + backplane, node B client:", summary(cross))
	t.Logf("updates received: in-memory client %v; node A client %v; node B client %v", &cm.stats, &ca.stats, &cb.stats)
}

func summary(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))].Round(time.Microsecond) }
	return fmt.Sprintf("p50 %v  p99 %v  max %v", q(0.50), q(0.99), s[len(s)-1].Round(time.Microsecond))
}

// BenchmarkCrossNodeRoundTrip measures one action on node A until a client
// of node B shows it.
func BenchmarkCrossNodeRoundTrip(b *testing.B) {
	srv := startRedis(b)
	reg := newRegistry(b, nil)
	na, nb := newNode(b, srv.Addr, reg), newNode(b, srv.Addr, reg)
	waitFor(b, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(b, srv.Addr) == 2 })
	id := na.mount()
	ca, cb := dial(b, na), dial(b, nb)
	for _, c := range []*wsClient{ca, cb} {
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
	}
	go func() {
		for range ca.msgs { // A's own updates: not measured
		}
	}()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		ca.send(liveflux.MessageAction, id, "inc")
		cb.expectCount(id, i)
	}
}
