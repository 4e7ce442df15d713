package liveflux_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// panicReply is a HandleWS reply whose JSON encoding panics.
type panicReply struct{}

func (panicReply) MarshalJSON() ([]byte, error) { panic("reply exploded") }

// wsBadReply answers every WebSocket action with a panicReply.
type wsBadReply struct{ wsEcho }

func (*wsBadReply) HandleWS(context.Context, *liveflux.WebSocketMessage) (interface{}, error) {
	return panicReply{}, nil
}

// Guards against: a panic outside the component wrappers (a reply whose
// encoding panics, a panicking message validator) ended the process.
func TestPanicHandlingAMessageIsContained(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketMessageValidator(func(m *liveflux.WebSocketMessage) error {
		if m.Action == "validator-panics" {
			panic("validator exploded")
		}
		return nil
	}))
	assertNoError(t, f.reg.Register("badreply", func() liveflux.Component { return &wsBadReply{} }))
	bad, counter := f.mount(t, "badreply", nil), f.mount(t, "counter", nil)
	c := f.dial(t)
	c.init(counter)

	c.sendAction(bad, "anything", nil)
	assertErrorMsg(t, c.nextMsg(), bad, http.StatusInternalServerError)
	c.sendAction(counter, "validator-panics", nil)
	assertErrorMsg(t, c.nextMsg(), counter, http.StatusInternalServerError)

	// The connection and the handler go on.
	c.sendAction(counter, "inc", nil)
	assertEqual(t, countOf(t, c.nextUpdate(counter)), 1, "count")
}

// hookStore runs after, when set, each time an Update of the wrapped store
// has returned: at the moment the instance was released.
type hookStore struct {
	*liveflux.MemoryStore
	after atomic.Pointer[func(id string)]
}

func (s *hookStore) Update(ctx context.Context, id string, fn func(liveflux.Component) error) error {
	err := s.MemoryStore.Update(ctx, id, fn)
	if after := s.after.Swap(nil); after != nil {
		(*after)(id)
	}
	return err
}

// Guards against: a connection began to watch only after its init (or
// action) released the instance, so a newer rendering sent in between
// never reached it and it stayed on an older one for good.
func TestWatchingStartsWithTheNewestRendering(t *testing.T) {
	t.Parallel()
	for _, first := range []string{"init", "action"} {
		t.Run(first, func(t *testing.T) {
			t.Parallel()
			store := &hookStore{MemoryStore: liveflux.NewMemoryStore()}
			f := startFixture(t, fixtureConfig{store: store})
			id := f.mount(t, "counter", nil)
			c := f.dial(t)
			// Right after the client's own request released the instance,
			// another client acts on it.
			after := func(string) { f.post(t, "counter", id, "inc") }
			store.after.Store(&after)
			want := 1
			if first == "init" {
				c.send(map[string]string{"type": "init", "componentID": id})
			} else {
				c.sendAction(id, "inc", nil)
				want = 2
			}
			c.awaitCount(id, want)
		})
	}
}

// awaitCount applies the updates of id as the JS client does (an older
// rendering than the one shown is ignored) until the count shown is want.
func (c *wsClient) awaitCount(id string, want int) {
	c.tb.Helper()
	shown, rev := -1, -1
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for shown != want {
		select {
		case b, ok := <-c.msgs:
			if !ok {
				c.tb.Fatalf("connection ended with count=%d shown, want %d: %v", shown, want, c.err)
			}
			html := c.update(parseMsg(c.tb, b), id)
			if r := revOf(c.tb, html); r > rev {
				shown, rev = countOf(c.tb, html), r
			}
		case <-deadline.C:
			c.tb.Fatalf("client shows count=%d (rev %d) after %v, want count=%d", shown, rev, waitTimeout, want)
		}
	}
}

// TestNoClientStaysOnAnOlderRendering starts many clients watching one
// instance while another client keeps acting on it: once the actions stop,
// every client shows the last rendering (under load 1–2 % of them used to
// stay on an older one for good).
func TestNoClientStaysOnAnOlderRendering(t *testing.T) {
	t.Parallel()
	const clients, actions = 400, 60
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	actor := f.dial(t)
	actor.init(id)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range actions {
			if err := actor.trySend(map[string]any{"type": "action", "componentID": id, "action": "inc"}); err != nil {
				return
			}
		}
	}()
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = f.dial(t)
		cs[i].send(map[string]string{"type": "init", "componentID": id})
	}
	<-done
	for _, c := range cs {
		c.awaitCount(id, actions)
	}
	t.Logf("%d clients that started watching during %d actions all show the last rendering", clients, actions)
}
