package liveflux_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
			t.Fatalf("handshake refused (%d): %v", statusOf(resp), err)
		}
		cl := newClient(t, ws)
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
	f, id := counterFixture(t, liveflux.WithWebSocketAllowedOrigins("https://app.example.com", "HTTP://Admin.Example.com:8443/"))
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
	f, id := counterFixture(t)
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

func TestWebSocketBroadcast(t *testing.T) {
	t.Parallel()
	const clients = 50
	f := newFixture(t)
	id, other := f.mount(t, "counter", nil), f.mount(t, "counter", nil)
	cs := f.watchers(t, id, clients)
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

// TestBroadcastWhileClientsComeAndGo races Broadcast, actions and
// disconnects; -race and the writer's single-goroutine rule do the
// asserting, and every action still lands.
func TestBroadcastWhileClientsComeAndGo(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t, liveflux.WithWebSocketSendQueue(16))
	stop := make(chan struct{})
	var broadcasters sync.WaitGroup
	var sent atomic.Int64
	for range 8 {
		broadcasters.Go(func() {
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
		})
	}
	var clients sync.WaitGroup
	var acted atomic.Int64
	for range 8 {
		clients.Go(func() {
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
		})
	}
	clients.Wait()
	close(stop)
	broadcasters.Wait()
	if sent.Load() == 0 {
		t.Fatal("no broadcast ran")
	}
	// Actions written before a close may or may not have been run (a
	// closed connection cancels its action; under load none of them may
	// have run); those the server ran are all counted, and none more. One
	// more client waits for its own.
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "inc", nil)
	c.nextUpdate(id)
	n := int64(countOf(t, f.post(t, "counter", id, "")))
	if n < 1 || n > acted.Load()+1 {
		t.Fatalf("count = %d after %d actions sent and one waited for", n, acted.Load())
	}
}

// wsGauge shows a value kept outside the component, so only Refresh can
// bring its rendering up to date.
type wsGauge struct {
	liveflux.Base
	src *atomic.Int64
}

func (g *wsGauge) Mount(context.Context, map[string]string) error { return nil }

func (g *wsGauge) Handle(context.Context, string, url.Values) error { return nil }

func (g *wsGauge) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "value=%d", g.src.Load())
	return err
}

func TestWebSocketRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var value atomic.Int64
	assertNoError(t, f.reg.Register("gauge", func() liveflux.Component { return &wsGauge{src: &value} }))
	id := f.mount(t, "gauge", nil)
	cs := f.watchers(t, id, 2)
	a, b := cs[0], cs[1]
	rev := int(max(a.views[id].Rev, b.views[id].Rev))

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

// TestWebSocketShutdownDeadline checks that Shutdown does not wait for a
// blocked write past its context.
func TestWebSocketShutdownDeadline(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t, liveflux.WithWebSocketWriteTimeout(time.Minute))
	slow := f.dialIdle(t)
	slow.sendInit(id)
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
	b.awaitStarted(t)
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

// TestWebSocketClose is not parallel: it counts the process's goroutines.
func TestWebSocketClose(t *testing.T) {
	baseline := runtime.NumGoroutine()
	f, id := counterFixture(t)
	cs := f.watchers(t, id, 10)
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

// big renders as many bytes as its last "grow" action asked for.
type big struct {
	liveflux.Base
	Size int
}

func (b *big) Mount(context.Context, map[string]string) error { return nil }
func (b *big) Handle(_ context.Context, _ string, data url.Values) error {
	n, err := strconv.Atoi(data.Get("n"))
	b.Size = n
	return err
}
func (b *big) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, strings.Repeat("x", b.Size))
	return err
}

// Guards against: a rendering, reply or payload of any size went out as
// one frame (a 64 MiB rendering held up a 206-byte update of another
// component on the same socket for 1.24 s). Past the write limit the
// action fails and says why, and the instance keeps its state; Broadcast
// refuses the payload.
func TestWriteLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	f := newFixture(t, liveflux.WithWebSocketWriteLimit(limit))
	assertNoError(t, f.reg.Register("big", func() liveflux.Component { return &big{} }))
	id := f.mount(t, "big", nil)
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "grow", map[string]string{"n": "1000"})
	if html := c.nextUpdate(id); !strings.Contains(html, strings.Repeat("x", 1000)) {
		t.Fatalf("a small rendering did not arrive: %.80s", html)
	}
	c.sendAction(id, "grow", map[string]string{"n": strconv.Itoa(2 * limit)})
	m := c.nextMsg()
	assertErrorMsg(t, m, id, http.StatusInternalServerError)
	if !strings.Contains(m.Message, fmt.Sprintf("rendering over %d bytes", limit)) {
		t.Fatalf("error %q does not say why", m.Message)
	}
	if html := bodyOf(c.init(id)); strings.Count(html, "x") != 1000 {
		t.Fatalf("the instance changed: renders %d bytes", strings.Count(html, "x"))
	}
	err := f.h.Broadcast(id, strings.Repeat("y", 2*limit))
	if !errors.Is(err, liveflux.ErrTooLarge) {
		t.Fatalf("Broadcast over the limit: %v, want ErrTooLarge", err)
	}
	assertNoError(t, f.h.Broadcast(id, map[string]string{"type": "small"}))
	if m := c.nextMsg(); m.Type != "small" {
		t.Fatalf("got %s after the refused broadcast, want the small one", m.raw)
	}
}
