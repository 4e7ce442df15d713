package liveflux_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// room is a chat room: it subscribes to topic "room:NAME" when mounted,
// is in its presence list as "who" (when given), shows the messages
// published there and who is online.
type room struct {
	liveflux.Base
	Room   string
	Msgs   []string
	Online []string
	Seen   bool          // a client of this node watches it (Watching)
	Here   int           // joins minus leaves, counted from the messages
	topics *atomic.Int32 // HandleTopic calls, of every room; set by the factory
	gate   chan struct{} // when set, HandleTopic of room "slow" waits for it
}

func (r *room) topic() string { return "room:" + r.Room }

func (r *room) Mount(ctx context.Context, p map[string]string) error {
	r.Room = p["room"]
	if p["listen"] != "no" {
		if err := liveflux.Subscribe(ctx, r.topic()); err != nil {
			return err
		}
	}
	if who := p["who"]; who != "" {
		if err := liveflux.Track(ctx, r.topic(), map[string]string{"name": who}); err != nil {
			return err
		}
	}
	if text := p["announce"]; text != "" { // while still mounting
		return liveflux.Publish(ctx, r.topic(), text)
	}
	return nil
}

func (r *room) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "say":
		return liveflux.Publish(ctx, r.topic(), data.Get("text"))
	case "shout":
		return liveflux.Emit(ctx, "shouted", map[string]string{"text": data.Get("text")})
	case "emit":
		return liveflux.Emit(ctx, data.Get("name"), nil)
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action")
}

func (r *room) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	r.topics.Add(1)
	if r.gate != nil && r.Room == "slow" {
		<-r.gate
	}
	if msg.Presence != nil {
		r.Here += len(msg.Presence.Joins) - len(msg.Presence.Leaves)
		r.Online = r.Online[:0]
		for _, e := range liveflux.HandlerOf(ctx).Presence(msg.Topic) {
			r.Online = append(r.Online, strings.Trim(strings.TrimPrefix(string(e.Meta), `{"name":`), `"}`))
		}
		return nil
	}
	var text string
	if err := msg.Decode(&text); err != nil {
		return err
	}
	switch text {
	case "ignore": // no change: no update is sent
		return nil
	case "echo":
		return liveflux.Emit(ctx, "echoed", text)
	}
	r.Msgs = append(r.Msgs, text)
	return nil
}

func (r *room) Watching(_ context.Context, watched bool) error {
	r.Seen = watched
	return nil
}

func (r *room) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "room=%s msgs=[%s] online=[%s] seen=%v here=%d;", r.Room, strings.Join(r.Msgs, ","), strings.Join(r.Online, ","), r.Seen, r.Here)
	return err
}

// roomFixture is a fixture with kind "room"; topics counts HandleTopic
// calls.
func roomFixture(tb testing.TB, gate chan struct{}, opts ...liveflux.WebSocketOption) (*fixture, *atomic.Int32) {
	tb.Helper()
	f := newFixture(tb, opts...)
	var topics atomic.Int32
	assertNoError(tb, f.reg.Register("room", func() liveflux.Component { return &room{topics: &topics, gate: gate} }))
	return f, &topics
}

// awaitShowing waits for an update of id whose rendering contains text,
// skipping others.
func (c *wsClient) awaitShowing(id, text string) string {
	c.tb.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		select {
		case b, ok := <-c.msgs:
			if !ok {
				c.tb.Fatalf("connection ended while waiting for %q: %v", text, c.err)
			}
			m := parseMsg(c.tb, b)
			if m.Type != liveflux.MessageUpdate || m.ComponentID != id {
				continue
			}
			if html := c.update(m, id); strings.Contains(html, text) {
				return html
			}
		case <-deadline.C:
			c.tb.Fatalf("no update of %s showing %q within %v", id, text, waitTimeout)
		}
	}
}

