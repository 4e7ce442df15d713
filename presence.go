package liveflux

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
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

// PresenceChange says who joined and who left a topic's presence list.
type PresenceChange struct {
	Joins  []PresenceEntry `json:"joins,omitempty"`
	Leaves []PresenceEntry `json:"leaves,omitempty"`
}

// DefaultPresenceInterval is how often a node tells the others, through the
// backplane, who is present on it; a node not heard from for three
// intervals is taken for dead and its entries leave.
const DefaultPresenceInterval = 5 * time.Second

// Track puts the instance whose method ctx was given to (call it from
// Mount) in the presence list of topic, with meta encoded as JSON, for as
// long as a client watches it: it joins when the first client starts
// watching it (over WebSocket) and leaves when the last one stops, whether
// the page left, closed, or its connection was dropped after the pong wait.
// Each join and leave is published to topic as a TopicMessage whose
// Presence says who (subscribers re-render, for example a list of who is
// online); Presence returns the list, merged from every node.
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
// meta and then ID. It copies the list: with many present, count them with
// PresenceCount, or from the changes HandleTopic receives.
func (h *Handler) Presence(topic string) []PresenceEntry { return h.presence.list(topic) }

// PresenceCount returns how many are in the presence list of topic, on
// every node, without copying it.
func (h *Handler) PresenceCount(topic string) int { return h.presence.count(topic) }

// presence keeps the presence lists: who is present on this node, and
// what the other nodes said is present on theirs. (The lists an instance
// asked to be in live in its Base: see Track.)
type presence struct {
	h    *Handler
	node string // this node's name

	mu     sync.Mutex
	gen    uint64                              // counts the changes of the lists
	sorted map[string]sortedPresence           // topic → its list, sorted, as of gen
	local  map[string]map[string]PresenceEntry // topic → instance ID → entry, on this node
	remote map[string]*remoteNode              // node → what it said
}

// tracking is one presence list an instance asked to be in; Base keeps
// them (and the codec stores them).
type tracking struct {
	Topic string          `json:"topic"`
	Meta  json.RawMessage `json:"meta"`
}

type sortedPresence struct {
	gen     uint64
	entries []PresenceEntry
}

type remoteNode struct {
	entries map[string]map[string]PresenceEntry // topic → instance ID → entry
	heard   time.Time
}

func newPresence(h *Handler) *presence {
	return &presence{
		h:      h,
		node:   strings.ToLower(rand.Text()[:10]),
		local:  make(map[string]map[string]PresenceEntry),
		remote: make(map[string]*remoteNode),
		sorted: make(map[string]sortedPresence),
	}
}

// watched records that the first client started watching instance id,
// which is in the presence lists tracks, on this node (on) or that the last
// one stopped (!on), and returns the joins or leaves that makes, for
// announce. The hub calls it under its lock, so that the changes of one
// instance are recorded in the order they happen.
func (p *presence) watched(id string, tracks []tracking, on bool) []topicChange {
	if len(tracks) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	changes := make([]topicChange, 0, len(tracks))
	for _, t := range tracks {
		e := PresenceEntry{ID: id, Meta: t.Meta, Node: p.node}
		entries := p.local[t.Topic]
		if on {
			if entries == nil {
				entries = make(map[string]PresenceEntry)
				p.local[t.Topic] = entries
			}
			entries[id] = e
			changes = append(changes, topicChange{t.Topic, PresenceChange{Joins: []PresenceEntry{e}}})
		} else if _, ok := entries[id]; ok {
			delete(entries, id)
			if len(entries) == 0 {
				delete(p.local, t.Topic)
			}
			changes = append(changes, topicChange{t.Topic, PresenceChange{Leaves: []PresenceEntry{e}}})
		}
	}
	return changes
}

// announceAll announces the changes watched returned, here and on the
// other nodes.
func (p *presence) announceAll(changes []topicChange) {
	for _, c := range changes {
		p.announce(c.topic, c.change, true)
	}
}

type topicChange struct {
	topic  string
	change PresenceChange
}

// announce hands a presence change to topic's subscribers on this node
// and, when it happened here, on the others.
func (p *presence) announce(topic string, change PresenceChange, here bool) {
	msg := &TopicMessage{Topic: topic, Data: json.RawMessage("null"), Presence: &change}
	p.h.deliverTopic(msg)
	if here {
		p.h.updates.publishTopic(msg)
	}
}

// received applies a change of topic's presence list that another node
// published.
func (p *presence) received(topic string, change *PresenceChange) {
	now := p.h.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	for _, e := range change.Joins {
		p.remoteTopic(e.Node, topic, now)[e.ID] = e
	}
	for _, e := range change.Leaves {
		if r := p.remote[e.Node]; r != nil {
			delete(r.entries[topic], e.ID)
		}
	}
}

