package liveflux

import (
	"context"
	"runtime"
	"slices"
	"sync"
)

// DefaultTopicQueue is how many topic messages may wait for one instance;
// beyond that the oldest are dropped (and logged), so that a slow
// subscriber never holds up a publisher nor grows memory without bound.
const DefaultTopicQueue = 256

// mailboxes hand topic messages to their subscribers: in order for each
// instance, one message at a time per instance (HandleTopic runs under the
// instance's lock like an action), by a few workers that run while there
// is something to deliver.
type mailboxes struct {
	h *Handler

	mu      sync.Mutex
	boxes   map[string]*mailbox // instance ID → what waits for it
	ready   []*mailbox          // boxes with messages and no worker on them
	workers int
}

type mailbox struct {
	id     string
	msgs   []*TopicMessage
	queued bool // in ready
	busy   bool // a worker delivers its messages
}

// maxWorkers bounds the goroutines delivering topic messages.
func maxWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

func newMailboxes(h *Handler) *mailboxes {
	return &mailboxes{h: h, boxes: make(map[string]*mailbox)}
}

// push queues msg for instance id.
func (m *mailboxes) push(id string, msg *TopicMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.boxes[id]
	if b == nil {
		b = &mailbox{id: id}
		m.boxes[id] = b
	}
	if n := len(b.msgs); n > 0 && msg.Presence != nil && b.msgs[n-1].Presence != nil && b.msgs[n-1].Topic == msg.Topic {
		// Presence changes waiting for one subscriber merge into one: a
		// thousand pages closing at once make one message, not a
		// thousand (nor dropped ones).
		b.msgs[n-1] = mergePresence(b.msgs[n-1], msg)
		return
	}
	if len(b.msgs) >= DefaultTopicQueue {
		m.h.logger.Warn("liveflux: subscriber falls behind, topic message dropped", "id", id, "topic", b.msgs[0].Topic)
		b.msgs[0] = nil
		b.msgs = b.msgs[1:]
	}
	b.msgs = append(b.msgs, msg)
	if b.queued || b.busy {
		return
	}
	b.queued = true
	m.ready = append(m.ready, b)
	if m.workers < maxWorkers() {
		m.workers++
		go m.work()
	}
}

// work delivers what waits until nothing does.
func (m *mailboxes) work() {
	for {
		m.mu.Lock()
		if len(m.ready) == 0 {
			m.workers--
			m.ready = nil // let a long queue's array go
			m.mu.Unlock()
			return
		}
		b := m.ready[0]
		m.ready[0] = nil
		m.ready = m.ready[1:]
		b.queued, b.busy = false, true
		msgs := b.msgs
		b.msgs = nil
		m.mu.Unlock()

		for _, msg := range msgs {
			m.h.handleTopic(m.h.background(), b.id, msg)
		}

		m.mu.Lock()
		b.busy = false
		if len(b.msgs) > 0 {
			b.queued = true
			m.ready = append(m.ready, b)
		} else {
			delete(m.boxes, b.id)
		}
		m.mu.Unlock()
	}
}

// idle reports whether nothing waits to be delivered, for tests.
func (m *mailboxes) idle() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.boxes) == 0
}

// background is the context of work the handler does on its own (topic
// deliveries): canceled by a WebSocketHandler's Shutdown.
func (h *Handler) background() context.Context {
	if h.ctx != nil {
		return h.ctx
	}
	return context.Background()
}

// mergePresence returns one presence message saying what a and then b say.
// Messages are shared between subscribers: neither is changed.
func mergePresence(a, b *TopicMessage) *TopicMessage {
	ch := &PresenceChange{
		Joins:  slices.Concat(a.Presence.Joins, b.Presence.Joins),
		Leaves: slices.Concat(a.Presence.Leaves, b.Presence.Leaves),
	}
	return &TopicMessage{Topic: a.Topic, Data: a.Data, Presence: ch}
}
