package liveflux

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Backplane carries what a WebSocketHandler sends to watchers between the
// processes (nodes) that serve one application, so that a Broadcast, a
// Refresh or an action handled on one node reaches the clients connected to
// every other node. Without one (the default) messages reach the clients of
// this process only.
//
// Pair it with a Store shared by the nodes, so that any node can act on any
// instance; then no sticky sessions are needed.
type Backplane interface {
	// Publish sends msg, a complete server → client message, to the
	// watchers of componentID on every other node. Renderings travel as
	// full updates (data.html): each node sends them to its own clients
	// as diffs against what they hold, or in full to clients that did not
	// ask for diffs. Publish should return promptly; the handler calls it
	// from a goroutine of its own and logs its errors.
	Publish(ctx context.Context, componentID string, msg []byte) error
	// Subscribe calls deliver for every message another node published,
	// until ctx is done, and then returns. It keeps trying to receive
	// while the transport fails. deliver does not block.
	Subscribe(ctx context.Context, deliver func(componentID string, msg []byte)) error
}

// WithWebSocketBackplane connects the handler to the other nodes of the
// application through b. Defaults to none (a single process).
func WithWebSocketBackplane(b Backplane) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) { h.backplane = b })
}

// otherNodes is how a handler reaches the watchers on other nodes: nobody
// (localNode, the default) or a Backplane. It is chosen once, when the
// handler is made, so that no code asks whether there is a backplane.
type otherNodes interface {
	// publishUpdate publishes the rendering res; full is its update
	// message when already encoded, else nil.
	publishUpdate(res result, full []byte)
	// publish publishes msg, a message for the watchers of id.
	publish(id string, msg []byte)
	// publishTopic publishes a topic message.
	publishTopic(msg *TopicMessage)
}

// localNode is a single process: there are no other nodes.
type localNode struct{}

func (localNode) publishUpdate(result, []byte) {}
func (localNode) publish(string, []byte)       {}
func (localNode) publishTopic(*TopicMessage)   {}

// maxOutbox bounds what waits to be published for one component.
const maxOutbox = 64

// backplaneNodes reaches the other nodes through a Backplane. Messages of
// one component are published in order, by a goroutine that runs while it
// has some to publish, so that no request waits for the network; renderings
// older than one already published are dropped (clients would ignore them).
// Its methods are called under WebSocketHandler.mu (read), with the handler
// open, so that the goroutines they start are waited for by Shutdown.
type backplaneNodes struct {
	h  *WebSocketHandler
	bp Backplane

	mu     sync.Mutex
	queues map[string]*outbox // component ID → what waits to be published
}

// outbox is what waits to be published for one component.
type outbox struct {
	rev  uint64 // of the newest rendering queued
	msgs [][]byte
}

func newOtherNodes(h *WebSocketHandler) otherNodes {
	if h.backplane == nil {
		return localNode{}
	}
	n := &backplaneNodes{h: h, bp: h.backplane, queues: make(map[string]*outbox)}
	h.wg.Add(2)
	go n.subscribe()
	go n.beat()
	return n
}

// beat tells the other nodes, once per presence interval, who is present
// on this node, and drops the presence of nodes not heard from for three
// intervals, until Shutdown.
func (n *backplaneNodes) beat() {
	defer n.h.wg.Done()
	every := n.h.presenceInterval
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-n.h.ctx.Done():
			return
		case <-tick.C:
			n.h.presence.sweep(n.h.now().Add(-3 * every))
			snap, err := encodeJSON(n.h.presence.snapshot())
			if err != nil {
				continue
			}
			n.h.mu.RLock()
			if !n.h.closed {
				n.publish(presenceChannel, snap)
			}
			n.h.mu.RUnlock()
		}
	}
}

// subscribe delivers the other nodes' messages to this node's watchers
// until Shutdown.
func (n *backplaneNodes) subscribe() {
	defer n.h.wg.Done()
	err := n.bp.Subscribe(n.h.ctx, func(id string, msg []byte) { n.h.received(id, msg) })
	if err != nil && n.h.ctx.Err() == nil {
		n.h.logger.Error("liveflux: backplane subscription ended", "err", err)
	}
}

func (n *backplaneNodes) publishUpdate(res result, full []byte) {
	if full == nil {
		full = encodeUpdate(res.id, res.html)
	}
	n.queue(res.id, res.rev, full)
}

func (n *backplaneNodes) publish(id string, msg []byte) { n.queue(id, 0, msg) }

func (n *backplaneNodes) publishTopic(msg *TopicMessage) {
	env := topicEnvelope{Topic: msg.Topic, Presence: msg.Presence}
	if msg.Presence == nil {
		env.Data = msg.Data
	}
	if b, err := encodeJSON(env); err == nil { // cannot fail: Data is JSON already
		n.queue(topicChannel, 0, b)
	}
}

// queue adds msg to the outbox of id; rev, unless 0, is the revision of
// the rendering msg carries.
func (n *backplaneNodes) queue(id string, rev uint64, msg []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.queues[id]
	if q == nil {
		q = &outbox{}
		n.queues[id] = q
		n.h.wg.Add(1)
		go n.drain(id, q)
	}
	if rev != 0 {
		if rev <= q.rev {
			return
		}
		q.rev = rev
	}
	if len(q.msgs) >= maxOutbox {
		// Publishing falls behind: drop what is pending rather than
		// grow without bound; clients of other nodes catch up with the
		// next rendering, or when they reconnect.
		n.h.logger.Warn("liveflux: backplane falls behind, messages dropped", "id", id, "dropped", len(q.msgs))
		clear(q.msgs)
		q.msgs = q.msgs[:0]
	}
	q.msgs = append(q.msgs, msg)
}

// drain publishes the outbox of id in order, without holding a lock across
// the network, until it is empty.
func (n *backplaneNodes) drain(id string, q *outbox) {
	defer n.h.wg.Done()
	for {
		n.mu.Lock()
		batch := q.msgs
		q.msgs = nil
		if len(batch) == 0 {
			delete(n.queues, id)
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		for _, msg := range batch {
			n.publishNow(id, msg)
		}
	}
}

// publishNow publishes one message, logging a failure.
func (n *backplaneNodes) publishNow(id string, msg []byte) {
	defer func() {
		if p := recover(); p != nil {
			n.h.logger.Error("liveflux: backplane panicked publishing", "id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if err := n.bp.Publish(n.h.ctx, id, msg); err != nil {
		n.h.logger.Error("liveflux: message not delivered to other nodes", "id", id, "err", err)
	}
}
