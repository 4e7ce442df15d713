package liveflux_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// TestWebSocketUpdatesEveryWatcher covers components without HandleWS:
// an action reaches every connection watching the instance.
func TestWebSocketUpdatesEveryWatcher(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t)
	cs := f.watchers(t, id, 2)
	a, b := cs[0], cs[1]
	rev := int(max(a.views[id].Rev, b.views[id].Rev))

	a.sendAction(id, "inc", nil)
	ma, mb := a.nextMsg(), b.nextMsg()
	assertEqual(t, string(ma.raw), string(mb.raw), "update of the other watcher")
	a.update(ma, id)
	b.update(mb, id)
	// Exactly {"type":"update","componentID":id,"data":{"html":…}}.
	var shape struct {
		Type        string            `json:"type"`
		ComponentID string            `json:"componentID"`
		Data        map[string]string `json:"data"`
	}
	assertNoError(t, jsonUnmarshalStrict(ma.raw, &shape))
	if len(shape.Data) != 1 || shape.Data["html"] == "" {
		t.Fatalf("data = %v, want only html", shape.Data)
	}
	html := shape.Data["html"]
	assertEqual(t, countOf(t, html), 1, "count")
	if r := revOf(t, html); r <= rev {
		t.Fatalf("revision %d after the action, want > %d", r, rev)
	}
	rev = revOf(t, html)

	// Fields given as arrays reach Handle as url.Values.
	b.sendAction(id, "add", map[string]any{"n": []string{"2", "3"}})
	for _, c := range []*wsClient{a, b} {
		h := c.nextUpdate(id)
		assertEqual(t, countOf(t, h), 6, "count")
		if revOf(t, h) <= rev {
			t.Fatalf("revision did not increase: %s", h)
		}
	}

	// A redirect goes to the acting connection only, after the update.
	a.sendAction(id, "go", nil)
	assertEqual(t, countOf(t, a.nextUpdate(id)), 7, "count")
	m := a.nextMsg()
	assertEqual(t, string(m.raw), `{"type":"redirect","componentID":"`+id+`","data":{"url":"/next"}}`, "redirect")
	assertEqual(t, countOf(t, b.nextUpdate(id)), 7, "count")
	assertEqual(t, countOf(t, b.init(id)), 7, "count") // no redirect came first

	// A failed action changes nothing and tells only the actor.
	a.sendAction(id, "usererr", nil)
	assertErrorMsg(t, a.nextMsg(), id, http.StatusConflict)
	assertEqual(t, countOf(t, b.init(id)), 7, "count")
}

func TestHTTPActionUpdatesWebSocketWatchers(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t)
	cs := f.watchers(t, id, 2)
	a, b := cs[0], cs[1]
	body := f.post(t, "counter", id, "inc")
	assertEqual(t, countOf(t, body), 1, "count")
	assertEqual(t, a.nextUpdate(id), body, "update of a")
	assertEqual(t, b.nextUpdate(id), body, "update of b")
	// A failed HTTP action sends nothing.
	status, _, err := f.tryPost(actionForm(id, "usererr"))
	assertNoError(t, err)
	assertEqual(t, status, http.StatusConflict, "status")
	assertEqual(t, countOf(t, a.init(id)), 1, "count")
}

