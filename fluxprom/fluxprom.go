// Package fluxprom counts what a Liveflux handler does in Prometheus
// metrics: pass New's result to liveflux.WithMetrics, and serve the
// registry as usual (promhttp.Handler for the default one).
//
//	m, err := fluxprom.New(prometheus.DefaultRegisterer)
//	if err != nil { … }
//	ws := liveflux.NewWebSocketHandler(store, liveflux.WithMetrics(m))
//	http.Handle("/metrics", promhttp.Handler())
//
// Labels hold only what has few values: the transport, the component's
// kind (registered kinds), the outcome, a reason. Action names and topics
// come from clients and applications and could have any number of values:
// actions are not labels at all, and topics only through TopicLabel, which
// maps them to a few.
package fluxprom

import (
	"sync"

	"github.com/go-liveflux/liveflux"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics is a liveflux.Metrics that counts into Prometheus collectors.
type Metrics struct {
	topicLabel func(string) string

	connsOpen     prometheus.Gauge
	connsOpened   prometheus.Counter
	connsClosed   *prometheus.CounterVec // reason
	messagesIn    prometheus.Counter
	bytesIn       prometheus.Counter
	messagesOut   prometheus.Counter
	bytesOut      prometheus.Counter
	mounts        *prometheus.CounterVec   // transport, component, outcome
	mountSeconds  *prometheus.HistogramVec // transport, component
	actions       *prometheus.CounterVec   // transport, component, outcome
	actionSeconds *prometheus.HistogramVec // transport, component
	dropped       *prometheus.CounterVec   // reason
	deliveries    *prometheus.CounterVec   // component
	handled       *prometheus.CounterVec   // component
	missed        *prometheus.CounterVec   // topic (TopicLabel)
	presence      *prometheus.GaugeVec     // topic (TopicLabel): the sum of its topics' sizes

	mu    sync.Mutex
	sizes map[string]int // the last size of each topic's presence list that presence counts
}

// Option configures New.
type Option func(*Metrics)

// TopicLabel maps each topic to the value of the topic label of the
// missed-messages counter and of the presence gauge ("chat:room-42" to
// "chat", say). Without it, missed messages are counted under topic "",
// and presence sizes are not kept; a topic it maps to "" is not counted.
func TopicLabel(fn func(topic string) string) Option {
	return func(m *Metrics) { m.topicLabel = fn }
}

// Namespace is the prefix of every metric's name.
const Namespace = "liveflux"

// New returns Metrics whose collectors are registered with reg.
func New(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	m := &Metrics{sizes: make(map[string]int)}
	for _, o := range opts {
		o(m)
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	}
	counters := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	seconds := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: name, Help: help,
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"transport", "component"})
	}
	m.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "connections_open", Help: "WebSocket connections open now."})
	m.connsOpened = counter("connections_opened_total", "WebSocket connections upgraded.")
	m.connsClosed = counters("connections_closed_total", "WebSocket connections ended, by reason (gone, silent, slow client, rate limit, too large, shutdown, protocol).", "reason")
	m.messagesIn = counter("messages_received_total", "WebSocket messages read from clients.")
	m.bytesIn = counter("messages_received_bytes_total", "Bytes of the WebSocket messages read from clients (decompressed).")
	m.messagesOut = counter("messages_sent_total", "Messages written to WebSocket clients, one per client.")
	m.bytesOut = counter("messages_sent_bytes_total", "Bytes of the messages written to WebSocket clients, before compression.")
	m.mounts = counters("mounts_total", "Components mounted, by transport, kind and outcome (ok, error).", "transport", "component", "outcome")
	m.mountSeconds = seconds("mount_duration_seconds", "How long mounts took, store included.")
	m.actions = counters("actions_total", "Actions run (and renderings for clients that start watching), by transport, kind and outcome (ok, error).", "transport", "component", "outcome")
	m.actionSeconds = seconds("action_duration_seconds", "How long actions took, store included.")
	m.dropped = counters("dropped_total", "What was refused or dropped, by reason (slow client, rate limit, too large, refused).", "reason")
	m.deliveries = counters("topic_deliveries_total", "Holds of an instance to handle topic messages, by kind.", "component")
	m.handled = counters("topic_messages_handled_total", "Topic messages handled by subscribers, by kind.", "component")
	m.missed = counters("topic_messages_missed_total", "Topic messages subscribers were told they missed, by topic (TopicLabel).", "topic")
	m.presence = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "presence_entries", Help: "Entries of presence lists (of every node, as this one sees them), summed by topic (TopicLabel)."}, []string{"topic"})
	for _, c := range []prometheus.Collector{
		m.connsOpen, m.connsOpened, m.connsClosed, m.messagesIn, m.bytesIn, m.messagesOut, m.bytesOut,
		m.mounts, m.mountSeconds, m.actions, m.actionSeconds, m.dropped, m.deliveries, m.handled, m.missed, m.presence,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// Record implements liveflux.Metrics.
func (m *Metrics) Record(r liveflux.Measure) {
	switch r.Kind {
	case liveflux.MeasureConnOpened:
		m.connsOpened.Inc()
		m.connsOpen.Inc()
	case liveflux.MeasureConnClosed:
		m.connsOpen.Dec()
		m.connsClosed.WithLabelValues(r.Reason).Inc()
	case liveflux.MeasureMessageIn:
		m.messagesIn.Inc()
		m.bytesIn.Add(float64(r.Bytes))
	case liveflux.MeasureMessageOut:
		m.messagesOut.Inc()
		m.bytesOut.Add(float64(r.Bytes))
	case liveflux.MeasureMount:
		m.mounts.WithLabelValues(r.Transport, r.Component, outcome(r.Err)).Inc()
		m.mountSeconds.WithLabelValues(r.Transport, r.Component).Observe(r.Duration.Seconds())
	case liveflux.MeasureAction:
		m.actions.WithLabelValues(r.Transport, r.Component, outcome(r.Err)).Inc()
		m.actionSeconds.WithLabelValues(r.Transport, r.Component).Observe(r.Duration.Seconds())
	case liveflux.MeasureDropped:
		m.dropped.WithLabelValues(r.Reason).Inc()
	case liveflux.MeasureTopicDelivery:
		m.deliveries.WithLabelValues(r.Component).Inc()
		m.handled.WithLabelValues(r.Component).Add(float64(r.N))
	case liveflux.MeasureTopicMissed:
		topic := ""
		if m.topicLabel != nil {
			if topic = m.topicLabel(r.Topic); topic == "" {
				return
			}
		}
		m.missed.WithLabelValues(topic).Add(float64(r.N))
	case liveflux.MeasurePresence:
		if m.topicLabel == nil {
			return
		}
		// Several topics may share a label: the gauge moves by how much
		// this one's list did.
		if label := m.topicLabel(r.Topic); label != "" {
			m.mu.Lock()
			d := r.N - m.sizes[r.Topic]
			if r.N == 0 {
				delete(m.sizes, r.Topic)
			} else {
				m.sizes[r.Topic] = r.N
			}
			m.mu.Unlock()
			m.presence.WithLabelValues(label).Add(float64(d))
		}
	}
}
