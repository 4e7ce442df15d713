package liveflux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// TopicComponent is a component that receives the messages published to the
// topics it subscribed to (with Subscribe). HandleTopic runs under the same
// per-instance serialization as an action; when it returns nil the
// instance is rendered again, and the rendering is sent to every client
// watching it if it differs from the previous one. When it returns an error
// the instance keeps the state it had before.
type TopicComponent interface {
	Component
	HandleTopic(ctx context.Context, msg *TopicMessage) error
}

// TopicMessage is a message published to a topic.
type TopicMessage struct {
	// Topic is the topic it was published to.
	Topic string
	// Data is the payload Publish was given, as JSON; null for a presence
	// change.
	Data json.RawMessage
	// Presence, when not nil, says who joined and left the topic's
	// presence list (see Track); Data is then null.
	Presence *PresenceChange

	watching int8 // not a topic message: +1 first watcher came, -1 last left
}

// Decode decodes the message's payload into v, as json.Unmarshal does.
func (m *TopicMessage) Decode(v any) error { return json.Unmarshal(m.Data, v) }

// ErrNoScope is returned by Subscribe, Unsubscribe, Track and Emit when ctx
// is not the context of a component's method, and by Publish when it is
// not and names no handler either.
var ErrNoScope = errors.New("liveflux: context of no component method")

// scope is the context a component's method is given: its parent, plus
// what the method can reach through it (the handler, the instance) and
// what it emitted. Being the context itself, it costs one allocation.
type scope struct {
	context.Context
	h      *Handler
	c      Component
	events []Event
	// While Mount runs, subscriptions wait until the store has the
	// instance: a message published meanwhile must not find it missing.
	mounting bool
	subs     []string
}

type scopeKey struct{}

func (sc *scope) Value(key any) any {
	if key == (scopeKey{}) {
		return sc
	}
	return sc.Context.Value(key)
}

func withScope(ctx context.Context, h *Handler, c Component) (context.Context, *scope) {
	sc := &scope{Context: ctx, h: h, c: c}
	return sc, sc
}

