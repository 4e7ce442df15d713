package liveflux_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// TestWebSocketErrors covers bad messages that are answered with an error
// message, after which the connection keeps working.
func TestWebSocketErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, c := range []struct {
		name   string
		frame  string // ID is a counter's ID, UNKNOWN an unknown one
		about  string // "id", "unknown" or "" (the error's componentID)
		code   int
		reason string // in the error's message
	}{
		{"init unknown id", `{"type":"init","componentID":"UNKNOWN"}`, "unknown", 404, "not found"},
		{"action on unknown id", `{"type":"action","componentID":"UNKNOWN","action":"inc"}`, "unknown", 404, "not found"},
		{"malformed JSON", `{"type":"init","componentID":`, "", 400, "malformed"},
		{"not an object", `["init","ID"]`, "", 400, "malformed"},
		{"type not a string", `{"type":1,"componentID":"ID"}`, "", 400, "malformed"},
		{"componentID not a string", `{"type":"init","componentID":7}`, "", 400, "malformed"},
		{"missing componentID", `{"type":"init"}`, "", 400, "componentID"},
		{"unknown type", `{"type":"explode","componentID":"ID"}`, "id", 400, "type"},
		{"action without action name", `{"type":"action","componentID":"ID"}`, "id", 400, "action"},
		{"data an array", `{"type":"action","componentID":"ID","action":"add","data":["n","1"]}`, "id", 400, "object"},
		{"data a string", `{"type":"action","componentID":"ID","action":"add","data":"n=1"}`, "id", 400, "object"},
		{"field a number", `{"type":"action","componentID":"ID","action":"add","data":{"n":1}}`, "id", 400, `"n"`},
		{"field an array of numbers", `{"type":"action","componentID":"ID","action":"add","data":{"n":[1,2]}}`, "id", 400, `"n"`},
		{"field an object", `{"type":"action","componentID":"ID","action":"add","data":{"n":{"v":"1"}}}`, "id", 400, `"n"`},
		{"component error", `{"type":"action","componentID":"ID","action":"usererr"}`, "id", 409, "already taken"},
		{"component failure", `{"type":"action","componentID":"ID","action":"fail"}`, "id", 500, "component failed"},
		{"component panic", `{"type":"action","componentID":"ID","action":"panic"}`, "id", 500, "failed"},
		{"unknown action", `{"type":"action","componentID":"ID","action":"nosuch"}`, "id", 400, "unknown action"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			id := f.mount(t, "counter", nil)
			unknown := "UNKNOWN" + strings.ToUpper(strings.ReplaceAll(t.Name(), "/", "_"))
			cl := f.dial(t)
			cl.send(strings.NewReplacer(`"ID"`, strconv.Quote(id), `"UNKNOWN"`, strconv.Quote(unknown)).Replace(c.frame))
			m := cl.nextMsg()
			about := map[string]string{"id": id, "unknown": unknown, "": ""}[c.about]
			assertErrorMsg(t, m, about, c.code)
			if !strings.Contains(m.Message, c.reason) {
				t.Errorf("message %q does not mention %q", m.Message, c.reason)
			}
			// The connection keeps working and nothing changed.
			assertEqual(t, countOf(t, cl.init(id)), 0, "count")
			if watching(f.h, unknown) {
				t.Errorf("the connection watches the unknown ID %s", unknown)
			}
		})
	}
}

func TestHostilePayloadsKeepTheConnection(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t)
	c := f.dial(t)
	hostile := []string{
		strings.Repeat("[", 30_000) + strings.Repeat("]", 30_000),
		`{"type":"action","componentID":"` + id + `","action":"inc","data":` + strings.Repeat(`{"a":`, 5_000) + `1` + strings.Repeat("}", 5_000) + `}`,
		`{"type":"action","componentID":"` + id + `","action":"inc","data":{"n":[[["x"]]]}}`,
		`{"type":7,"componentID":["x"]}`,
		`{"type":"init","componentID":"` + strings.Repeat("x", 60_000) + `"}`,
		`{"type":"action","componentID":"` + id + `","action":"` + strings.Repeat("z", 1000) + `"}`,
		`null`, `""`, `{}`, `[]`, "\u0000",
	}
	for _, msg := range hostile {
		assertNoError(t, c.trySend(msg))
		if m := c.nextMsg(); m.Type != "error" || (m.Code != 400 && m.Code != 404) {
			t.Fatalf("hostile message %.40q answered %s", msg, m.raw)
		}
	}
	c.sendAction(id, "inc", nil)
	if html := c.nextUpdate(id); !strings.Contains(html, "count=1") {
		t.Fatalf("connection unusable after hostile input: %s", html)
	}
}

