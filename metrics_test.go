package liveflux_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// recorder keeps the measures a handler records.
type recorder struct {
	mu  sync.Mutex
	all []liveflux.Measure
}

func (r *recorder) Record(m liveflux.Measure) {
	r.mu.Lock()
	r.all = append(r.all, m)
	r.mu.Unlock()
}

// find returns the measures of kind that match, in order.
func (r *recorder) find(kind liveflux.MeasureKind, match func(liveflux.Measure) bool) []liveflux.Measure {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []liveflux.Measure
	for _, m := range r.all {
		if m.Kind == kind && (match == nil || match(m)) {
			out = append(out, m)
		}
	}
	return out
}

// await waits until at least n measures of kind match.
func (r *recorder) await(t *testing.T, what string, n int, kind liveflux.MeasureKind, match func(liveflux.Measure) bool) []liveflux.Measure {
	t.Helper()
	var got []liveflux.Measure
	waitFor(t, what, func() bool { got = r.find(kind, match); return len(got) >= n })
	return got
}

// A handler with WithMetrics records what it does: connections opened and
// closed and why, messages and bytes both ways, mounts and actions over
// each transport with their duration and outcome, what it dropped, topic
// deliveries, missed messages and presence sizes.
func TestMetrics(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	f, _ := roomFixture(t, nil, liveflux.WithMetrics(rec), liveflux.WithWebSocketRateLimit(1000, time.Minute))

	// Mounts and an HTTP action, one failing.
	id := f.mount(t, "counter", nil)
	mounts := rec.find(liveflux.MeasureMount, nil)
	if len(mounts) != 1 || mounts[0].Component != "counter" || mounts[0].Transport != liveflux.TransportHTTP || mounts[0].Err != nil || mounts[0].Duration <= 0 {
		t.Fatalf("mount measured as %+v", mounts)
	}
	f.post(t, "counter", id, "inc")
	if st, _ := f.postAs("", id, "usererr"); st != http.StatusConflict {
		t.Fatalf("usererr: %d", st)
	}
	httpActs := rec.find(liveflux.MeasureAction, func(m liveflux.Measure) bool { return m.Transport == liveflux.TransportHTTP })
	if len(httpActs) != 2 || httpActs[0].Action != "inc" || httpActs[0].Err != nil || httpActs[1].Action != "usererr" || httpActs[1].Err == nil {
		t.Fatalf("HTTP actions measured as %+v", httpActs)
	}

	// A connection: its init, an action, messages in and out.
	c := f.dial(t)
	rec.await(t, "the connection opened", 1, liveflux.MeasureConnOpened, nil)
	c.init(id)
	c.sendAction(id, "inc", nil)
	c.nextUpdate(id)
	wsActs := rec.await(t, "the init and the action over the socket", 2, liveflux.MeasureAction, func(m liveflux.Measure) bool { return m.Transport == liveflux.TransportWebSocket })
	if wsActs[0].Action != "" || wsActs[0].Component != "counter" || wsActs[1].Action != "inc" || wsActs[1].Component != "counter" {
		t.Fatalf("WebSocket actions measured as %+v", wsActs)
	}
	in := rec.find(liveflux.MeasureMessageIn, nil)
	if len(in) != 2 || in[0].Bytes != len(fmt.Sprintf(`{"componentID":%q,"type":"init"}`, id)) {
		t.Fatalf("messages in measured as %+v", in)
	}
	rec.await(t, "messages out", 2, liveflux.MeasureMessageOut, func(m liveflux.Measure) bool { return m.Bytes > 0 })

	// A topic delivery and a presence list.
	room := f.mount(t, "room", map[string]string{"room": "m", "who": "ada"})
	w := f.dial(t)
	w.init(room)
	rec.await(t, "the presence list of room:m", 1, liveflux.MeasurePresence, func(m liveflux.Measure) bool { return m.Topic == "room:m" && m.N == 1 })
	assertNoError(t, f.h.Publish(context.Background(), "room:m", "hello"))
	rec.await(t, "the delivery", 1, liveflux.MeasureTopicDelivery, func(m liveflux.Measure) bool {
		return m.Topic == "room:m" && m.Component == "room" && m.N >= 1
	})

	// Dropped: a rendering over the write limit is not measured here, a
	// Broadcast over it is.
	if err := f.h.Broadcast(id, strings.Repeat("x", liveflux.DefaultWriteLimit)); err == nil {
		t.Fatal("a broadcast over the write limit went out")
	}
	rec.await(t, "the broadcast dropped", 1, liveflux.MeasureDropped, func(m liveflux.Measure) bool { return m.Reason == liveflux.ReasonTooLarge })

	// The connections close: by the client.
	c.close()
	w.close()
	closed := rec.await(t, "both connections closed", 2, liveflux.MeasureConnClosed, nil)
	for _, m := range closed {
		if m.Reason != liveflux.ReasonGone {
			t.Fatalf("closed measured as %+v", closed)
		}
	}
}

// A client that falls behind is measured as dropped, and its connection
// as closed for being slow.
func TestMetricsOfASlowClient(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	f, id := counterFixture(t, liveflux.WithMetrics(rec), liveflux.WithWebSocketSendQueue(2))
	c := f.dial(t)
	c.init(id)
	for i := 0; i < 10_000 && len(rec.find(liveflux.MeasureDropped, nil)) == 0; i++ {
		f.h.Broadcast(id, i)
	}
	rec.await(t, "the slow client dropped", 1, liveflux.MeasureDropped, func(m liveflux.Measure) bool { return m.Reason == liveflux.ReasonSlow })
	rec.await(t, "its connection closed as slow", 1, liveflux.MeasureConnClosed, func(m liveflux.Measure) bool { return m.Reason == liveflux.ReasonSlow })
}
