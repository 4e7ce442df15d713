package liveflux_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// bomb panics in whichever method its mode names.
type bomb struct {
	liveflux.Base
	Mode  string
	Count int
}

func (b *bomb) Mount(_ context.Context, p map[string]string) error {
	b.Mode = p["mode"]
	if b.Mode == "mount" {
		panic("mount")
	}
	return nil
}

func (b *bomb) Handle(_ context.Context, action string, _ url.Values) error {
	b.Count++
	switch action {
	case "handle":
		panic("handle")
	case "arm":
		b.Mode = "render"
	}
	return nil
}

func (b *bomb) Render(_ context.Context, w io.Writer) error {
	if b.Mode == "render" {
		panic("render")
	}
	_, err := fmt.Fprintf(w, "<i>bomb=%d</i>", b.Count)
	return err
}

func TestPanicsAreContained(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("bomb", func() liveflux.Component { return &bomb{} }))
	if _, err := f.h.Mount(httptest.NewRequest("GET", "/", nil), "bomb", map[string]string{"mode": "mount"}); err == nil {
		t.Fatal("a panicking Mount mounted")
	}
	id := f.mount(t, "bomb", nil)
	c := f.dial(t)
	c.send(map[string]string{"type": "init", "componentID": id})
	c.nextUpdate(id)
	c.sendAction(id, "handle", nil)
	assertErrorMsg(t, c.nextMsg(), id, http.StatusInternalServerError)
	c.sendAction(id, "arm", nil) // Handle succeeds, then Render panics
	assertErrorMsg(t, c.nextMsg(), id, http.StatusInternalServerError)
	// Neither failed action left a trace; the socket and server still work.
	c.sendAction(id, "inc", nil)
	if html := c.nextUpdate(id); !strings.Contains(html, "bomb=1") {
		t.Fatalf("state after contained panics: %s", html)
	}
}

func TestHostilePayloadsKeepTheConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
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

func TestForwardedForIsIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketRateLimit(1, time.Minute))
	for i, want := range []int{http.StatusSwitchingProtocols, http.StatusTooManyRequests} {
		hdr := http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", i+1)}, "X-Real-Ip": {fmt.Sprintf("198.51.100.%d", i+1)}}
		ws, resp, _ := f.dialRaw(hdr, "")
		if ws != nil {
			defer ws.Close()
		}
		if resp == nil || resp.StatusCode != want {
			t.Fatalf("handshake %d with a forged X-Forwarded-For: %v, want %d", i, resp, want)
		}
	}
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
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
	var wg sync.WaitGroup
	var cycles atomic.Int64
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
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
		}()
	}
	wg.Wait()
	waitFor(t, "every connection forgotten", func() bool { return len(f.h.Watched()) == 0 })

	// One requester mounts them all: raise its share to the whole store.
	store := liveflux.NewMemoryStore(liveflux.WithMaxInstances(10_000), liveflux.WithMaxInstancesPerSession(10_000), liveflux.WithMaxBytesPerSession(1<<30))
	h := liveflux.NewHandler(store, liveflux.WithRegistry(f.reg), liveflux.WithLogger(discardLogger))
	req := httptest.NewRequest("GET", "/", nil)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	var atCap uint64
	for i := range 100_000 {
		if _, err := h.Mount(req, "counter", nil); err != nil {
			t.Fatal(err)
		}
		if i == 20_000 {
			atCap = heap()
		}
	}
	if n := store.Len(); n != 10_000 {
		t.Fatalf("store holds %d instances, cap 10000", n)
	}
	if end := heap(); end > atCap+atCap/2 {
		t.Fatalf("heap grew from %d to %d bytes after the store reached its cap", atCap, end)
	}
	f.h.Close()
	f.srv.Close()
	waitGoroutines(t, base)
}

