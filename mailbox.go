package liveflux

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// mailboxes hand what waits for an instance (topic messages, read from the
// topics' logs, and Watching calls) to it: in order for each instance, one
// delivery at a time per instance, under the instance's lock like an
// action, by a few workers that run while there is something to deliver.
// A worker never waits for an instance that an action holds: the delivery
// to that instance moves to a goroutine of its own, which waits, so that a
// slow action delays only its own instance's messages.
type mailboxes struct {
	h *Handler

	mu      sync.Mutex
	boxes   map[string]*mailbox // instance ID → what waits for it
	ready   []*mailbox          // boxes with something waiting and no worker on them
	free    []*mailbox          // boxes to use again, so that a delivery allocates none
	workers int
}

type mailbox struct {
	id       string
	subs     []*subscription // subscriptions with messages, in the order they woke
	watching int8            // a Watching call waiting: +1 watched, -1 not
	queued   bool            // in ready
	busy     bool            // being delivered to
}

// maxWorkers bounds the workers delivering topic messages.
func maxWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

// maxBatch is how many topic messages one delivery hands an instance at
// most: they run in one hold of the instance, and it is rendered once.
const maxBatch = 64

func newMailboxes(h *Handler) *mailboxes {
	return &mailboxes{h: h, boxes: make(map[string]*mailbox)}
}

// boxLocked returns id's mailbox, made when missing; m.mu is held.
func (m *mailboxes) boxLocked(id string) *mailbox {
	b := m.boxes[id]
	if b == nil {
		if n := len(m.free); n > 0 {
			b, m.free = m.free[n-1], m.free[:n-1]
			b.id = id
		} else {
			b = &mailbox{id: id}
		}
		m.boxes[id] = b
	}
	return b
}

// maxFree bounds the mailboxes kept for use again.
const maxFree = 4096

// wake queues subscriptions that have messages to read.
func (m *mailboxes) wake(subs []*subscription) {
	if len(subs) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range subs {
		b := m.boxLocked(s.id)
		b.subs = append(b.subs, s)
		m.scheduleLocked(b)
	}
}

// watching queues a Watching call for instance id.
func (m *mailboxes) watching(id string, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.boxLocked(id)
	b.watching = -1
	if on {
		b.watching = 1
	}
	m.scheduleLocked(b)
}

func (m *mailboxes) scheduleLocked(b *mailbox) {
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
	w := scratch{pushed: newPushed(m.h)}
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
		subs, watching := b.subs, b.watching
		b.subs, b.watching = w.subs[:0], 0 // the boxes trade lists with the worker
		m.mu.Unlock()

		w.subs = subs
		m.deliver(b, subs, watching, &w)
		clear(w.subs)
	}
}

// scratch is what a worker reuses from one delivery to the next.
type scratch struct {
	msgs   []*TopicMessage
	reads  []readCount
	subs   []*subscription
	pushed *pushed
}

// deliver reads what subs have waiting and hands it, with the Watching
// call, to the instance. When the instance is held it goes on on a
// goroutine of its own and deliver returns at once.
func (m *mailboxes) deliver(b *mailbox, subs []*subscription, watching int8, w *scratch) {
	var again []*subscription
	buf, reads := w.msgs[:0], w.reads[:0]
	for _, s := range subs {
		start := len(buf)
		var missed uint64
		var more bool
		buf, missed, more = s.log.read(s, buf, maxBatch)
		if n := uint64(len(buf)-start) + missed; n > 0 {
			reads = append(reads, readCount{s, n})
		}
		if missed > 0 {
			buf = append(buf, nil)
			copy(buf[start+1:], buf[start:])
			buf[start] = &TopicMessage{Topic: s.log.name, Data: jsonNull, Missed: int(min(missed, 1<<31-1))}
			m.h.record(Measure{Kind: MeasureTopicMissed, Topic: s.log.name, N: int(min(missed, 1<<31-1))})
		}
		if more {
			again = append(again, s)
		}
	}
	msgs := mergeWaitingPresence(buf)
	defer func() {
		clear(buf)
		clear(reads)
		w.msgs, w.reads = buf[:0], reads[:0]
	}()
	if len(msgs) == 0 && watching == 0 {
		m.done(b, again)
		return
	}
	p := w.pushed
	p.id, p.msgs, p.watching = b.id, msgs, watching
	busy, failed := m.h.handleTopics(p, false)
	p.msgs = nil
	if !busy {
		m.finish(b, again, reads, failed)
		return
	}
	// The instance is held: wait for it elsewhere.
	held, heldReads := newPushed(m.h), slices.Clone(reads)
	held.id, held.msgs, held.watching = b.id, slices.Clone(msgs), watching
	go func() {
		_, failed := m.h.handleTopics(held, true)
		m.finish(b, again, heldReads, failed)
	}()
}

// readCount is how many messages (missed ones included) a delivery read
// from one subscription.
type readCount struct {
	s *subscription
	n uint64
}

