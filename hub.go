package liveflux

import (
	"slices"
	"sync"
)

// hub is who watches which component on this node: the peers watching
// each component ID, and the IDs each peer watches. It knows peers only
// through the peer interface.
type hub struct {
	h *WebSocketHandler // its presence lists and Watching hook

	mu      sync.RWMutex
	clients map[string]*watchers // component ID → its watchers
	peers   map[peer][]string    // peer → the IDs it watches
	closed  bool                 // Shutdown: nothing more is sent
}

func newHub(h *WebSocketHandler) *hub {
	return &hub{h: h, clients: make(map[string]*watchers), peers: make(map[peer][]string)}
}

// Watched returns the IDs of the components at least one client watches.
func (h *WebSocketHandler) Watched() []string {
	h.hub.mu.RLock()
	defer h.hub.mu.RUnlock()
	ids := make([]string, 0, len(h.hub.clients))
	for id := range h.hub.clients {
		ids = append(ids, id)
	}
	return ids
}

// watchers are the peers watching one component, and the last rendering
// they were all sent, against which the next one is diffed.
type watchers struct {
	// The watching peers, guarded by hub.mu. Most components have one
	// watcher: it needs no map.
	one  peer
	more map[peer]struct{}

	kinds  [updateKinds]int32 // how many of them take each form of update; guarded like them
	hook   bool               // the component is a WatchComponent
	tracks []tracking         // the presence lists it is in while watched
	quota  string             // whose presence share its entries take (see presence.go)

	mu   sync.Mutex // orders updates; taken under hub.mu (read)
	rev  uint64     // revision of body; 0: none
	body []byte     // body of the last rendering sent to every watcher
}

// deliver queues msg for every watcher. The acting peer, origin (if any),
// sends it itself once its message is handled; the others are kicked.
func (w *watchers) deliver(msg []byte, origin peer) {
	f := frameFor(msg, w.len())
	w.each(func(p peer) { p.send(f, p != origin) })
}

func (w *watchers) each(fn func(peer)) {
	if w.one != nil {
		fn(w.one)
	}
	for p := range w.more {
		fn(p)
	}
}

func (w *watchers) len() int {
	if w.one == nil {
		return 0
	}
	return 1 + len(w.more)
}

func (w *watchers) has(p peer) bool {
	_, ok := w.more[p]
	return ok || w.one == p
}

func (w *watchers) add(p peer) {
	w.kinds[p.speaks()]++
	switch {
	case w.one == nil:
		w.one = p
	case w.more == nil:
		w.more = map[peer]struct{}{p: {}}
	default:
		w.more[p] = struct{}{}
	}
}

// remove forgets p and reports whether no watcher is left.
func (w *watchers) remove(p peer) (empty bool) {
	if !w.has(p) {
		return w.one == nil
	}
	w.kinds[p.speaks()]--
	if w.one == p {
		w.one = nil
		for other := range w.more { // promote one
			w.one = other
			delete(w.more, other)
			break
		}
	} else {
		delete(w.more, p)
	}
	return w.one == nil
}

// watch records that p watches c. It reports false when p watches too
// many components already.
func (x *hub) watch(p peer, c Component) bool {
	id := c.GetID()
	x.mu.Lock()
	w := x.clients[id]
	if w != nil && w.has(p) {
		x.mu.Unlock()
		return true
	}
	if len(x.peers[p]) >= x.h.maxWatched {
		x.mu.Unlock()
		return false
	}
	first := w == nil
	if first {
		_, hook := c.(WatchComponent)
		w = &watchers{hook: hook, tracks: tracksOf(c), quota: quotaOf(c)}
		x.clients[id] = w
		// Recorded under the lock, so that the joins and leaves of one
		// instance are recorded in the order they happen.
		x.h.presence.watched(id, w.quota, w.tracks, true)
	}
	w.add(p)
	x.peers[p] = append(x.peers[p], id)
	x.mu.Unlock()
	if first && w.hook {
		x.h.watchedChanged(id, true)
	}
	return true
}

// unwatch forgets that p watches id.
func (x *hub) unwatch(p peer, id string) {
	x.mu.Lock()
	gone := x.unwatchLocked(p, id)
	x.untrackLocked(p, id)
	x.mu.Unlock()
	if gone != nil && gone.hook {
		x.h.watchedChanged(id, false)
	}
}

// unwatchLocked forgets that p watches id and, when p was its last
// watcher, takes id out of its presence lists and returns its watchers.
func (x *hub) unwatchLocked(p peer, id string) (gone *watchers) {
	w := x.clients[id]
	if w == nil || !w.has(p) {
		return nil
	}
	if !w.remove(p) {
		return nil
	}
	delete(x.clients, id)
	x.h.presence.watched(id, w.quota, w.tracks, false)
	return w
}

// forget removes a peer that went away from every component it watched.
func (x *hub) forget(p peer) {
	x.mu.Lock()
	var hooked []string
	for _, id := range x.peers[p] {
		if w := x.unwatchLocked(p, id); w != nil && w.hook {
			hooked = append(hooked, id)
		}
	}
	delete(x.peers, p)
	x.mu.Unlock()
	for _, id := range hooked {
		x.h.watchedChanged(id, false)
	}
}

// gone forgets the watchers of instance id, which the store no longer has,
// and takes it out of its presence lists. (Its clients learn that it is
// gone when they next act on it, and mount it again.)
func (h *WebSocketHandler) gone(id string) {
	x := h.hub
	x.mu.Lock()
	defer x.mu.Unlock()
	w := x.clients[id]
	if w == nil {
		return
	}
	delete(x.clients, id)
	w.each(func(p peer) { x.untrackLocked(p, id) })
	x.h.presence.watched(id, w.quota, w.tracks, false)
}

// untrackLocked takes id out of what p watches; x.mu is held.
func (x *hub) untrackLocked(p peer, id string) {
	ids := x.peers[p]
	if i := slices.Index(ids, id); i >= 0 {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(x.peers, p)
	} else {
		x.peers[p] = ids
	}
}

// watched reports whether a client of this node watches instance id, or,
// with a backplane, whether one may anywhere: the other nodes' clients are
// not known here.
func (h *WebSocketHandler) watched(id string) bool {
	if h.backplane != nil {
		return true
	}
	h.hub.mu.RLock()
	defer h.hub.mu.RUnlock()
	return h.hub.clients[id] != nil
}

// close stops every delivery: nobody is sent anything more.
func (x *hub) close() {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
}

// clear forgets every watcher at once (Shutdown past its deadline).
func (x *hub) clear() {
	x.mu.Lock()
	clear(x.clients)
	clear(x.peers)
	x.mu.Unlock()
}