// awaitAllShowing applies updates until the renderings of every one of
// ids contain text.
func (c *wsClient) awaitAllShowing(ids []string, text string) {
	c.tb.Helper()
	waiting := make(map[string]bool, len(ids))
	for _, id := range ids {
		waiting[id] = true
	}
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for len(waiting) > 0 {
		select {
		case b, ok := <-c.msgs:
			if !ok {
				c.tb.Fatalf("connection ended while waiting for %q: %v", text, c.err)
			}
			m := parseMsg(c.tb, b)
			if m.Type != liveflux.MessageUpdate || !waiting[m.ComponentID] {
				continue
			}
			if html := c.update(m, m.ComponentID); strings.Contains(html, text) {
				delete(waiting, m.ComponentID)
			}
		case <-deadline.C:
			c.tb.Fatalf("%d of %d components do not show %q after %v", len(waiting), len(ids), text, waitTimeout)
		}
	}
}

func TestPublishReachesOnlySubscribers(t *testing.T) {
	t.Parallel()
	f, topics := roomFixture(t, nil)
	a1 := f.mount(t, "room", map[string]string{"room": "a"})
	a2 := f.mount(t, "room", map[string]string{"room": "a"})
	b := f.mount(t, "room", map[string]string{"room": "b"})
	c1, c2, cb := f.dial(t), f.dial(t), f.dial(t) // one page each
	c1.init(a1)
	c2.init(a2)
	cb.init(b)
	// From an action, through its ctx:
	c1.sendAction(a1, "say", map[string]string{"text": "hi"})
	c1.awaitShowing(a1, "msgs=[hi]")
	c2.awaitShowing(a2, "msgs=[hi]")
	// From anywhere, through the handler:
	assertNoError(t, f.h.Publish(context.Background(), "room:a", "again"))
	c1.awaitShowing(a1, "msgs=[hi,again]")
	c2.awaitShowing(a2, "msgs=[hi,again]")
	// Room b's instance never ran HandleTopic and got no update: the next
	// frame its page gets is the answer to this init.
	assertEqual(t, topics.Load(), int32(4), "HandleTopic calls (2 rooms × 2 messages)")
	if html := cb.init(b); !strings.Contains(html, "msgs=[]") {
		t.Fatalf("room b got room a's messages: %s", html)
	}
}

// A message that leaves the rendering as it was sends nothing.
func TestUnchangedTopicRenderingIsNotSent(t *testing.T) {
	t.Parallel()
	f, topics := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "q"})
	c := f.dial(t)
	c.init(id)
	assertNoError(t, f.h.Publish(context.Background(), "room:q", "first"))
	c.awaitShowing(id, "msgs=[first]")
	assertNoError(t, f.h.Publish(context.Background(), "room:q", "ignore"))
	waitFor(t, "the ignored message handled", func() bool { return topics.Load() == 2 })
	assertNoError(t, f.h.Publish(context.Background(), "room:q", "second"))
	// The next frame is the second message's update: none came for the
	// ignored one, and it is a diff on the first (the revision did not
	// move).
	m := c.nextMsg()
	if !isEdits(m) {
		t.Fatalf("want a diff against the first message's rendering, got %s", m.raw)
	}
	if html := c.update(m, id); !strings.Contains(html, "msgs=[first,second]") {
		t.Fatalf("got %s", html)
	}
}

// Topic messages and actions on one instance are serialized: none is lost.
func TestTopicMessagesAndActionsLoseNothing(t *testing.T) {
	t.Parallel()
	f, topics := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "busy"})
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.h.Publish(context.Background(), "room:busy", fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every message handled", func() bool { return topics.Load() == n })
	c, err := f.h.Store().Get(context.Background(), id)
	assertNoError(t, err)
	assertEqual(t, len(c.(*room).Msgs), n, "messages kept")
}

// A subscriber that does not keep up never holds up a publisher or the
// other subscribers.
func TestSlowSubscriberDoesNotBlockPublishers(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	f, _ := roomFixture(t, gate)
	slow := f.mount(t, "room", map[string]string{"room": "slow"})
	fast := f.mount(t, "room", map[string]string{"room": "fast"})
	c := f.dial(t)
	c.init(fast)
	published := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for i := range 3 * liveflux.DefaultTopicBacklog {
			if err := f.h.Publish(context.Background(), "room:slow", fmt.Sprint(i)); err != nil {
				t.Error(err)
			}
		}
		published <- time.Since(start)
	}()
	select {
	case d := <-published:
		t.Logf("%d publishes to a stuck subscriber took %v", 3*liveflux.DefaultTopicBacklog, d)
	case <-time.After(waitTimeout):
		t.Fatal("Publish waits for a stuck subscriber")
	}
	// Another subscriber is served meanwhile.
	assertNoError(t, f.h.Publish(context.Background(), "room:fast", "hello"))
	c.awaitShowing(fast, "msgs=[hello]")
	close(gate) // the slow one catches up with what its queue kept
	c.init(slow)
}

