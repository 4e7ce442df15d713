package main

import (
	"context"
	"sync"

	"github.com/go-liveflux/liveflux"
)

// memoryBackplane joins two handlers of the server process as two nodes of
// one application: each node's Subscribe delivers, in order, what the other
// published. Phase 10 publishes on one and watches the other; the handler
// of every other phase has no backplane.
type memoryBackplane struct {
	mu    sync.Mutex
	nodes []*memoryNode
}

type memoryNode struct {
	b     *memoryBackplane
	mu    sync.Mutex
	queue [][2]string // channel, message
	wake  chan struct{}
}

func (b *memoryBackplane) node() *memoryNode {
	n := &memoryNode{b: b, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.nodes = append(b.nodes, n)
	b.mu.Unlock()
	return n
}

func (n *memoryNode) Publish(_ context.Context, channel string, msg []byte) error {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	for _, o := range n.b.nodes {
		if o == n {
			continue
		}
		o.mu.Lock()
		o.queue = append(o.queue, [2]string{channel, string(msg)})
		o.mu.Unlock()
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

func (n *memoryNode) Subscribe(ctx context.Context, deliver func(string, []byte)) error {
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, m := range q {
			deliver(m[0], []byte(m[1]))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		}
	}
}

var _ liveflux.Backplane = (*memoryNode)(nil)
