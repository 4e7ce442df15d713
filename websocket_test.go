package liveflux_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// handshakeCase is one handshake attempt and the status it must get.
type handshakeCase struct {
	name   string
	origin string // "" sends no Origin header
	query  string
	header http.Header
	want   int // http.StatusSwitchingProtocols, or the refusal
}

// checkHandshake dials as c says and checks the outcome: an upgraded
// connection that works, or a refusal without an upgrade.
func checkHandshake(t *testing.T, f *fixture, id string, c handshakeCase) {
	t.Helper()
	hdr := http.Header{}
	for k, v := range c.header {
		hdr[k] = v
	}
	if c.origin != "" {
		hdr.Set("Origin", c.origin)
	}
	ws, resp, err := f.dialRaw(hdr, c.query)
	if c.want == http.StatusSwitchingProtocols {
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("handshake refused (%d): %v", status, err)
		}
		cl := &wsClient{tb: t, ws: ws, msgs: make(chan []byte, 16)}
		t.Cleanup(cl.close)
		cl.startReading()
		assertEqual(t, countOf(t, cl.init(id)), 0, "count")
		return
	}
	if err == nil {
		ws.Close()
		t.Fatalf("handshake upgraded, want %d", c.want)
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial error %v, want a refused handshake", err)
	}
	assertEqual(t, resp.StatusCode, c.want, "status")
	assertEqual(t, resp.Header.Get("Upgrade"), "", "Upgrade header of the refusal")
}

func TestWebSocketAllowedOrigins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketAllowedOrigins("https://app.example.com", "HTTP://Admin.Example.com:8443/"))
	id := f.mount(t, "counter", nil)
	ok, forbidden := http.StatusSwitchingProtocols, http.StatusForbidden
	for _, c := range []handshakeCase{
		{name: "allowed origin", origin: "https://app.example.com", want: ok},
		{name: "allowed origin in other case", origin: "HTTPS://APP.Example.COM", want: ok},
		{name: "allowed origin with port, listed with trailing slash", origin: "http://admin.example.com:8443", want: ok},
		{name: "no Origin (not a browser)", want: ok},
		{name: "other origin", origin: "https://evil.example.com", want: forbidden},
		{name: "null origin", origin: "null", want: forbidden},
		{name: "look-alike suffix host", origin: "https://app.example.com.evil.com", want: forbidden},
		{name: "look-alike prefix host", origin: "https://evilapp.example.com", want: forbidden},
		{name: "other port", origin: "https://app.example.com:8443", want: forbidden},
		{name: "missing port", origin: "http://admin.example.com", want: forbidden},
		{name: "http instead of https", origin: "http://app.example.com", want: forbidden},
		{name: "https instead of http", origin: "https://admin.example.com:8443", want: forbidden},
		{name: "own origin, not listed", origin: "http://" + f.host(), want: forbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkHandshake(t, f, id, c)
		})
	}
}

func TestWebSocketSameOriginByDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	_, port, _ := strings.Cut(f.host(), ":")
	otherPort, _ := strconv.Atoi(port)
	ok, forbidden := http.StatusSwitchingProtocols, http.StatusForbidden
	for _, c := range []handshakeCase{
		{name: "same origin", origin: "http://" + f.host(), want: ok},
		{name: "same origin in other case", origin: "HTTP://" + strings.ToUpper(f.host()), want: ok},
		{name: "no Origin (not a browser)", want: ok},
		{name: "cross-site", origin: "https://evil.example.com", want: forbidden},
		{name: "other host name for the same address", origin: "http://localhost:" + port, want: forbidden},
		{name: "other port", origin: fmt.Sprintf("http://127.0.0.1:%d", otherPort+1), want: forbidden},
		{name: "null origin", origin: "null", want: forbidden},
		{name: "host as suffix", origin: "http://evil" + f.host(), want: forbidden},
		{name: "garbage", origin: "::not a url::", want: forbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkHandshake(t, f, id, c)
		})
	}
}

func TestWebSocketCSRFCheck(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	f := newFixture(t, liveflux.WithWebSocketCSRFCheck(func(r *http.Request) error {
		calls.Add(1)
		if r.URL.Query().Get("csrf_token") != "s3cret" {
			return errors.New("bad token")
		}
		return nil
	}))
	id := f.mount(t, "counter", nil)
	ok, forbidden := http.StatusSwitchingProtocols, http.StatusForbidden
	for _, c := range []handshakeCase{
		{name: "token in query", query: "csrf_token=s3cret", want: ok},
		{name: "token in query, same origin", query: "csrf_token=s3cret", origin: "http://" + f.host(), want: ok},
		{name: "wrong token", query: "csrf_token=guess", want: forbidden},
		{name: "no token", want: forbidden},
		{name: "token only in a header", header: http.Header{"X-Csrf-Token": {"s3cret"}}, want: forbidden},
		{name: "token but cross-site", query: "csrf_token=s3cret", origin: "https://evil.example.com", want: forbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			checkHandshake(t, f, id, c)
		})
	}
	t.Cleanup(func() {
		if calls.Load() == 0 {
			t.Error("the CSRF check never ran")
		}
	})
}