func scopeOf(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

// HandlerOf returns the handler whose component method ctx was given to
// (Mount, Handle, HandleWS, HandleTopic, Render), or nil.
func HandlerOf(ctx context.Context) *Handler {
	if sc := scopeOf(ctx); sc != nil {
		return sc.h
	}
	return nil
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
// work is proportional to the topic's subscribers. Publish returns once the
// message is queued for them: a slow subscriber never holds it up (each
// instance queues at most DefaultTopicQueue messages; older ones are
// dropped, and logged, beyond that).
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

// topicChannel is the backplane channel of topic messages: a name no
// component ID has.
const topicChannel = "\x00topic"

// deliverTopic queues msg for every subscriber of its topic on this node.
func (h *Handler) deliverTopic(msg *TopicMessage) {
	for _, id := range h.topics.subscribers(msg.Topic) {
		h.mailboxes.push(id, msg)
	}
}

// receivedTopic delivers a topic message another node published.
func (h *Handler) receivedTopic(env []byte) {
	var e topicEnvelope
	if err := json.Unmarshal(env, &e); err != nil || e.Topic == "" {
		h.logger.Warn("liveflux: malformed topic message from another node", "err", err)
		return
	}
	if e.Data == nil {
		e.Data = json.RawMessage("null")
	}
	if e.Presence != nil {
		h.presence.received(e.Topic, e.Presence)
	}
	h.deliverTopic(&TopicMessage{Topic: e.Topic, Data: e.Data, Presence: e.Presence})
}

// handleTopic runs one message on instance id and sends the new rendering
// to its watchers when it changed.
func (h *Handler) handleTopic(ctx context.Context, id string, msg *TopicMessage) {
	var res result
	err := h.updateIdle(ctx, id, func(c Component) (err error) {
		if msg.watching != 0 {
			wc, ok := c.(WatchComponent)
			if !ok {
				return errNotWatching
			}
			res, err = h.runPushed(ctx, c, "Watching", func(ctx context.Context) error { return wc.Watching(ctx, msg.watching > 0) })
			return err
		}
		tc, ok := c.(TopicComponent)
		if !ok {
			return fmt.Errorf("liveflux: kind %q has no HandleTopic method", c.GetKind())
		}
		res, err = h.runPushed(ctx, c, "HandleTopic", func(ctx context.Context) error { return tc.HandleTopic(ctx, msg) })
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		h.topics.unsubscribe(id, nil) // expired or deleted
	case err != nil:
		// call logged the component's failure; log the store's
		if !errors.Is(err, ErrPanic) && !errors.Is(err, errNotWatching) && ctx.Err() == nil {
			h.logger.Warn("liveflux: topic message not handled", "id", id, "topic", msg.Topic, "err", err)
		}
	default:
		h.publish(ctx, res)
	}
}

// runPushed runs method of c, which the server called on its own (a topic
// message, the Watching hook), and renders c again: the result carries the
// rendering only when it changed, and what c emitted.
func (h *Handler) runPushed(ctx context.Context, c Component, method string, fn func(context.Context) error) (result, error) {
	ctx, sc := withScope(ctx, h, c)
	if err := h.call(c, method, func() error { return fn(ctx) }); err != nil {
		return result{}, err
	}
	html, changed, err := h.rerender(ctx, c)
	if err != nil {
		return result{}, err
	}
	res := result{id: c.GetID(), topic: true, events: sc.events}
	if changed {
		res.html, res.rev = html, revision(c)
	}
	return res, nil
}

// WatchComponent is a component told when clients start and stop watching
// it: Watching(ctx, true) when the first client starts watching the
// instance on this node (over WebSocket), Watching(ctx, false) when the
// last one stops (it left the page, closed it, or its connection was
// dropped after the pong wait). It runs under the same per-instance
// serialization as an action, a little after the fact; the instance is
// then rendered again, and the rendering sent if it changed.
type WatchComponent interface {
	Component
	Watching(ctx context.Context, watched bool) error
}

var errNotWatching = errors.New("liveflux: not a WatchComponent")

// watchedChanged hands the Watching hook of instance id to its mailbox.
func (h *Handler) watchedChanged(id string, on bool) {
	var w int8 = -1
	if on {
		w = 1
	}
	h.mailboxes.push(id, &TopicMessage{watching: w})
}

// updateIdle updates instance id without counting as a use, where the
// store can (MemoryStore): a topic message must not keep alive an instance
// nobody uses.
func (h *Handler) updateIdle(ctx context.Context, id string, fn func(Component) error) error {
	if s, ok := h.store.(interface {
		updateIdle(context.Context, string, func(Component) error) error
	}); ok {
		return s.updateIdle(ctx, id, fn)
	}
	return h.store.Update(ctx, id, fn)
}

// topicIndex is who subscribes to what on this node.
type topicIndex struct {
	mu   sync.RWMutex
	subs map[string]map[string]struct{} // topic → instance IDs
	byID map[string][]string            // instance ID → its topics
}

func newTopicIndex() *topicIndex {
	return &topicIndex{subs: make(map[string]map[string]struct{}), byID: make(map[string][]string)}
}

func (x *topicIndex) subscribe(id string, topics []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range topics {
		ids := x.subs[t]
		if ids == nil {
			ids = make(map[string]struct{})
			x.subs[t] = ids
		}
		if _, ok := ids[id]; ok {
			continue
		}
		ids[id] = struct{}{}
		x.byID[id] = append(x.byID[id], t)
	}
}

// unsubscribe ends id's subscriptions to topics, or to all with none.
func (x *topicIndex) unsubscribe(id string, topics []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(topics) == 0 {
		topics = x.byID[id]
	}
	kept := x.byID[id][:0]
	for _, t := range x.byID[id] {
		drop := false
		for _, u := range topics {
			drop = drop || u == t
		}
		if !drop {
			kept = append(kept, t)
			continue
		}
		if ids := x.subs[t]; ids != nil {
			delete(ids, id)
			if len(ids) == 0 {
				delete(x.subs, t)
			}
		}
	}
	if len(kept) == 0 {
		delete(x.byID, id)
	} else {
		x.byID[id] = kept
	}
}

// subscribers returns the instances subscribed to topic.
func (x *topicIndex) subscribers(topic string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ids := make([]string, 0, len(x.subs[topic]))
	for id := range x.subs[topic] {
		ids = append(ids, id)
	}
	return ids
}

// Subscriptions returns the topics the instance id subscribes to on this
// node, for tests and diagnostics.
func (h *Handler) Subscriptions(id string) []string {
	h.topics.mu.RLock()
	defer h.topics.mu.RUnlock()
	return append([]string(nil), h.topics.byID[id]...)
}

// isTopicChannel reports whether a backplane channel carries topic messages.
func isTopicChannel(id string) bool { return strings.HasPrefix(id, topicChannel) }
