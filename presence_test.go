package liveflux_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// registerRoom registers kind "room" with f.
func registerRoom(tb testing.TB, f *fixture) {
	tb.Helper()
	var topics atomic.Int32
	assertNoError(tb, f.reg.Register("room", func() liveflux.Component { return &room{topics: &topics} }))
}

// TestPresenceFollowsWatchers checks that a tracked instance joins its
// topic's presence list when a client starts watching it and leaves when
// the client goes, and that every subscriber re-renders the list.
func TestPresenceFollowsWatchers(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	ann := f.mount(t, "room", map[string]string{"room": "p", "who": "ann"})
	bob := f.mount(t, "room", map[string]string{"room": "p", "who": "bob"})
	if got := f.h.Presence("room:p"); len(got) != 0 {
		t.Fatalf("present before anyone watches: %v", got)
	}
	ca := f.dial(t)
	ca.sendInit(ann)
	ca.awaitShowing(ann, "online=[ann]")
	cb := f.dial(t)
	cb.sendInit(bob)
	ca.awaitShowing(ann, "online=[ann,bob]")
	cb.awaitShowing(bob, "online=[ann,bob]")
	if got := f.h.Presence("room:p"); len(got) != 2 || string(got[0].Meta) != `{"name":"ann"}` {
		t.Fatalf("presence %v", got)
	}
	cb.close() // bob's page goes away
	ca.awaitShowing(ann, "online=[ann]")
	waitFor(t, "bob to leave the list", func() bool { return len(f.h.Presence("room:p")) == 1 })
}

// A dropped connection (no pong within the pong wait) leaves too.
func TestPresenceLeavesWithADroppedConnection(t *testing.T) {
	t.Parallel()
	f, clock := newClockFixture(t)
	registerRoom(t, f)
	ann := f.mount(t, "room", map[string]string{"room": "d", "who": "ann"})
	bob := f.mount(t, "room", map[string]string{"room": "d", "who": "bob"})
	ca, _ := f.pongClient(t)
	ca.init(ann)
	deaf := f.dialIdle(t)
	deaf.ws.SetPingHandler(func(string) error { return nil })
	deaf.startReading()
	deaf.init(bob)
	ca.awaitShowing(ann, "online=[ann,bob]")
	clock.advance(time.Minute)
	f.check() // both pinged; the deaf one never answers
	waitFor(t, "ann's pong", func() bool { return liveflux.LastHeard(f.h).Equal(clock.now()) })
	clock.advance(liveflux.PongWait(f.h) - time.Minute)
	f.check() // the deaf one is dropped
	ca.awaitShowing(ann, "online=[ann]")
}

// TestWatchingHook checks that a WatchComponent is told when its first
// client comes and its last one goes, and its watchers see the result.
func TestWatchingHook(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "w"})
	a := f.dial(t)
	// Not init: the hook's update may come before the answer to init.
	a.sendInit(id)
	a.awaitShowing(id, "seen=true")
	b := f.dial(t)
	b.init(id) // a second watcher: no call
	a.close()
	b.close()
	waitFor(t, "the hook to see the last watcher go", func() bool {
		c, err := f.h.Store().Get(context.Background(), id)
		return err == nil && !c.(*room).Seen
	})
}

// Guards against: when many pages joined or left at once, a subscriber's
// queue overflowed with one message per change, and the count it kept from
// the messages stayed wrong. Waiting presence changes now merge.
func TestPresenceMassChangesSettle(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	const n = 500                                                       // one session: within its share of the store (1,000)
	f, _ := roomFixture(t, gate, liveflux.WithMaxPresencePerSession(n)) // room "slow" waits for the gate
	sub := f.mount(t, "room", map[string]string{"room": "slow"})
	s := f.dial(t)
	s.sendInit(sub)
	many := f.dial(t) // one page showing n present members
	for i := range n {
		many.sendInit(f.mount(t, "room", map[string]string{"room": "slow", "who": fmt.Sprint("m", i), "listen": "no"}))
	}
	waitFor(t, "every member present", func() bool { return len(f.h.Presence("room:slow")) == n })
	close(gate) // the subscriber, stuck on the first join, catches up
	s.awaitShowing(sub, fmt.Sprintf("here=%d;", n))
	many.close() // all n leave at once
	s.awaitShowing(sub, "here=0;")
	assertEqual(t, len(f.h.Presence("room:slow")), 0, "present after the mass leave")
}
