package fluxtest

import (
	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/bus"
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
type MemoryBackplane struct{ bus *bus.Bus }

// NewMemoryBackplane returns a backplane with no node yet.
func NewMemoryBackplane() *MemoryBackplane { return &MemoryBackplane{bus: bus.New()} }

// Node returns the backplane of one more node.
func (b *MemoryBackplane) Node() liveflux.Backplane { return b.bus.Node() }
