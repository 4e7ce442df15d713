package liveflux_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// TestWebSocketMultiplexing drives several components over one socket.
func TestWebSocketMultiplexing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := make([]string, 3)
	for i := range ids {
		ids[i] = f.mount(t, "counter", map[string]string{"start": strconv.Itoa(10 * (i + 1))})
	}
	c := f.dial(t)
	for i, id := range ids {
		assertEqual(t, countOf(t, c.init(id)), 10*(i+1), "count of "+id)
	}
	// Pipelined actions on two of them: one update each, in order.
	c.sendAction(ids[1], "inc", nil)
	c.sendAction(ids[0], "add", map[string]any{"n": []string{"1", "2"}})
	assertEqual(t, countOf(t, c.nextUpdate(ids[1])), 21, "count")
	assertEqual(t, countOf(t, c.nextUpdate(ids[0])), 13, "count")
	// The third was not updated: the next message answers this init.
	assertEqual(t, countOf(t, c.init(ids[2])), 30, "count")
	for _, id := range ids {
		if !watching(f.h, id) {
			t.Errorf("%s not watched", id)
		}
	}
}

func TestWebSocketTooManyComponentsOnOneConnection(t *testing.T) {
	t.Parallel()
	const most = 3
	f := newFixture(t, liveflux.WithWebSocketMaxWatched(most))
	c := f.dial(t)
	for range most {
		c.init(f.mount(t, "counter", nil))
	}
	id := f.mount(t, "counter", nil)
	c.sendInit(id)
	assertErrorMsg(t, c.nextMsg(), id, http.StatusBadRequest)
	c.sendAction(id, "inc", nil)
	assertErrorMsg(t, c.nextMsg(), id, http.StatusBadRequest)
	if watching(f.h, id) {
		t.Error("the refused component is watched")
	}
	// The refused action did not run.
	assertEqual(t, countOf(t, f.post(t, "counter", id, "")), 0, "count")
}

func TestWebSocketLeave(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.mount(t, "counter", nil), f.mount(t, "counter", nil)
	c := f.dial(t)
	c.init(a)
	c.init(b)
	c.send(map[string]string{"type": "leave", "componentID": a})
	c.init(b) // messages are handled in order: the leave has been too
	if watching(f.h, a) {
		t.Error("left component still watched")
	}
	f.post(t, "counter", a, "inc")
	assertEqual(t, countOf(t, c.init(b)), 0, "count") // no update of a came first
}

// Guards against: a page watching many components whose Watching hooks
// all render when it connects was dropped as too slow (close 1013: the
// burst overflowed its send queue of 256), reconnected, and was dropped
// again. The queue holds four messages per component a connection may
// watch.
func TestManyComponentsConnectingAtOnce(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	const n = 900 // one session: within its share of the store (1,000)
	c := f.dial(t)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.mount(t, "room", map[string]string{"room": "hooks", "listen": "no"})
		c.sendInit(ids[i])
	}
	c.awaitAllShowing(ids, "seen=true")
	assertEqual(t, len(f.h.Watched()), n, "components watched")
}