func TestWebSocketRequireTLS(t *testing.T) {
	t.Parallel()
	t.Run("plaintext refused", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, liveflux.WithWebSocketRequireTLS(true))
		id := f.mount(t, "counter", nil)
		checkHandshake(t, f, id, handshakeCase{want: http.StatusForbidden})
		checkHandshake(t, f, id, handshakeCase{origin: "http://" + f.host(), want: http.StatusForbidden})
	})
	t.Run("TLS accepted", func(t *testing.T) {
		t.Parallel()
		f := startFixture(t, fixtureConfig{tls: true}, liveflux.WithWebSocketRequireTLS(true))
		id := f.mount(t, "counter", nil)
		checkHandshake(t, f, id, handshakeCase{want: http.StatusSwitchingProtocols})
		checkHandshake(t, f, id, handshakeCase{origin: "https://" + f.host(), want: http.StatusSwitchingProtocols})
	})
	t.Run("plaintext accepted when not required", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, liveflux.WithWebSocketRequireTLS(false))
		id := f.mount(t, "counter", nil)
		checkHandshake(t, f, id, handshakeCase{want: http.StatusSwitchingProtocols})
	})
}

func TestWebSocketHandshakeRateLimit(t *testing.T) {
	t.Parallel()
	// 3 per minute: no token comes back while the test runs.
	f := newFixture(t, liveflux.WithWebSocketRateLimit(3, time.Minute))
	for range 3 {
		f.dial(t)
	}
	ws, resp, err := f.dialRaw(nil, "")
	if err == nil {
		ws.Close()
		t.Fatal("fourth handshake within the window upgraded")
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	assertEqual(t, resp.StatusCode, http.StatusTooManyRequests, "status")
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Fatalf("Retry-After = %q, want whole seconds in [1, 60]", resp.Header.Get("Retry-After"))
	}
}

func TestWebSocketMessageRateLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	f := newFixture(t, liveflux.WithWebSocketRateLimit(limit, time.Minute))
	id := f.mount(t, "counter", nil)
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
		c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"action","componentID":"`+id+`","action":"inc"}`))
	}
	c.expectClose(websocket.ClosePolicyViolation)
	// None of the rejected actions ran.
	assertEqual(t, countOf(t, f.post(t, "counter", id, "")), 0, "count")
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
				cl.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"action","componentID":"`+id+`","action":"inc"}`))
			}
			cl.expectClose(c.want)
			waitFor(t, "the server to forget the connection", func() bool { return len(f.h.Watched()) == 0 })
			assertEqual(t, countOf(t, f.post(t, "counter", id, "")), 0, "count")
		})
	}
}

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
		{"component error", `{"type":"action","componentID":"ID","action":"fail"}`, "id", 422, "nope"},
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
	f := newFixture(t)
	c := f.dial(t)
	for range liveflux.DefaultMaxWatched {
		c.init(f.mount(t, "counter", nil))
	}
	id := f.mount(t, "counter", nil)
	c.send(map[string]string{"type": "init", "componentID": id})
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

// TestWebSocketUpdatesEveryWatcher covers components without HandleWS:
// an action reaches every connection watching the instance.
func TestWebSocketUpdatesEveryWatcher(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	a, b := f.dial(t), f.dial(t)
	rev := max(revOf(t, a.init(id)), revOf(t, b.init(id)))

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
	a.sendAction(id, "fail", nil)
	assertErrorMsg(t, a.nextMsg(), id, http.StatusUnprocessableEntity)
	assertEqual(t, countOf(t, b.init(id)), 7, "count")
}

// TestWebSocketHandleWS covers components with HandleWS.
func TestWebSocketHandleWS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "echo", nil)
	a, b := f.dial(t), f.dial(t)
	a.init(id)
	b.init(id)
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

