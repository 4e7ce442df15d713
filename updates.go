package liveflux

import (
	"bytes"
	"context"
	"encoding/json"
)

// rendered sends the rendering res, which an action or Refresh produced,
// to every client watching the component: on this node, and through the
// other nodes to theirs. It is the handler's updateSink. (A topic message
// may produce events without a new rendering.)
func (h *WebSocketHandler) rendered(_ context.Context, res result) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return
	}
	var full []byte
	if w := h.clients[res.id]; w != nil {
		w.mu.Lock()
		if res.html != nil {
			full = w.update(res)
		}
		if res.topic {
			// Events a topic message made the component emit go to
			// every page that shows it.
			for _, e := range res.events {
				w.deliver(encodeEvent(res.id, e), nil)
			}
		}
		w.mu.Unlock()
	}
	if res.html != nil {
		h.nodes.publishUpdate(res, full)
	}
}

// broadcast sends msg to every client watching id, on this node and on the
// others. It reports false when the handler is closed.
func (h *WebSocketHandler) broadcast(id string, msg []byte) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return false
	}
	if w := h.clients[id]; w != nil {
		w.mu.Lock()
		w.deliver(msg, nil)
		w.mu.Unlock()
	}
	h.nodes.publish(id, msg)
	return true
}

// update queues the rendering res for every watcher, unless they were sent
// a newer one: as a diff against the previous rendering to those that ask
// for diffs when every watcher holds that one, else in full. It returns the
// full update message if it encoded one. w.mu is held.
func (w *watchers) update(res result) (full []byte) {
	fullUpdate := func() []byte {
		if full == nil {
			full = encodeUpdate(res.id, res.html)
		}
		return full
	}
	if res.rev == 0 { // a component without Base: no revisions, no diffs
		w.deliver(fullUpdate(), res.origin)
		return full
	}
	if res.rev <= w.rev {
		return nil
	}
	body := rootBody(res.html)
	var diff []byte
	if w.body != nil && body != nil && res.rev == w.rev+1 && w.diffs > 0 {
		diff, _ = appendDiffUpdate(nil, res.id, res.rev, w.rev, w.body, body)
	}
	w.deliverEach(diff, fullUpdate, res.origin)
	w.rev, w.body = res.rev, body
	return full
}

// repliedInFull records that the only watcher of id, c, was sent the rendering
// res in full, so the next update can be a diff against it.
func (h *WebSocketHandler) repliedInFull(c *wsConn, res result) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	w := h.clients[res.id]
	if w == nil || w.one != c || len(w.more) > 0 {
		return
	}
	w.mu.Lock()
	if res.rev > w.rev {
		w.rev, w.body = res.rev, rootBody(res.html)
	}
	w.mu.Unlock()
}

// publishTopic hands msg, a topic message published on this node, to the
// other nodes.
func (h *WebSocketHandler) publishTopic(msg *TopicMessage) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.closed {
		h.nodes.publishTopic(msg)
	}
}

// received handles msg, which another node published on the channel id:
// a topic message or presence snapshot, or a message for the clients of
// this node watching component id: a rendering (an update with data.html)
// is sent as this node's own renderings are, diffed against what its
// clients hold; anything else verbatim.
func (h *WebSocketHandler) received(id string, msg []byte) {
	switch id {
	case topicChannel:
		h.receivedTopic(msg)
		return
	case presenceChannel:
		var s presenceSnapshot
		if err := json.Unmarshal(msg, &s); err == nil {
			h.presence.receivedSnapshot(s)
		}
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	w := h.clients[id]
	if w == nil || h.closed {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if res, ok := decodeRendering(id, msg); ok {
		w.update(res)
	} else {
		w.deliver(msg, nil)
	}
}

// decodeRendering returns the rendering an update message of component id
// carries in full, or false when msg is something else.
func decodeRendering(id string, msg []byte) (result, bool) {
	if !bytes.HasPrefix(msg, []byte(`{"type":"update",`)) {
		return result{}, false
	}
	var m struct {
		ComponentID string `json:"componentID"`
		Data        struct {
			HTML *string `json:"html"`
		} `json:"data"`
	}
	if json.Unmarshal(msg, &m) != nil || m.ComponentID != id || m.Data.HTML == nil {
		return result{}, false
	}
	html := []byte(*m.Data.HTML)
	rev, ok := rootRevision(html)
	if !ok {
		return result{}, false
	}
	return result{id: id, html: html, rev: rev}, true
}

// preparedFrom is the number of watchers from which a message is framed
// once for all (which costs a buffer) instead of once per connection.
const preparedFrom = 4

// deliverEach queues an update for every watcher: diff (unless nil) for
// those that asked for diffs, the full update for the others.
func (w *watchers) deliverEach(diff []byte, full func() []byte, origin *wsConn) {
	switch {
	case diff == nil:
		w.deliver(full(), origin)
	case w.diffs == w.len():
		w.deliver(diff, origin)
	default:
		d, f := w.frame(diff), w.frame(full())
		w.each(func(c *wsConn) {
			if c.diffs {
				c.enqueue(d, c != origin)
			} else {
				c.enqueue(f, c != origin)
			}
		})
	}
}
