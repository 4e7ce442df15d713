package liveflux_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// waiterFixture is a fixture with kind "waiter" registered and one
// mounted (its ID), and the channels its action "wait" reports on.
func waiterFixture(t *testing.T) (*fixture, string, chan context.Context) {
	t.Helper()
	f := newFixture(t)
	started, release := make(chan context.Context, 1), make(chan struct{})
	t.Cleanup(func() { close(release) })
	assertNoError(t, f.reg.Register("waiter", func() liveflux.Component {
		return &waiter{started: started, release: release}
	}))
	return f, f.mount(t, "waiter", nil), started
}

// awaitContext waits for the context of a "wait" action, then for it to
// end.
func awaitContext(t *testing.T, started chan context.Context, leave func()) {
	t.Helper()
	var ctx context.Context
	select {
	case ctx = <-started:
	case <-time.After(waitTimeout):
		t.Fatal("the action did not start")
	}
	leave()
	select {
	case <-ctx.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("the action's context still runs %v after its client left", waitTimeout)
	}
}

// An action over WebSocket learns that its client left from its context,
// as an HTTP action does from r.Context(): it used to get the handler's,
// which only Shutdown ends, and ran on for nobody.
func TestActionContextEndsWithItsConnection(t *testing.T) {
	t.Parallel()
	t.Run("connection dropped", func(t *testing.T) {
		t.Parallel()
		f, id, started := waiterFixture(t)
		c := f.dialIdle(t)
		c.sendAction(id, "wait", nil)
		awaitContext(t, started, func() { c.ws.Close() })
	})
	t.Run("close frame", func(t *testing.T) {
		t.Parallel()
		f, id, started := waiterFixture(t)
		c := f.dialIdle(t)
		c.sendAction(id, "wait", nil)
		awaitContext(t, started, func() {
			c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
		})
	})
	t.Run("over HTTP", func(t *testing.T) {
		t.Parallel()
		f, id, started := waiterFixture(t)
		ctx, cancel := context.WithCancel(context.Background())
		form := url.Values{liveflux.FieldKind: {"waiter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"wait"}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		go func() {
			if resp, err := f.srv.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		awaitContext(t, started, cancel)
	})
}

// Messages a client sends while an action of its runs are still handled
// after it, in order, now that the connection is read meanwhile.
func TestMessagesDuringAnActionWaitTheirTurn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBlocker(t, f)
	blocker := f.mount(t, "blocker", nil)
	id := f.mount(t, "counter", nil)
	c := f.dial(t)
	c.init(id)
	c.sendAction(blocker, "block", nil)
	b.awaitStarted(t)
	c.sendAction(id, "inc", nil)
	c.sendAction(id, "inc", nil)
	b.release <- struct{}{}
	var counts []int
	for len(counts) < 2 {
		if m := c.nextMsg(); m.Type == liveflux.MessageUpdate && m.ComponentID == id {
			counts = append(counts, countOf(t, c.update(m, id)))
		}
	}
	if counts[0] != 1 || counts[1] != 2 {
		t.Fatalf("counts %v after the action, want [1 2]", counts)
	}
}
