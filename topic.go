package liveflux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// TopicComponent is a component that receives the messages published to the
// topics it subscribed to (with Subscribe). HandleTopic runs under the same
// per-instance serialization as an action; when it returns nil the
// instance is rendered again, and the rendering is sent to every client
// watching it if it differs from the previous one. When it returns an error
// the instance keeps the state it had before that message.
//
// Messages of one topic arrive in the order they were published (on one
// node; from several nodes, in the order the backplane delivers them), each
// once. When several wait for an instance they run in one hold of it,
// which is rendered once after them. A subscriber that falls further
// behind than the topic's backlog (WithTopicBacklog), or whose node lost
// messages on their way from another node, gets a message whose Missed
// says so before the ones it gets next: it should reload what it keeps
// from the topic.
type TopicComponent interface {
	Component
	HandleTopic(ctx context.Context, msg *TopicMessage) error
}

// TopicMessage is a message published to a topic.
type TopicMessage struct {
	// Topic is the topic it was published to.
	Topic string
	// Data is the payload Publish was given, as JSON; null for a presence
	// change or a Missed notice.
	Data json.RawMessage
	// Presence, when not nil, says who left and who joined the topic's
	// presence list (see Track) since the subscriber's last presence
	// message.
	Presence *PresenceChange
	// Missed, when above 0, says that the subscriber did not get that
	// many messages of Topic (presence changes included) published
	// before this one: it fell further behind than the topic's backlog,
	// or they were lost between nodes (then it counts every message the
	// other node sent meanwhile, for any topic, and is an upper bound).
	// Reload what you keep from the topic (Presence, PresenceCount, your
	// database).
	Missed int

	// merges, on a presence message of a topic's log, keeps the last merge
	// of it with the presence messages after it, which the subscribers
	// that read them together all need.
	merges *presenceMerge
}

// Decode decodes the message's payload into v, as json.Unmarshal does.
func (m *TopicMessage) Decode(v any) error { return json.Unmarshal(m.Data, v) }

// WithTopicBacklog sets how many messages of one topic a subscriber may
// fall behind: further behind, it skips the oldest and is told how many it
// missed (TopicMessage.Missed), and the log says so once until it catches
// up. The messages are kept once per topic, however many subscribe.
// Defaults to DefaultTopicBacklog.
func WithTopicBacklog(n int) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.topics.backlog = n
		}
	}
}

// Subscribe subscribes the instance whose method ctx was given to (call it
// from Mount, Handle, HandleWS or HandleTopic) to topics: every message
// published to one of them is handed to its HandleTopic, which the
// component must implement. Subscriptions end with Unsubscribe, or when the
// instance expires or is deleted. They are kept by the process that ran
// Subscribe (the one that mounted the instance, when called from Mount),
// which receives the messages published on every node.
func Subscribe(ctx context.Context, topics ...string) error {
	sc := scopeOf(ctx)
	if sc == nil {
		return ErrNoScope
	}
	if _, ok := sc.c.(TopicComponent); !ok {
		return fmt.Errorf("liveflux: kind %q subscribes to topics but has no HandleTopic method", sc.c.GetKind())
	}
	for _, t := range topics {
		if t == "" {
			return errors.New("liveflux: empty topic")
		}
	}
	if sc.mounting {
		sc.subs = append(sc.subs, topics...)
		return nil
	}
	sc.h.topics.subscribe(sc.c.GetID(), topics)
	return nil
}

// Unsubscribe ends the subscriptions of the instance whose method ctx was
// given to; without topics, all of them.
func Unsubscribe(ctx context.Context, topics ...string) error {
	sc := scopeOf(ctx)
	if sc == nil {
		return ErrNoScope
	}
	if sc.mounting {
		sc.subs = slices.DeleteFunc(sc.subs, func(t string) bool { return len(topics) == 0 || slices.Contains(topics, t) })
		return nil
	}
	sc.h.topics.unsubscribe(sc.c.GetID(), topics)
	return nil
}

