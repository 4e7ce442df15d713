package liveflux

import (
	"fmt"
	"testing"
	"time"
)

// readAll has every pending subscription of l read what waits for it.
func readAll(l *topicLog) {
	for _, s := range l.subs {
		l.read(s, nil, 64)
	}
}

// Presence rounds that cost their subscribers long are spaced by twice
// what the last took: a change that comes soon after such a round waits,
// merged, instead of starting the next at once; cheap rounds keep the
// window of presenceWindow; and presenceWait bounds the wait.
func TestPresenceRoundsAreSpaced(t *testing.T) {
	x := &topicIndex{backlog: 100, logs: map[string]*topicLog{}, byID: map[string][]*subscription{}}
	for i := range 3 {
		x.subscribe(fmt.Sprintf("sub%d", i), []string{"room"})
	}
	l := x.logs["room"]
	join := func(id string) PresenceChange {
		return PresenceChange{Joins: []PresenceEntry{{ID: id, Node: "n", Meta: []byte("{}")}}}
	}

	// A round that began 100 ms ago, read by every subscriber now: it
	// took at least 100 ms.
	t0 := time.Now().Add(-100 * time.Millisecond)
	if woken, _, later := l.appendPresence(join("a"), t0); len(woken) != 3 || later != 0 {
		t.Fatalf("the first change of a quiet topic woke %d of 3 (later %v)", len(woken), later)
	}
	readAll(l)
	if l.pending != 0 || l.round < 100*time.Millisecond {
		t.Fatalf("after the round: %d pending, round %v, want 0 and ≥ 100ms", l.pending, l.round)
	}
	spacing := l.spacing()
	if spacing < 200*time.Millisecond || spacing > presenceSpacing {
		t.Fatalf("spacing %v after a round of %v", spacing, l.round)
	}

	// The next change waits until the spacing has passed since t0.
	now := time.Now()
	woken, _, later := l.appendPresence(join("b"), now)
	if len(woken) != 0 || later <= 0 {
		t.Fatalf("a change %v after a costly round began woke %d at once (later %v)", now.Sub(t0), len(woken), later)
	}
	if woken, again := l.wakeDue(now); len(woken) != 0 || again <= 0 {
		t.Fatalf("due %v after the round began: woke %d (again %v)", now.Sub(t0), len(woken), again)
	}
	l.appendPresence(join("c"), now) // merged into the waiting change
	woken, _ = l.wakeDue(t0.Add(spacing + time.Millisecond))
	if len(woken) != 3 {
		t.Fatalf("once the spacing passed: woke %d of 3", len(woken))
	}
	var msgs []*TopicMessage
	for _, s := range l.subs {
		msgs, _, _ = l.read(s, msgs[:0], 64)
	}
	if len(msgs) != 1 || len(msgs[0].Presence.Joins) != 2 {
		t.Fatalf("the round after the wait: %d messages, want one with both joins", len(msgs))
	}

	// A cheap round: the next change 25 ms after it began goes at once.
	l.round = time.Millisecond
	l.woke = time.Now().Add(-25 * time.Millisecond)
	if woken, _, _ := l.appendPresence(join("d"), time.Now()); len(woken) != 3 {
		t.Fatalf("after a cheap round: woke %d of 3 at once", len(woken))
	}
	readAll(l)

	// However long the last round, a change waits presenceSpacing at most.
	l.round = time.Hour
	now = time.Now()
	l.woke = now
	if woken, _, later := l.appendPresence(join("e"), now); len(woken) != 0 || later > presenceSpacing {
		t.Fatalf("after an hour-long round: woke %d, later %v (want ≤ %v)", len(woken), later, presenceSpacing)
	}
	if woken, _ := l.wakeDue(now.Add(presenceSpacing - time.Millisecond)); len(woken) != 0 {
		t.Fatalf("before the spacing passed: woke %d", len(woken))
	}
	if woken, _ := l.wakeDue(now.Add(presenceSpacing)); len(woken) != 3 {
		t.Fatalf("presenceSpacing after the round began: woke %d of 3", len(woken))
	}
	readAll(l)

	// A subscriber that does not read delays the others by presenceWait
	// at most (after a cheap round).
	l.round = time.Millisecond
	now = time.Now()
	l.woke = now.Add(-time.Second)
	if woken, _, _ := l.appendPresence(join("f"), now); len(woken) != 3 {
		t.Fatalf("a change of a quiet topic: woke %d of 3", len(woken))
	}
	var slow *subscription
	for _, s := range l.subs {
		if slow == nil {
			slow = s // it does not read
			continue
		}
		l.read(s, nil, 64)
	}
	if woken, _, _ := l.appendPresence(join("g"), now.Add(30*time.Millisecond)); len(woken) != 0 {
		t.Fatalf("a change while one subscriber still reads the last woke %d", len(woken))
	}
	if woken, _ := l.wakeDue(now.Add(100 * time.Millisecond)); len(woken) != 0 {
		t.Fatalf("100 ms after: woke %d, want none while one reads", len(woken))
	}
	if woken, _ := l.wakeDue(now.Add(30*time.Millisecond + presenceWait)); len(woken) != 2 {
		t.Fatalf("presenceWait after the change: woke %d, want the 2 that read", len(woken))
	}
}
