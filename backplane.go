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
// Refresh, an action or a topic message handled on one node reaches the
// clients connected to every other node. Without one (the default)
// messages reach the clients of this process only.
//
// Pair it with a Store shared by the nodes, so that any node can act on any
// instance; then no sticky sessions are needed.
//
// The handler publishes in batches, in order, one at a time; each batch is
// numbered, so that a node that misses one (the backplane lost it, or the
// sending node dropped it because publishing fell too far behind) knows,
// and brings its clients and subscribers back to the truth (see
// TopicMessage.Missed). PROTOCOL.md describes the batches.
type Backplane interface {
	// Publish sends msg, a batch of the handler's messages, to every
	// other node. componentID names the channel the handler uses; a
	// backplane passes it on as is. Publish should return promptly; the
	// handler calls it from a goroutine of its own, one call at a time,
	// and tries again when it fails.
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

// WithBackplaneKey signs every batch this node publishes on the backplane
// with keys[0] (HMAC-SHA256), and makes it refuse every batch not signed
// with one of keys: give every node the same keys, at least 32 random
// bytes each; list a new key first and the old one after it while nodes
// change keys. Defaults to no key.
//
// Without a key, whoever can publish on the backplane's transport (a Redis
// channel) can send any frame to any browser watching a component on any
// node: set a key unless only your nodes can reach it.
func WithBackplaneKey(keys ...[]byte) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		for _, k := range keys {
			if len(k) > 0 {
				h.backplaneKeys = append(h.backplaneKeys, k)
			}
		}
	})
}

// DefaultBackplaneOutbox is how many bytes of messages may wait to be
// published to the other nodes (see WithBackplaneOutbox).
const DefaultBackplaneOutbox = 32 << 20

// WithBackplaneOutbox sets how many bytes of messages may wait to be
// published to the other nodes while the backplane is slow or down; past
// it the oldest are dropped, the log says so once, and the other nodes,
// seeing the gap, refresh their clients' renderings and tell their topic
// subscribers (TopicMessage.Missed). Defaults to DefaultBackplaneOutbox.
func WithBackplaneOutbox(bytes int) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if bytes > 0 {
			h.outboxBytes = bytes
		}
	})
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
	// close stops publishing; what waits is dropped.
	close()
}

// localNode is a single process: there are no other nodes.
type localNode struct{}

func (localNode) publishUpdate(result, []byte) {}
func (localNode) publish(string, []byte)       {}
func (localNode) publishTopic(*TopicMessage)   {}
func (localNode) close()                       {}

// Channels of the backplane that carry no component's messages. Every
// batch travels on nodesChannel; within a batch, topic messages and
// presence snapshots are named by these.
const (
	nodesChannel    = "\x00nodes"
	topicChannel    = "\x00topic"
	presenceChannel = "\x00presence"
)

// Limits of one batch.
const (
	batchMessages = 1024
	batchBytes    = 256 << 10
)

// backplaneNodes reaches the other nodes through a Backplane. Everything
// for them waits in one outbox, in order, and is published in numbered
// batches by a goroutine that runs while there is something to publish,
// so that no request waits for the network. A rendering waiting there is
// replaced by a newer one of the same component.
type backplaneNodes struct {
	h     *WebSocketHandler
	bp    Backplane
	keys  [][]byte
	limit int // bytes the outbox holds at most
	recv  *receiver

	mu       sync.Mutex
	queue    []outEntry
	head     uint64 // position of queue[0] among every entry ever queued
	bytes    int
	latest   map[string]uint64 // component ID → position of its waiting rendering
	next     uint64            // number of the first message in queue
	draining bool
	dropping bool // the outbox overflowed since it was last empty (logged)
	failing  bool // publishing failed since it last worked (logged)
	closed   bool
	drained  sync.WaitGroup
}

// outEntry is one message waiting to be published.
type outEntry struct {
	id  string
	msg []byte // nil: replaced by a newer rendering
	rev uint64 // of the rendering msg carries; 0: not a rendering
}

func newOtherNodes(h *WebSocketHandler) otherNodes {
	if h.backplane == nil {
		return localNode{}
	}
	n := &backplaneNodes{
		h:      h,
		bp:     h.backplane,
		keys:   h.backplaneKeys,
		limit:  h.outboxBytes,
		latest: make(map[string]uint64),
	}
	n.recv = newReceiver(h, n.keys)
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
			n.recv.sweep(n.h.now().Add(-forgetNodeAfter))
			if snap, err := encodeJSON(n.h.presence.snapshot()); err == nil {
				n.publish(presenceChannel, snap)
			}
		}
	}
}

// subscribe delivers the other nodes' messages to this node until
// Shutdown.
func (n *backplaneNodes) subscribe() {
	defer n.h.wg.Done()
	err := n.bp.Subscribe(n.h.ctx, n.recv.received)
	if err != nil && n.h.ctx.Err() == nil {
		n.h.logger.Error("liveflux: backplane subscription ended", "err", err)
	}
}