func TestWebSocketBroadcast(t *testing.T) {
	t.Parallel()
	const clients = 50
	f := newFixture(t)
	id, other := f.mount(t, "counter", nil), f.mount(t, "counter", nil)
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = f.dial(t)
		cs[i].init(id)
	}
	payload := map[string]any{"type": "note", "text": "<b>hi</b> & bye", "n": 7}
	assertNoError(t, f.h.Broadcast(id, payload))
	want := `{"n":7,"text":"<b>hi</b> & bye","type":"note"}`
	for i, c := range cs {
		assertEqual(t, string(c.next()), want, fmt.Sprintf("payload at client %d", i))
	}
	// Nobody watches other, and nobody receives what is sent to it.
	assertNoError(t, f.h.Broadcast(other, payload))
	assertNoError(t, f.h.Broadcast("NOBODY", payload))
	assertEqual(t, countOf(t, cs[0].init(id)), 0, "count")
	// A payload that cannot be encoded is an error.
	if err := f.h.Broadcast(id, map[string]any{"f": func() {}}); err == nil {
		t.Fatal("Broadcast of a func: no error")
	}
	assertNoError(t, f.h.Close())
	if err := f.h.Broadcast(id, payload); !errors.Is(err, liveflux.ErrClosed) {
		t.Fatalf("Broadcast after Close = %v, want ErrClosed", err)
	}
}