// retryAfter is how long a delivery the store failed waits to be tried
// again (as a notice of what was missed).
const retryAfter = 500 * time.Millisecond

// finish ends a delivery: when the store failed it, what was read is
// recorded as missed by its subscriptions, which are woken again a little
// later, so that the instance is told once the store works.
func (m *mailboxes) finish(b *mailbox, again []*subscription, read []readCount, failed bool) {
	if failed {
		var wake []*subscription
		for _, r := range read {
			if r.s.log.lose(r.s, r.n) {
				wake = append(wake, r.s)
			}
		}
		if len(wake) > 0 {
			time.AfterFunc(retryAfter, func() { m.wake(wake) })
		}
	}
	m.done(b, again)
}

// done ends a delivery to b: what is left, or came meanwhile, is queued.
func (m *mailboxes) done(b *mailbox, again []*subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b.busy = false
	if len(again) > 0 {
		b.subs = append(again, b.subs...)
	}
	if len(b.subs) > 0 || b.watching != 0 {
		m.scheduleLocked(b)
		return
	}
	delete(m.boxes, b.id)
	if len(m.free) < maxFree && cap(b.subs) <= 16 {
		b.id, b.subs = "", b.subs[:0]
		m.free = append(m.free, b)
	}
}

// forget drops what waits for instance id, which is gone.
func (m *mailboxes) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.boxes[id]; b != nil && !b.busy && !b.queued {
		delete(m.boxes, id)
	}
}

// mergeWaitingPresence merges the presence changes of each topic among
// msgs into one, at the place of the last of them: a subscriber handles
// one presence message per topic however many changes waited. It reuses
// msgs.
func mergeWaitingPresence(msgs []*TopicMessage) []*TopicMessage {
	n := 0
	for _, msg := range msgs {
		if msg.Presence != nil {
			n++
		}
	}
	if n < 2 {
		return msgs
	}
	changes := make(map[string][]*TopicMessage) // topic → its presence messages, in order
	for _, msg := range msgs {
		if msg.Presence != nil {
			changes[msg.Topic] = append(changes[msg.Topic], msg)
		}
	}
	out := msgs[:0]
	for _, msg := range msgs {
		ms := changes[msg.Topic]
		switch {
		case msg.Presence == nil || len(ms) < 2:
			out = append(out, msg)
		case msg == ms[len(ms)-1]:
			out = append(out, mergedPresence(ms))
		}
	}
	clear(msgs[len(out):])
	return out
}

// presenceMerge is the last merge of a presence message with those after
// it: the subscribers that read the same messages together share it.
type presenceMerge struct {
	mu   sync.Mutex
	last *TopicMessage
	n    int
	msg  *TopicMessage
}

// mergedPresence returns one message saying what the presence messages
// ms, of one topic, say in turn.
func mergedPresence(ms []*TopicMessage) *TopicMessage {
	first, last := ms[0], ms[len(ms)-1]
	if c := first.merges; c != nil {
		c.mu.Lock()
		msg := c.msg
		hit := c.last == last && c.n == len(ms)
		c.mu.Unlock()
		if hit {
			return msg
		}
	}
	changes := make([]*PresenceChange, len(ms))
	for i, m := range ms {
		changes[i] = m.Presence
	}
	msg := &TopicMessage{Topic: first.Topic, Data: jsonNull, Presence: mergePresence(changes)}
	if c := first.merges; c != nil {
		c.mu.Lock()
		c.last, c.n, c.msg = last, len(ms), msg
		c.mu.Unlock()
	}
	return msg
}

// errBusy reports an instance held by someone else.
var errBusy = errors.New("liveflux: instance busy")

// busyAfter is how long a delivery waits for an instance held by an action,
// in a store that cannot tell at once, before it moves to a goroutine of
// its own.
const busyAfter = 2 * time.Millisecond

// updatePushed updates instance id for a delivery without counting as a use
// (MemoryStore: messages must not keep alive an instance nobody uses).
// Unless wait, it gives up at once when the instance is held (with a store
// that can tell; any other store is given busyAfter) and reports busy.
func (h *Handler) updatePushed(ctx context.Context, id string, wait bool, fn func(Component) error) (busy bool, err error) {
	if s, ok := h.store.(interface {
		updateIdle(ctx context.Context, id string, wait bool, fn func(Component) error) error
	}); ok {
		err := s.updateIdle(ctx, id, wait, fn)
		return errors.Is(err, errBusy), err
	}
	if wait {
		return false, h.store.Update(ctx, id, fn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var claimed atomic.Bool // by fn, or by the timer that abandons the attempt
	t := time.AfterFunc(busyAfter, func() {
		if claimed.CompareAndSwap(false, true) {
			cancel()
		}
	})
	ran := false
	err = h.store.Update(ctx, id, func(c Component) error {
		if !claimed.CompareAndSwap(false, true) {
			return errBusy
		}
		ran = true
		return fn(c)
	})
	t.Stop()
	if !ran && claimed.Load() {
		return true, errBusy
	}
	return false, err
}
