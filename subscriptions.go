package liveflux

import (
	"encoding/json"
	"sync"
	"time"
)

// DefaultTopicBacklog is how many messages of one topic a subscriber may
// fall behind by default (see WithTopicBacklog): a subscriber further
// behind skips the oldest and is told how many it missed
// (TopicMessage.Missed).
const DefaultTopicBacklog = 10_000

// topicIndex is who subscribes to what on this node, and the messages on
// their way to them. Each topic keeps one log of its messages, shared by
// its subscribers, each of which reads it from where it stands: publishing
// costs the same whatever the subscribers' queues, and a burst to a topic
// costs each subscriber one wake-up, not one queue entry per message.
type topicIndex struct {
	backlog int // how far a subscriber may fall behind (WithTopicBacklog)

	mu   sync.RWMutex
	logs map[string]*topicLog       // topic → its log and subscribers
	byID map[string][]*subscription // instance ID → its subscriptions
}

func newTopicIndex() *topicIndex {
	return &topicIndex{backlog: DefaultTopicBacklog, logs: make(map[string]*topicLog), byID: make(map[string][]*subscription)}
}

// topicLog is one topic on this node: its subscribers, and the messages
// some of them have not read yet.
type topicLog struct {
	name    string
	backlog int

	mu   sync.Mutex
	subs map[string]*subscription // instance ID → its subscription
	// idle are the subscriptions that have read every message; the others
	// are pending: their instance's mailbox will read them.
	idle    []*subscription
	pending int
	msgs    []*TopicMessage // the messages from sequence number base on
	base    uint64
	// open: the last message is a presence change nobody has read yet,
	// into which further changes merge (see appendPresence).
	open bool
	// overflowing: a message was dropped beyond the backlog since every
	// subscriber last caught up (logged once).
	overflowing bool
	// woke is when presence changes last woke the subscribers; due, since
	// when a wake-up is scheduled (zero: none; see appendPresence).
	woke time.Time
	due  time.Time
	// round is how long the last round of presence changes took until
	// every subscriber had read it; inRound: one is being read.
	round   time.Duration
	inRound bool
	// joins locates the joins of that open change by entry key.
	joins map[presenceKey]int
}

// subscription is one instance subscribed to one topic on this node.
type subscription struct {
	id   string
	log  *topicLog
	next uint64 // sequence number of the next message to read; guarded by log.mu
	idle int    // index in log.idle, or -1 while pending; guarded by log.mu
	gone bool   // unsubscribed; guarded by log.mu
	lost uint64 // messages read but not delivered (the store failed); guarded by log.mu
}

func (x *topicIndex) subscribe(id string, topics []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range topics {
		l := x.logs[t]
		if l == nil {
			l = &topicLog{name: t, backlog: x.backlog, subs: make(map[string]*subscription)}
			x.logs[t] = l
		}
		l.mu.Lock()
		if l.subs[id] == nil {
			s := &subscription{id: id, log: l, next: l.base + uint64(len(l.msgs))}
			l.subs[id] = s
			s.idle = len(l.idle)
			l.idle = append(l.idle, s)
			x.byID[id] = append(x.byID[id], s)
		}
		l.mu.Unlock()
	}
}

// unsubscribe ends id's subscriptions to topics, or to all with none.
func (x *topicIndex) unsubscribe(id string, topics []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	kept := x.byID[id][:0]
	for _, s := range x.byID[id] {
		drop := len(topics) == 0
		for _, t := range topics {
			drop = drop || t == s.log.name
		}
		if !drop {
			kept = append(kept, s)
			continue
		}
		l := s.log
		l.mu.Lock()
		s.gone = true
		delete(l.subs, id)
		if s.idle >= 0 {
			l.removeIdle(s)
		} else {
			l.readLocked()
		}
		empty := len(l.subs) == 0
		l.settleLocked()
		l.mu.Unlock()
		if empty {
			delete(x.logs, l.name)
		}
	}
	clear(x.byID[id][len(kept):])
	if len(kept) == 0 {
		delete(x.byID, id)
	} else {
		x.byID[id] = kept
	}
}

// removeIdle takes s out of l.idle; l.mu is held.
func (l *topicLog) removeIdle(s *subscription) {
	last := len(l.idle) - 1
	l.idle[s.idle] = l.idle[last]
	l.idle[s.idle].idle = s.idle
	l.idle[last] = nil
	l.idle = l.idle[:last]
	s.idle = -1
}

// log returns topic's log on this node, or nil when nobody here
// subscribes to it.
func (x *topicIndex) log(topic string) *topicLog {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.logs[topic]
}