// TestWebSocketSlowClient checks that a client that does not read delays
// nobody, and is dropped.
func TestWebSocketSlowClient(t *testing.T) {
	t.Parallel()
	const writeTimeout = 3 * time.Second
	f := newFixture(t, liveflux.WithWebSocketSendQueue(8), liveflux.WithWebSocketWriteTimeout(writeTimeout))
	id, own := f.mount(t, "counter", nil), f.mount(t, "counter", nil)
	slow := f.dialIdle(t)
	slow.send(map[string]string{"type": "init", "componentID": id})
	slow.send(map[string]string{"type": "init", "componentID": own})
	waitFor(t, "the slow client to watch", func() bool { return watching(f.h, own) })
	fast := make([]*wsClient, 3)
	for i := range fast {
		fast[i] = f.dial(t)
		fast[i].init(id)
	}
	// Far more than the socket buffers hold, one at a time so that the
	// fast clients never fall behind.
	pad := strings.Repeat("x", 128<<10)
	var slowest time.Duration
	for i := range 100 {
		start := time.Now()
		payload := map[string]any{"type": "tick", "i": i, "pad": pad}
		assertNoError(t, f.h.Broadcast(id, payload))
		want := string(encodeVerbatim(t, payload))
		for _, c := range fast {
			if got := string(c.next()); got != want {
				t.Fatalf("tick %d: got %.80q…", i, got)
			}
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest >= writeTimeout {
		t.Fatalf("a broadcast took %v to reach the fast clients: the slow one held them up", slowest)
	}
	waitFor(t, "the slow client to be dropped", func() bool { return !watching(f.h, own) })
	slow.startReading()
	if err := slow.waitEnd(); err == nil {
		t.Fatal("slow client not disconnected")
	}
	// The fast ones are still connected.
	for _, c := range fast {
		c.init(id)
	}
}

// TestWebSocketShutdownDeadline checks that Shutdown does not wait for a
// blocked write past its context.
func TestWebSocketShutdownDeadline(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketWriteTimeout(time.Minute))
	id := f.mount(t, "counter", nil)
	slow := f.dialIdle(t)
	slow.send(map[string]string{"type": "init", "componentID": id})
	waitFor(t, "the slow client to watch", func() bool { return watching(f.h, id) })
	pad := strings.Repeat("x", 256<<10)
	for i := range 128 { // 32 MiB, far more than socket buffers hold: its writer is stuck
		assertNoError(t, f.h.Broadcast(id, map[string]any{"i": i, "pad": pad}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := f.h.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > waitTimeout/2 {
		t.Fatalf("Shutdown took %v", d)
	}
	assertEqual(t, len(f.h.Watched()), 0, "watched components")
}

// blocker's action "block" waits until release is closed, whatever its
// context says; renders counts its renderings.
type blocker struct {
	liveflux.Base
	started chan struct{}
	release chan struct{}
	done    *atomic.Bool
	renders *atomic.Int32
}

func (b *blocker) Mount(context.Context, map[string]string) error { return nil }
func (b *blocker) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "block" {
		b.started <- struct{}{}
		<-b.release
		b.done.Store(true)
	}
	return nil
}
func (b *blocker) Render(_ context.Context, w io.Writer) error {
	b.renders.Add(1)
	_, err := io.WriteString(w, "blocker")
	return err
}

// newBlocker registers kind "blocker" with f and returns a template of
// its instances' shared parts.
func newBlocker(tb testing.TB, f *fixture) *blocker {
	tb.Helper()
	started, release := make(chan struct{}, 1), make(chan struct{})
	b := &blocker{started: started, release: release, done: new(atomic.Bool), renders: new(atomic.Int32)}
	assertNoError(tb, f.reg.Register("blocker", func() liveflux.Component {
		return &blocker{started: b.started, release: b.release, done: b.done, renders: b.renders}
	}))
	tb.Cleanup(func() { close(release) })
	return b
}

// Guards against: Shutdown waited for running actions past its deadline
// (a 3 s action, a 200 ms deadline: it returned after 2.9 s).
func TestWebSocketShutdownAbandonsRunningActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBlocker(t, f)
	id := f.mount(t, "blocker", nil)
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "block", nil)
	select {
	case <-b.started:
	case <-time.After(waitTimeout):
		t.Fatal("the action did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- f.h.Shutdown(ctx) }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(waitTimeout):
		t.Fatalf("Shutdown with a 100ms deadline still waits after %v", waitTimeout)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if b.done.Load() {
		t.Fatal("Shutdown waited for the running action")
	}
	c.waitEnd() // the client was dropped
}

// Guards against: Refresh after Close ran component code and returned nil.
func TestWebSocketMethodsAfterClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newBlocker(t, f)
	id := f.mount(t, "blocker", nil)
	assertNoError(t, f.h.Close())
	renders := b.renders.Load()
	if err := f.h.Refresh(context.Background(), id); !errors.Is(err, liveflux.ErrClosed) {
		t.Errorf("Refresh after Close = %v, want ErrClosed", err)
	}
	if err := f.h.Broadcast(id, "x"); !errors.Is(err, liveflux.ErrClosed) {
		t.Errorf("Broadcast after Close = %v, want ErrClosed", err)
	}
	assertEqual(t, b.renders.Load(), renders, "renderings after Close")
	assertNoError(t, f.h.Close()) // closing again does nothing
}

// Guards against: every watcher got diff updates, which a client written
// from the first version of the protocol (update with data.html) cannot
// apply. Diffs go only to clients that ask for them in the handshake.
func TestWebSocketDiffsOnlyForClientsThatAsk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("rows", func() liveflux.Component { return &rows{} }))
	id := f.mount(t, "rows", nil)
	// Five watchers: from four on, messages are framed once for all.
	plain := []*wsClient{f.dialPlain(t), f.dialPlain(t)}
	diffs := []*wsClient{f.dial(t), f.dial(t), f.dial(t)}
	assertEqual(t, plain[0].ws.Subprotocol(), "", "subprotocol of a client that did not ask")
	assertEqual(t, diffs[0].ws.Subprotocol(), liveflux.SubprotocolDiff, "subprotocol of a client that asked")
	all := append(append([]*wsClient{}, plain...), diffs...)
	for _, c := range all {
		c.init(id)
	}
	for hot := 1; hot <= 3; hot++ {
		diffs[0].sendAction(id, "bump", nil)
		var want strings.Builder
		(&rows{Hot: hot}).Render(context.Background(), &want)
		for i, c := range all {
			m := c.nextMsg()
			isDiff := bytes.Contains(m.Data, []byte(`"diff"`))
			switch {
			case i < len(plain) && isDiff:
				t.Fatalf("a client that did not ask got a diff: %s", m.raw)
			case i < len(plain):
				assertUpdate(t, m, id) // data.html, in full
			case hot > 1 && !isDiff: // the first update after the inits is full
				t.Fatalf("a client that asked got no diff: %s", m.raw)
			}
			got := c.update(m, id)
			if body := got[strings.IndexByte(got, '>')+1 : len(got)-len("</div>")]; body != want.String() {
				t.Fatalf("client %d holds another rendering:\n%s\nwant\n%s", i, body, want.String())
			}
		}
	}
}

// TestWebSocketClose is not parallel: it counts the process's goroutines.
func TestWebSocketClose(t *testing.T) {
	baseline := runtime.NumGoroutine()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	cs := make([]*wsClient, 10)
	for i := range cs {
		cs[i] = f.dial(t)
		cs[i].init(id)
	}
	assertNoError(t, f.h.Close())
	for _, c := range cs {
		c.expectClose(websocket.CloseGoingAway)
	}
	assertEqual(t, len(f.h.Watched()), 0, "watched components")
	assertNoError(t, f.h.Close()) // twice is fine

	// New handshakes are refused; HTTP is still served.
	checkHandshake(t, f, id, handshakeCase{want: http.StatusServiceUnavailable})
	assertEqual(t, countOf(t, f.post(t, "counter", id, "inc")), 1, "count")
	if err := f.h.Broadcast(id, "x"); !errors.Is(err, liveflux.ErrClosed) {
		t.Fatalf("Broadcast after Close = %v, want ErrClosed", err)
	}

	for _, c := range cs {
		c.close()
	}
	f.srv.Close()
	waitGoroutines(t, baseline)
}

