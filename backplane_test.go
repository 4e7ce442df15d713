package liveflux_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/bus"
	"github.com/go-liveflux/liveflux/internal/wire"
)

// gateBackplane's Publish waits until its gate is closed (or the
// handler shuts down); published counts the calls that returned.
type gateBackplane struct {
	gate      chan struct{}
	entered   chan struct{} // one value each time a Publish begins
	published atomic.Int32
}

func (b *gateBackplane) Publish(ctx context.Context, _ string, _ []byte) error {
	b.entered <- struct{}{}
	select {
	case <-b.gate:
	case <-ctx.Done():
	}
	b.published.Add(1)
	return ctx.Err()
}

func (b *gateBackplane) Subscribe(ctx context.Context, _ func(string, []byte)) error {
	<-ctx.Done()
	return nil
}

// Guards against: backplane: the first publisher drains everybody's
// updates (a request that published waited for the network, and for the
// updates others queued meanwhile).
func TestPublishingDoesNotHoldRequests(t *testing.T) {
	t.Parallel()
	bp := &gateBackplane{gate: make(chan struct{}), entered: make(chan struct{}, 16)}
	f := newFixture(t, liveflux.WithWebSocketBackplane(bp))
	t.Cleanup(func() { close(bp.gate) }) // before the handler shuts down
	id := f.mount(t, "counter", nil)
	c := f.dial(t)
	c.init(id)
	// A Refresh, then an HTTP action, while publishing the first of
	// their renderings is held: both return, and the action's rendering
	// reaches this node's watcher.
	done := make(chan error, 1)
	go func() {
		if err := f.h.Refresh(context.Background(), id); err != nil {
			done <- err
			return
		}
		status, body, err := f.tryPost(actionForm(id, "inc"))
		if err == nil && status != http.StatusOK {
			t.Errorf("action: %d %s", status, body)
		}
		done <- err
	}()
	select {
	case err := <-done:
		assertNoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatalf("the requests still wait after %v, while a Publish is held", waitTimeout)
	}
	select {
	case <-bp.entered:
	case <-time.After(waitTimeout):
		t.Fatal("nothing was published")
	}
	assertEqual(t, bp.published.Load(), 0, "publishes that returned while the gate was shut")
	c.nextUpdate(id) // the Refresh's
	assertEqual(t, countOf(t, c.nextUpdate(id)), 1, "count after the action")
}

// registerTallies registers kind "tally" on both nodes, with one ledger.
func registerTallies(tb testing.TB, a, b *fixture) *atomic.Int64 {
	tb.Helper()
	ledger, _ := registerTally(tb, b, nil)
	assertNoError(tb, a.reg.Register("tally", func() liveflux.Component { return &tally{ledger: ledger, calls: new(atomic.Int32)} }))
	return ledger
}

// twoNodes starts two handlers (nodes) over one store, joined by bp, each
// with the test kinds and kind "room" registered; topics counts the rooms'
// HandleTopic calls on both.
func twoNodes(tb testing.TB, bp *bus.Bus, opts ...liveflux.WebSocketOption) (a, b *fixture, topics *atomic.Int32) {
	tb.Helper()
	store := liveflux.NewMemoryStore()
	topics = new(atomic.Int32)
	start := func() *fixture {
		f := startFixture(tb, fixtureConfig{store: store}, append([]liveflux.WebSocketOption{liveflux.WithWebSocketBackplane(bp.Node())}, opts...)...)
		assertNoError(tb, f.reg.Register("room", func() liveflux.Component { return &room{topics: topics} }))
		return f
	}
	return start(), start(), topics
}

// Guards against: every topic shared one outbox of 64 messages to the
// other nodes, emptied when it overflowed: of a burst of 1,000 messages
// published on one node, a subscriber on another handled 40 (of 10,000,
// 80). Now the outbox is one ordered queue published in batches.
func TestTopicBurstReachesOtherNodes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1000, 10_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			a, b, _ := twoNodes(t, bus.New())
			ledger := registerTallies(t, a, b)
			id := b.mount(t, "tally", nil) // subscribed on node B
			publishNumbers(t, a.h, ledger, n)
			waitFor(t, "every message handled on the other node", func() bool { return tallyOf(t, b, id).Last == n })
			got := tallyOf(t, b, id)
			assertEqual(t, got.Count, n, "messages handled")
			assertEqual(t, got.Order, 0, "messages out of order")
			assertEqual(t, got.Missed, 0, "messages missed")
		})
	}
}

// Guards against: an update with a huge revision published on the
// backplane channel reached the browsers, and after it no real update of
// that component reached any watcher on that node (every one looked
// older). The old per-component form of message is no longer taken at
// all; a rendering in a batch whose revision the store has not reached is
// refused.
func TestForgedRevisionDoesNotFreezeAComponent(t *testing.T) {
	t.Parallel()
	bp := bus.New()
	a, b, _ := twoNodes(t, bp)
	id := a.mount(t, "counter", nil)
	c := b.dial(t)
	c.init(id)
	forged := fmt.Sprintf(`{"type":"update","componentID":%q,"data":{"html":"<div data-flux-component-kind=\"counter\" data-flux-component-id=\"%s\" data-flux-rev=\"1000000000000\"><span>count=666</span> FORGED</div>"}}`, id, id)
	bp.Inject(id, []byte(forged)) // as the nodes of the last version published
	bp.Inject("\x00nodes", wire.Batch("forger", 0, nil, id, forged))
	// A real action on node A reaches node B's client.
	a.post(t, "counter", id, "inc")
	c.awaitCount(id, 1)
	for _, m := range c.before() {
		if strings.Contains(string(m.raw), "FORGED") {
			t.Fatalf("the forged rendering reached the client: %s", m.raw)
		}
	}
}

