package liveflux

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// PresenceEntry is one instance in a topic's presence list.
type PresenceEntry struct {
	// ID is the instance's component ID.
	ID string `json:"id"`
	// Meta is what Track was given, as JSON.
	Meta json.RawMessage `json:"meta"`
	// Node names the process whose clients watch the instance.
	Node string `json:"node"`
}

// PresenceChange says who left and who joined a topic's presence list
// since the subscriber's last presence message. Apply Leaves first, then
// Joins: an instance that left and came back is in both, one that came
// and went meanwhile in neither.
type PresenceChange struct {
	Joins  []PresenceEntry `json:"joins,omitempty"`
	Leaves []PresenceEntry `json:"leaves,omitempty"`
}

// presenceKey identifies an entry: one instance may be watched, and so be
// present, on several nodes.
type presenceKey struct{ node, id string }

func keyOf(e PresenceEntry) presenceKey { return presenceKey{e.Node, e.ID} }

// join records that e joined after what c says; joins locates c's joins.
func (c *PresenceChange) join(e PresenceEntry, joins map[presenceKey]int) {
	k := keyOf(e)
	if i, ok := joins[k]; ok {
		c.Joins[i] = e
		return
	}
	joins[k] = len(c.Joins)
	c.Joins = append(c.Joins, e)
}

// leave records that e left after what c says: a join in c cancels out.
func (c *PresenceChange) leave(e PresenceEntry, joins map[presenceKey]int) {
	k := keyOf(e)
	i, ok := joins[k]
	if !ok {
		c.Leaves = append(c.Leaves, e)
		return
	}
	last := len(c.Joins) - 1
	if i != last {
		c.Joins[i] = c.Joins[last]
		joins[keyOf(c.Joins[i])] = i
	}
	c.Joins[last] = PresenceEntry{}
	c.Joins = c.Joins[:last]
	delete(joins, k)
}

// mergePresence returns one change saying what the changes say in turn.
// They are shared between subscribers: none is changed.
func mergePresence(changes []*PresenceChange) *PresenceChange {
	out := &PresenceChange{}
	joins := make(map[presenceKey]int)
	for _, c := range changes {
		for _, e := range c.Leaves {
			out.leave(e, joins)
		}
		for _, e := range c.Joins {
			out.join(e, joins)
		}
	}
	return out
}

// Defaults of the presence lists' caps.
const (
	// DefaultMaxPresencePerTopic is how many entries one presence list may
	// hold, on every node together (see WithMaxPresencePerTopic).
	DefaultMaxPresencePerTopic = 100_000
	// DefaultMaxPresencePerSession is how many entries the instances of
	// one session, or of one client address without a session, may hold
	// in presence lists on one node (see WithMaxPresencePerSession): as
	// many as the instances a session keeps in a MemoryStore by default.
	DefaultMaxPresencePerSession = DefaultMaxInstancesPerSession
)

// ErrPresenceFull is returned by Track when the topic's presence list, or
// the presence share of the instance's session, is full (see
// WithMaxPresencePerTopic and WithMaxPresencePerSession). An instance that
// finds it full only when a client starts watching it stays out of the
// list, and the handler logs so, once until there is room again.
var ErrPresenceFull = errors.New("liveflux: presence list full")

// WithMaxPresencePerTopic caps the entries of one presence list, on every
// node together; Track returns ErrPresenceFull past it. Defaults to
// DefaultMaxPresencePerTopic.
func WithMaxPresencePerTopic(n int) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.presence.maxPerTopic = n
		}
	}
}

// WithMaxPresencePerSession caps the presence entries the instances of one
// session (WithSessionKey), or of one client address without a session,
// hold on this node, in every topic together; Track returns
// ErrPresenceFull past it. Defaults to DefaultMaxPresencePerSession.
func WithMaxPresencePerSession(n int) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.presence.maxPerSession = n
		}
	}
}

// DefaultPresenceInterval is how often a node tells the others, through the
// backplane, who is present on it; a node not heard from for three
// intervals is taken for dead and its entries leave.
const DefaultPresenceInterval = 5 * time.Second