// TestWebSocketCloseCodes covers the violations that end a connection.
func TestWebSocketCloseCodes(t *testing.T) {
	t.Parallel()
	initFrame := func(id string, size int) []byte {
		b := fmt.Appendf(nil, `{"type":"init","componentID":%q}`, id)
		return append(b, strings.Repeat(" ", size-len(b))...) // JSON allows trailing space
	}
	for _, c := range []struct {
		name string
		opts []liveflux.WebSocketOption
		typ  int
		msg  func(id string) []byte
		want int // close code; 0: the message is handled
	}{
		{"binary frame", nil, websocket.BinaryMessage, func(id string) []byte { return []byte(`{"type":"init","componentID":"` + id + `"}`) }, websocket.CloseUnsupportedData},
		{"invalid UTF-8", nil, websocket.TextMessage, func(string) []byte { return []byte("{\"type\":\"init\",\"componentID\":\"\xff\xfe\"}") }, websocket.CloseInvalidFramePayloadData},
		{"default read limit, at it", nil, websocket.TextMessage, func(id string) []byte { return initFrame(id, liveflux.DefaultReadLimit) }, 0},
		{"default read limit, one byte over", nil, websocket.TextMessage, func(id string) []byte { return initFrame(id, liveflux.DefaultReadLimit+1) }, websocket.CloseMessageTooBig},
		{"read limit 256, at it", []liveflux.WebSocketOption{liveflux.WithWebSocketReadLimit(256)}, websocket.TextMessage, func(id string) []byte { return initFrame(id, 256) }, 0},
		{"read limit 256, one byte over", []liveflux.WebSocketOption{liveflux.WithWebSocketReadLimit(256)}, websocket.TextMessage, func(id string) []byte { return initFrame(id, 257) }, websocket.CloseMessageTooBig},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, c.opts...)
			id := f.mount(t, "counter", nil)
			cl := f.dial(t)
			assertNoError(t, cl.ws.WriteMessage(c.typ, c.msg(id)))
			if c.want == 0 {
				cl.nextUpdate(id)
				return
			}
			// What follows the violation is not acted on (the server may
			// have closed the socket already: write errors do not matter).
			for range 3 {
				cl.trySend(actionMsg(id, "inc", nil))
			}
			cl.expectClose(c.want)
			waitFor(t, "the server to forget the connection", func() bool { return len(f.h.Watched()) == 0 })
			assertEqual(t, countOf(t, f.post(t, "counter", id, "")), 0, "count")
		})
	}
}

func TestWebSocketMessageRateLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	f, id := counterFixture(t, liveflux.WithWebSocketRateLimit(limit, time.Minute))
	c := f.dial(t)
	for range limit {
		c.init(id) // within the burst
	}
	// Past it, each message is dropped with a 429 error, and the
	// connection is closed once max more have been rejected.
	for i := range limit + 1 {
		c.sendAction(id, "inc", nil)
		if i < limit {
			assertErrorMsg(t, c.nextMsg(), id, http.StatusTooManyRequests) // names the dropped action's component
		}
	}
	for range 3 { // the server may have closed the socket already
		c.trySend(actionMsg(id, "inc", nil))
	}
	c.expectClose(websocket.ClosePolicyViolation)
	// None of the rejected actions ran.
	assertEqual(t, countOf(t, f.post(t, "counter", id, "")), 0, "count")
}

// TestFloodOnOneSocketSparesTheOthers floods one connection past its rate
// limit until it is closed with 1008, while another connection, from the
// same client IP, keeps acting and receiving broadcasts.
func TestFloodOnOneSocketSparesTheOthers(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t, liveflux.WithWebSocketRateLimit(20, time.Second))
	calm := f.dial(t)
	calm.init(id)
	flood := f.dial(t)
	start := time.Now()
	for range 200 {
		if flood.trySend(map[string]any{"type": "action", "componentID": id, "action": "inc"}) != nil {
			break // closed: the flood went on past the limit
		}
	}
	flood.expectClose(websocket.ClosePolicyViolation)
	// The bucket holds 20 and refills 20 a second while the flood lasts.
	most := 20 + int(time.Since(start).Seconds()*20) + 1

	assertNoError(t, f.h.Broadcast(id, map[string]string{"type": "notice"}))
	for {
		m := calm.nextMsg()
		if m.Type == "notice" {
			break
		}
		calm.update(m, id) // the flood's accepted actions
	}
	calm.sendAction(id, "inc", nil)
	got := countOf(t, calm.nextUpdate(id))
	if got < 2 || got > most {
		t.Fatalf("count %d: the flood's burst and refills (at most %d) plus one", got, most-1)
	}
}

func TestWebSocketMessageValidator(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketMessageValidator(func(m *liveflux.WebSocketMessage) error {
		if m.Action == "add" {
			return errors.New("adding is not allowed")
		}
		m.Action = strings.ToLower(strings.TrimSpace(m.Action)) // it may sanitize, too
		return nil
	}))
	id := f.mount(t, "counter", nil)
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "add", map[string]string{"n": "5"})
	m := c.nextMsg()
	assertErrorMsg(t, m, id, http.StatusBadRequest)
	if !strings.Contains(m.Message, "adding is not allowed") {
		t.Errorf("message %q does not say why", m.Message)
	}
	// The connection keeps working, and the rejected action did not run.
	c.sendAction(id, " INC ", nil)
	assertEqual(t, countOf(t, c.nextUpdate(id)), 1, "count")
}

