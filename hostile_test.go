package liveflux_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
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

// Connections that close while their actions run leave no goroutine
// behind once the handler is closed. Not parallel: it counts the
// process's goroutines.
func TestClosedActionsLeaveNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	f, id, started := waiterFixture(t)
	for range 20 {
		c := f.dialIdle(t)
		c.sendAction(id, "wait", nil)
		awaitContext(t, started, func() { c.ws.Close() })
	}
	f.h.Close()
	f.srv.Close()
	waitGoroutines(t, base)
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

// A WebSocket handshake that lost its Upgrade header on the way (a proxy
// that does not pass it on) is refused with a short 400, not answered with
// the client runtime, which a client trying to connect used to download
// again on every attempt; so is a handshake to an HTTP-only Handler.
func TestHandshakeWithoutUpgradeGetsNoRuntime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	get := func(h http.Handler, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/liveflux", nil)
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Version", "13")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, c := range []struct {
		name string
		rec  *httptest.ResponseRecorder
		want string
	}{
		{"Upgrade dropped by a proxy", get(f.h), "a proxy on the way does not pass it on"},
		{"an HTTP-only handler", get(newTestHandler(t), "Upgrade", "websocket", "Connection", "Upgrade"), "serves HTTP only"},
	} {
		if c.rec.Code != http.StatusBadRequest || !strings.Contains(c.rec.Body.String(), c.want) || c.rec.Body.Len() > 200 {
			t.Errorf("%s: %d %.100q (%s), want 400 saying %q", c.name, c.rec.Code, c.rec.Body.String(), c.rec.Header().Get("Content-Type"), c.want)
		}
	}
	// The runtime itself is still served.
	req := httptest.NewRequest(http.MethodGet, "/liveflux", nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/javascript") {
		t.Fatalf("runtime: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}