// TestConcurrentActionsLoseNothing runs actions over WebSocket and HTTP on
// one instance at once.
func TestConcurrentActionsLoseNothing(t *testing.T) {
	t.Parallel()
	const wsClients, httpClients, each = 10, 10, 50
	const total = (wsClients + httpClients) * each
	f := newFixture(t, liveflux.WithWebSocketSendQueue(2*total))
	id := f.mount(t, "counter", nil)
	cs := make([]*wsClient, wsClients)
	for i := range cs {
		cs[i] = f.dial(t)
		cs[i].init(id)
	}
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
	form := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}}
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

func TestWebSocketRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var value atomic.Int64
	assertNoError(t, f.reg.Register("gauge", func() liveflux.Component { return &wsGauge{src: &value} }))
	id := f.mount(t, "gauge", nil)
	a, b := f.dial(t), f.dial(t)
	rev := max(revOf(t, a.init(id)), revOf(t, b.init(id)))

	value.Store(42)
	assertNoError(t, f.h.Refresh(context.Background(), id))
	for _, c := range []*wsClient{a, b} {
		h := c.nextUpdate(id)
		if !strings.Contains(h, "value=42") || revOf(t, h) <= rev {
			t.Fatalf("after Refresh: %s", h)
		}
	}
	if err := f.h.Refresh(context.Background(), "NOPE"); !errors.Is(err, liveflux.ErrNotFound) {
		t.Fatalf("Refresh of an unknown ID = %v, want ErrNotFound", err)
	}
}

func TestHTTPActionUpdatesWebSocketWatchers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	a, b := f.dial(t), f.dial(t)
	a.init(id)
	b.init(id)
	body := f.post(t, "counter", id, "inc")
	assertEqual(t, countOf(t, body), 1, "count")
	assertEqual(t, a.nextUpdate(id), body, "update of a")
	assertEqual(t, b.nextUpdate(id), body, "update of b")
	// A failed HTTP action sends nothing.
	status, _, err := f.tryPost(url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"fail"}})
	assertNoError(t, err)
	assertEqual(t, status, http.StatusUnprocessableEntity, "status")
	assertEqual(t, countOf(t, a.init(id)), 1, "count")
}

// ---- test components and helpers ----

// waitTimeout bounds every wait of these tests; nothing waits this long
// when the code under test works.
const waitTimeout = 10 * time.Second

var discardLogger = slog.New(slog.DiscardHandler)

// wsCounter is a component without HandleWS: actions run Handle.
type wsCounter struct {
	liveflux.Base
	Count int
}

func (c *wsCounter) Mount(_ context.Context, params map[string]string) error {
	if s := params["start"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return liveflux.NewError(http.StatusBadRequest, "bad start")
		}
		c.Count = n
	}
	return nil
}

func (c *wsCounter) Handle(_ context.Context, action string, data url.Values) error {
	switch action {
	case "inc":
		c.Count++
	case "add": // every value of n is added
		for _, v := range data["n"] {
			n, err := strconv.Atoi(v)
			if err != nil {
				return liveflux.NewError(http.StatusBadRequest, "bad n")
			}
			c.Count += n
		}
	case "go":
		c.Count++
		c.Redirect("/next")
	case "fail": // changes state, then fails: the change must be undone
		c.Count = -1
		return liveflux.NewError(http.StatusUnprocessableEntity, "nope")
	case "panic":
		c.Count = -1
		panic("counter exploded")
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action")
	}
	return nil
}

func (c *wsCounter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<span>count=%d</span>", c.Count)
	return err
}

// wsEcho handles its WebSocket actions itself (HandleWS).
type wsEcho struct {
	liveflux.Base
	N int
}

type echoReply struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	N    int    `json:"n"`
	Note string `json:"note"`
}

func (e *wsEcho) Mount(context.Context, map[string]string) error { return nil }

func (e *wsEcho) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "add" {
		e.N++
	}
	return nil
}

func (e *wsEcho) HandleWS(_ context.Context, m *liveflux.WebSocketMessage) (interface{}, error) {
	switch m.Action {
	case "add":
		e.N++
		return echoReply{Type: "echoed", ID: m.ComponentID, N: e.N, Note: "<b>&</b>"}, nil
	case "silent":
		e.N++
		return nil, nil
	case "fail":
		e.N = -1
		return nil, liveflux.NewError(http.StatusConflict, "conflict")
	case "panic":
		e.N = -1
		panic("echo exploded")
	}
	return nil, liveflux.NewError(http.StatusBadRequest, "unknown action")
}