// TestWebSocketHandleWS covers components with HandleWS.
func TestWebSocketHandleWS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "echo", nil)
	cs := f.watchers(t, id, 2)
	a, b := cs[0], cs[1]
	ack := `{"type":"ack","componentID":"` + id + `"}`

	a.sendAction(id, "add", nil)
	want := encodeVerbatim(t, echoReply{Type: "echoed", ID: id, N: 1, Note: "<b>&</b>"})
	assertEqual(t, string(a.next()), string(want), "reply")
	assertEqual(t, string(a.next()), ack, "after the reply")
	// The other watcher got nothing: the next message answers its init.
	if h := b.init(id); !strings.Contains(h, "n=1") {
		t.Fatalf("rendering %q, want n=1", h)
	}

	// A nil reply: only the ack.
	a.sendAction(id, "silent", nil)
	assertEqual(t, string(a.next()), ack, "after a nil reply")

	// A panic: error 500, state kept, connection alive.
	a.sendAction(id, "panic", nil)
	assertErrorMsg(t, a.nextMsg(), id, http.StatusInternalServerError)
	a.sendAction(id, "fail", nil)
	assertErrorMsg(t, a.nextMsg(), id, http.StatusConflict)
	a.sendAction(id, "add", nil)
	want = encodeVerbatim(t, echoReply{Type: "echoed", ID: id, N: 3, Note: "<b>&</b>"})
	assertEqual(t, string(a.next()), string(want), "reply after the panic")
	assertEqual(t, string(a.next()), ack, "after the reply")
	if h := a.init(id); !strings.Contains(h, "n=3") {
		t.Fatalf("rendering %q, want n=3", h)
	}
}

// Guards against: a redirect requested in HandleWS leaks to the next client.
func TestHandleWSRedirectGoesToItsClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "echo", nil)
	c := f.dial(t)
	c.sendAction(id, "go", nil)
	assertEqual(t, string(c.next()), `{"type":"ack","componentID":"`+id+`"}`, "answer to the action")
	assertEqual(t, string(c.next()), `{"type":"redirect","componentID":"`+id+`","data":{"url":"/only-for-the-ws-client"}}`, "message after the ack")
	r, err := f.tryPostAs("someone-else", url.Values{liveflux.FieldKind: {"echo"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}})
	assertNoError(t, err)
	assertEqual(t, r.status, http.StatusOK, "status of the other client's action")
	if to := r.header.Get(liveflux.HeaderRedirect); to != "" {
		t.Errorf("an unrelated HTTP client was redirected to %q (set by HandleWS of another client)", to)
	}
}

// panicReply is a HandleWS reply whose JSON encoding panics.
type panicReply struct{}

func (panicReply) MarshalJSON() ([]byte, error) { panic("reply exploded") }

// wsBadReply answers every WebSocket action with a panicReply.
type wsBadReply struct{ echo }

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

// TestChurn connects, inits and closes 10,000 times and mounts 100,000
// instances into a store capped at 10,000: goroutines return to their
// baseline, the store stays within its cap and the heap stays bounded.
// Not parallel: it counts the process's goroutines.
func TestChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("churn is long")
	}
	base := runtime.NumGoroutine()
	f, id := counterFixture(t)
	var wg sync.WaitGroup
	var cycles atomic.Int64
	for range 8 {
		wg.Go(func() {
			for cycles.Add(1) <= 10_000 {
				ws, _, err := f.dialRaw(nil, "")
				if err != nil {
					t.Error(err)
					return
				}
				ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
				if _, _, err := ws.ReadMessage(); err != nil {
					t.Error(err)
				}
				ws.Close()
			}
		})
	}
	wg.Wait()
	waitFor(t, "every connection forgotten", func() bool { return len(f.h.Watched()) == 0 })

	// One requester mounts them all: raise its share to the whole store.
	store := liveflux.NewMemoryStore(liveflux.WithMaxInstances(10_000), liveflux.WithMaxInstancesPerSession(10_000), liveflux.WithMaxBytesPerSession(1<<30))
	h := liveflux.NewHandler(store, liveflux.WithRegistry(f.reg), liveflux.WithLogger(discardLogger))
	req := httptest.NewRequest("GET", "/", nil)
	var atCap uint64
	for i := range 100_000 {
		if _, err := h.Mount(req, "counter", nil); err != nil {
			t.Fatal(err)
		}
		if i == 20_000 {
			atCap = heapInUse()
		}
	}
	if n := store.Len(); n != 10_000 {
		t.Fatalf("store holds %d instances, cap 10000", n)
	}
	if end := heapInUse(); end > atCap+atCap/2 {
		t.Fatalf("heap grew from %d to %d bytes after the store reached its cap", atCap, end)
	}
	f.h.Close()
	f.srv.Close()
	waitGoroutines(t, base)
}