// Track puts the instance whose method ctx was given to (call it from
// Mount) in the presence list of topic, with meta encoded as JSON, for as
// long as a client watches it: it joins when the first client starts
// watching it (over WebSocket) and leaves when the last one stops, whether
// the page left, closed, or its connection was dropped after the pong wait,
// or when the instance expires. The topic's subscribers are told in
// HandleTopic, with a TopicMessage whose Presence says who joined and who
// left since their last one: changes that come while a subscriber is busy
// are merged into one message. Presence returns the list, merged from
// every node. Track returns ErrPresenceFull when the list, or the share of
// the instance's session, is full.
func Track(ctx context.Context, topic string, meta any) error {
	sc := scopeOf(ctx)
	if sc == nil {
		return ErrNoScope
	}
	if topic == "" {
		return errors.New("liveflux: empty topic")
	}
	b, ok := sc.c.(baser)
	if !ok {
		return fmt.Errorf("liveflux: kind %q: Track needs a component embedding liveflux.Base", sc.c.GetKind())
	}
	m, err := encodeJSON(meta)
	if err != nil {
		return fmt.Errorf("liveflux: track %s: %w", topic, err)
	}
	base := b.base()
	for i := range base.tracks {
		if base.tracks[i].Topic == topic {
			base.tracks[i].Meta = m
			return nil
		}
	}
	if err := sc.h.presence.room(topic, base.quota); err != nil {
		return err
	}
	base.tracks = append(base.tracks, tracking{Topic: topic, Meta: m})
	return nil
}

// tracksOf returns the presence lists c asked to be in (see Track).
func tracksOf(c Component) []tracking {
	if b, ok := c.(baser); ok {
		return b.base().tracks
	}
	return nil
}

// Presence returns the presence list of topic on every node, sorted by
// meta and then ID, as a copy of its own. The sorted list is kept until
// the list changes.
func (h *Handler) Presence(topic string) []PresenceEntry { return h.presence.list(topic) }

// Present is an entry of a presence list with its meta decoded (see
// PresenceOf).
type Present[T any] struct {
	ID   string // the instance's component ID
	Node string // the process whose clients watch it
	Meta T      // what Track was given, decoded
}

// PresenceOf returns the presence list of topic, sorted as Presence sorts
// it, with each entry's meta decoded into a T as json.Unmarshal does. The
// decoded list is kept until the list changes, so that the subscribers
// that all render who is online after a change decode it once, not once
// each: the slice is a copy, but what the T values point to (maps,
// slices, pointers) is shared, and must not be changed.
func PresenceOf[T any](h *Handler, topic string) ([]Present[T], error) {
	t := h.presence.get(topic)
	if t == nil {
		return []Present[T]{}, nil
	}
	key := reflect.TypeFor[T]()
	t.mu.Lock()
	d, _ := t.decoded[key].(*decodedList[T])
	if d == nil {
		d = &decodedList[T]{}
		if t.decoded == nil {
			t.decoded = make(map[reflect.Type]any)
		}
		t.decoded[key] = d
	}
	if d.list != nil && d.version == t.version {
		list := d.list
		t.mu.Unlock()
		return slices.Clone(list), nil
	}
	sorted, version := t.sortedLocked(), t.version
	oldRaw, oldList := d.raw, d.list
	t.mu.Unlock()
	// The list is made without the topic's lock, which joins and leaves
	// take: neither the sorted list nor the last decoded one is changed
	// once made. Both are sorted alike, so one pass finds the entries
	// decoded before (same instance, node and meta) and decodes the others.
	// Decoding runs user code (an UnmarshalJSON): no lock is held.
	out := make([]Present[T], len(sorted))
	i := 0
	for j, e := range sorted {
		out[j].ID, out[j].Node = e.ID, e.Node
		c := -1
		for ; i < len(oldRaw); i++ {
			if c = compareEntries(oldRaw[i], e); c >= 0 {
				break
			}
		}
		if c == 0 {
			out[j].Meta = oldList[i].Meta
			continue
		}
		if err := json.Unmarshal(e.Meta, &out[j].Meta); err != nil {
			return nil, fmt.Errorf("liveflux: presence of %s: meta of %s: %w", topic, e.ID, err)
		}
	}
	t.mu.Lock()
	if d.list == nil || version > d.version {
		d.raw, d.list, d.version = sorted, out, version
	}
	t.mu.Unlock()
	return slices.Clone(out), nil
}