// Guards against a leak: an instance that expired or was deleted is
// unsubscribed the next time a message is published to its topics.
func TestExpiredInstancesAreUnsubscribed(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "gone"})
	if got := f.h.Subscriptions(id); !slices.Equal(got, []string{"room:gone"}) {
		t.Fatalf("subscriptions %v", got)
	}
	assertNoError(t, f.h.Store().Delete(context.Background(), id))
	assertNoError(t, f.h.Publish(context.Background(), "room:gone", "anyone?"))
	waitFor(t, "the deleted instance unsubscribed", func() bool { return len(f.h.Subscriptions(id)) == 0 })
}

func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	if err := liveflux.Subscribe(context.Background(), "x"); !errors.Is(err, liveflux.ErrNoScope) {
		t.Errorf("Subscribe outside a component = %v, want ErrNoScope", err)
	}
	if err := liveflux.Publish(context.Background(), "x", 1); !errors.Is(err, liveflux.ErrNoScope) {
		t.Errorf("Publish outside a component = %v, want ErrNoScope", err)
	}
	f := newFixture(t)
	if err := f.h.Publish(context.Background(), "", 1); err == nil {
		t.Error("Publish to the empty topic succeeded")
	}
	if err := f.h.Publish(context.Background(), "t", func() {}); err == nil {
		t.Error("Publish of a value JSON cannot encode succeeded")
	}
}

func TestMountIDGivesTheID(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	id, html, err := f.h.MountID(httptest.NewRequest(http.MethodGet, "/", nil), "room", map[string]string{"room": "m"})
	assertNoError(t, err)
	if m := idPattern.FindStringSubmatch(string(html)); m == nil || m[1] != id {
		t.Fatalf("MountID returned %q for %s", id, html)
	}
}

// TestTopicDeliveryLeavesNoGoroutines is not parallel: it counts the
// process's goroutines. The workers that deliver topic messages run only
// while there is something to deliver.
func TestTopicDeliveryLeavesNoGoroutines(t *testing.T) {
	baseline := runtime.NumGoroutine()
	f, topics := roomFixture(t, nil)
	const rooms, msgs = 100, 10
	for range rooms {
		f.mount(t, "room", map[string]string{"room": "all"})
	}
	for i := range msgs {
		assertNoError(t, f.h.Publish(context.Background(), "room:all", fmt.Sprint(i)))
	}
	waitFor(t, "every delivery", func() bool { return topics.Load() == rooms*msgs })
	assertNoError(t, f.h.Close())
	f.srv.Close()
	waitGoroutines(t, baseline)
}

// Guards against: a message published while an instance was mounting
// found it missing from the store and unsubscribed it for good.
func TestPublishDuringMountKeepsTheSubscription(t *testing.T) {
	t.Parallel()
	f, topics := roomFixture(t, nil)
	for range 20 {
		f.mount(t, "room", map[string]string{"room": "m", "announce": "hello"})
	}
	id := f.mount(t, "room", map[string]string{"room": "m"})
	waitFor(t, "the announcements handled", func() bool { return topics.Load() >= 20*19/2 })
	if got := f.h.Subscriptions(id); !slices.Equal(got, []string{"room:m"}) {
		t.Fatalf("subscriptions %v", got)
	}
	c := f.dial(t)
	c.init(id)
	assertNoError(t, f.h.Publish(context.Background(), "room:m", "later"))
	c.awaitShowing(id, "later")
}