// each calls fn for every topic with subscribers on this node.
func (x *topicIndex) each(fn func(*topicLog)) {
	x.mu.RLock()
	logs := make([]*topicLog, 0, len(x.logs))
	for _, l := range x.logs {
		logs = append(logs, l)
	}
	x.mu.RUnlock()
	for _, l := range logs {
		fn(l)
	}
}

// Subscriptions returns the topics the instance id subscribes to on this
// node, for tests and diagnostics.
func (h *Handler) Subscriptions(id string) []string {
	h.topics.mu.RLock()
	defer h.topics.mu.RUnlock()
	var out []string
	for _, s := range h.topics.byID[id] {
		out = append(out, s.log.name)
	}
	return out
}

// append adds msg to the log and returns the subscriptions it woke: those
// that had read everything before. The caller hands them to the mailboxes.
// overflow reports that a subscriber fell behind the backlog, the first
// time since they all last caught up.
func (l *topicLog) append(msg *TopicMessage) (woken []*subscription, overflow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	overflow = l.push(msg)
	l.open = false
	return l.wakeLocked(), overflow
}

// How presence changes of one topic wake its subscribers: the first change
// of a quiet topic at once; those that follow within the spacing of
// rounds, or while subscribers are still to read the last change,
// together, once every subscriber has read it (checked every
// presenceWindow, and presenceWait after the first of them at the latest)
// and the spacing since the last round began has passed. So a thousand
// joins while a thousand subscribers render are rounds of one message
// each, not a message per join, and a subscriber held by a slow action
// delays the others' presence by presenceWait at most.
//
// The spacing is presenceWindow, or twice what the last round took to be
// read when that is longer, up to presenceSpacing: a round that costs its
// subscribers much (each of a thousand renders the list of a thousand
// present) leaves as much time to the rest of the work before the next,
// whose changes it then merges, so presence takes at most about half of
// the server's time however fast people come and go. Without it, joins
// that kept coming while rounds ran back to back made every round as
// costly as the last, and the joins themselves (each client's first
// rendering) waited behind them: a room of 1,000 joining at once took
// from 2.5 to 14.8 rounds per member from one run to another.
const (
	presenceWindow  = 20 * time.Millisecond
	presenceWait    = 250 * time.Millisecond
	presenceSpacing = time.Second
)

// appendPresence adds a presence change to the log: into its last message
// while nobody has read that one yet and it is a presence change too (so a
// thousand joins while the subscribers are busy, or within the window,
// make one message), else as a new message. It wakes the idle
// subscriptions at once, or reports how much later the caller should
// (wakeDue).
func (l *topicLog) appendPresence(ch PresenceChange, now time.Time) (woken []*subscription, overflow bool, later time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		last := l.msgs[len(l.msgs)-1].Presence
		for _, e := range ch.Leaves {
			last.leave(e, l.joins)
		}
		for _, e := range ch.Joins {
			last.join(e, l.joins)
		}
		return nil, false, 0 // whoever it would wake is pending or due already
	}
	merged := &PresenceChange{}
	l.joins = make(map[presenceKey]int, len(ch.Joins))
	for _, e := range ch.Leaves {
		merged.leave(e, l.joins)
	}
	for _, e := range ch.Joins {
		merged.join(e, l.joins)
	}
	overflow = l.push(&TopicMessage{Topic: l.name, Data: jsonNull, Presence: merged, merges: new(presenceMerge)})
	l.open = true
	switch since, spacing := now.Sub(l.woke), l.spacing(); {
	case !l.due.IsZero():
		return nil, overflow, 0
	case since < spacing || l.pending > 0:
		l.due = now
		return nil, overflow, max(spacing-since, presenceWindow/4)
	}
	l.woke = now
	return l.wakeRoundLocked(), overflow, 0
}

// spacing is how long after the last round began the next may begin.
func (l *topicLog) spacing() time.Duration {
	return min(max(presenceWindow, 2*l.round), presenceSpacing)
}

// wakeRoundLocked wakes the idle subscriptions for a round of presence
// changes, which began at l.woke.
func (l *topicLog) wakeRoundLocked() []*subscription {
	woken := l.wakeLocked()
	l.inRound = len(woken) > 0
	return woken
}

// readLocked counts a subscription that is no longer pending, and notes
// how long the round of presence changes took once none is.
func (l *topicLog) readLocked() {
	l.pending--
	if l.pending == 0 && l.inRound {
		l.round, l.inRound = time.Since(l.woke), false
	}
}

