package liveflux

import (
	"context"
	"fmt"
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
	// ask for diffs. It should return
	// promptly; an error is reported to the caller of Broadcast or logged.
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

// startBackplane subscribes to the other nodes' messages until Shutdown.
func (h *WebSocketHandler) startBackplane() {
	if h.backplane == nil {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		err := h.backplane.Subscribe(h.ctx, func(id string, msg []byte) { h.fanout(id, msg) })
		if err != nil && h.ctx.Err() == nil {
			h.logger.Error("liveflux: backplane subscription ended", "err", err)
		}
	}()
}

// deliver sends msg to the watchers of id in this process and, through the
// backplane, on every other node.
func (h *WebSocketHandler) deliver(ctx context.Context, id string, msg []byte) error {
	if !h.fanout(id, msg) {
		return ErrClosed
	}
	if h.backplane != nil {
		if err := h.backplane.Publish(ctx, id, msg); err != nil {
			return fmt.Errorf("liveflux: backplane publish: %w", err)
		}
	}
	return nil
}