func (e *wsEcho) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "n=%d", e.N)
	return err
}

// wsGauge shows a value kept outside the component, so only Refresh can
// bring its rendering up to date.
type wsGauge struct {
	liveflux.Base
	src *atomic.Int64
}

func (g *wsGauge) Mount(context.Context, map[string]string) error   { return nil }
func (g *wsGauge) Handle(context.Context, string, url.Values) error { return nil }
func (g *wsGauge) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "value=%d", g.src.Load())
	return err
}

func newWSRegistry(tb testing.TB) *liveflux.Registry {
	tb.Helper()
	reg := liveflux.NewRegistry()
	assertNoError(tb, reg.Register("counter", func() liveflux.Component { return &wsCounter{} }))
	assertNoError(tb, reg.Register("echo", func() liveflux.Component { return &wsEcho{} }))
	return reg
}

// fixture is one handler, with its own registry and store, behind a test
// server.
type fixture struct {
	h      *liveflux.WebSocketHandler
	srv    *httptest.Server
	reg    *liveflux.Registry
	store  *liveflux.MemoryStore
	wsURL  string
	dialer websocket.Dialer
}

func newFixture(tb testing.TB, opts ...liveflux.WebSocketOption) *fixture {
	tb.Helper()
	return startFixture(tb, fixtureConfig{}, opts...)
}

// fixtureConfig says how a fixture differs from newFixture's.
type fixtureConfig struct {
	store liveflux.Store // a MemoryStore, or a wrapper of one; nil: a new MemoryStore
	tls   bool           // serve over TLS
	clock *fakeClock     // the handler's clock; nil: the real one
}

func startFixture(tb testing.TB, cfg fixtureConfig, opts ...liveflux.WebSocketOption) *fixture {
	tb.Helper()
	store, useTLS := cfg.store, cfg.tls
	if store == nil {
		store = liveflux.NewMemoryStore()
	}
	reg := newWSRegistry(tb)
	all := append([]liveflux.WebSocketOption{liveflux.WithRegistry(reg), liveflux.WithLogger(discardLogger)}, opts...)
	h := liveflux.NewWebSocketHandler(store, all...)
	if cfg.clock != nil {
		liveflux.SetClock(h, cfg.clock.now)
	}
	// The test client asks for diff updates, as the JS client does.
	dialer := websocket.Dialer{HandshakeTimeout: waitTimeout, Subprotocols: []string{liveflux.SubprotocolDiff}}
	f := &fixture{h: h, reg: reg, dialer: dialer}
	switch s := store.(type) {
	case *liveflux.MemoryStore:
		f.store = s
	case *hookStore:
		f.store = s.MemoryStore
	}
	if useTLS {
		f.srv = httptest.NewTLSServer(h)
		f.dialer.TLSClientConfig = f.srv.Client().Transport.(*http.Transport).TLSClientConfig
		f.wsURL = "wss" + strings.TrimPrefix(f.srv.URL, "https")
	} else {
		f.srv = httptest.NewServer(h)
		f.wsURL = "ws" + strings.TrimPrefix(f.srv.URL, "http")
	}
	tb.Cleanup(func() {
		h.Close()
		f.srv.Close()
	})
	return f
}

// host is the server's host:port, as in the Host header of its requests.
func (f *fixture) host() string { return f.srv.Listener.Addr().String() }

var idPattern = regexp.MustCompile(`data-flux-component-id="([^"]+)"`)

// mount mounts a component and returns its ID.
func (f *fixture) mount(tb testing.TB, kind string, params map[string]string) string {
	tb.Helper()
	html, err := f.h.Mount(httptest.NewRequest(http.MethodGet, "/", nil), kind, params)
	assertNoError(tb, err)
	m := idPattern.FindStringSubmatch(string(html))
	if m == nil {
		tb.Fatalf("no component ID in %q", html)
	}
	return m[1]
}

