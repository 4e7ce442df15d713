package fluxtest

import (
	"context"
	"sync"

	"github.com/go-liveflux/liveflux"
)

// MemoryBackplane connects the WebSocketHandlers of one test as the nodes
// of an application are connected (liveflux.Backplane), in memory: give
// each handler its own Node, and a shared Store, and clients of every node
// see what any node sends.
//
//	bp := fluxtest.NewMemoryBackplane()
//	store := liveflux.NewMemoryStore()
//	node1 := fluxtest.Serve(t, liveflux.NewWebSocketHandler(store, liveflux.WithWebSocketBackplane(bp.Node())))
//	node2 := fluxtest.Serve(t, liveflux.NewWebSocketHandler(store, liveflux.WithWebSocketBackplane(bp.Node())))
type MemoryBackplane struct {
	mu    sync.Mutex
	nodes map[*memoryNode]bool
}

// NewMemoryBackplane returns a backplane with no node yet.
func NewMemoryBackplane() *MemoryBackplane {
	return &MemoryBackplane{nodes: map[*memoryNode]bool{}}
}

// Node returns the backplane of one more node.
func (b *MemoryBackplane) Node() liveflux.Backplane {
	n := &memoryNode{b: b, wake: make(chan struct{}, 1)}
	b.mu.Lock()
	b.nodes[n] = true
	b.mu.Unlock()
	return n
}

// memoryNode is one node's end: what others publish waits in its queue,
// in order, until its subscription delivers it.
type memoryNode struct {
	b     *MemoryBackplane
	mu    sync.Mutex
	queue []published
	wake  chan struct{}
}

type published struct {
	id  string
	msg []byte
}

var _ liveflux.Backplane = (*memoryNode)(nil)

// Publish queues msg for every other node.
func (n *memoryNode) Publish(ctx context.Context, componentID string, msg []byte) error {
	msg = append([]byte(nil), msg...)
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	for o := range n.b.nodes {
		if o == n {
			continue
		}
		o.mu.Lock()
		o.queue = append(o.queue, published{componentID, msg})
		o.mu.Unlock()
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Subscribe delivers what the other nodes publish until ctx is done.
func (n *memoryNode) Subscribe(ctx context.Context, deliver func(componentID string, msg []byte)) error {
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, p := range q {
			deliver(p.id, p.msg)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.wake:
		}
	}
}