// PresenceCount returns how many are in the presence list of topic, on
// every node, without copying it.
func (h *Handler) PresenceCount(topic string) int { return h.presence.count(topic) }

// presence keeps the presence lists: who is present on this node, and
// what the other nodes said is present on theirs. (The lists an instance
// asked to be in live in its Base: see Track.) Each topic has a lock of
// its own; changes reach the subscribers through the topic's log.
type presence struct {
	h             *Handler
	node          string // this node's name
	maxPerTopic   int
	maxPerSession int

	mu       sync.Mutex
	topics   map[string]*presenceTopic
	remote   map[string]*remoteNode // node → when it was last heard, and where it is present
	sessions map[string]int         // quota key → its entries on this node
	capped   map[string]bool        // caps hit and logged, until there is room again
}

// presenceTopic is one topic's presence list.
type presenceTopic struct {
	mu     sync.Mutex
	local  map[string]PresenceEntry            // instance ID → entry, on this node
	remote map[string]map[string]PresenceEntry // node → instance ID → entry
	count  int
	// sorted is the list, sorted (nil until first asked for); adds and
	// dels are what changed since it was made: list merges them in, at a
	// cost proportional to the list, not a sort of it.
	sorted []PresenceEntry
	adds   []PresenceEntry
	addAt  map[presenceKey]int // index in adds
	dels   map[presenceKey]bool
	// version counts the changes; decoded holds, by type of meta, what
	// PresenceOf decoded (a *decodedList[T]).
	version uint64
	decoded map[reflect.Type]any
}

// decodedList is topic's list as PresenceOf decoded it into T: the list as
// of version, and the sorted entries it was decoded from, so that the
// next list decodes only what joined since.
type decodedList[T any] struct {
	version uint64
	raw     []PresenceEntry // the topic's sorted list of that version (never changed)
	list    []Present[T]    // nil: none made yet
}

// put adds e to es, one of t's entry maps, or replaces the entry of its
// instance there.
func (t *presenceTopic) put(es map[string]PresenceEntry, e PresenceEntry) {
	t.version++
	if old, ok := es[e.ID]; ok {
		t.unlist(old)
	} else {
		t.count++
	}
	es[e.ID] = e
	t.list(e)
}

// drop removes instance id from es, one of t's entry maps, and returns its
// entry.
func (t *presenceTopic) drop(es map[string]PresenceEntry, id string) (PresenceEntry, bool) {
	e, ok := es[id]
	if ok {
		t.version++
		delete(es, id)
		t.count--
		t.unlist(e)
	}
	return e, ok
}

// list records that e joined, for the sorted list.
func (t *presenceTopic) list(e PresenceEntry) {
	if t.sorted == nil {
		return
	}
	if t.addAt == nil {
		t.addAt, t.dels = make(map[presenceKey]int), make(map[presenceKey]bool)
	}
	t.addAt[keyOf(e)] = len(t.adds)
	t.adds = append(t.adds, e)
}

// unlist records that e left, for the sorted list.
func (t *presenceTopic) unlist(e PresenceEntry) {
	if t.sorted == nil {
		return
	}
	k := keyOf(e)
	if i, ok := t.addAt[k]; ok { // joined since: it was never in sorted
		last := len(t.adds) - 1
		t.adds[i] = t.adds[last]
		t.addAt[keyOf(t.adds[i])] = i
		t.adds[last] = PresenceEntry{}
		t.adds = t.adds[:last]
		delete(t.addAt, k)
		return
	}
	if t.dels == nil {
		t.addAt, t.dels = make(map[presenceKey]int), make(map[presenceKey]bool)
	}
	t.dels[k] = true
}

