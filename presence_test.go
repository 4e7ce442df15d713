package liveflux_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
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

// Guards against: presence changes waiting for a subscriber were merged by
// copying the lists into every subscriber's waiting message (N joins × N
// subscribers × growing lists): 1,000 members joining a room whose members
// all subscribe took 15 s to show everywhere, and 2,500 never did. Now the
// changes merge once, in the topic's log, however many subscribers wait:
// what the joins allocate grows with the joins and the subscribers, not
// with their product. Not parallel: it reads the process's allocations.
func TestPresenceChangesCostTheirSize(t *testing.T) {
	gate := make(chan struct{})
	const subs, joins = 200, 200
	f, topics := roomFixture(t, gate, liveflux.WithMaxPresencePerSession(joins))
	watcher := f.dial(t)
	ids := make([]string, subs)
	for i := range ids {
		ids[i] = f.mount(t, "room", map[string]string{"room": "slow"}) // HandleTopic waits for the gate
		watcher.sendInit(ids[i])
	}
	members := make([]string, joins)
	for i := range members {
		members[i] = f.mount(t, "room", map[string]string{"room": "slow", "who": fmt.Sprint("m", i), "listen": "no"})
	}
	page := f.dial(t)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, id := range members {
		page.sendInit(id)
	}
	waitFor(t, "every member present", func() bool { return f.h.PresenceCount("room:slow") == joins })
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d joins with %d waiting subscribers allocated %d KB", joins, subs, allocated>>10)
	if allocated > 32<<20 {
		t.Fatalf("%d joins with %d waiting subscribers allocated %d MB, want under 32 MB", joins, subs, allocated>>20)
	}
	close(gate)
	watcher.awaitAllShowing(ids, fmt.Sprintf("here=%d;", joins))
	// Each subscriber handled the first join, then one message for the
	// others (it may have read the first few joins before the gate held
	// it, but never one message per join).
	if calls := int(topics.Load()); calls > 3*subs {
		t.Fatalf("%d HandleTopic calls for %d subscribers of %d joins, want at most 3 each", calls, subs, joins)
	}
}

// Track refuses one more entry past the caps, with ErrPresenceFull, and
// an instance that finds the list full only when watched stays out of it.
func TestPresenceCaps(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil, liveflux.WithMaxPresencePerTopic(2))
	var ids []string
	for _, who := range []string{"ann", "bob", "cy"} {
		ids = append(ids, f.mount(t, "room", map[string]string{"room": "cap", "who": who, "listen": "no"}))
	}
	c := f.dial(t)
	for _, id := range ids {
		c.sendInit(id)
	}
	waitFor(t, "two present", func() bool { return f.h.PresenceCount("room:cap") == 2 })
	_, err := f.h.Mount(sessionRequest(""), "room", map[string]string{"room": "cap", "who": "dee"})
	if !errors.Is(err, liveflux.ErrPresenceFull) {
		t.Fatalf("Track into a full list: %v, want ErrPresenceFull", err)
	}
	assertEqual(t, f.h.PresenceCount("room:cap"), 2, "present")

	g, _ := roomFixture(t, nil, liveflux.WithMaxPresencePerSession(1))
	g.mount(t, "room", map[string]string{"room": "a", "who": "ann", "listen": "no"})
	first := g.mount(t, "room", map[string]string{"room": "b", "who": "ann", "listen": "no"})
	g.dial(t).sendInit(first)
	waitFor(t, "one present", func() bool { return g.h.PresenceCount("room:b") == 1 })
	if _, err := g.h.Mount(sessionRequest(""), "room", map[string]string{"room": "c", "who": "ann"}); !errors.Is(err, liveflux.ErrPresenceFull) {
		t.Fatalf("Track past the session's share: %v, want ErrPresenceFull", err)
	}
}

// Guards against: subscribers that count from the changes went wrong when
// hundreds joined and left while they kept up (a change merged into the
// topic's last message after some had read it, or messages let go while
// others had yet to read them). Twenty such subscribers, 900 members
// joining at once, then leaving at once: every one counts right.
func TestPresenceCountsStayRight(t *testing.T) {
	t.Parallel()
	const members = 900
	f, _ := roomFixture(t, nil, liveflux.WithMaxPresencePerSession(members))
	watcher := f.dial(t)
	var subs []string
	for range 20 {
		id := f.mount(t, "room", map[string]string{"room": "busy"})
		subs = append(subs, id)
		watcher.sendInit(id)
	}
	page := f.dial(t)
	for i := range members {
		page.sendInit(f.mount(t, "room", map[string]string{"room": "busy", "who": fmt.Sprint("m", i), "listen": "no"}))
	}
	watcher.awaitAllShowing(subs, fmt.Sprintf("here=%d;", members))
	page.close()
	watcher.awaitAllShowing(subs, "here=0;")
}

// countedName decodes a member's meta, counting how often.
type countedName struct{ Name string }

var nameDecodes atomic.Int32

func (n *countedName) UnmarshalJSON(b []byte) error {
	nameDecodes.Add(1)
	var v struct {
		Name string `json:"name"`
	}
	err := json.Unmarshal(b, &v)
	n.Name = v.Name
	return err
}

// PresenceOf decodes the list once, and after a change only what joined:
// a thousand subscribers rendering who is online after each join decode
// one entry each time, not the list each. Not parallel: it counts decodes
// in a package variable.
func TestPresenceOfDecodesWhatChanged(t *testing.T) {
	f, _ := roomFixture(t, nil)
	c := f.dial(t)
	for _, who := range []string{"cy", "ann", "bob"} {
		c.sendInit(f.mount(t, "room", map[string]string{"room": "of", "who": who, "listen": "no"}))
	}
	waitFor(t, "three present", func() bool { return f.h.PresenceCount("room:of") == 3 })
	nameDecodes.Store(0)
	names := func() string {
		t.Helper()
		list, err := liveflux.PresenceOf[countedName](f.h.Handler, "room:of")
		assertNoError(t, err)
		var out []string
		for _, p := range list {
			out = append(out, p.Meta.Name)
		}
		return strings.Join(out, ",")
	}
	assertEqual(t, names(), "ann,bob,cy", "names, sorted as Presence sorts them")
	assertEqual(t, names(), "ann,bob,cy", "names again")
	assertEqual(t, nameDecodes.Load(), 3, "decodes for two calls")
	c.sendInit(f.mount(t, "room", map[string]string{"room": "of", "who": "dee", "listen": "no"}))
	waitFor(t, "four present", func() bool { return f.h.PresenceCount("room:of") == 4 })
	assertEqual(t, names(), "ann,bob,cy,dee", "names after a join")
	assertEqual(t, nameDecodes.Load(), 4, "decodes after a join")
	if _, err := liveflux.PresenceOf[int](f.h.Handler, "room:of"); err == nil {
		t.Error("metas that are not numbers decoded into int")
	}
}