// tryPost posts a form to the endpoint.
func (f *fixture) tryPost(form url.Values) (int, string, error) {
	resp, err := f.srv.Client().PostForm(f.srv.URL, form)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// post posts an action (none: a re-render) and wants 200.
func (f *fixture) post(tb testing.TB, kind, id, action string) string {
	tb.Helper()
	form := url.Values{liveflux.FieldKind: {kind}, liveflux.FieldID: {id}}
	if action != "" {
		form.Set(liveflux.FieldAction, action)
	}
	status, body, err := f.tryPost(form)
	assertNoError(tb, err)
	if status != http.StatusOK {
		tb.Fatalf("POST %s %s: status %d: %s", id, action, status, body)
	}
	return body
}

// dialRaw attempts a handshake; it registers nothing for cleanup.
func (f *fixture) dialRaw(hdr http.Header, query string) (*websocket.Conn, *http.Response, error) {
	u := f.wsURL
	if query != "" {
		u += "?" + query
	}
	return f.dialer.Dial(u, hdr)
}

// dial connects a client that reads in the background.
func (f *fixture) dial(tb testing.TB) *wsClient {
	tb.Helper()
	c := f.dialIdle(tb)
	c.startReading()
	return c
}

// dialIdle connects a client that reads nothing until startReading.
func (f *fixture) dialIdle(tb testing.TB) *wsClient {
	tb.Helper()
	return f.dialIdleWith(tb, f.dialer)
}

// dialPlain connects a client, reading in the background, that does not
// ask for diff updates: one written from the first version of the
// protocol.
func (f *fixture) dialPlain(tb testing.TB) *wsClient {
	tb.Helper()
	d := f.dialer
	d.Subprotocols = nil
	c := f.dialIdleWith(tb, d)
	c.startReading()
	return c
}

func (f *fixture) dialIdleWith(tb testing.TB, d websocket.Dialer) *wsClient {
	tb.Helper()
	ws, resp, err := d.Dial(f.wsURL, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial: %v (status %d)", err, status)
	}
	c := &wsClient{tb: tb, ws: ws, msgs: make(chan []byte, 4096)}
	tb.Cleanup(c.close)
	return c
}

// wsClient is a test client. Its reader goroutine (once started) passes
// every message on through msgs, and closes msgs when the connection ends,
// after setting err.
type wsClient struct {
	views   map[string]clientView // what a browser keeps to apply diff updates
	tb      testing.TB
	ws      *websocket.Conn
	msgs    chan []byte
	err     error
	reading bool
}

func (c *wsClient) startReading() {
	c.reading = true
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := c.ws.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			c.msgs <- b
		}
	}()
}

// close ends the connection and waits for the reader.
func (c *wsClient) close() {
	c.ws.Close()
	if c.reading {
		for range c.msgs {
		}
	}
}

// trySend writes one text frame: v itself when it is a string, else v as
// JSON. It is safe to call from other goroutines than the test's.
func (c *wsClient) trySend(v any) error {
	b, ok := v.(string)
	if !ok {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		b = string(raw)
	}
	return c.ws.WriteMessage(websocket.TextMessage, []byte(b))
}

func (c *wsClient) send(v any) {
	c.tb.Helper()
	assertNoError(c.tb, c.trySend(v))
}

func (c *wsClient) sendAction(id, action string, data any) {
	c.tb.Helper()
	m := map[string]any{"type": "action", "componentID": id, "action": action}
	if data != nil {
		m["data"] = data
	}
	c.send(m)
}

// next returns the next message, failing the test when none comes.
func (c *wsClient) next() []byte {
	c.tb.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case b, ok := <-c.msgs:
		if !ok {
			c.tb.Fatalf("connection ended while waiting for a message: %v", c.err)
		}
		return b
	case <-timer.C:
		c.tb.Fatalf("no message within %v", waitTimeout)
	}
	return nil
}

func (c *wsClient) nextMsg() serverMsg {
	c.tb.Helper()
	return parseMsg(c.tb, c.next())
}

// nextUpdate wants an update of id next and returns its HTML.
func (c *wsClient) nextUpdate(id string) string {
	c.tb.Helper()
	return c.update(c.nextMsg(), id)
}

// init watches id and returns the rendering the server answers with.
func (c *wsClient) init(id string) string {
	c.tb.Helper()
	c.send(map[string]string{"type": "init", "componentID": id})
	return c.nextUpdate(id)
}

// waitEnd discards messages until the connection ends and returns why.
func (c *wsClient) waitEnd() error {
	c.tb.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-c.msgs:
			if !ok {
				return c.err
			}
		case <-timer.C:
			c.tb.Fatalf("connection still open after %v", waitTimeout)
			return nil
		}
	}
}

// expectClose wants the server to close the connection with code.
func (c *wsClient) expectClose(code int) {
	c.tb.Helper()
	err := c.waitEnd()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		c.tb.Fatalf("connection ended with %v, want close code %d", err, code)
	}
	if ce.Code != code {
		c.tb.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
	}
}

// serverMsg is a message of the server (update, redirect, ack or error).
type serverMsg struct {
	Type        string          `json:"type"`
	ComponentID string          `json:"componentID"`
	Data        json.RawMessage `json:"data"`
	Message     string          `json:"message"`
	Code        int             `json:"code"`
	raw         []byte
}