// wakeDue wakes the idle subscriptions when presence changes are due:
// once no subscription is pending, or presenceWait after the first of
// them. Until then it returns when to look again.
func (l *topicLog) wakeDue(now time.Time) (woken []*subscription, again time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.due.IsZero() {
		return nil, 0
	}
	if waited := now.Sub(l.due); l.pending > 0 && waited < presenceWait {
		return nil, min(presenceWindow, presenceWait-waited)
	}
	if early := l.woke.Add(l.spacing()).Sub(now); early > 0 {
		return nil, early
	}
	l.due, l.woke = time.Time{}, now
	woken = l.wakeRoundLocked()
	l.settleLocked() // nobody was idle behind: what they all read goes
	return woken, 0
}

var jsonNull = json.RawMessage("null")

// push appends msg, dropping the oldest message beyond the backlog, and
// reports whether that began an overflow.
func (l *topicLog) push(msg *TopicMessage) (overflow bool) {
	if len(l.msgs) >= l.backlog {
		l.msgs[0] = nil
		l.msgs = l.msgs[1:]
		l.base++
		overflow = !l.overflowing
		l.overflowing = true
	}
	l.msgs = append(l.msgs, msg)
	return overflow
}

// wakeLocked marks every idle subscription pending and returns them.
func (l *topicLog) wakeLocked() []*subscription {
	woken := l.idle
	if len(woken) == 0 {
		return nil
	}
	for _, s := range woken {
		s.idle = -1
	}
	l.pending += len(woken)
	l.idle = nil
	return woken
}

// read appends to buf the messages s has not read yet, at most max, and
// reports how many older ones it missed (they were dropped beyond the
// backlog) and whether more wait. When it read the last message, s is idle
// again: the next message wakes it.
func (l *topicLog) read(s *subscription, buf []*TopicMessage, max int) (_ []*TopicMessage, missed uint64, more bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.gone || s.idle >= 0 {
		return buf, 0, false
	}
	if s.next < l.base {
		missed = l.base - s.next
		s.next = l.base
	}
	missed += s.lost
	s.lost = 0
	end := l.base + uint64(len(l.msgs))
	n := min(end-s.next, uint64(max))
	from := s.next - l.base
	buf = append(buf, l.msgs[from:from+n]...)
	s.next += n
	if s.next < end {
		return buf, missed, true
	}
	l.open = false // its last message is read: it changes no more
	s.idle = len(l.idle)
	l.idle = append(l.idle, s)
	l.readLocked()
	l.settleLocked()
	return buf, missed, false
}

// lose records that n messages s read were not delivered, to be told to
// it (as missed) with its next read, and reports whether s was idle: then
// it is pending again and the caller wakes it.
func (l *topicLog) lose(s *subscription, n uint64) (wake bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.gone {
		return false
	}
	s.lost += n
	if s.idle < 0 {
		return false
	}
	l.removeIdle(s)
	l.pending++
	return true
}

// settleLocked lets go of the messages once every subscriber has read
// them: none is pending, and none is due to be woken (see appendPresence).
func (l *topicLog) settleLocked() {
	if l.pending > 0 || !l.due.IsZero() || len(l.msgs) == 0 {
		return
	}
	l.base += uint64(len(l.msgs))
	clear(l.msgs)
	if cap(l.msgs) > 64 {
		l.msgs = nil // a burst's array goes
	} else {
		l.msgs = l.msgs[:0]
	}
	l.open = false
	l.joins = nil
	l.overflowing = false
}

// appendTo appends msg to l (a presence change when presence is set) and
// hands the subscriptions that woke to the mailboxes.
func (h *Handler) appendTo(l *topicLog, msg *TopicMessage, presence *PresenceChange) {
	var woken []*subscription
	var overflow bool
	if presence != nil {
		var later time.Duration
		woken, overflow, later = l.appendPresence(*presence, time.Now())
		if later > 0 {
			h.wakeLater(l, later)
		}
	} else {
		woken, overflow = l.append(msg)
	}
	if overflow {
		h.logger.Warn("liveflux: a subscriber fell further behind than the topic's backlog; it skips the oldest messages and is told how many (TopicMessage.Missed); logged once until every subscriber catches up",
			"topic", l.name, "backlog", l.backlog)
	}
	h.mailboxes.wake(woken)
}

// wakeLater wakes l's idle subscriptions when its presence changes are
// due, looking again after d.
func (h *Handler) wakeLater(l *topicLog, d time.Duration) {
	time.AfterFunc(d, func() {
		woken, again := l.wakeDue(time.Now())
		h.mailboxes.wake(woken)
		if again > 0 {
			h.wakeLater(l, again)
		}
	})
}