// sortedLocked returns the list, sorted; t.mu is held. It is made anew
// from the entries the first time, and later from the last one and what
// changed since.
func (t *presenceTopic) sortedLocked() []PresenceEntry {
	switch {
	case t.sorted == nil:
		out := make([]PresenceEntry, 0, t.count)
		for _, e := range t.local {
			out = append(out, e)
		}
		for _, es := range t.remote {
			for _, e := range es {
				out = append(out, e)
			}
		}
		slices.SortFunc(out, compareEntries)
		t.sorted = out
	case len(t.adds)+len(t.dels) > 0:
		slices.SortFunc(t.adds, compareEntries)
		out := make([]PresenceEntry, 0, t.count)
		adds := t.adds
		for _, e := range t.sorted {
			if t.dels[keyOf(e)] {
				continue
			}
			for len(adds) > 0 && compareEntries(adds[0], e) < 0 {
				out, adds = append(out, adds[0]), adds[1:]
			}
			out = append(out, e)
		}
		t.sorted = append(out, adds...)
		clear(t.adds)
		t.adds = t.adds[:0]
		clear(t.addAt)
		clear(t.dels)
	}
	return t.sorted
}

// compareEntries orders a presence list: by meta, then ID, then node.
func compareEntries(a, b PresenceEntry) int {
	if c := bytes.Compare(a.Meta, b.Meta); c != 0 {
		return c
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return strings.Compare(a.Node, b.Node)
}

type remoteNode struct {
	heard  time.Time
	topics map[string]bool // where it has entries
}

// tracking is one presence list an instance asked to be in; Base keeps
// them (and the codec stores them).
type tracking struct {
	Topic string          `json:"topic"`
	Meta  json.RawMessage `json:"meta"`
}

func newPresence(h *Handler) *presence {
	return &presence{
		h:             h,
		node:          strings.ToLower(rand.Text()[:10]),
		maxPerTopic:   DefaultMaxPresencePerTopic,
		maxPerSession: DefaultMaxPresencePerSession,
		topics:        make(map[string]*presenceTopic),
		remote:        make(map[string]*remoteNode),
		sessions:      make(map[string]int),
		capped:        make(map[string]bool),
	}
}

// topic returns topic's list, made when create. p.mu is held.
func (p *presence) topicLocked(topic string, create bool) *presenceTopic {
	t := p.topics[topic]
	if t == nil && create {
		t = &presenceTopic{local: make(map[string]PresenceEntry), remote: make(map[string]map[string]PresenceEntry)}
		p.topics[topic] = t
	}
	return t
}

func (p *presence) get(topic string) *presenceTopic {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.topics[topic]
}

// room returns ErrPresenceFull when topic's list, or quota's share, is
// full.
func (p *presence) room(topic, quota string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if quota != "" && p.sessions[quota] >= p.maxPerSession {
		return fmt.Errorf("%w: %d entries of one session", ErrPresenceFull, p.maxPerSession)
	}
	if t := p.topics[topic]; t != nil {
		t.mu.Lock()
		n := t.count
		t.mu.Unlock()
		if n >= p.maxPerTopic {
			return fmt.Errorf("%w: %s has %d entries", ErrPresenceFull, topic, n)
		}
	}
	return nil
}

// watched records that the first client started watching instance id on
// this node (on), or that the last one stopped, and announces the joins or
// leaves that makes in the lists tracks. quota is whose share the entries
// take. The hub calls it under its lock, so that the changes of one
// instance are recorded in the order they happen.
func (p *presence) watched(id, quota string, tracks []tracking, on bool) {
	if len(tracks) == 0 {
		return
	}
	var changes []topicChange
	p.mu.Lock()
	for _, tr := range tracks {
		e := PresenceEntry{ID: id, Meta: tr.Meta, Node: p.node}
		if on {
			if !p.admitLocked(tr.Topic, quota) {
				continue
			}
			t := p.topicLocked(tr.Topic, true)
			t.mu.Lock()
			if _, ok := t.local[id]; !ok && quota != "" {
				p.sessions[quota]++
			}
			t.put(t.local, e)
			t.mu.Unlock()
			changes = append(changes, topicChange{tr.Topic, PresenceChange{Joins: []PresenceEntry{e}}})
			continue
		}
		t := p.topicLocked(tr.Topic, false)
		if t == nil {
			continue
		}
		t.mu.Lock()
		_, ok := t.drop(t.local, id)
		empty := t.count == 0
		t.mu.Unlock()
		if !ok {
			continue
		}
		if quota != "" {
			if p.sessions[quota]--; p.sessions[quota] <= 0 {
				delete(p.sessions, quota)
			}
		}
		delete(p.capped, "topic:"+tr.Topic)
		delete(p.capped, "session:"+quota)
		if empty {
			delete(p.topics, tr.Topic)
		}
		changes = append(changes, topicChange{tr.Topic, PresenceChange{Leaves: []PresenceEntry{e}}})
	}
	p.mu.Unlock()
	for _, c := range changes {
		p.announce(c.topic, c.change, true)
	}
}

// admitLocked reports whether one more entry of quota fits topic's list,
// and logs, once until there is room again, when it does not.
func (p *presence) admitLocked(topic, quota string) bool {
	why, key := "", ""
	if t := p.topics[topic]; t != nil {
		t.mu.Lock()
		full := t.count >= p.maxPerTopic
		t.mu.Unlock()
		if full {
			why, key = "the topic's list is full", "topic:"+topic
		}
	}
	if why == "" && quota != "" && p.sessions[quota] >= p.maxPerSession {
		why, key = "the session's share is full", "session:"+quota
	}
	if why == "" {
		return true
	}
	if !p.capped[key] {
		p.capped[key] = true
		p.h.logger.Warn("liveflux: presence entry refused: "+why+" (logged once until there is room)",
			"topic", topic, "max_per_topic", p.maxPerTopic, "max_per_session", p.maxPerSession)
	}
	return false
}

type topicChange struct {
	topic  string
	change PresenceChange
}

// announce hands a presence change to topic's subscribers on this node
// and, when it happened here, to the other nodes.
func (p *presence) announce(topic string, change PresenceChange, here bool) {
	if p.h.metrics != nil {
		p.h.record(Measure{Kind: MeasurePresence, Topic: topic, N: p.count(topic)})
	}
	if l := p.h.topics.log(topic); l != nil {
		p.h.appendTo(l, nil, &change)
	}
	if here {
		p.h.updates.publishTopic(&TopicMessage{Topic: topic, Data: jsonNull, Presence: &change})
	}
}

// received applies a change of topic's presence list that another node
// published, and announces it here.
func (p *presence) received(topic string, change *PresenceChange) {
	now := p.h.now()
	p.mu.Lock()
	t := p.topicLocked(topic, true)
	t.mu.Lock()
	for _, e := range change.Leaves {
		if es := t.remote[e.Node]; es != nil {
			t.drop(es, e.ID)
		}
	}
	for _, e := range change.Joins {
		p.heardLocked(e.Node, topic, now)
		es := t.remote[e.Node]
		if es == nil {
			es = make(map[string]PresenceEntry)
			t.remote[e.Node] = es
		}
		t.put(es, e)
	}
	empty := t.count == 0
	t.mu.Unlock()
	if empty {
		delete(p.topics, topic)
	}
	p.mu.Unlock()
	p.announce(topic, *change, false)
}

// heardLocked records that node spoke, and has entries in topic ("": none
// named).
func (p *presence) heardLocked(node, topic string, now time.Time) {
	r := p.remote[node]
	if r == nil {
		r = &remoteNode{topics: make(map[string]bool)}
		p.remote[node] = r
	}
	r.heard = now
	if topic != "" {
		r.topics[topic] = true
	}
}

// presenceSnapshot is what a node says is present on it, now and then.
type presenceSnapshot struct {
	Node    string                     `json:"node"`
	Entries map[string][]PresenceEntry `json:"entries"` // topic → entries
}

// snapshot returns what is present on this node.
func (p *presence) snapshot() presenceSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := presenceSnapshot{Node: p.node, Entries: make(map[string][]PresenceEntry)}
	for topic, t := range p.topics {
		t.mu.Lock()
		for _, e := range t.local {
			s.Entries[topic] = append(s.Entries[topic], e)
		}
		t.mu.Unlock()
	}
	return s
}

