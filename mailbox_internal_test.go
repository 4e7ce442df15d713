package liveflux

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// feed shows the last message of its topic, as the load program's
// TopicFeed does.
type feed struct {
	Base
	Seq     int
	Text    string
	handled *atomic.Int64
}

type feedMsg struct {
	Seq  int    `json:"seq"`
	Text string `json:"text"`
}

func (f *feed) Mount(ctx context.Context, _ map[string]string) error { return Subscribe(ctx, "feed") }
func (f *feed) Handle(context.Context, string, url.Values) error     { return nil }
func (f *feed) HandleTopic(_ context.Context, msg *TopicMessage) error {
	var m feedMsg
	err := msg.Decode(&m)
	f.Seq, f.Text = m.Seq, m.Text
	f.handled.Add(1)
	return err
}
func (f *feed) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p>#%d %s</p>`, f.Seq, f.Text)
	return err
}

// bare counts its messages and renders the count: the library's own cost
// of a delivery, with no decoding and a rendering that allocates nothing.
type bare struct {
	Base
	N       int
	handled *atomic.Int64
}

func (b *bare) Mount(ctx context.Context, _ map[string]string) error { return Subscribe(ctx, "feed") }
func (b *bare) Handle(context.Context, string, url.Values) error     { return nil }
func (b *bare) HandleTopic(context.Context, *TopicMessage) error {
	b.N++
	b.handled.Add(1)
	return nil
}
func (b *bare) Render(_ context.Context, w io.Writer) error {
	var buf [32]byte
	_, err := w.Write(strconv.AppendInt(append(buf[:0], "<p>"...), int64(b.N), 10))
	return err
}

// discard is a peer that drops what it is sent.
type discard struct{ h *WebSocketHandler }

func (discard) send(frame, bool)   {}
func (discard) speaks() updateKind { return edits }
func (p discard) watch(c Component) error {
	p.h.hub.watch(p, c)
	return nil
}

// BenchmarkPublish measures one Publish to 1,000 subscribers, each watched
// by a peer that asked for diffs, until every one has handled it: the
// allocs/delivery metric is what one delivery allocates, with a component
// that decodes the message and renders it with fmt (feed, as the load
// program's), and with one that does neither (bare: the library's own).
func BenchmarkPublish(b *testing.B) {
	b.Run("feed", func(b *testing.B) {
		benchmarkPublish(b, func(n *atomic.Int64) Component { return &feed{handled: n} })
	})
	b.Run("bare", func(b *testing.B) {
		benchmarkPublish(b, func(n *atomic.Int64) Component { return &bare{handled: n} })
	})
}

func benchmarkPublish(b *testing.B, factory func(*atomic.Int64) Component) {
	const subs = 1000
	reg := NewRegistry()
	var handled atomic.Int64
	reg.Register("feed", func() Component { return factory(&handled) })
	h := NewWebSocketHandler(NewMemoryStore(WithMaxInstancesPerSession(subs)), WithRegistry(reg), WithLogger(slog.New(slog.DiscardHandler)))
	defer h.Close()
	r := httptest.NewRequest("GET", "/", nil)
	for i := range subs {
		id, _, err := h.MountID(r, "feed", nil)
		if err != nil {
			b.Fatal(err)
		}
		// Each instance is watched by a peer of its own, as a page would.
		if _, err := h.act(context.Background(), actRequest{id: id, watcher: discard{h}, server: true}); err != nil {
			b.Fatal(i, err)
		}
	}
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		want := handled.Load() + subs
		if err := h.Publish(ctx, "feed", feedMsg{i, "update"}); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); handled.Load() < want; {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d handled", handled.Load()-want+subs, subs)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*subs), "allocs/delivery")
}