// Publish publishes payload, encoded as JSON, to topic: every instance
// subscribed to it, on every node, handles it in HandleTopic. From a
// component's method, pass its ctx; from elsewhere call the handler's
// Publish method. Publish does not wait for the subscribers.
func Publish(ctx context.Context, topic string, payload any) error {
	sc := scopeOf(ctx)
	if sc == nil {
		return ErrNoScope
	}
	return sc.h.Publish(ctx, topic, payload)
}

// Publish publishes payload, encoded as JSON, to topic: every instance
// subscribed to it, on this node and, through the backplane, on the others,
// handles it in HandleTopic, and its watchers get the new rendering. The
// work is proportional to the topic's subscribers, and the message is kept
// once for all of them. Publish returns once the message is on its way: a
// slow subscriber never holds it up (see TopicComponent for what one that
// falls behind is told).
func (h *Handler) Publish(ctx context.Context, topic string, payload any) error {
	if topic == "" {
		return errors.New("liveflux: empty topic")
	}
	data, err := encodeJSON(payload)
	if err != nil {
		return fmt.Errorf("liveflux: publish to %s: %w", topic, err)
	}
	msg := &TopicMessage{Topic: topic, Data: data}
	h.deliverTopic(msg)
	h.updates.publishTopic(msg)
	return nil
}

// topicEnvelope is a topic message between nodes.
type topicEnvelope struct {
	Topic    string          `json:"topic"`
	Data     json.RawMessage `json:"data,omitempty"`
	Presence *PresenceChange `json:"presence,omitempty"`
}

// deliverTopic hands msg to every subscriber of its topic on this node.
func (h *Handler) deliverTopic(msg *TopicMessage) {
	if l := h.topics.log(msg.Topic); l != nil {
		h.appendTo(l, msg, nil)
	}
}

// receivedTopic delivers a topic message another node published.
func (h *Handler) receivedTopic(env []byte) {
	var e topicEnvelope
	if err := json.Unmarshal(env, &e); err != nil || e.Topic == "" {
		h.logger.Warn("liveflux: malformed topic message from another node", "err", err)
		return
	}
	if e.Presence != nil {
		h.presence.received(e.Topic, e.Presence)
		return
	}
	if e.Data == nil {
		e.Data = jsonNull
	}
	h.deliverTopic(&TopicMessage{Topic: e.Topic, Data: e.Data})
}

// errNothingHandled reports a delivery none of whose calls succeeded.
var errNothingHandled = errors.New("liveflux: nothing handled")

// pushed is one delivery to an instance: what runs, and what came of it.
// A worker keeps one from delivery to delivery, its run method bound once,
// so that a delivery allocates nothing of its own.
type pushed struct {
	h        *Handler
	id       string
	msgs     []*TopicMessage
	watching int8
	res      result
	err      error // what runPushed returned
	ran      bool
	fn       func(Component) error // run
}

func newPushed(h *Handler) *pushed {
	p := &pushed{h: h}
	p.fn = p.run
	return p
}

func (p *pushed) run(c Component) error {
	p.ran = true
	p.res, p.err = p.h.runPushed(p.h.background(), c, p.msgs, p.watching)
	return p.err
}