// TestBroadcastWhileClientsComeAndGo races Broadcast, actions and
// disconnects; -race and the writer's single-goroutine rule do the
// asserting, and every action still lands.
func TestBroadcastWhileClientsComeAndGo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketSendQueue(16))
	id := f.mount(t, "counter", nil)
	stop := make(chan struct{})
	var broadcasters sync.WaitGroup
	var sent atomic.Int64
	for range 8 {
		broadcasters.Add(1)
		go func() {
			defer broadcasters.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f.h.Broadcast(id, map[string]int{"n": int(sent.Add(1))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var clients sync.WaitGroup
	var acted atomic.Int64
	for range 8 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for range 25 {
				ws, _, err := f.dialRaw(nil, "")
				if err != nil {
					t.Error(err)
					return
				}
				ws.WriteJSON(map[string]any{"type": "init", "componentID": id})
				if ws.WriteJSON(map[string]any{"type": "action", "componentID": id, "action": "inc", "data": map[string]string{}}) == nil {
					acted.Add(1)
				}
				ws.ReadMessage()
				ws.Close()
			}
		}()
	}
	clients.Wait()
	close(stop)
	broadcasters.Wait()
	if sent.Load() == 0 {
		t.Fatal("no broadcast ran")
	}
	// Actions written before a close may or may not have been read; those
	// the server ran are all counted, and none more.
	html := f.post(t, "counter", id, "")
	var n int64
	fmt.Sscanf(html[strings.Index(html, "count=")+len("count="):], "%d", &n)
	if n < 1 || n > acted.Load() {
		t.Fatalf("count = %d after %d actions sent", n, acted.Load())
	}
}

// TestReconnectCatchesUp pins the delivery semantics: a client that was
// away while a component changed gets, on its next init, a full rendering
// of the current state with a higher revision than any it saw; Broadcast
// payloads sent while it was away are not replayed.
func TestReconnectCatchesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "counter", nil)
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
	select {
	case b := <-back.msgs:
		t.Fatalf("a message from while the client was away was replayed: %s", b)
	case <-time.After(50 * time.Millisecond):
	}
}

// rows renders a 300-row list; action "bump" changes one value.
type rows struct {
	liveflux.Base
	Hot int
}

func (r *rows) Mount(context.Context, map[string]string) error { return nil }
func (r *rows) Handle(context.Context, string, url.Values) error {
	r.Hot++
	return nil
}
func (r *rows) Render(_ context.Context, w io.Writer) error {
	var b strings.Builder
	b.WriteString("<ul>")
	for i := range 300 {
		v := i
		if i == 150 {
			v = r.Hot
		}
		fmt.Fprintf(&b, "<li>row %d: %d</li>", i, v)
	}
	b.WriteString("</ul>")
	_, err := io.WriteString(w, b.String())
	return err
}

// TestUpdatesAreDiffs checks that a one-value change in a large component
// reaches watchers as a diff of at most 120 bytes that rebuilds exactly
// the rendering an HTTP request gets.
func TestUpdatesAreDiffs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("rows", func() liveflux.Component { return &rows{} }))
	id := f.mount(t, "rows", nil)
	a, b := f.dial(t), f.dial(t)
	full := a.init(id)
	b.init(id)
	if len(full) < 5000 {
		t.Fatalf("rendering only %d bytes", len(full))
	}
	a.sendAction(id, "bump", nil) // the first update after two inits is full
	a.nextUpdate(id)
	b.nextUpdate(id)
	for hot := 2; hot <= 4; hot++ {
		a.sendAction(id, "bump", nil)
		var want strings.Builder
		(&rows{Hot: hot}).Render(context.Background(), &want)
		for _, c := range []*wsClient{a, b} {
			m := c.nextMsg()
			if len(m.raw) > 120 {
				t.Fatalf("update of one value is %d bytes: %s", len(m.raw), m.raw)
			}
			t.Logf("update of one value in a %d-byte rendering: %d bytes", len(full), len(m.raw))
			got := c.update(m, id)
			if body := got[strings.IndexByte(got, '>')+1 : len(got)-len("</div>")]; body != want.String() {
				t.Fatalf("diff rebuilt another rendering:\n%s\nwant\n%s", body, want.String())
			}
		}
	}
}

// TestFloodOnOneSocketSparesTheOthers floods one connection past its rate
// limit until it is closed with 1008, while another connection, from the
// same client IP, keeps acting and receiving broadcasts.
func TestFloodOnOneSocketSparesTheOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithWebSocketRateLimit(20, time.Second))
	id := f.mount(t, "counter", nil)
	calm := f.dial(t)
	calm.init(id)
	flood := f.dial(t)
	for range 200 {
		if flood.trySend(map[string]any{"type": "action", "componentID": id, "action": "inc"}) != nil {
			break // closed: the flood went on past the limit
		}
	}
	flood.expectClose(websocket.ClosePolicyViolation)

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
	if got < 2 || got > 21 {
		t.Fatalf("count %d: the flood's burst (at most 20) plus one", got)
	}
}
