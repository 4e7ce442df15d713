package fluxredis_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// heldStore holds up the return of the first Update that changes a
// counter's Count (an action), after the store has written it, until
// released: as if the action's goroutine were not scheduled for a while,
// or Redis were slow to answer.
type heldStore struct {
	liveflux.Store
	armed   atomic.Bool
	written chan struct{} // receives when that Update has written
	release chan struct{} // then lets it return
	once    sync.Once
}

func newHeldStore() *heldStore {
	s := &heldStore{written: make(chan struct{}, 1), release: make(chan struct{})}
	s.armed.Store(true)
	return s
}

func (s *heldStore) wrap(inner liveflux.Store) liveflux.Store {
	s.Store = inner
	return s
}

// letGo lets the held Update return.
func (s *heldStore) letGo() { s.once.Do(func() { close(s.release) }) }

func (s *heldStore) Update(ctx context.Context, id string, fn func(liveflux.Component) error) error {
	changed := false
	err := s.Store.Update(ctx, id, func(c liveflux.Component) error {
		before := c.(*counter).Count
		if err := fn(c); err != nil {
			return err
		}
		changed = c.(*counter).Count != before
		return nil
	})
	if err == nil && changed && s.armed.CompareAndSwap(true, false) {
		s.written <- struct{}{}
		<-s.release
	}
	return err
}

// awaitWrite waits until a held Update has written.
func (s *heldStore) awaitWrite(t *testing.T) {
	t.Helper()
	select {
	case <-s.written:
	case <-time.After(10 * time.Second):
		t.Fatal("the action was not stored")
	}
}

// An action whose rendering reaches the handler after the rendering that
// answered an init on the same node (a newer revision, sent to that one
// connection only) must still reach the clients of the other nodes: they
// were sent neither.
func TestActionOvertakenByInitReachesOtherNodes(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	held := newHeldStore()
	a := newNodeWrapped(t, srv.Addr, reg, held.wrap)
	b := newNode(t, srv.Addr, reg)
	t.Cleanup(held.letGo) // before the nodes close, which wait for it
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	id := a.mount()

	ca, cb := dial(t, a), dial(t, b)
	for _, c := range []*wsClient{ca, cb} {
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
	}

	// An HTTP action on A: stored, but not yet handed to A's handler.
	type reply struct {
		status int
		body   string
	}
	done := make(chan reply, 1)
	go func() {
		status, body := a.act(id, "inc")
		done <- reply{status, body}
	}()
	held.awaitWrite(t)
	// Meanwhile A's only watcher (re)sends init: it is answered with a
	// newer revision, which shows the action.
	ca.send(liveflux.MessageInit, id, "")
	ca.expectCount(id, 1)
	time.Sleep(50 * time.Millisecond) // let the handler finish with the init
	held.letGo()
	if r := <-done; r.status != http.StatusOK || !strings.Contains(r.body, `<span class="count">1</span>`) {
		t.Fatalf("HTTP action on A: %d %s", r.status, r.body)
	}
	cb.expectCount(id, 1)
}

// A client whose action waits for the store keeps receiving what happens
// on the other nodes meanwhile: it reads every frame at once, so it is not
// too slow, however many updates arrive while it waits.
func TestUpdatesReachClientWhoseActionWaits(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	held := newHeldStore()
	a := newNode(t, srv.Addr, reg)
	b := newNodeWrapped(t, srv.Addr, reg, held.wrap)
	t.Cleanup(held.letGo) // before the nodes close, which wait for it
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	id := a.mount()

	ca, cb := dial(t, a), dial(t, b)
	for _, c := range []*wsClient{ca, cb} {
		c.send(liveflux.MessageInit, id, "")
		c.expectCount(id, 0)
	}
	// cb's action is stored, then waits (as for a slow Redis reply).
	cb.send(liveflux.MessageAction, id, "inc")
	held.awaitWrite(t)

	// Meanwhile more updates than a send queue holds happen on A.
	const n = liveflux.DefaultSendQueue + 50
	for i := 0; i < n; i++ {
		ca.send(liveflux.MessageAction, id, "inc")
	}
	ca.expectCount(id, n+1)
	cb.expectCount(id, n+1)
	held.letGo()
}

// fuse is a field whose JSON encoding panics once lit.
type fuse struct{ lit bool }

func (f fuse) MarshalJSON() ([]byte, error) {
	if f.lit {
		panic("state encoder exploded")
	}
	return []byte("null"), nil
}

// fused is a counter whose action "light" makes its state impossible to
// encode: the store's encoder panics inside Update.
type fused struct {
	counter
	Fuse fuse
}

func (f *fused) Handle(ctx context.Context, action string, data url.Values) error {
	if action == "light" {
		f.Fuse.lit = true
		return nil
	}
	return f.counter.Handle(ctx, action, data)
}

// Guards against: a component whose state encoder panicked inside
// Store.Update ended the process when the action came over WebSocket.
func TestStoreEncoderPanicIsContained(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	if err := reg.Register("fused", func() liveflux.Component { return &fused{} }); err != nil {
		t.Fatal(err)
	}
	n := newNode(t, srv.Addr, reg)
	status, body := n.post(url.Values{liveflux.FieldKind: {"fused"}})
	if status != http.StatusOK {
		t.Fatalf("mount: %d %s", status, body)
	}
	id := idRE.FindStringSubmatch(body)[1]
	c := dial(t, n)
	c.send(liveflux.MessageInit, id, "")
	c.expectCount(id, 0)

	c.send(liveflux.MessageAction, id, "light")
	if m := c.expectError(id, 10*time.Second); m.Code != http.StatusInternalServerError {
		t.Fatalf("error code %d, want 500: %+v", m.Code, m)
	}
	if status, _ := n.post(url.Values{liveflux.FieldKind: {"fused"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"light"}}); status != http.StatusInternalServerError {
		t.Fatalf("HTTP action: status %d, want 500", status)
	}
	// The instance kept its state, the connection and the process go on.
	c.send(liveflux.MessageAction, id, "inc")
	c.expectCount(id, 1)
}
