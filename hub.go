package liveflux

import (
	"sync"

	"github.com/gorilla/websocket"
)

// Watched returns the IDs of the components at least one client watches.
func (h *WebSocketHandler) Watched() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]string, 0, len(h.clients))
	for id := range h.clients {
		ids = append(ids, id)
	}
	return ids
}

// watchers are the connections watching one component, and the last
// rendering they were all sent, against which the next one is diffed.
type watchers struct {
	// The watching connections, guarded by WebSocketHandler.mu. Most
	// components have one watcher: it needs no map.
	one  *wsConn
	more map[*wsConn]struct{}

	diffs  int        // how many of them asked for diff updates; guarded like them
	hook   bool       // the component is a WatchComponent
	tracks []tracking // the presence lists it is in while watched

	mu   sync.Mutex // orders updates; taken under WebSocketHandler.mu (read)
	rev  uint64     // revision of body; 0: none
	body []byte     // body of the last rendering sent to every watcher
}

// frame makes msg ready to be queued for every watcher.
func (w *watchers) frame(msg []byte) outMsg {
	if len(w.more)+1 >= preparedFrom {
		if pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg); err == nil {
			return outMsg{pm: pm}
		}
	}
	return outMsg{data: msg}
}

// deliver queues msg for every watcher. The acting connection, origin (if
// any), writes it itself once its handler is done; the others' writers are
// started.
func (w *watchers) deliver(msg []byte, origin *wsConn) {
	m := w.frame(msg)
	w.each(func(c *wsConn) { c.enqueue(m, c != origin) })
}

func (w *watchers) each(fn func(*wsConn)) {
	if w.one != nil {
		fn(w.one)
	}
	for c := range w.more {
		fn(c)
	}
}

func (w *watchers) len() int {
	if w.one == nil {
		return 0
	}
	return 1 + len(w.more)
}

func (w *watchers) has(c *wsConn) bool {
	_, ok := w.more[c]
	return ok || w.one == c
}

func (w *watchers) add(c *wsConn) {
	if c.diffs {
		w.diffs++
	}
	switch {
	case w.one == nil:
		w.one = c
	case w.more == nil:
		w.more = map[*wsConn]struct{}{c: {}}
	default:
		w.more[c] = struct{}{}
	}
}

// remove forgets c and reports whether no watcher is left.
func (w *watchers) remove(c *wsConn) (empty bool) {
	if !w.has(c) {
		return w.one == nil
	}
	if c.diffs {
		w.diffs--
	}
	if w.one == c {
		w.one = nil
		for other := range w.more { // promote one
			w.one = other
			delete(w.more, other)
			break
		}
	} else {
		delete(w.more, c)
	}
	return w.one == nil
}

// watch records that c watches id. It reports false when c watches too
// many components already.
func (h *WebSocketHandler) watch(c *wsConn, id string, hook bool, tracks []tracking) bool {
	h.mu.Lock()
	w := h.clients[id]
	if w != nil && w.has(c) {
		h.mu.Unlock()
		return true
	}
	if len(c.watched) >= h.maxWatched {
		h.mu.Unlock()
		return false
	}
	first := w == nil
	var joins []topicChange
	if first {
		w = &watchers{hook: hook, tracks: tracks}
		h.clients[id] = w
		joins = h.presence.watched(id, tracks, true)
	}
	w.add(c)
	c.watched = append(c.watched, id)
	h.mu.Unlock()
	if first {
		h.presence.announceAll(joins)
		if hook {
			h.watchedChanged(id, true)
		}
	}
	return true
}

// unwatch forgets that c watches id.
func (h *WebSocketHandler) unwatch(c *wsConn, id string) {
	h.mu.Lock()
	var leaves []topicChange
	gone := h.unwatchLocked(c, id)
	if gone != nil {
		leaves = h.presence.watched(id, gone.tracks, false)
	}
	for i, w := range c.watched {
		if w == id {
			c.watched = append(c.watched[:i], c.watched[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
	if gone != nil {
		h.lastWatcherGone(id, gone, leaves)
	}
}

// lastWatcherGone runs when the last client of this node watching id
// stopped: id leaves its presence lists, and its Watching hook is queued.
func (h *WebSocketHandler) lastWatcherGone(id string, w *watchers, leaves []topicChange) {
	h.presence.announceAll(leaves)
	if w.hook {
		h.watchedChanged(id, false)
	}
}

// unwatchLocked forgets that c watches id and, when c was its last
// watcher, returns the watchers of id that are now gone.
func (h *WebSocketHandler) unwatchLocked(c *wsConn, id string) (gone *watchers) {
	w := h.clients[id]
	if w == nil || !w.has(c) {
		return nil
	}
	if w.remove(c) {
		delete(h.clients, id)
		return w
	}
	return nil
}

// forget removes a closed connection from every map.
func (h *WebSocketHandler) forget(c *wsConn) {
	h.mu.Lock()
	type left struct {
		id     string
		w      *watchers
		leaves []topicChange
	}
	var unwatched []left
	for _, id := range c.watched {
		if w := h.unwatchLocked(c, id); w != nil {
			unwatched = append(unwatched, left{id, w, h.presence.watched(id, w.tracks, false)})
		}
	}
	c.watched = nil
	delete(h.conns, c)
	h.mu.Unlock()
	for _, l := range unwatched {
		h.lastWatcherGone(l.id, l.w, l.leaves)
	}
}