func parseMsg(tb testing.TB, b []byte) serverMsg {
	tb.Helper()
	var m serverMsg
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("message %q: %v", b, err)
	}
	m.raw = b
	return m
}

// assertUpdate wants an update of id and returns its HTML.
// clientView is the last rendering a client applied, as the JS client
// keeps it.
type clientView struct {
	rev  int
	body string
}

// update turns an update message (full or diff) into the rendering it
// describes, as the JS client does, and records it.
func (c *wsClient) update(m serverMsg, id string) string {
	c.tb.Helper()
	var d struct {
		Rev  int               `json:"rev"`
		Base int               `json:"base"`
		Diff []json.RawMessage `json:"diff"`
	}
	if m.Type == liveflux.MessageUpdate && json.Unmarshal(m.Data, &d) == nil && d.Diff != nil {
		v, ok := c.views[id]
		if !ok || v.rev != d.Base || len(d.Diff) != 3 {
			c.tb.Fatalf("diff %s does not apply to the rendering held (rev %d)", m.raw, v.rev)
		}
		var p, s int
		var text string
		json.Unmarshal(d.Diff[0], &p)
		json.Unmarshal(d.Diff[1], &s)
		json.Unmarshal(d.Diff[2], &text)
		u := utf16.Encode([]rune(v.body))
		body := string(utf16.Decode(u[:p])) + text + string(utf16.Decode(u[len(u)-s:]))
		c.views[id] = clientView{d.Rev, body}
		return fmt.Sprintf(`<div data-flux-component-kind="?" data-flux-component-id="%s" data-flux-rev="%d">%s</div>`, id, d.Rev, body)
	}
	html := assertUpdate(c.tb, m, id)
	if c.views == nil {
		c.views = make(map[string]clientView)
	}
	c.views[id] = clientView{revOf(c.tb, html), html[strings.IndexByte(html, '>')+1 : len(html)-len("</div>")]}
	return html
}

func assertUpdate(tb testing.TB, m serverMsg, id string) string {
	tb.Helper()
	if m.Type != liveflux.MessageUpdate || m.ComponentID != id {
		tb.Fatalf("got %s, want an update of %s", m.raw, id)
	}
	var d struct {
		HTML string `json:"html"`
	}
	if err := json.Unmarshal(m.Data, &d); err != nil || d.HTML == "" {
		tb.Fatalf("update without data.html: %s", m.raw)
	}
	if got := idPattern.FindStringSubmatch(d.HTML); got == nil || got[1] != id {
		tb.Fatalf("update of %s renders another component: %s", id, d.HTML)
	}
	return d.HTML
}

// assertErrorMsg wants an error message with code about id.
func assertErrorMsg(tb testing.TB, m serverMsg, id string, code int) {
	tb.Helper()
	if m.Type != liveflux.MessageError || m.Code != code || m.ComponentID != id {
		tb.Fatalf("got %s, want an error with code %d about %q", m.raw, code, id)
	}
	if m.Message == "" {
		tb.Fatalf("error without a message: %s", m.raw)
	}
}

var (
	revPattern   = regexp.MustCompile(`data-flux-rev="(\d+)"`)
	countPattern = regexp.MustCompile(`count=(-?\d+)`)
)

func submatchInt(tb testing.TB, re *regexp.Regexp, s string) int {
	tb.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		tb.Fatalf("%s not found in %q", re, s)
	}
	n, err := strconv.Atoi(m[1])
	assertNoError(tb, err)
	return n
}

func revOf(tb testing.TB, html string) int   { tb.Helper(); return submatchInt(tb, revPattern, html) }
func countOf(tb testing.TB, html string) int { tb.Helper(); return submatchInt(tb, countPattern, html) }

// encodeVerbatim is how the server encodes payloads: JSON without HTML
// escaping and without a trailing newline.
func encodeVerbatim(tb testing.TB, v any) []byte {
	tb.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	assertNoError(tb, enc.Encode(v))
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func assertNoError(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func assertEqual[T comparable](tb testing.TB, got, want T, what string) {
	tb.Helper()
	if got != want {
		tb.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func watching(h *liveflux.WebSocketHandler, id string) bool {
	return slices.Contains(h.Watched(), id)
}

// waitGoroutines waits until the process runs at most n goroutines. Only
// tests that do not run in parallel may use it.
func waitGoroutines(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			tb.Fatalf("%d goroutines still running, want at most %d:\n%s", got, n, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jsonUnmarshalStrict decodes b into v, refusing fields v does not have.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
