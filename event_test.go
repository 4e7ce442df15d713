package liveflux_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
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
		if m.Type == liveflux.MessageUpdate && m.ComponentID == id {
			c.update(m, id) // applied, as the JS client does, for the diffs after it
		}
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

// emitter's action "emit" emits field n (default 1) events "big" whose
// detail is a string of field size bytes ("é" for field char=é), and shows
// how many Emit accepted and the last error, if any.
type emitter struct {
	liveflux.Base
	Sent int
	Err  string
}

func (e *emitter) Mount(context.Context, map[string]string) error { return nil }

func (e *emitter) Handle(ctx context.Context, action string, data url.Values) error {
	n, size := 1, 0
	fmt.Sscan(data.Get("n"), &n)
	fmt.Sscan(data.Get("size"), &size)
	char := data.Get("char")
	if char == "" {
		char = "x"
	}
	e.Sent, e.Err = 0, ""
	for range n {
		err := liveflux.Emit(ctx, "big", strings.Repeat(char, size/len(char)))
		if err != nil {
			if !errors.Is(err, liveflux.ErrEventTooLarge) {
				return err
			}
			e.Err = err.Error()
			break
		}
		e.Sent++
	}
	return nil
}

func (e *emitter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<p>sent=%d err=%s</p>", e.Sent, html.EscapeString(e.Err))
	return err
}

// emitterFixture is a fixture with kind "emitter" registered, and one
// mounted: its ID.
func emitterFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("emitter", func() liveflux.Component { return &emitter{} }))
	return f, f.mount(t, "emitter", nil)
}

// postEmit runs action emit over HTTP with fields (name, value, …), as a
// client that names accept in its Accept header ("": none).
func postEmit(t *testing.T, f *fixture, id, accept string, fields ...string) *http.Response {
	t.Helper()
	form := url.Values{liveflux.FieldKind: {"emitter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"emit"}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Set(fields[i], fields[i+1])
	}
	req, err := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(form.Encode()))
	assertNoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := f.srv.Client().Do(req)
	assertNoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	assertEqual(t, resp.StatusCode, http.StatusOK, "status")
	return resp
}

// answerOf decodes the body of an answer in MediaTypeAnswer.
func answerOf(t *testing.T, resp *http.Response) (html string, events []eventData) {
	t.Helper()
	assertEqual(t, resp.Header.Get("Content-Type"), liveflux.MediaTypeAnswer, "Content-Type")
	var a struct {
		HTML   string      `json:"html"`
		Events []eventData `json:"events"`
	}
	assertNoError(t, json.NewDecoder(resp.Body).Decode(&a))
	return a.HTML, a.Events
}

// Events that would not fit in a response header travel in the body of
// the answer to a client that asks for it (the JS client does): 300,000
// bytes of events used to make Chromium refuse the whole response,
// rendering included.
func TestLargeEventsTravelInTheBody(t *testing.T) {
	t.Parallel()
	f, id := emitterFixture(t)
	resp := postEmit(t, f, id, liveflux.MediaTypeAnswer, "n", "5", "size", "60000")
	assertEqual(t, resp.Header.Get(liveflux.HeaderEvents), "", liveflux.HeaderEvents+" header")
	html, events := answerOf(t, resp)
	if !strings.Contains(html, "sent=5 err=</p>") || !strings.Contains(html, `data-flux-component-id="`+id+`"`) {
		t.Fatalf("rendering %q, want the root and every event sent", html)
	}
	if len(events) != 5 {
		t.Fatalf("%d events in the body, want 5", len(events))
	}
	for _, e := range events {
		var s string
		assertNoError(t, json.Unmarshal(e.Detail, &s))
		if e.Name != "big" || len(s) != 60000 {
			t.Fatalf("event %s with %d bytes, want big with 60000", e.Name, len(s))
		}
	}
	// Without events the body is the rendering alone.
	resp = postEmit(t, f, id, "text/html;q=0.9, "+liveflux.MediaTypeAnswer, "n", "0")
	if html, events := answerOf(t, resp); !strings.Contains(html, "sent=0") || events != nil {
		t.Fatalf("answer without events: %q, %v", html, events)
	}
}

// A client that does not ask for the JSON answer (one written from the
// first version of the protocol) still gets the rendering as text/html,
// with its events in the header, up to 2 KiB: past that Emit tells the
// component, and the answer arrives with the events that fit.
func TestEventsInTheHeaderAreBounded(t *testing.T) {
	t.Parallel()
	f, id := emitterFixture(t)
	resp := postEmit(t, f, id, "", "n", "3", "size", "400")
	assertEqual(t, resp.Header.Get("Content-Type"), "text/html; charset=utf-8", "Content-Type")
	var events []eventData
	assertNoError(t, json.Unmarshal([]byte(resp.Header.Get(liveflux.HeaderEvents)), &events))
	assertEqual(t, len(events), 3, "events in the header")

	// Non-ASCII characters are counted as the \u escapes they become.
	for _, c := range []struct{ char, n string }{{"x", "10"}, {"é", "10"}, {"😀", "10"}} {
		resp = postEmit(t, f, id, "", "n", c.n, "size", "600", "char", c.char)
		raw := resp.Header.Get(liveflux.HeaderEvents)
		body, _ := io.ReadAll(resp.Body)
		if len(raw) > 2048 {
			t.Fatalf("%s: header of %d bytes, over 2048", c.char, len(raw))
		}
		if !strings.Contains(string(body), "err=liveflux: event too large") || !strings.Contains(string(body), liveflux.MediaTypeAnswer) {
			t.Fatalf("%s: rendering %q, want Emit's error naming the way out", c.char, body)
		}
		assertNoError(t, json.Unmarshal([]byte(raw), &events))
		var sent int
		fmt.Sscanf(string(body[strings.Index(string(body), "sent="):]), "sent=%d", &sent)
		if sent == 0 || len(events) != sent {
			t.Fatalf("%s: %d events in the header, %d accepted by Emit", c.char, len(events), sent)
		}
	}
}

// One event may take 64 KiB, and the events of one call 1 MiB, whatever
// carries them.
func TestEventBounds(t *testing.T) {
	t.Parallel()
	f, id := emitterFixture(t)
	resp := postEmit(t, f, id, liveflux.MediaTypeAnswer, "size", "70000")
	html, events := answerOf(t, resp)
	if len(events) != 0 || !strings.Contains(html, "sent=0 err=liveflux: event too large: big is 70027 bytes, over MaxEventBytes (65536)") {
		t.Fatalf("one event of 70,000 bytes: %q, %d events", html, len(events))
	}
	resp = postEmit(t, f, id, liveflux.MediaTypeAnswer, "n", "32", "size", "60000")
	html, events = answerOf(t, resp)
	if len(events) != 17 || !strings.Contains(html, "sent=17 err=liveflux: event too large") || !strings.Contains(html, "MaxEventsBytes") {
		t.Fatalf("32 events of 60,000 bytes: %q, %d events; want 17", html, len(events))
	}

	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "emit", map[string]string{"n": "2", "size": "60000"})
	for range 2 {
		if e := c.awaitEvent(id); e.Name != "big" || len(e.Detail) != 60002 {
			t.Fatalf("event frame %s of %d bytes", e.Name, len(e.Detail))
		}
	}
	c.sendAction(id, "emit", map[string]string{"size": "70000"})
	if html := c.nextUpdate(id); !strings.Contains(html, "sent=0 err=liveflux: event too large") {
		t.Fatalf("over WebSocket: %q", html)
	}
}