// Guards against: topic messages kept alive, forever, instances nobody
// uses (each delivery counted as a use of the instance).
func TestTopicMessagesDoNotKeepInstancesAlive(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	store := liveflux.NewMemoryStore(liveflux.WithIdleTTL(ttl))
	f := startFixture(t, fixtureConfig{store: store})
	var topics atomic.Int32
	assertNoError(t, f.reg.Register("room", func() liveflux.Component { return &room{topics: &topics} }))
	id := f.mount(t, "room", map[string]string{"room": "idle"})
	deadline := time.Now().Add(waitTimeout)
	for len(f.h.Subscriptions(id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still subscribed after %v of messages every %v (idle TTL %v)", waitTimeout, ttl/6, ttl)
		}
		assertNoError(t, f.h.Publish(context.Background(), "room:idle", "tick"))
		time.Sleep(ttl / 6) // messages keep coming, as from a dashboard's feed
	}
	if _, err := store.Get(context.Background(), id); !errors.Is(err, liveflux.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}

// tally subscribes to topic "tally" and keeps a running total of the
// numbers published there, as a counter fed by events would. When told it
// missed messages it reloads the total from the source of truth (ledger),
// as a real component reloads from its database. Order counts the messages
// that came out of order. When gate is set, its first message waits for it.
type tally struct {
	liveflux.Base
	Total, Count, Last, Order, Missed, Notices int
	ledger                                     *atomic.Int64 // the true total of what was published
	gate                                       chan struct{}
	calls                                      *atomic.Int32
}

func (t *tally) Mount(ctx context.Context, _ map[string]string) error {
	return liveflux.Subscribe(ctx, "tally")
}
func (t *tally) Handle(context.Context, string, url.Values) error { return nil }
func (t *tally) HandleTopic(_ context.Context, msg *liveflux.TopicMessage) error {
	if t.calls.Add(1) == 1 && t.gate != nil {
		<-t.gate
	}
	if msg.Missed > 0 {
		t.Missed += msg.Missed
		t.Notices++
		t.Total = int(t.ledger.Load()) // reload: the numbers missed are in it
		return nil
	}
	var n int
	if err := msg.Decode(&n); err != nil {
		return err
	}
	if n != t.Last+1 && t.Notices == 0 {
		t.Order++
	}
	t.Count++
	t.Last = n
	if t.Notices == 0 {
		t.Total += n
	} else {
		t.Total = int(t.ledger.Load())
	}
	return nil
}
func (t *tally) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "total=%d count=%d last=%d", t.Total, t.Count, t.Last)
	return err
}

// registerTally registers kind "tally" with f; ledger holds what the test
// publishes in all, calls counts HandleTopic calls.
func registerTally(tb testing.TB, f *fixture, gate chan struct{}) (ledger *atomic.Int64, calls *atomic.Int32) {
	tb.Helper()
	ledger, calls = new(atomic.Int64), new(atomic.Int32)
	assertNoError(tb, f.reg.Register("tally", func() liveflux.Component {
		return &tally{ledger: ledger, gate: gate, calls: calls}
	}))
	return ledger, calls
}

// publishNumbers publishes 1 … n to topic "tally" through h, recording each
// in ledger first.
func publishNumbers(tb testing.TB, h *liveflux.WebSocketHandler, ledger *atomic.Int64, n int) {
	tb.Helper()
	for i := 1; i <= n; i++ {
		ledger.Add(int64(i))
		assertNoError(tb, h.Publish(context.Background(), "tally", i))
	}
}

// tallyOf reads the stored tally id.
func tallyOf(tb testing.TB, f *fixture, id string) *tally {
	tb.Helper()
	c, err := f.h.Store().Get(context.Background(), id)
	assertNoError(tb, err)
	return c.(*tally)
}

// recordingLogger records the messages logged at level Warn and above.
type recordingLogger struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recordingLogger) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *recordingLogger) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}
func (r *recordingLogger) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recordingLogger) WithGroup(string) slog.Handler      { return r }

// count returns how many messages containing s were logged.
func (r *recordingLogger) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