// receivedSnapshot replaces what is known of another node's presence by
// its snapshot, and announces the differences (joins or leaves missed).
func (p *presence) receivedSnapshot(s presenceSnapshot) {
	if s.Node == p.node {
		return
	}
	p.mu.Lock()
	p.heardLocked(s.Node, "", p.h.now())
	r := p.remote[s.Node]
	var changes []topicChange
	for topic := range r.topics {
		if _, ok := s.Entries[topic]; !ok {
			changes = append(changes, p.replaceLocked(topic, s.Node, nil)...)
		}
	}
	r.topics = make(map[string]bool, len(s.Entries))
	for topic, es := range s.Entries {
		fresh := make(map[string]PresenceEntry, len(es))
		for _, e := range es {
			e.Node = s.Node
			fresh[e.ID] = e
		}
		r.topics[topic] = true
		changes = append(changes, p.replaceLocked(topic, s.Node, fresh)...)
	}
	p.mu.Unlock()
	for _, c := range changes {
		p.announce(c.topic, c.change, false)
	}
}

// replaceLocked makes fresh what node has in topic's list and returns the
// difference. p.mu is held.
func (p *presence) replaceLocked(topic, node string, fresh map[string]PresenceEntry) []topicChange {
	t := p.topicLocked(topic, len(fresh) > 0)
	if t == nil {
		return nil
	}
	t.mu.Lock()
	es := t.remote[node]
	if es == nil {
		es = make(map[string]PresenceEntry)
	}
	var c PresenceChange
	for id, e := range fresh {
		if old, ok := es[id]; !ok || !bytes.Equal(old.Meta, e.Meta) {
			if ok {
				c.Leaves = append(c.Leaves, old)
			}
			c.Joins = append(c.Joins, e)
			t.put(es, e)
		}
	}
	for id := range es {
		if _, ok := fresh[id]; !ok {
			e, _ := t.drop(es, id)
			c.Leaves = append(c.Leaves, e)
		}
	}
	if len(es) > 0 {
		t.remote[node] = es
	} else {
		delete(t.remote, node)
	}
	empty := t.count == 0
	t.mu.Unlock()
	if empty {
		delete(p.topics, topic)
	}
	if len(c.Joins)+len(c.Leaves) == 0 {
		return nil
	}
	return []topicChange{{topic, c}}
}

// sweep drops the entries of nodes not heard from since before, and
// announces their leaves.
func (p *presence) sweep(before time.Time) {
	p.mu.Lock()
	var changes []topicChange
	for node, r := range p.remote {
		if !r.heard.Before(before) {
			continue
		}
		for topic := range r.topics {
			changes = append(changes, p.replaceLocked(topic, node, nil)...)
		}
		delete(p.remote, node)
	}
	p.mu.Unlock()
	for _, c := range changes {
		p.announce(c.topic, c.change, false)
	}
}

// list returns topic's presence list, merged from every node, as a copy.
func (p *presence) list(topic string) []PresenceEntry {
	t := p.get(topic)
	if t == nil {
		return []PresenceEntry{}
	}
	t.mu.Lock()
	sorted := t.sortedLocked()
	t.mu.Unlock()
	return slices.Clone(sorted) // never changed in place: a new one replaces it
}

// count returns how many are in topic's presence list, on every node.
func (p *presence) count(topic string) int {
	t := p.get(topic)
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}