// TestConcurrentActionsLoseNothing runs actions over WebSocket and HTTP on
// one instance at once.
func TestConcurrentActionsLoseNothing(t *testing.T) {
	t.Parallel()
	const wsClients, httpClients, each = 10, 10, 50
	const total = (wsClients + httpClients) * each
	f, id := counterFixture(t, liveflux.WithWebSocketSendQueue(2*total))
	cs := f.watchers(t, id, wsClients)
	errs := make(chan error, wsClients+httpClients)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			for range each {
				if err := c.trySend(map[string]string{"type": "action", "componentID": id, "action": "inc"}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	form := actionForm(id, "inc")
	for range httpClients {
		wg.Go(func() {
			for range each {
				status, body, err := f.tryPost(form)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("POST: %d %s", status, body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every action was applied once, in turn. Every watcher sees counts
	// only grow (a rendering overtaken by a newer one is not sent) and
	// ends on the final count.
	for i, c := range cs {
		last := 0
		for last != total {
			n := countOf(t, c.nextUpdate(id))
			if n <= last || n > total {
				t.Fatalf("client %d: count %d after %d", i, n, last)
			}
			last = n
		}
	}
	assertEqual(t, countOf(t, f.post(t, "counter", id, "")), total, "final count")
}

// noBase implements Component without embedding Base: it has no
// revisions.
type noBase struct {
	kind, id string
	N        int
}

func (c *noBase) GetKind() string                                  { return c.kind }
func (c *noBase) SetKind(k string)                                 { c.kind = k }
func (c *noBase) GetID() string                                    { return c.id }
func (c *noBase) SetID(id string)                                  { c.id = id }
func (c *noBase) Mount(context.Context, map[string]string) error   { return nil }
func (c *noBase) Handle(context.Context, string, url.Values) error { c.N++; return nil }
func (c *noBase) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<b>%d</b>", c.N)
	return err
}

// Guards against: a component without Base never gets WebSocket updates.
func TestComponentWithoutBaseGetsUpdates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("nobase", func() liveflux.Component { return &noBase{} }))
	id := f.mount(t, "nobase", nil)
	c := f.dial(t)
	wantShowing := func(html, text, what string) {
		t.Helper()
		if !strings.Contains(html, text) {
			t.Fatalf("%s: %s, want %s", what, html, text)
		}
	}
	wantShowing(c.init(id), "<b>0</b>", "the init answer")
	c.sendAction(id, "inc", nil)
	wantShowing(c.nextUpdate(id), "<b>1</b>", "the update after a WebSocket action")
	wantShowing(f.post(t, "nobase", id, "inc"), "<b>2</b>", "the HTTP action's rendering")
	wantShowing(c.nextUpdate(id), "<b>2</b>", "the update after an HTTP action")
}

// TestReconnectCatchesUp pins the delivery semantics: a client that was
// away while a component changed gets, on its next init, a full rendering
// of the current state with a higher revision than any it saw; Broadcast
// payloads sent while it was away are not replayed.
func TestReconnectCatchesUp(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t)
	c := f.dial(t)
	before := c.init(id)
	c.close()

	for range 3 {
		f.post(t, "counter", id, "inc")
	}
	assertNoError(t, f.h.Broadcast(id, map[string]string{"type": "notice"}))

	back := f.dial(t)
	after := back.init(id)
	if !strings.Contains(after, "count=3") {
		t.Fatalf("after reconnect: %s", after)
	}
	if revOf(t, after) <= revOf(t, before) {
		t.Fatalf("revision did not advance: %s then %s", before, after)
	}
	if got := back.before(); len(got) > 0 {
		t.Fatalf("a message from while the client was away was replayed: %s", got[0].raw)
	}
}

// Guards against: a connection began to watch only after its init (or
// action) released the instance, so a newer rendering sent in between
// never reached it and it stayed on an older one for good.
func TestWatchingStartsWithTheNewestRendering(t *testing.T) {
	t.Parallel()
	for _, first := range []string{"init", "action"} {
		t.Run(first, func(t *testing.T) {
			t.Parallel()
			f, store := newHookFixture(t)
			id := f.mount(t, "counter", nil)
			c := f.dial(t)
			// Right after the client's own request released the instance,
			// another client acts on it.
			after := func(string) { f.post(t, "counter", id, "inc") }
			store.after.Store(&after)
			want := 1
			if first == "init" {
				c.sendInit(id)
			} else {
				c.sendAction(id, "inc", nil)
				want = 2
			}
			c.awaitCount(id, want)
		})
	}
}

// TestNoClientStaysOnAnOlderRendering starts many clients watching one
// instance while another client keeps acting on it: once the actions stop,
// every client shows the last rendering (under load 1–2 % of them used to
// stay on an older one for good).
func TestNoClientStaysOnAnOlderRendering(t *testing.T) {
	t.Parallel()
	const clients, actions = 400, 60
	f, id := counterFixture(t)
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
		cs[i].sendInit(id)
	}
	<-done
	for _, c := range cs {
		c.awaitCount(id, actions)
	}
	t.Logf("%d clients that started watching during %d actions all show the last rendering", clients, actions)
}