// Guards against: a subscriber whose queue overflowed lost messages
// without being told (a running total fed by 2,000 messages was left at a
// third of the truth, for good), and the log had one line per message
// lost. Now it is told how many it missed, reloads, and ends on the truth;
// the log says so once.
func TestSubscriberThatFallsBehindIsTold(t *testing.T) {
	t.Parallel()
	logs := &recordingLogger{}
	gate := make(chan struct{})
	f := newFixture(t, liveflux.WithTopicBacklog(100), liveflux.WithLogger(slog.New(logs)))
	ledger, calls := registerTally(t, f, gate)
	id := f.mount(t, "tally", nil)
	c := f.dial(t)
	c.init(id)
	const n = 2000
	publishNumbers(t, f.h, ledger, 1)
	waitFor(t, "the first message to be handled", func() bool { return calls.Load() == 1 })
	publishNumbers(t, f.h, ledger, n) // a ledger of 1 + (1 … 2,000), the subscriber stuck on the first
	close(gate)
	want := fmt.Sprintf("total=%d ", 1+n*(n+1)/2)
	c.awaitShowing(id, want)
	// Told it missed some, it reloaded the total: the client may show the
	// truth before the messages still in the log are handled.
	waitFor(t, "the last message to be handled", func() bool { return tallyOf(t, f, id).Last == n })
	got := tallyOf(t, f, id)
	if got.Notices == 0 || got.Missed < n-100 {
		t.Fatalf("told of %d missed messages in %d notices, want at least %d", got.Missed, got.Notices, n-100)
	}
	assertEqual(t, got.Count+got.Missed, n+1, "messages handled and missed")
	assertEqual(t, logs.count("fell further behind"), 1, "log lines about it")
}

// Topic messages of a burst are all handled, in order, by a subscriber
// that keeps up, however many: they wait in the topic's log, read in
// batches, not in a queue of 256 per subscriber.
func TestBurstIsHandledInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ledger, calls := registerTally(t, f, nil)
	id := f.mount(t, "tally", nil)
	const n = 10_000
	publishNumbers(t, f.h, ledger, n)
	waitFor(t, "every message handled", func() bool { return tallyOf(t, f, id).Last == n })
	got := tallyOf(t, f, id)
	assertEqual(t, got.Count, n, "messages handled")
	assertEqual(t, got.Order, 0, "messages out of order")
	assertEqual(t, got.Missed, 0, "messages missed")
	assertEqual(t, got.Total, n*(n+1)/2, "total")
	if c := int(calls.Load()); c != n {
		t.Fatalf("%d HandleTopic calls, want %d", c, n)
	}
}

// echoer shows the number of its "inc" actions, and publishes each to
// topic "echoes", to which it is subscribed itself (as examples/websocket
// does to keep instances in sync); a message "-1" marks it done.
type echoer struct {
	liveflux.Base
	N    int
	Done bool
}

func (e *echoer) Mount(ctx context.Context, _ map[string]string) error {
	return liveflux.Subscribe(ctx, "echoes")
}
func (e *echoer) Handle(ctx context.Context, _ string, _ url.Values) error {
	e.N++
	return liveflux.Publish(ctx, "echoes", e.N)
}
func (e *echoer) HandleTopic(_ context.Context, msg *liveflux.TopicMessage) error {
	var n int
	if err := msg.Decode(&n); err != nil {
		return err
	}
	if n < 0 {
		e.Done = true
	} else {
		e.N = max(e.N, n) // its own change: nothing new
	}
	return nil
}
func (e *echoer) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "n=%d done=%v", e.N, e.Done)
	return err
}

// Guards against: a component that shows its change in the answer to an
// action and publishes it to a topic it is subscribed to sent each watcher
// two updates with the same HTML (the re-render after the topic message
// did not know the rendering after the action).
func TestActThenPublishToSelfSendsOneUpdate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("echoer", func() liveflux.Component { return &echoer{} }))
	id := f.mount(t, "echoer", nil)
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "inc", nil)
	if html := c.nextUpdate(id); !strings.Contains(html, "n=1 done=false") {
		t.Fatalf("the action's update shows %s", html)
	}
	// The topic's messages reach the instance in order: "done" is handled
	// after the echo of the action, and the next update must be its.
	assertNoError(t, f.h.Publish(context.Background(), "echoes", -1))
	if html := c.update(c.nextMsg(), id); !strings.Contains(html, "n=1 done=true") {
		t.Fatalf("a second update before done's: %s", html)
	}
	for _, m := range c.before() {
		if m.Type == liveflux.MessageUpdate {
			t.Fatalf("an update after the last change: %s", m.raw)
		}
	}
}
