package fluxredis_test

import (
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
	fluxredis "github.com/go-liveflux/liveflux/redis"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// counter is the component of these tests: its state is Count.
type counter struct {
	liveflux.Base
	Count int
	runs  *atomic.Int64 // counts Handle calls; set by the factory
}

func (c *counter) Mount(context.Context, map[string]string) error { return nil }

func (c *counter) Handle(_ context.Context, action string, _ url.Values) error {
	if c.runs != nil {
		c.runs.Add(1)
	}
	switch action {
	case "inc":
		c.Count++
		return nil
	case "fail":
		c.Count += 1000 // must not be stored
		return errors.New("deliberate failure")
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
}

func (c *counter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<span class="count">%d</span>`, c.Count)
	return err
}

// newRegistry returns a registry with the counter kind; runs, when not
// nil, counts every Handle call.
func newRegistry(t testing.TB, runs *atomic.Int64) *liveflux.Registry {
	t.Helper()
	r := liveflux.NewRegistry()
	if err := r.Register("counter", func() liveflux.Component { return &counter{runs: runs} }); err != nil {
		t.Fatal(err)
	}
	return r
}

var quiet = slog.New(slog.DiscardHandler)

// node is one process of the application: a WebSocketHandler on an HTTP
// server, with its own Redis client, store and backplane.
type node struct {
	t      testing.TB
	client *redis.Client
	store  *fluxredis.Store
	bp     *fluxredis.Backplane
	h      *liveflux.WebSocketHandler
	srv    *httptest.Server
	closed bool
}

func newNode(t testing.TB, addr string, reg *liveflux.Registry, opts ...liveflux.WebSocketOption) *node {
	t.Helper()
	return newNodeWrapped(t, addr, reg, nil, opts...)
}

// newNodeWrapped is newNode whose handler uses wrap(store) as its store.
func newNodeWrapped(t testing.TB, addr string, reg *liveflux.Registry, wrap func(liveflux.Store) liveflux.Store, opts ...liveflux.WebSocketOption) *node {
	t.Helper()
	n := &node{t: t, client: redis.NewClient(clientOptions(addr))}
	n.store = fluxredis.NewStore(n.client, fluxredis.WithRegistry(reg))
	n.bp = fluxredis.NewBackplane(n.client,
		fluxredis.WithBackoff(20*time.Millisecond, 300*time.Millisecond),
		fluxredis.WithHealthCheck(time.Second),
		fluxredis.WithBackplaneLogger(quiet))
	var store liveflux.Store = n.store
	if wrap != nil {
		store = wrap(store)
	}
	n.h = liveflux.NewWebSocketHandler(store, append([]liveflux.WebSocketOption{
		liveflux.WithRegistry(reg),
		liveflux.WithLogger(quiet),
		liveflux.WithWebSocketBackplane(n.bp),
	}, opts...)...)
	mux := http.NewServeMux()
	mux.Handle("/liveflux", n.h)
	n.srv = httptest.NewServer(mux)
	t.Cleanup(n.Close)
	return n
}

// Close stops the node: its connections, server and Redis client.
func (n *node) Close() {
	if n.closed {
		return
	}
	n.closed = true
	n.h.Close()
	n.srv.Close()
	n.client.Close()
}

var idRE = regexp.MustCompile(`data-flux-component-id="([A-Z2-7]+)"`)

// post sends a form to the node's endpoint and returns status and body.
func (n *node) post(form url.Values) (int, string) {
	n.t.Helper()
	return n.postWith(nil, form)
}

// postWith is post with extra request headers.
func (n *node) postWith(hdr http.Header, form url.Values) (int, string) {
	n.t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.srv.URL+"/liveflux", strings.NewReader(form.Encode()))
	if err != nil {
		n.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := n.srv.Client().Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// mount mounts a counter over HTTP and returns its ID.
func (n *node) mount() string {
	n.t.Helper()
	status, body := n.post(url.Values{liveflux.FieldKind: {"counter"}})
	if status != http.StatusOK {
		n.t.Fatalf("mount: %d %s", status, body)
	}
	m := idRE.FindStringSubmatch(body)
	if m == nil {
		n.t.Fatalf("mount: no component ID in %s", body)
	}
	return m[1]
}

// act runs an action over HTTP and returns status and body.
func (n *node) act(id, action string) (int, string) {
	n.t.Helper()
	return n.post(url.Values{
		liveflux.FieldKind:   {"counter"},
		liveflux.FieldID:     {id},
		liveflux.FieldAction: {action},
	})
}

// count reads the stored Count of id.
func (n *node) count(id string) int {
	n.t.Helper()
	c, err := n.store.Get(context.Background(), id)
	if err != nil {
		n.t.Fatalf("get %s: %v", id, err)
	}
	return c.(*counter).Count
}

// serverMsg is a frame the server sends.
type serverMsg struct {
	Type        string          `json:"type"`
	ComponentID string          `json:"componentID"`
	Data        json.RawMessage `json:"data"`
	Message     string          `json:"message"`
	Code        int             `json:"code"`
	Text        string          `json:"text"` // of the test's broadcasts
	At          time.Time       `json:"-"`    // when it arrived and was applied
	// HTML is, for an update, the rendering the client shows after it: the
	// full rendering it carried or the one its diff describes. It is empty
	// when the client did not apply the update (older than what it shows,
	// or a diff against a rendering it lacks: then it asked for a full one).
	HTML string `json:"-"`
	raw  []byte
}

var countRE = regexp.MustCompile(`<span class="count">(-?\d+)</span>`)

// count returns the Count the client shows after an update, or -1.
func (m serverMsg) count() int {
	if m.Type != liveflux.MessageUpdate {
		return -1
	}
	sm := countRE.FindStringSubmatch(m.HTML)
	if sm == nil {
		return -1
	}
	n, _ := strconv.Atoi(sm[1])
	return n
}

// wsClient is a WebSocket client as a page would open one. Like the JS
// client it keeps the last rendering it applied of every component, to
// apply diff updates (PROTOCOL.md, "Diff updates").
type wsClient struct {
	t     testing.TB
	node  string // the URL of the node it is connected to
	conn  *websocket.Conn
	msgs  chan serverMsg  // closed when the connection ends, after setting err
	err   error           // why the connection ended
	wmu   sync.Mutex      // one writer at a time: tests and resyncs
	views map[string]view // by component ID; only the reader uses it
	stats clientStats
}

// view is what the client shows of one component.
type view = wire.View

// clientStats counts what the client did with the updates it received.
type clientStats struct {
	full, diffs, stale, resyncs atomic.Int64
}

func (s *clientStats) String() string {
	return fmt.Sprintf("%d full, %d diffs applied, %d stale ignored, %d resyncs",
		s.full.Load(), s.diffs.Load(), s.stale.Load(), s.resyncs.Load())
}

func dial(t testing.TB, n *node) *wsClient {
	t.Helper()
	return dialWith(t, n, nil)
}

// dialWith is dial with extra handshake headers.
func dialWith(t testing.TB, n *node, hdr http.Header) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(n.srv.URL, "http") + "/liveflux"
	// As the JS client does, the test client asks for diff updates.
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: []string{liveflux.SubprotocolV2, liveflux.SubprotocolDiff}}
	conn, res, err := d.Dial(u, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	res.Body.Close()
	c := &wsClient{t: t, node: n.srv.URL, conn: conn, msgs: make(chan serverMsg, 1<<14), views: make(map[string]view)}
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			var m serverMsg
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("client of %s: frame %q: %v", c.node, b, err)
				return
			}
			m.raw = b
			if m.Type == liveflux.MessageUpdate {
				c.apply(&m)
			}
			m.At = time.Now()
			c.msgs <- m
		}
	}()
	t.Cleanup(c.Close)
	return c
}

// Close closes the connection and waits for the reader to end.
func (c *wsClient) Close() {
	c.conn.Close()
	for range c.msgs {
	}
}

// write sends v as a JSON text frame.
func (c *wsClient) write(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteJSON(v)
}

// apply applies an update as the JS client does (wire.Apply) and sets
// m.HTML to the rendering shown after it, if the client applied it.
func (c *wsClient) apply(m *serverMsg) {
	id := m.ComponentID
	u, err := wire.ParseUpdate(m.Data)
	if err != nil {
		c.t.Errorf("client of %s: update %s: %v", c.node, m.raw, err)
		return
	}
	v, held := c.views[id]
	next, outcome, err := wire.Apply(v, held, id, u)
	switch {
	case err != nil:
		c.t.Errorf("client of %s: %v", c.node, err)
	case outcome == wire.Stale:
		c.stats.stale.Add(1)
	case outcome == wire.NeedsInit:
		// It lacks the rendering the diff is based on: ask for a full one.
		c.stats.resyncs.Add(1)
		c.write(map[string]string{"type": liveflux.MessageInit, "componentID": id})
	default:
		c.views[id] = next
		how := func() string { return "a full update" }
		if u.IsDiff() {
			c.stats.diffs.Add(1)
			base, data := v.Body, m.Data
			how = func() string { return fmt.Sprintf("diff %s applied to %q", data, base) }
		} else {
			c.stats.full.Add(1)
		}
		c.record(id, next.Rev, next.Body, how)
		m.HTML = next.HTML(id)
	}
}

// shown holds, for every component revision any client of this process
// showed, its body and how that client got it. A revision names one
// rendering: every client showing it, on whichever node, must show the same.
var shown = struct {
	sync.Mutex
	m map[string]shownBody // by ID "@" revision
}{m: make(map[string]shownBody)}

type shownBody struct {
	body, node string
	how        func() string
}

// record checks that body, which the client got as how says, is what every
// other client showed as revision rev of id, and a rendering of a test
// component.
func (c *wsClient) record(id string, rev uint64, body string, how func() string) {
	if !bodyRE.MatchString(body) {
		c.t.Errorf("client of %s shows %s revision %d as %q (from %s): not a rendering of a test component", c.node, id, rev, body, how())
	}
	if rev == 0 {
		return
	}
	key := id + "@" + strconv.FormatUint(rev, 10)
	shown.Lock()
	defer shown.Unlock()
	prev, ok := shown.m[key]
	if !ok {
		shown.m[key] = shownBody{body, c.node, how}
		return
	}
	if prev.body != body {
		c.t.Errorf("%s revision %d shown differently: %q by a client of %s (from %s), %q by a client of %s (from %s)",
			id, rev, body, c.node, how(), prev.body, prev.node, prev.how())
	}
}

// bodyRE matches the renderings of the tests' components: a counter, or a
// lobby (topic_test.go).
var bodyRE = regexp.MustCompile(`^(<span class="count">-?\d+</span>|msgs=\[[^\]]*\] online=\[[^\]]*\])$`)

func (c *wsClient) send(typ, id, action string) {
	c.t.Helper()
	m := map[string]any{"type": typ, "componentID": id}
	if action != "" {
		m["action"] = action
		m["data"] = map[string]string{}
	}
	if err := c.write(m); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

// expect waits for the first message matching ok and returns it; other
// messages are skipped.
func (c *wsClient) expect(what string, timeout time.Duration, ok func(serverMsg) bool) serverMsg {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				c.t.Fatalf("connection closed while waiting for %s: %v", what, c.err)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s within %v", what, timeout)
		}
	}
}

// expectCount waits for an update of id showing n.
func (c *wsClient) expectCount(id string, n int) serverMsg {
	c.t.Helper()
	return c.expect(fmt.Sprintf("update of %s to %d", id, n), 10*time.Second, func(m serverMsg) bool {
		return m.ComponentID == id && m.count() == n
	})
}

// expectError waits for an error frame about id.
func (c *wsClient) expectError(id string, timeout time.Duration) serverMsg {
	c.t.Helper()
	return c.expect("error about "+id, timeout, func(m serverMsg) bool {
		return m.Type == liveflux.MessageError && m.ComponentID == id
	})
}

// quietFor fails when a message matching bad arrives within d.
func (c *wsClient) quietFor(d time.Duration, bad func(serverMsg) bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				return
			}
			if bad(m) {
				c.t.Fatalf("unexpected message %+v", m)
			}
		case <-deadline:
			return
		}
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribers returns how many clients are subscribed to the backplane's
// channel.
func subscribers(t testing.TB, addr string) int64 {
	c := redis.NewClient(clientOptions(addr))
	defer c.Close()
	m, err := c.PubSubNumSub(context.Background(), fluxredis.DefaultChannel).Result()
	if err != nil {
		return -1
	}
	return m[fluxredis.DefaultChannel]
}
