package liveflux

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// A batch is what a node publishes on the backplane (channel nodesChannel):
//
//	version  1 byte, batchVersion
//	flags    1 byte, batchSigned when a MAC ends the batch
//	node     uvarint length + the sending node's name
//	first    uvarint: the number of the batch's first message; the node
//	         numbers its messages 0, 1, 2, … in the order it publishes them
//	messages until the MAC (or the end): each a channel (a component ID,
//	         topicChannel or presenceChannel) and the message, each as a
//	         uvarint length and the bytes
//	MAC      with batchSigned: HMAC-SHA256 of everything before it
const (
	batchVersion = 1
	batchSigned  = 1
	macSize      = sha256.Size
)

// batchWriter encodes one batch.
type batchWriter struct {
	buf   []byte
	count int
}

func (b *batchWriter) start(node string, first uint64) {
	b.buf = append(make([]byte, 0, 512), batchVersion, 0)
	b.buf = appendField(b.buf, []byte(node))
	b.buf = binary.AppendUvarint(b.buf, first)
	b.count = 0
}

func (b *batchWriter) add(channel string, msg []byte) {
	b.buf = appendField(b.buf, []byte(channel))
	b.buf = appendField(b.buf, msg)
	b.count++
}

func (b *batchWriter) size() int { return len(b.buf) }

// finish signs the batch with keys[0], if any, and returns it.
func (b *batchWriter) finish(keys [][]byte) []byte {
	out := b.buf
	if len(keys) > 0 {
		out[1] |= batchSigned
		mac := hmac.New(sha256.New, keys[0])
		mac.Write(out)
		out = mac.Sum(out)
	}
	b.buf = nil
	return out
}

func appendField(dst, field []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(field)))
	return append(dst, field...)
}

// batchEntry is one message of a batch.
type batchEntry struct {
	channel string
	msg     []byte
}

// decodeBatch checks and decodes a batch. With keys, only a batch signed
// with one of them is accepted. The entries' messages share b's memory.
func decodeBatch(b []byte, keys [][]byte) (node string, first uint64, entries []batchEntry, ok bool) {
	if len(b) < 2 || b[0] != batchVersion {
		return "", 0, nil, false
	}
	signed := b[1]&batchSigned != 0
	switch {
	case signed:
		if len(b) < 2+macSize {
			return "", 0, nil, false
		}
		body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
		if len(keys) > 0 && !verifyMAC(body, sum, keys) {
			return "", 0, nil, false
		}
		b = body
	case len(keys) > 0:
		return "", 0, nil, false
	}
	rest := b[2:]
	nodeB, rest, ok := cutUvarintField(rest)
	if !ok {
		return "", 0, nil, false
	}
	first, n := binary.Uvarint(rest)
	if n <= 0 {
		return "", 0, nil, false
	}
	rest = rest[n:]
	for len(rest) > 0 {
		var ch, msg []byte
		if ch, rest, ok = cutUvarintField(rest); !ok {
			return "", 0, nil, false
		}
		if msg, rest, ok = cutUvarintField(rest); !ok {
			return "", 0, nil, false
		}
		entries = append(entries, batchEntry{string(ch), msg})
	}
	return string(nodeB), first, entries, true
}

func verifyMAC(body, sum []byte, keys [][]byte) bool {
	for _, k := range keys {
		mac := hmac.New(sha256.New, k)
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), sum) {
			return true
		}
	}
	return false
}

// cutUvarintField splits a uvarint-length-prefixed field off the front of b.
func cutUvarintField(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// receiver takes the batches of the other nodes apart, in the order the
// backplane delivers them, and notices the numbers missing between one
// batch of a node and the next.
type receiver struct {
	h    *WebSocketHandler
	keys [][]byte

	mu       sync.Mutex
	nodes    map[string]*heardNode
	refusing bool // a batch was refused since one was last accepted (logged)
	foreign  bool // a message of another format was ignored (logged)
}

type heardNode struct {
	next  uint64 // number of the message expected next
	heard time.Time
}

func newReceiver(h *WebSocketHandler, keys [][]byte) *receiver {
	return &receiver{h: h, keys: keys, nodes: make(map[string]*heardNode)}
}

// received is the backplane's deliver function.
func (r *receiver) received(channel string, msg []byte) {
	if channel != nodesChannel {
		r.logOnce(&r.foreign, "liveflux: backplane message in another format ignored (a node of another version?)", "channel", channel)
		return
	}
	node, first, entries, ok := decodeBatch(msg, r.keys)
	if !ok {
		r.logOnce(&r.refusing, "liveflux: backplane batch refused: malformed, unsigned or signed with another key (logged once until one is accepted)", "bytes", len(msg))
		return
	}
	if node == r.h.presence.node {
		return // its own, echoed
	}
	r.mu.Lock()
	r.refusing = false
	hn := r.nodes[node]
	skip, missed := uint64(0), uint64(0)
	if hn == nil {
		hn = &heardNode{next: first}
		r.nodes[node] = hn
	}
	switch {
	case first > hn.next:
		missed = first - hn.next
	case first < hn.next:
		skip = hn.next - first // delivered twice, or replayed
	}
	if end := first + uint64(len(entries)); end > hn.next {
		hn.next = end
	}
	hn.heard = r.h.now()
	r.mu.Unlock()
	if missed > 0 {
		r.h.missedFrom(node, missed)
	}
	if skip >= uint64(len(entries)) {
		return
	}
	for _, e := range entries[skip:] {
		r.h.received(e.channel, e.msg)
	}
}

// logOnce logs msg unless *flag says it was logged already, and sets it.
func (r *receiver) logOnce(flag *bool, msg string, args ...any) {
	r.mu.Lock()
	logged := *flag
	*flag = true
	r.mu.Unlock()
	if !logged {
		r.h.logger.Warn(msg, args...)
	}
}

// forgetNodeAfter is how long a receiver remembers where a silent node's
// numbering stood: a node heard again within it, after the backplane lost
// what it sent meanwhile, is known to have been missed.
const forgetNodeAfter = time.Hour

// sweep forgets the nodes not heard from since before.
func (r *receiver) sweep(before time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for node, hn := range r.nodes {
		if hn.heard.Before(before) {
			delete(r.nodes, node)
		}
	}
}