func (n *backplaneNodes) publishUpdate(res result, full []byte) {
	if full == nil {
		full = encodeUpdate(res.id, res.html)
	}
	n.add(outEntry{id: res.id, msg: full, rev: res.rev})
}

func (n *backplaneNodes) publish(id string, msg []byte) { n.add(outEntry{id: id, msg: msg}) }

func (n *backplaneNodes) publishTopic(msg *TopicMessage) {
	env := topicEnvelope{Topic: msg.Topic, Presence: msg.Presence}
	if msg.Presence == nil {
		env.Data = msg.Data
	}
	if b, err := encodeJSON(env); err == nil { // cannot fail: Data is JSON already
		n.add(outEntry{id: topicChannel, msg: b})
	}
}

// add adds e to the outbox, dropping the oldest messages when it is
// full.
func (n *backplaneNodes) add(e outEntry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	for len(n.queue) > 0 && n.bytes+len(e.msg) > n.limit {
		n.dropFrontLocked()
	}
	if e.rev != 0 {
		if at, ok := n.latest[e.id]; ok {
			old := &n.queue[at-n.head]
			if e.rev <= old.rev {
				return // clients would ignore it
			}
			n.bytes -= len(old.msg)
			old.msg = nil
		}
		n.latest[e.id] = n.head + uint64(len(n.queue))
	}
	n.queue = append(n.queue, e)
	n.bytes += len(e.msg)
	if !n.draining {
		n.draining = true
		n.drained.Add(1)
		go n.drain()
	}
}

// dropFrontLocked drops the oldest message waiting; its number is not
// published, so the other nodes see the gap.
func (n *backplaneNodes) dropFrontLocked() {
	e := n.queue[0]
	if !n.dropping {
		n.dropping = true
		n.h.logger.Warn("liveflux: backplane falls behind: the oldest messages for other nodes are dropped (they resync); logged once until it catches up",
			"outbox_bytes", n.limit)
	}
	if e.msg != nil {
		n.next++
		n.bytes -= len(e.msg)
	}
	n.shiftLocked(1)
}

// shiftLocked removes the first k entries of the queue.
func (n *backplaneNodes) shiftLocked(k int) {
	for i, e := range n.queue[:k] {
		if e.msg != nil && e.rev != 0 && n.latest[e.id] == n.head+uint64(i) {
			delete(n.latest, e.id)
		}
	}
	clear(n.queue[:k])
	n.queue = n.queue[k:]
	n.head += uint64(k)
}

// drain publishes the outbox in batches until it is empty.
func (n *backplaneNodes) drain() {
	defer n.drained.Done()
	var b batchWriter
	for {
		n.mu.Lock()
		if n.closed || len(n.queue) == 0 {
			n.draining = false
			n.dropping = false
			n.queue = nil
			n.mu.Unlock()
			return
		}
		b.start(n.h.presence.node, n.next)
		k := 0
		for _, e := range n.queue {
			if k > 0 && (b.count >= batchMessages || b.size()+len(e.msg) > batchBytes) {
				break
			}
			k++
			if e.msg != nil {
				b.add(e.id, e.msg)
				n.bytes -= len(e.msg)
			}
		}
		n.next += uint64(b.count)
		n.shiftLocked(k)
		n.mu.Unlock()
		if b.count > 0 {
			n.publishBatch(b.finish(n.keys))
		}
	}
}

// publishBatch publishes one batch, trying again a few times while the
// backplane fails; a batch it gives up on is lost, and the other nodes
// see the gap.
func (n *backplaneNodes) publishBatch(msg []byte) {
	wait := 50 * time.Millisecond
	for try := 1; ; try++ {
		err := n.publishOnce(msg)
		n.mu.Lock()
		closed := n.closed
		if err == nil && n.failing {
			n.failing = false
			n.h.logger.Info("liveflux: backplane publishes again")
		}
		logIt := err != nil && !n.failing && !closed
		if logIt {
			n.failing = true
		}
		n.mu.Unlock()
		if logIt {
			n.h.logger.Error("liveflux: messages not delivered to other nodes; trying again (logged once until it works)", "err", err)
		}
		if err == nil || closed || try == 5 {
			return
		}
		select {
		case <-time.After(wait):
		case <-n.h.ctx.Done():
			return
		}
		wait *= 2
	}
}

// publishOnce publishes one batch, turning a panic into an error.
func (n *backplaneNodes) publishOnce(msg []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			n.h.logger.Error("liveflux: backplane panicked publishing", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("liveflux: backplane panicked: %v", p)
		}
	}()
	return n.bp.Publish(n.h.ctx, nodesChannel, msg)
}

// close stops publishing and waits for the goroutine that publishes.
func (n *backplaneNodes) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.drained.Wait()
}
