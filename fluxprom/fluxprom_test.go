package fluxprom_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxprom"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type counter struct {
	liveflux.Base
	N int
}

func (c *counter) Mount(ctx context.Context, _ map[string]string) error {
	if err := liveflux.Subscribe(ctx, "ticks"); err != nil {
		return err
	}
	return liveflux.Track(ctx, "room:1", "member")
}

func (c *counter) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "fail" {
		return liveflux.NewError(http.StatusConflict, "no")
	}
	c.N++
	return nil
}

func (c *counter) HandleTopic(context.Context, *liveflux.TopicMessage) error { c.N++; return nil }

func (c *counter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<b>%d</b>", c.N)
	return err
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A handler's work shows in the registry: connections, messages, mounts,
// actions by outcome with their durations, topic deliveries and presence
// under the topic's label.
func TestMetricsInPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := fluxprom.New(reg, fluxprom.TopicLabel(func(topic string) string { return strings.SplitN(topic, ":", 2)[0] }))
	if err != nil {
		t.Fatal(err)
	}
	r := liveflux.NewRegistry()
	r.Register("counter", func() liveflux.Component { return &counter{} })
	h := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(r), liveflux.WithMetrics(m), liveflux.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	id, _, err := h.MountID(httptest.NewRequest(http.MethodGet, "/", nil), "counter", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
	ws.ReadMessage()
	for _, a := range []string{"inc", "fail"} {
		ws.WriteJSON(map[string]string{"type": "action", "componentID": id, "action": a})
		ws.ReadMessage()
	}
	h.Publish(context.Background(), "ticks", 1)
	ws.ReadMessage() // the rendering the tick made

	value := func(name string, labels ...string) float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
		metrics:
			for _, mm := range f.GetMetric() {
				for i := 0; i+1 < len(labels); i += 2 {
					found := false
					for _, l := range mm.GetLabel() {
						found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
					}
					if !found {
						continue metrics
					}
				}
				switch {
				case mm.Counter != nil:
					return mm.Counter.GetValue()
				case mm.Gauge != nil:
					return mm.Gauge.GetValue()
				case mm.Histogram != nil:
					return float64(mm.Histogram.GetSampleCount())
				}
			}
		}
		return -1
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"liveflux_connections_open", nil, 1},
		{"liveflux_mounts_total", []string{"transport", "http", "component", "counter", "outcome", "ok"}, 1},
		{"liveflux_actions_total", []string{"transport", "websocket", "component", "counter", "outcome", "ok"}, 2}, // the init and inc
		{"liveflux_actions_total", []string{"transport", "websocket", "component", "counter", "outcome", "error"}, 1},
		{"liveflux_action_duration_seconds", []string{"transport", "websocket", "component", "counter"}, 3},
		{"liveflux_messages_received_total", nil, 3},
		{"liveflux_topic_messages_handled_total", []string{"component", "counter"}, 1},
		{"liveflux_presence_entries", []string{"topic", "room"}, 1},
	} {
		if got := value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value("liveflux_messages_sent_total"); got < 4 {
		t.Errorf("messages sent: %v, want at least 4", got)
	}
	ws.Close()
	waitFor(t, "the connection counted closed", func() bool { return value("liveflux_connections_closed_total", "reason", "gone") == 1 })
	if got := value("liveflux_connections_open"); got != 0 {
		t.Errorf("open connections after the close: %v", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("gathered %d series: %v", n, err)
	}
}

// Registering twice with one registry fails, as Prometheus does.
func TestNewTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := fluxprom.New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := fluxprom.New(reg); err == nil {
		t.Fatal("a second New on one registry succeeded")
	}
}

// Topics that TopicLabel maps to one label add up in the presence gauge.
func TestPresenceOfTopicsThatShareALabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := fluxprom.New(reg, fluxprom.TopicLabel(func(topic string) string { return strings.Split(topic, ":")[0] }))
	if err != nil {
		t.Fatal(err)
	}
	gauge := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, mm := range mf.GetMetric() {
				if mf.GetName() == "liveflux_presence_entries" && len(mm.GetLabel()) == 1 && mm.GetLabel()[0].GetValue() == "chat" {
					return mm.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	m.Record(liveflux.Measure{Kind: liveflux.MeasurePresence, Topic: "chat:1", N: 3})
	m.Record(liveflux.Measure{Kind: liveflux.MeasurePresence, Topic: "chat:2", N: 2})
	if g := gauge(); g != 5 {
		t.Fatalf("two rooms of 3 and 2: gauge %v, want 5", g)
	}
	m.Record(liveflux.Measure{Kind: liveflux.MeasurePresence, Topic: "chat:1", N: 0})
	m.Record(liveflux.Measure{Kind: liveflux.MeasurePresence, Topic: "chat:2", N: 4})
	if g := gauge(); g != 4 {
		t.Fatalf("the first room empty, the second of 4: gauge %v, want 4", g)
	}
}
