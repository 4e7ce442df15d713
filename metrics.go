package liveflux

import "time"

// Metrics receives a Measure for each thing a handler does that an
// operator counts: connections, messages and their bytes, mounts and
// actions with their duration and outcome, what was dropped and why,
// topic deliveries and presence sizes. Plug it into Prometheus (the
// module github.com/go-liveflux/liveflux/prometheus does), OpenTelemetry
// or logs with WithMetrics.
//
// Record is called on the handler's hot paths, from many goroutines at
// once, and with no lock held: it must be safe for concurrent use, fast,
// and must not block (count, and leave the rest to a scrape). Without
// WithMetrics nothing is measured and nothing is called.
type Metrics interface {
	Record(Measure)
}

// Measure is one measurement; which fields are set depends on its Kind.
type Measure struct {
	Kind MeasureKind
	// Transport is TransportHTTP or TransportWebSocket, for a mount or an
	// action.
	Transport string
	// Component is the kind of the component, for a mount, an action or a
	// topic delivery.
	Component string
	// Action is the action's name ("" for a re-render or an init).
	Action string
	// Duration is how long the mount or action took, store included.
	Duration time.Duration
	// Err is why the mount or action failed, nil when it did not.
	Err error
	// Bytes is the size of a message.
	Bytes int
	// N counts: topic messages handled in one delivery, messages missed,
	// entries in a presence list.
	N int
	// Reason says why a connection closed or what was dropped (see the
	// Reason constants).
	Reason string
	// Topic names the topic of a delivery, a notice of missed messages or
	// a presence list.
	Topic string
}

// MeasureKind says what a Measure measures.
type MeasureKind uint8

// The kinds of Measure.
const (
	// MeasureConnOpened: a WebSocket connection was upgraded.
	MeasureConnOpened MeasureKind = iota + 1
	// MeasureConnClosed: a WebSocket connection ended (Reason).
	MeasureConnClosed
	// MeasureMessageIn: a WebSocket message was read (Bytes).
	MeasureMessageIn
	// MeasureMessageOut: a message was written to one client (Bytes).
	MeasureMessageOut
	// MeasureMount: a component was mounted (Transport, Component,
	// Duration, Err).
	MeasureMount
	// MeasureAction: an action ran, or an instance was rendered for a
	// client that started watching it (Action ""); Transport, Component,
	// Action, Duration, Err.
	MeasureAction
	// MeasureDropped: something was refused or dropped (Reason, and Bytes
	// where a size is at stake).
	MeasureDropped
	// MeasureTopicDelivery: an instance handled N topic messages in one
	// hold (Component, Topic of the first).
	MeasureTopicDelivery
	// MeasureTopicMissed: a subscriber was told it missed N messages
	// (Topic).
	MeasureTopicMissed
	// MeasurePresence: a presence list changed, as this node sees it; N
	// entries now, of every node (Topic).
	MeasurePresence
)

// Transports of a Measure.
const (
	TransportHTTP      = "http"
	TransportWebSocket = "websocket"
)

// Reasons of MeasureConnClosed and MeasureDropped.
const (
	// ReasonGone: the client closed the connection, or it failed.
	ReasonGone = "gone"
	// ReasonSilent: the client answered no ping for the pong wait.
	ReasonSilent = "silent"
	// ReasonSlow: the client's queue overflowed (close 1013).
	ReasonSlow = "slow client"
	// ReasonRateLimit: a rate limit refused a handshake, a message or a
	// POST.
	ReasonRateLimit = "rate limit"
	// ReasonTooLarge: a message over the read limit, or a rendering,
	// reply or broadcast over the write limit.
	ReasonTooLarge = "too large"
	// ReasonShutdown: the handler shut down.
	ReasonShutdown = "shutdown"
	// ReasonProtocol: a binary frame, invalid UTF-8.
	ReasonProtocol = "protocol"
	// ReasonRefused: a handshake refused (origin, CSRF, TLS).
	ReasonRefused = "refused"
)

// WithMetrics sends the handler's measurements to m (see Metrics).
func WithMetrics(m Metrics) HandlerOption {
	return func(h *Handler) { h.metrics = m }
}

// record sends m to the handler's Metrics, if it has any.
func (h *Handler) record(m Measure) {
	if h.metrics != nil {
		h.metrics.Record(m)
	}
}

// recordSince records m, with the time since start as its Duration.
func (h *Handler) recordSince(start time.Time, m Measure) {
	if h.metrics != nil {
		m.Duration = time.Since(start)
		h.metrics.Record(m)
	}
}

// closeReason is the Reason of a connection closed with code (0: by the
// client, or failed).
func closeReason(code uint16) string {
	switch code {
	case 0:
		return ReasonGone
	case 1001:
		return ReasonShutdown
	case 1013:
		return ReasonSlow
	case 1008:
		return ReasonRateLimit
	case 1009:
		return ReasonTooLarge
	}
	return ReasonProtocol
}