func (p *presence) remoteTopic(node, topic string, now time.Time) map[string]PresenceEntry {
	r := p.remote[node]
	if r == nil {
		r = &remoteNode{entries: make(map[string]map[string]PresenceEntry)}
		p.remote[node] = r
	}
	r.heard = now
	if r.entries[topic] == nil {
		r.entries[topic] = make(map[string]PresenceEntry)
	}
	return r.entries[topic]
}

// presenceSnapshot is what a node says is present on it, now and then.
type presenceSnapshot struct {
	Node    string                     `json:"node"`
	Entries map[string][]PresenceEntry `json:"entries"` // topic → entries
}

// presenceChannel is the backplane channel of presence snapshots.
const presenceChannel = "\x00presence"

// snapshot returns what is present on this node.
func (p *presence) snapshot() presenceSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := presenceSnapshot{Node: p.node, Entries: make(map[string][]PresenceEntry, len(p.local))}
	for topic, entries := range p.local {
		for _, e := range entries {
			s.Entries[topic] = append(s.Entries[topic], e)
		}
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
	r := p.remote[s.Node]
	if r == nil {
		r = &remoteNode{entries: make(map[string]map[string]PresenceEntry)}
		p.remote[s.Node] = r
	}
	r.heard = p.h.now()
	fresh := make(map[string]map[string]PresenceEntry, len(s.Entries))
	for topic, es := range s.Entries {
		fresh[topic] = make(map[string]PresenceEntry, len(es))
		for _, e := range es {
			e.Node = s.Node
			fresh[topic][e.ID] = e
		}
	}
	changes := diffEntries(r.entries, fresh)
	r.entries = fresh
	if len(changes) > 0 {
		p.gen++
	}
	p.mu.Unlock()
	for _, c := range changes {
		p.announce(c.topic, c.change, false)
	}
}

// sweep drops the entries of nodes not heard from since before, and
// announces their leaves.
func (p *presence) sweep(before time.Time) {
	p.mu.Lock()
	var changes []topicChange
	for node, r := range p.remote {
		if r.heard.Before(before) {
			changes = append(changes, diffEntries(r.entries, nil)...)
			delete(p.remote, node)
			p.gen++
		}
	}
	p.mu.Unlock()
	for _, c := range changes {
		p.announce(c.topic, c.change, false)
	}
}

// diffEntries returns, per topic, who is in next but not in prev (joins)
// and in prev but not in next (leaves).
func diffEntries(prev, next map[string]map[string]PresenceEntry) []topicChange {
	var out []topicChange
	topics := make(map[string]bool)
	for t := range prev {
		topics[t] = true
	}
	for t := range next {
		topics[t] = true
	}
	for t := range topics {
		var c PresenceChange
		for id, e := range next[t] {
			if _, ok := prev[t][id]; !ok {
				c.Joins = append(c.Joins, e)
			}
		}
		for id, e := range prev[t] {
			if _, ok := next[t][id]; !ok {
				c.Leaves = append(c.Leaves, e)
			}
		}
		if len(c.Joins)+len(c.Leaves) > 0 {
			out = append(out, topicChange{t, c})
		}
	}
	return out
}

// list returns topic's presence list, merged from every node. The sorted
// list is kept until the lists change, and sorted outside the lock, so
// that a long list does not hold up joins and leaves.
func (p *presence) list(topic string) []PresenceEntry {
	p.mu.Lock()
	if c, ok := p.sorted[topic]; ok && c.gen == p.gen {
		p.mu.Unlock()
		return slices.Clone(c.entries)
	}
	gen := p.gen
	out := make([]PresenceEntry, 0, p.countLocked(topic))
	for _, e := range p.local[topic] {
		out = append(out, e)
	}
	for _, r := range p.remote {
		for _, e := range r.entries[topic] {
			out = append(out, e)
		}
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b PresenceEntry) int {
		if c := bytes.Compare(a.Meta, b.Meta); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	p.mu.Lock()
	if p.gen == gen {
		if len(p.sorted) > 1024 { // bounded: lists of topics read once
			clear(p.sorted)
		}
		p.sorted[topic] = sortedPresence{gen, out}
	}
	p.mu.Unlock()
	return slices.Clone(out)
}

// count returns how many are in topic's presence list, on every node.
func (p *presence) count(topic string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.countLocked(topic)
}

func (p *presence) countLocked(topic string) int {
	n := len(p.local[topic])
	for _, r := range p.remote {
		n += len(r.entries[topic])
	}
	return n
}
