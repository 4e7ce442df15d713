package liveflux

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// rendered sends the rendering res, which an action or Refresh produced,
// to every client watching the component: on this node, and through the
// other nodes to theirs. It is the handler's updateSink. (A topic message
// may produce events without a new rendering.)
func (h *WebSocketHandler) rendered(_ context.Context, res result) {
	var streams [][]byte
	if len(res.streams) > 0 {
		streams = encodeStreams(res.id, res.streams, h.writeLimit)
	}
	x := h.hub
	x.mu.RLock()
	if x.closed {
		x.mu.RUnlock()
		return
	}
	var full []byte
	if w := x.clients[res.id]; w != nil {
		w.mu.Lock()
		if res.html != nil {
			full = w.update(res)
		}
		for _, m := range streams {
			w.deliverStream(m, res.origin)
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
	x.mu.RUnlock()
	if !res.local {
		if res.html != nil {
			h.nodes.publishUpdate(res, full)
		}
		for _, m := range streams {
			h.nodes.publish(res.id, m)
		}
	}
}

// deliverStream queues the stream message msg for every watcher that
// speaks the protocol that has them (SubprotocolV2). w.mu is held.
func (w *watchers) deliverStream(msg []byte, origin peer) {
	var msgs [updateKinds][]byte
	msgs[edits] = msg
	w.deliverEach(msgs, origin)
}

// broadcast sends msg to every client watching id, on this node and on the
// others. It reports false when the handler is closed.
func (h *WebSocketHandler) broadcast(id string, msg []byte) bool {
	x := h.hub
	x.mu.RLock()
	if x.closed {
		x.mu.RUnlock()
		return false
	}
	if w := x.clients[id]; w != nil {
		w.mu.Lock()
		w.deliver(msg, nil)
		w.mu.Unlock()
	}
	x.mu.RUnlock()
	h.nodes.publish(id, msg)
	return true
}

// update queues the rendering res for every watcher, unless they were sent
// a newer one: as a diff against the previous rendering, in the form each
// asked for, when every watcher holds that one, else in full. It returns
// the full update message if it encoded one. w.mu is held.
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
	var msgs [updateKinds][]byte
	if w.body != nil && body != nil && res.rev == w.rev+1 {
		if w.kinds[spanDiffs] > 0 {
			msgs[spanDiffs], _ = appendDiffUpdate(nil, res.id, res.rev, w.rev, w.body, body)
		}
		if w.kinds[edits] > 0 {
			msgs[edits], _ = appendEditsUpdate(nil, res.id, res.rev, w.rev, w.body, body)
		}
	}
	for k := range msgs {
		if msgs[k] == nil && w.kinds[k] > 0 {
			msgs[k] = fullUpdate()
		}
	}
	w.deliverEach(msgs, res.origin)
	w.rev, w.body = res.rev, body
	return full
}

// deliverEach queues for every watcher the message of the form it takes
// (none for a form whose message is nil): framed once for all when they
// all take the same, else once for all the watchers of each message.
func (w *watchers) deliverEach(msgs [updateKinds][]byte, origin peer) {
	same := func(a, b []byte) bool { return a != nil && b != nil && &a[0] == &b[0] }
	all, one := true, []byte(nil)
	for k, n := range w.kinds {
		switch {
		case n == 0:
		case msgs[k] == nil:
			all = false
		case one == nil:
			one = msgs[k]
		case !same(one, msgs[k]):
			all = false
		}
	}
	if all {
		if one != nil {
			w.deliver(one, origin)
		}
		return
	}
	var frames [updateKinds]frame
	for k, n := range w.kinds {
		if n == 0 || msgs[k] == nil || frames[k].data != nil {
			continue
		}
		takers := 0 // the watchers of every form that takes this message
		for k2, n2 := range w.kinds {
			if same(msgs[k], msgs[k2]) {
				takers += int(n2)
			}
		}
		f := frameFor(msgs[k], takers)
		for k2 := range w.kinds {
			if same(msgs[k], msgs[k2]) {
				frames[k2] = f
			}
		}
	}
	w.each(func(p peer) {
		if f := frames[p.speaks()]; f.data != nil {
			p.send(f, p != origin)
		}
	})
}

// repliedInFull records that the only watcher of id, p, was sent the
// rendering res in full, so the next update can be a diff against it.
func (h *WebSocketHandler) repliedInFull(p peer, res result) {
	x := h.hub
	x.mu.RLock()
	defer x.mu.RUnlock()
	w := x.clients[res.id]
	if w == nil || w.one != p || len(w.more) > 0 {
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
func (h *WebSocketHandler) publishTopic(msg *TopicMessage) { h.nodes.publishTopic(msg) }

// maxRevisionJump is how far beyond the revision its clients hold a
// rendering from another node may be before this node checks, in the
// store, that the instance has reached that revision: a forged or corrupt
// revision would otherwise make every later rendering look stale here and
// in the browsers.
const maxRevisionJump = 1 << 10

// received handles msg, which another node published on channel: a topic
// message or presence snapshot, or a message for the clients of this node
// watching the component of that ID: a rendering (an update with
// data.html) is sent as this node's own renderings are, diffed against
// what its clients hold; anything else verbatim.
func (h *WebSocketHandler) received(channel string, msg []byte) {
	switch channel {
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
	id := channel
	if len(msg) > h.writeLimit {
		h.logger.Warn("liveflux: message from another node over the write limit dropped", "id", id, "bytes", len(msg), "limit", h.writeLimit)
		return
	}
	res, rendering := decodeRendering(id, msg)
	x := h.hub
	x.mu.RLock()
	w := x.clients[id]
	var held uint64
	if w != nil && rendering {
		w.mu.Lock()
		held = w.rev
		w.mu.Unlock()
	}
	x.mu.RUnlock()
	if w == nil {
		return
	}
	if rendering && held > 0 && res.rev > held+maxRevisionJump && !h.reached(id, res.rev) {
		h.logger.Warn("liveflux: rendering from another node refused: its revision is ahead of the store's", "id", id, "rev", res.rev, "held", held)
		return
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if w = x.clients[id]; w == nil || x.closed {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case rendering:
		w.update(res)
	case bytes.HasPrefix(msg, []byte(`{"type":"`+MessageStream+`",`)):
		w.deliverStream(msg, nil)
	default:
		w.deliver(msg, nil)
	}
}

// reached reports whether the stored instance id has reached revision rev.
func (h *WebSocketHandler) reached(id string, rev uint64) bool {
	c, err := h.store.Get(h.ctx, id)
	return err == nil && revision(c) >= rev
}

// missedFrom brings this node back to the truth after n messages from
// node were lost on their way here: every topic subscriber on this node
// is told (TopicMessage.Missed), since the lost messages could have been
// for any topic, and every component watched here is rendered again for
// its watchers here.
func (h *WebSocketHandler) missedFrom(node string, n uint64) {
	h.logger.Warn("liveflux: messages from another node were lost; topic subscribers are told and watched components rendered again", "node", node, "missed", n)
	h.topics.each(func(l *topicLog) {
		h.appendTo(l, &TopicMessage{Topic: l.name, Data: jsonNull, Missed: int(min(n, 1<<31-1))}, nil)
		h.record(Measure{Kind: MeasureTopicMissed, Topic: l.name, N: int(min(n, 1<<31-1))})
	})
	x := h.hub
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return
	}
	ids := make([]string, 0, len(x.clients))
	for id := range x.clients {
		ids = append(ids, id)
	}
	h.wg.Add(1)
	go h.resync(ids)
}

// resync renders the components ids again for their watchers on this
// node, one after the other.
func (h *WebSocketHandler) resync(ids []string) {
	defer h.wg.Done()
	for _, id := range ids {
		res, err := h.act(h.ctx, actRequest{id: id, server: true, streams: true})
		if err != nil {
			continue // gone meanwhile, or shutting down
		}
		res.local = true
		h.publish(h.ctx, res)
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
	if !ok || !rootOf(html, id) {
		return result{}, false
	}
	return result{id: id, html: html, rev: rev}, true
}

// rootOf reports whether the root element of html is component id's.
func rootOf(html []byte, id string) bool {
	end := bytes.IndexByte(html, '>')
	return end >= 0 && strings.Contains(string(html[:end]), fmt.Sprintf(` %s="%s"`, AttrID, id))
}
