// Package bus joins the handlers of one process as the nodes of an
// application, in memory: each node's Subscribe delivers, in order, what
// the others published. The tests of the root package, fluxtest's
// MemoryBackplane and the load program use it.
package bus

import (
	"context"
	"sync"
)

// Bus is what the nodes share.
type Bus struct {
	mu    sync.Mutex
	nodes []*Node
	drop  func(n int, msg []byte) bool
	sent  int
}

// Node is one node's end of the bus: a liveflux.Backplane.
type Node struct {
	b     *Bus
	mu    sync.Mutex
	queue []message
	wake  chan struct{}
}

type message struct {
	channel string
	msg     []byte
}

// New returns a bus with no node yet.
func New() *Bus { return &Bus{} }

// Node returns the backplane of one more node.
func (b *Bus) Node() *Node {
	n := &Node{b: b, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.nodes = append(b.nodes, n)
	b.mu.Unlock()
	return n
}

// Drop makes the bus lose the messages drop says, as Redis pub/sub loses
// what it cannot deliver: n counts the messages published so far, msg is
// the one published now.
func (b *Bus) Drop(drop func(n int, msg []byte) bool) {
	b.mu.Lock()
	b.drop = drop
	b.mu.Unlock()
}

// Sent returns how many messages the nodes published.
func (b *Bus) Sent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent
}

// Inject delivers msg on channel to every node, as if something that is
// not one of them (a forger, a node of another version) had published it.
func (b *Bus) Inject(channel string, msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, o := range b.nodes {
		o.push(message{channel, append([]byte(nil), msg...)})
	}
}

func (n *Node) push(m message) {
	n.mu.Lock()
	n.queue = append(n.queue, m)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Publish queues msg for every other node.
func (n *Node) Publish(_ context.Context, channel string, msg []byte) error {
	b := n.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent++
	if b.drop != nil && b.drop(b.sent, msg) {
		return nil
	}
	for _, o := range b.nodes {
		if o != n {
			o.push(message{channel, append([]byte(nil), msg...)})
		}
	}
	return nil
}

// Subscribe delivers what the other nodes publish until ctx is done.
func (n *Node) Subscribe(ctx context.Context, deliver func(channel string, msg []byte)) error {
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, m := range q {
			deliver(m.channel, m.msg)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		}
	}
}