// handleTopics runs the Watching call and messages of p on its instance,
// and sends the new rendering to its watchers when it changed. Unless
// wait, it gives up when an action holds the instance, and reports busy.
// It reports failed when the store failed, so that nothing ran or what ran
// was not stored; the log says so once until a delivery succeeds again.
func (h *Handler) handleTopics(p *pushed, wait bool) (busy, failed bool) {
	ctx := h.background()
	p.ran, p.err, p.res = false, nil, result{}
	busy, err := h.updatePushed(ctx, p.id, wait, p.fn)
	switch {
	case busy:
		return true, false
	case errors.Is(err, ErrNotFound):
		h.gone(p.id) // expired or deleted
	case err != nil && p.ran && err == p.err:
		// The component failed; that was logged when it happened.
	case err != nil:
		if ctx.Err() == nil && h.storeFailing.CompareAndSwap(false, true) {
			h.logger.Error("liveflux: the store failed topic deliveries; the subscribers will be told what they missed (logged once until one succeeds)", "id", p.id, "err", err)
		}
		return false, true
	default:
		if h.storeFailing.CompareAndSwap(true, false) {
			h.logger.Info("liveflux: topic deliveries succeed again")
		}
		h.publish(ctx, p.res)
	}
	p.res = result{} // holds no rendering until the next delivery
	return false, false
}

// runPushed runs, on c, what the server calls on its own (the Watching
// hook, then topic messages), each undone when it fails, and renders c
// again: the result carries the rendering only when it changed, and what
// c emitted.
func (h *Handler) runPushed(ctx context.Context, c Component, msgs []*TopicMessage, watching int8) (result, error) {
	ctx, sc := withScope(ctx, h, c)
	calls := len(msgs)
	if watching != 0 {
		calls++
	}
	handled := 0
	var failed error
	run := func(method string, fn func() error) {
		saved := c // a single call's failure the store undoes
		if calls > 1 {
			saved = takeSnapshot(c)
			defer releaseSnapshot(c, saved)
		}
		events, streams := len(sc.events), len(sc.streams)
		if err := h.call(ctx, c, method, fn); err != nil {
			restore(c, saved)
			sc.events, sc.streams = sc.events[:events], sc.streams[:streams]
			failed = cmpOr(failed, err)
			return
		}
		handled++
	}
	if wc, ok := c.(WatchComponent); ok && watching != 0 {
		run("Watching", func() error { return wc.Watching(ctx, watching > 0) })
	}
	if len(msgs) > 0 {
		tc, ok := c.(TopicComponent)
		if !ok {
			return result{}, fmt.Errorf("liveflux: kind %q has no HandleTopic method", c.GetKind())
		}
		for _, msg := range msgs {
			run("HandleTopic", func() error { return tc.HandleTopic(ctx, msg) })
		}
	}
	if handled == 0 {
		return result{}, cmpOr(failed, errNothingHandled)
	}
	if len(msgs) > 0 && h.metrics != nil {
		h.record(Measure{Kind: MeasureTopicDelivery, Component: c.GetKind(), Topic: msgs[0].Topic, N: len(msgs)})
	}
	res := result{id: c.GetID(), topic: true, events: sc.events, streams: sc.streams}
	if !h.updates.watched(res.id) {
		return res, nil // a rendering nobody would be sent; the next init makes one
	}
	html, changed, err := h.rerender(ctx, c)
	if err != nil {
		return result{}, err
	}
	if changed {
		res.html, res.rev = html, revision(c)
	}
	return res, nil
}

// cmpOr returns a unless it is nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// WatchComponent is a component told when clients start and stop watching
// it: Watching(ctx, true) when the first client starts watching the
// instance on this node (over WebSocket), Watching(ctx, false) when the
// last one stops (it left the page, closed it, or its connection was
// dropped after the pong wait). It runs under the same per-instance
// serialization as an action, a little after the fact; the instance is
// then rendered again, and the rendering sent if it changed. Calls that
// come while the instance is busy collapse into the last one.
type WatchComponent interface {
	Component
	Watching(ctx context.Context, watched bool) error
}

// watchedChanged hands the Watching hook of instance id to its mailbox.
func (h *Handler) watchedChanged(id string, on bool) { h.mailboxes.watching(id, on) }

// gone forgets instance id, which the store no longer has: its
// subscriptions, what waits for it, its watchers and presence entries.
func (h *Handler) gone(id string) {
	h.topics.unsubscribe(id, nil)
	h.mailboxes.forget(id)
	h.updates.gone(id)
}
