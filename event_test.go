package liveflux_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// eventData is the data of an event frame.
type eventData struct {
	Name   string          `json:"name"`
	Detail json.RawMessage `json:"detail"`
}

// awaitEvent waits for an event frame of id, skipping other frames.
func (c *wsClient) awaitEvent(id string) eventData {
	c.tb.Helper()
	for {
		m := c.nextMsg()
		if m.Type != liveflux.MessageEvent {
			continue
		}
		var e eventData
		assertNoError(c.tb, json.Unmarshal(m.Data, &e))
		assertEqual(c.tb, m.ComponentID, id, "event's component")
		return e
	}
}

func TestEmitOverWebSocket(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "e"})
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "shout", map[string]string{"text": "héllo"})
	e := c.awaitEvent(id)
	assertEqual(t, e.Name, "shouted", "event name")
	assertEqual(t, string(e.Detail), `{"text":"héllo"}`, "event detail")
}

func TestEmitOverHTTP(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "e"})
	form := url.Values{liveflux.FieldKind: {"room"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"shout"}, "text": {"héllo 😀"}}
	resp, err := f.srv.Client().PostForm(f.srv.URL, form)
	assertNoError(t, err)
	resp.Body.Close()
	assertEqual(t, resp.StatusCode, http.StatusOK, "status")
	raw := resp.Header.Get(liveflux.HeaderEvents)
	for _, r := range raw {
		if r > 0x7e {
			t.Fatalf("header %s is not ASCII", liveflux.HeaderEvents)
		}
	}
	var events []eventData
	assertNoError(t, json.Unmarshal([]byte(raw), &events))
	var detail struct{ Text string }
	if len(events) != 1 || events[0].Name != "shouted" || json.Unmarshal(events[0].Detail, &detail) != nil || detail.Text != "héllo 😀" {
		t.Fatalf("events %s", raw)
	}
}

// An event emitted while handling a topic message reaches every page that
// shows the instance, also when the rendering did not change (it used to
// be lost with the rendering that was not sent).
func TestEmitFromTopicReachesEveryWatcher(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "e"})
	a, b := f.dial(t), f.dial(t)
	a.init(id)
	b.init(id)
	// The first message makes the rendering known; "echo" then leaves it
	// as it is: its event travels without an update.
	assertNoError(t, f.h.Publish(context.Background(), "room:e", "ignore"))
	assertNoError(t, f.h.Publish(context.Background(), "room:e", "echo"))
	for _, c := range []*wsClient{a, b} {
		assertEqual(t, c.awaitEvent(id).Name, "echoed", "event name")
	}
}

func TestEmitErrors(t *testing.T) {
	t.Parallel()
	if err := liveflux.Emit(context.Background(), "x", nil); err == nil {
		t.Error("Emit outside a component succeeded")
	}
	f, _ := roomFixture(t, nil)
	id := f.mount(t, "room", map[string]string{"room": "e"})
	for _, name := range []string{"", "a.b", "has space", "<x>"} {
		form := url.Values{liveflux.FieldKind: {"room"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"emit"}, "name": {name}}
		resp, err := f.srv.Client().PostForm(f.srv.URL, form)
		assertNoError(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get(liveflux.HeaderEvents) != "" {
			t.Errorf("Emit(%q): status %d, events %q; want the action to fail", name, resp.StatusCode, resp.Header.Get(liveflux.HeaderEvents))
		}
	}
}