// With WithBackplaneKey, a node takes only batches signed with one of its
// keys: what the other nodes send still arrives, a forger's batch does
// not, whatever its revision; and a node may list an old key after its
// new one while keys change.
func TestBackplaneKey(t *testing.T) {
	t.Parallel()
	bp := bus.New()
	oldKey, newKey := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	store := liveflux.NewMemoryStore()
	a := startFixture(t, fixtureConfig{store: store}, liveflux.WithWebSocketBackplane(bp.Node()), liveflux.WithBackplaneKey(oldKey))
	b := startFixture(t, fixtureConfig{store: store}, liveflux.WithWebSocketBackplane(bp.Node()), liveflux.WithBackplaneKey(newKey, oldKey))
	id := a.mount(t, "counter", nil)
	c := b.dial(t)
	c.init(id)
	a.post(t, "counter", id, "inc") // signed with the old key, which B still takes
	c.awaitCount(id, 1)
	next := func(rev uint64) string {
		return fmt.Sprintf(`{"type":"update","componentID":%q,"data":{"html":"<div data-flux-component-kind=\"counter\" data-flux-component-id=\"%s\" data-flux-rev=\"%d\"><span>count=1</span> FORGED</div>"}}`, id, id, rev)
	}
	rev := c.views[id].Rev + 1
	bp.Inject("\x00nodes", wire.Batch("forger", 0, nil, id, next(rev)))                                        // unsigned
	bp.Inject("\x00nodes", wire.Batch("forger", 1, []byte("not the key at all, not at all!!"), id, next(rev))) // signed with another key
	a.post(t, "counter", id, "inc")
	c.awaitCount(id, 2)
	for _, m := range c.before() {
		if strings.Contains(string(m.raw), "FORGED") {
			t.Fatalf("an unsigned or wrongly signed batch reached the client: %s", m.raw)
		}
	}
	// B signs with its new key, which A does not have: A refuses it. A
	// batch signed with the old key, injected after it, shows when A got
	// that far.
	cb := a.dial(t)
	cb.init(id)
	before := bp.Sent()
	b.post(t, "counter", id, "inc")
	waitFor(t, "B to publish", func() bool { return bp.Sent() > before })
	bp.Inject("\x00nodes", wire.Batch("marker", 0, oldKey, id, `{"type":"marker"}`))
	for {
		m := cb.nextMsg()
		if m.Type == "marker" {
			break
		}
		if m.Type == liveflux.MessageUpdate {
			t.Fatalf("A took a batch signed with a key it does not have: %s", m.raw)
		}
	}
}

// When batches from another node are lost on the way (as Redis pub/sub
// loses what it cannot deliver), the node that notices the gap in their
// numbers tells its topic subscribers how many messages they may have
// missed, and renders its watched components again: its clients end on the
// truth.
func TestLostBatchesAreNoticed(t *testing.T) {
	t.Parallel()
	var losing, lostRendering, lostTopic atomic.Bool
	bp := bus.New()
	bp.Drop(func(_ int, msg []byte) bool {
		if !losing.Load() {
			return false
		}
		lostRendering.CompareAndSwap(false, bytes.Contains(msg, []byte("count=1")))
		lostTopic.CompareAndSwap(false, bytes.Contains(msg, []byte(`"tally"`)))
		return true
	})
	a, b, _ := twoNodes(t, bp)
	ledger := registerTallies(t, a, b)
	sub := b.mount(t, "tally", nil)
	id := a.mount(t, "counter", nil)
	c := b.dial(t)
	c.init(id)
	publishNumbers(t, a.h, ledger, 3)
	waitFor(t, "the first messages", func() bool { return tallyOf(t, b, sub).Last == 3 })

	losing.Store(true)
	a.post(t, "counter", id, "inc") // its rendering is lost on the way to B
	ledger.Add(4)
	assertNoError(t, a.h.Publish(context.Background(), "tally", 4)) // and so is this
	waitFor(t, "both lost", func() bool { return lostRendering.Load() && lostTopic.Load() })
	losing.Store(false)
	ledger.Add(5)
	assertNoError(t, a.h.Publish(context.Background(), "tally", 5)) // arrives: the gap shows

	waitFor(t, "the subscriber told", func() bool { return tallyOf(t, b, sub).Last == 5 })
	got := tallyOf(t, b, sub)
	if got.Notices == 0 || got.Missed == 0 {
		t.Fatalf("the subscriber was not told of the lost messages: %+v", got)
	}
	assertEqual(t, got.Total, 15, "total after reloading")
	c.awaitCount(id, 1) // the lost rendering's change
}

// TestNodesLeaveNoGoroutines is not parallel: it counts the process's
// goroutines. The goroutines that publish to and receive from the other
// nodes, and those that bring a node back to the truth after a gap, end
// with the handlers.
func TestNodesLeaveNoGoroutines(t *testing.T) {
	baseline := runtime.NumGoroutine()
	var losing atomic.Bool
	bp := bus.New()
	bp.Drop(func(int, []byte) bool { return losing.Load() })
	a, b, _ := twoNodes(t, bp)
	ledger := registerTallies(t, a, b)
	sub := b.mount(t, "tally", nil)
	id := a.mount(t, "counter", nil)
	b.dial(t).init(id)
	losing.Store(true)
	publishNumbers(t, a.h, ledger, 1000)
	losing.Store(false)
	publishNumbers(t, a.h, ledger, 1)
	waitFor(t, "the last message", func() bool { return tallyOf(t, b, sub).Last == 1 })
	for _, f := range []*fixture{a, b} {
		assertNoError(t, f.h.Close())
		f.srv.Close()
	}
	waitGoroutines(t, baseline)
}
