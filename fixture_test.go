package liveflux_test

// The one fixture of package liveflux_test: its test components, a
// handler behind a test server (fixture), a WebSocket test client
// (wsClient) that applies updates as the JS client does, the helpers that
// drive a Handler through a recorder, and the small asserts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
	"github.com/gorilla/websocket"
)

// waitTimeout bounds every wait of these tests; nothing waits this long
// when the code under test works.
const waitTimeout = 10 * time.Second

var discardLogger = slog.New(slog.DiscardHandler)

// ---- test components ----

// counter is the test component. Mount: start (a number; else 422), mode
// panic, fail (an internal error) or redirect (to /welcome). Actions: inc,
// dec, add (adds every value of n), echo (keeps the values of v), go (inc,
// then a redirect to /next), usererr (409 "already taken"), fail (an
// internal error: 500), badstatus (an Error without a valid status),
// emit (inc, then the event "counted" {"count": N}),
// panic, panicrender; any other is a 400 "unknown action". A failing action changes the state first: the change must be
// undone.
type counter struct {
	liveflux.Base
	Count       int
	Echo        string
	panicRender bool
}

func (c *counter) Mount(_ context.Context, p map[string]string) error {
	switch p["mode"] {
	case "panic":
		panic("mount exploded")
	case "fail":
		return errors.New("database password is hunter2")
	case "redirect":
		c.Redirect("/welcome")
	}
	if s := p["start"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return liveflux.NewError(http.StatusUnprocessableEntity, "start must be a number")
		}
		c.Count = n
	}
	return nil
}

func (c *counter) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "emit":
		c.Count++
		return liveflux.Emit(ctx, "counted", map[string]int{"count": c.Count})
	case "inc":
		c.Count++
	case "dec":
		c.Count--
	case "add":
		for _, v := range data["n"] {
			n, err := strconv.Atoi(v)
			if err != nil {
				return liveflux.NewError(http.StatusBadRequest, "bad n")
			}
			c.Count += n
		}
	case "echo":
		c.Echo = strings.Join(data["v"], ",")
	case "go":
		c.Count++
		c.Redirect("/next")
	case "usererr":
		c.Count += 100
		return liveflux.NewError(http.StatusConflict, "already taken")
	case "fail":
		c.Count += 100
		return errors.New("secret internal detail")
	case "badstatus":
		c.Count += 100
		return liveflux.NewError(0, "oops")
	case "panic":
		c.Count += 100
		panic("handle exploded")
	case "panicrender":
		c.Count += 100
		c.panicRender = true
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action")
	}
	return nil
}

func (c *counter) Render(_ context.Context, w io.Writer) error {
	if c.panicRender {
		c.panicRender = false
		panic("render exploded")
	}
	_, err := fmt.Fprintf(w, `<span>count=%d</span><span class="echo">%s</span>`, c.Count, c.Echo)
	return err
}

// echo handles its WebSocket actions itself (HandleWS): "add" replies
// with an echoReply, "silent" with nothing, "go" asks for a redirect,
// "fail" is a 409, "panic" panics. Over HTTP, "add" counts.
type echo struct {
	liveflux.Base
	N int
}

type echoReply struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	N    int    `json:"n"`
	Note string `json:"note"`
}

func (e *echo) Mount(context.Context, map[string]string) error { return nil }

func (e *echo) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "add" {
		e.N++
	}
	return nil
}

func (e *echo) HandleWS(_ context.Context, m *liveflux.WebSocketMessage) (interface{}, error) {
	switch m.Action {
	case "add":
		e.N++
		return echoReply{Type: "echoed", ID: m.ComponentID, N: e.N, Note: "<b>&</b>"}, nil
	case "silent":
		e.N++
		return nil, nil
	case "go":
		e.Redirect("/only-for-the-ws-client")
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

func (e *echo) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "n=%d", e.N)
	return err
}

// rows renders a 300-row list; every action changes one value.
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

// rowsBody is what rows renders inside its root when its value is hot.
func rowsBody(hot int) string {
	var b strings.Builder
	(&rows{Hot: hot}).Render(context.Background(), &b)
	return b.String()
}

// list streams items into its list "items" and keeps none of them.
type list struct{ liveflux.Base }

// listItem renders text as an item.
func listItem(text string) liveflux.RenderFunc {
	return func(_ context.Context, w io.Writer) error {
		_, err := fmt.Fprintf(w, "<li>%s</li>", html.EscapeString(text))
		return err
	}
}

func (l *list) Mount(ctx context.Context, p map[string]string) error {
	if p["items"] == "" {
		return nil
	}
	for _, key := range strings.Split(p["items"], ",") {
		if err := liveflux.StreamAppend(ctx, "items", key, listItem(key)); err != nil {
			return err
		}
	}
	return nil
}

func (l *list) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "add":
		return liveflux.StreamAppend(ctx, "items", data.Get("key"), listItem(data.Get("text")))
	case "first":
		return liveflux.StreamPrepend(ctx, "items", data.Get("key"), listItem(data.Get("text")))
	case "remove":
		return liveflux.StreamDelete(ctx, "items", data.Get("key"))
	case "reset":
		return liveflux.StreamReset(ctx, "items")
	case "limit":
		n, _ := strconv.Atoi(data.Get("n"))
		return liveflux.StreamLimit(ctx, "items", n)
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action")
}

func (l *list) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, `<ul data-flux-stream="items"></ul>`)
	return err
}

// note keeps the text it was mounted with, as components keep their
// parameters.
type note struct {
	liveflux.Base
	Text string
}

func (n *note) Mount(_ context.Context, p map[string]string) error { n.Text = p["text"]; return nil }
func (n *note) Handle(context.Context, string, url.Values) error   { return nil }
func (n *note) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<p>%d bytes</p>", len(n.Text))
	return err
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

// awaitStarted waits until a "block" action runs.
func (b *blocker) awaitStarted(tb testing.TB) {
	tb.Helper()
	select {
	case <-b.started:
	case <-time.After(waitTimeout):
		tb.Fatal("the action did not start")
	}
}

// pager lives in the URL: its tab is the path (HandleURL), its page and
// search the query parameters "page" and "q" (tags). Actions: next (page
// + 1: a new history entry), search (q = field q: the entry replaced),
// tab (PatchURL to "/" + field tab), tabReplace (ReplaceURL), away
// (PatchURL to another site: fails), flash (Flash "info" "saved").
type pager struct {
	liveflux.Base
	Tab  string
	Page int    `url:"page,push"`
	Q    string `url:"q"`
	Seen int    // how many times HandleURL ran
}

func (p *pager) Mount(context.Context, map[string]string) error { return nil }

func (p *pager) HandleURL(_ context.Context, u *url.URL) error {
	if u.Path == "/bad" {
		return liveflux.NewError(http.StatusNotFound, "no such tab")
	}
	if u.Path == "/old" {
		return p.Redirect("/inbox")
	}
	p.Tab, p.Seen = strings.TrimPrefix(u.Path, "/"), p.Seen+1
	return nil
}

func (p *pager) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "next":
		p.Page++
	case "search":
		p.Q = data.Get("q")
	case "tab":
		return liveflux.PatchURL(ctx, "/"+data.Get("tab"))
	case "tabReplace":
		return liveflux.ReplaceURL(ctx, "/"+data.Get("tab"))
	case "away":
		return liveflux.PatchURL(ctx, "https://evil.example/")
	case "flash":
		return liveflux.Flash(ctx, "info", "saved")
	}
	return nil
}

func (p *pager) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<p>tab=%s page=%d q=%s seen=%d</p>", html.EscapeString(p.Tab), p.Page, html.EscapeString(p.Q), p.Seen)
	return err
}

// vault takes a sealed mount parameter, user, and a plain one, note.
type vault struct {
	liveflux.Base
	User, Note string
}

func (v *vault) SealedParams() []string { return []string{"user"} }
func (v *vault) Mount(_ context.Context, p map[string]string) error {
	v.User, v.Note = p["user"], p["note"]
	return nil
}
func (v *vault) Handle(context.Context, string, url.Values) error { return nil }
func (v *vault) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<p>user=%s note=%s</p>", html.EscapeString(v.User), html.EscapeString(v.Note))
	return err
}

// testRegistry registers counter, echo, rows, note, list, pager and vault.
func testRegistry(tb testing.TB) *liveflux.Registry {
	tb.Helper()
	reg := liveflux.NewRegistry()
	assertNoError(tb, reg.Register("counter", func() liveflux.Component { return &counter{} }))
	assertNoError(tb, reg.Register("echo", func() liveflux.Component { return &echo{} }))
	assertNoError(tb, reg.Register("rows", func() liveflux.Component { return &rows{} }))
	assertNoError(tb, reg.Register("note", func() liveflux.Component { return &note{} }))
	assertNoError(tb, reg.Register("list", func() liveflux.Component { return &list{} }))
	assertNoError(tb, reg.Register("pager", func() liveflux.Component { return &pager{} }))
	assertNoError(tb, reg.Register("vault", func() liveflux.Component { return &vault{} }))
	return reg
}

// ---- sessions ----

// sessionOf reads the test's session cookie.
func sessionOf(r *http.Request) string {
	if c, err := r.Cookie("sid"); err == nil {
		return c.Value
	}
	return ""
}

// sessionRequest is a page request from the session sid.
func sessionRequest(sid string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if sid != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	return r
}

// ---- a Handler through a recorder ----

// newTestHandler is a Handler with the test registry and a new
// MemoryStore.
func newTestHandler(tb testing.TB, opts ...liveflux.HandlerOption) *liveflux.Handler {
	tb.Helper()
	return newStoreHandler(tb, liveflux.NewMemoryStore(), opts...)
}

// newStoreHandler is a Handler with the test registry over store.
func newStoreHandler(tb testing.TB, store liveflux.Store, opts ...liveflux.HandlerOption) *liveflux.Handler {
	tb.Helper()
	opts = append([]liveflux.HandlerOption{liveflux.WithRegistry(testRegistry(tb)), liveflux.WithLogger(discardLogger)}, opts...)
	return liveflux.NewHandler(store, opts...)
}

// postFrom posts form to h as a client at addr ("host:port"; "": the
// recorder's default), with session sid's cookie unless sid is "".
func postFrom(h http.Handler, addr, sid string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if addr != "" {
		req.RemoteAddr = addr
	}
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func post(h http.Handler, form url.Values) *httptest.ResponseRecorder {
	return postFrom(h, "", "", form)
}

// mount mounts a counter with params (name, value, …) and returns its ID.
func mount(tb testing.TB, h http.Handler, params ...string) string {
	tb.Helper()
	form := url.Values{liveflux.FieldKind: {"counter"}}
	for i := 0; i+1 < len(params); i += 2 {
		form.Set(params[i], params[i+1])
	}
	rec := post(h, form)
	if rec.Code != http.StatusOK {
		tb.Fatalf("mount: %d %s", rec.Code, rec.Body)
	}
	return idOf(tb, rec.Body.String())
}

// actionForm is the form of action name on counter id, with fields
// (name, value, …).
func actionForm(id, name string, fields ...string) url.Values {
	form := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}}
	if name != "" {
		form.Set(liveflux.FieldAction, name)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Add(fields[i], fields[i+1])
	}
	return form
}

func action(h http.Handler, id, name string, fields ...string) *httptest.ResponseRecorder {
	return post(h, actionForm(id, name, fields...))
}

// count re-renders counter id and returns its count.
func count(tb testing.TB, h http.Handler, id string) int {
	tb.Helper()
	rec := action(h, id, "")
	if rec.Code != http.StatusOK {
		tb.Fatalf("render %s: %d %s", id, rec.Code, rec.Body)
	}
	return countOf(tb, rec.Body.String())
}

// ---- the fixture: a WebSocketHandler behind a test server ----

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
	store liveflux.Store // a MemoryStore, or a hookStore; nil: a new MemoryStore
	tls   bool           // serve over TLS
	clock *fakeClock     // the handler's clock; nil: the real one
}

func startFixture(tb testing.TB, cfg fixtureConfig, opts ...liveflux.WebSocketOption) *fixture {
	tb.Helper()
	store := cfg.store
	if store == nil {
		store = liveflux.NewMemoryStore()
	}
	reg := testRegistry(tb)
	all := append([]liveflux.WebSocketOption{liveflux.WithRegistry(reg), liveflux.WithLogger(discardLogger)}, opts...)
	h := liveflux.NewWebSocketHandler(store, all...)
	if cfg.clock != nil {
		liveflux.SetClock(h, cfg.clock.now)
	}
	// The test client asks for diff updates, as the JS client does.
	dialer := websocket.Dialer{HandshakeTimeout: waitTimeout, Subprotocols: []string{liveflux.SubprotocolV2, liveflux.SubprotocolDiff}}
	f := &fixture{h: h, reg: reg, dialer: dialer}
	switch s := store.(type) {
	case *liveflux.MemoryStore:
		f.store = s
	case *hookStore:
		f.store = s.MemoryStore
	}
	if cfg.tls {
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

// counterFixture is newFixture with a counter mounted: its ID.
func counterFixture(tb testing.TB, opts ...liveflux.WebSocketOption) (*fixture, string) {
	tb.Helper()
	f := newFixture(tb, opts...)
	return f, f.mount(tb, "counter", nil)
}

// host is the server's host:port, as in the Host header of its requests.
func (f *fixture) host() string { return f.srv.Listener.Addr().String() }

// mount mounts a component and returns its ID.
func (f *fixture) mount(tb testing.TB, kind string, params map[string]string) string {
	tb.Helper()
	return f.mountAs(tb, "", kind, params)
}

// mountAs mounts a component for a page of session sid ("": none) and
// returns its ID.
func (f *fixture) mountAs(tb testing.TB, sid, kind string, params map[string]string) string {
	tb.Helper()
	html, err := f.h.Mount(sessionRequest(sid), kind, params)
	assertNoError(tb, err)
	return idOf(tb, string(html))
}

// response is the server's answer to a request.
type response struct {
	status int
	header http.Header
	body   string
}

// request sends a POST of body, of content type ctype, with session sid's
// cookie unless sid is "". It is safe to call from other goroutines than
// the test's.
func (f *fixture) request(sid, ctype, body string) (response, error) {
	req, err := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", ctype)
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}, err
}

// tryPostAs posts form on behalf of session sid ("": none).
func (f *fixture) tryPostAs(sid string, form url.Values) (response, error) {
	return f.request(sid, "application/x-www-form-urlencoded", form.Encode())
}

// tryPost posts a form to the endpoint.
func (f *fixture) tryPost(form url.Values) (int, string, error) {
	r, err := f.tryPostAs("", form)
	return r.status, r.body, err
}

// post posts an action on a component of kind (none: a re-render) and
// wants 200.
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

// postAs posts action on counter id on behalf of session sid.
func (f *fixture) postAs(sid, id, action string) (int, string) {
	r, err := f.tryPostAs(sid, actionForm(id, action))
	if err != nil {
		return 0, err.Error()
	}
	return r.status, r.body
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

// watchers connects n clients, reading in the background, that each
// watch id: their init has been answered.
func (f *fixture) watchers(tb testing.TB, id string, n int) []*wsClient {
	tb.Helper()
	cs := make([]*wsClient, n)
	for i := range cs {
		cs[i] = f.dial(tb)
		cs[i].init(id)
	}
	return cs
}

// dialAs connects a client of session sid, reading in the background.
func (f *fixture) dialAs(tb testing.TB, sid string) *wsClient {
	tb.Helper()
	c := f.dialIdleWith(tb, f.dialer, http.Header{"Cookie": {"sid=" + sid}})
	c.startReading()
	return c
}

// dialIdle connects a client that reads nothing until startReading.
func (f *fixture) dialIdle(tb testing.TB) *wsClient {
	tb.Helper()
	return f.dialIdleWith(tb, f.dialer, nil)
}

// dialPlain connects a client, reading in the background, that does not
// ask for diff updates: one written from the first version of the
// protocol.
func (f *fixture) dialPlain(tb testing.TB) *wsClient { return f.dialSpeaking(tb) }

// dialSpeaking connects a client, reading in the background, that offers
// the subprotocols given (none: a client of the first version of the
// protocol).
func (f *fixture) dialSpeaking(tb testing.TB, subprotocols ...string) *wsClient {
	tb.Helper()
	d := f.dialer
	d.Subprotocols = subprotocols
	c := f.dialIdleWith(tb, d, nil)
	c.startReading()
	return c
}

func (f *fixture) dialIdleWith(tb testing.TB, d websocket.Dialer, hdr http.Header) *wsClient {
	tb.Helper()
	ws, resp, err := d.Dial(f.wsURL, hdr)
	if err != nil {
		tb.Fatalf("dial: %v (status %d)", err, statusOf(resp))
	}
	return newClient(tb, ws)
}

// newClient is the test client of ws, closed when the test ends; it reads
// nothing until startReading.
func newClient(tb testing.TB, ws *websocket.Conn) *wsClient {
	c := &wsClient{tb: tb, ws: ws, msgs: make(chan []byte, 4096)}
	tb.Cleanup(c.close)
	return c
}

// statusOf is the status of a handshake's response, 0 without one.
func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// hookStore is a MemoryStore that calls before, when set, as each Update
// begins (before it waits for the instance), and after, when set, once
// the next Update has returned: at the moment the instance was released.
type hookStore struct {
	*liveflux.MemoryStore
	before atomic.Pointer[func(id string)]
	after  atomic.Pointer[func(id string)]
}

func (s *hookStore) Update(ctx context.Context, id string, fn func(liveflux.Component) error) error {
	if before := s.before.Load(); before != nil {
		(*before)(id)
	}
	err := s.MemoryStore.Update(ctx, id, fn)
	if after := s.after.Swap(nil); after != nil {
		(*after)(id)
	}
	return err
}

// newHookFixture is newFixture over a hookStore.
func newHookFixture(tb testing.TB, opts ...liveflux.WebSocketOption) (*fixture, *hookStore) {
	tb.Helper()
	store := &hookStore{MemoryStore: liveflux.NewMemoryStore()}
	return startFixture(tb, fixtureConfig{store: store}, opts...), store
}

// fakeClock is a handler's clock that moves only when a test says so.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// ---- the WebSocket test client ----

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

// actionMsg is the message of action on id, with data unless nil.
func actionMsg(id, action string, data any) map[string]any {
	m := map[string]any{"type": "action", "componentID": id, "action": action}
	if data != nil {
		m["data"] = data
	}
	return m
}

func (c *wsClient) sendAction(id, action string, data any) {
	c.tb.Helper()
	c.send(actionMsg(id, action, data))
}

// sendInit asks to watch id, without waiting for the answer.
func (c *wsClient) sendInit(id string) {
	c.tb.Helper()
	c.send(map[string]string{"type": "init", "componentID": id})
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
	c.sendInit(id)
	return c.nextUpdate(id)
}

// before has the server answer a request that it handles after every
// message c sent so far (an init of an unknown ID: messages of a
// connection are handled in order), and returns the messages c received
// before the answer: all that c's earlier messages and what happened
// meanwhile sent it.
func (c *wsClient) before() []serverMsg {
	c.tb.Helper()
	marker := "ROUNDTRIP" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c.sendInit(marker)
	var got []serverMsg
	for {
		m := c.nextMsg()
		if m.Type == liveflux.MessageError && m.ComponentID == marker {
			return got
		}
		got = append(got, m)
	}
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

// awaitCount applies the updates of id as the JS client does (an older
// rendering than the one shown is ignored) until the count shown is want.
func (c *wsClient) awaitCount(id string, want int) {
	c.tb.Helper()
	shown, rev := -1, -1
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for shown != want {
		select {
		case b, ok := <-c.msgs:
			if !ok {
				c.tb.Fatalf("connection ended with count=%d shown, want %d: %v", shown, want, c.err)
			}
			html := c.update(parseMsg(c.tb, b), id)
			if r := revOf(c.tb, html); r > rev {
				shown, rev = countOf(c.tb, html), r
			}
		case <-deadline.C:
			c.tb.Fatalf("client shows count=%d (rev %d) after %v, want count=%d", shown, rev, waitTimeout, want)
		}
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

// String is the message as sent.
func (m serverMsg) String() string { return string(m.raw) }

func parseMsg(tb testing.TB, b []byte) serverMsg {
	tb.Helper()
	var m serverMsg
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("message %q: %v", b, err)
	}
	m.raw = b
	return m
}

// ---- updates, as the JS client applies them ----

// clientView is the last rendering a client applied, as the JS client
// keeps it.
type clientView = wire.View

// parseDiff returns the diff of m when m is a diff update of one span.
func parseDiff(m serverMsg) (wire.Diff, bool) {
	if m.Type != liveflux.MessageUpdate {
		return wire.Diff{}, false
	}
	u, err := wire.ParseUpdate(m.Data)
	if err != nil || u.Diff == nil {
		return wire.Diff{}, false
	}
	return *u.Diff, true
}

// isEdits reports whether m is a diff update of edits.
func isEdits(m serverMsg) bool {
	u, err := wire.ParseUpdate(m.Data)
	return m.Type == liveflux.MessageUpdate && err == nil && u.Edits != nil
}

// applyDiff does what the JS client does with diff d of body: it keeps its
// prefix and suffix UTF-16 code units (JavaScript strings are UTF-16) and
// puts its text between them.
func applyDiff(tb testing.TB, body string, d wire.Diff) string {
	tb.Helper()
	out, ok := wire.ApplyDiff(body, d)
	if !ok {
		tb.Fatalf("diff %+v does not fit a body of %q", d, body)
	}
	return out
}

// update turns an update message (full or diff) into the rendering it
// describes, as the JS client does, and records it unless it is older
// than the one held (a diff must apply to the rendering held).
func (c *wsClient) update(m serverMsg, id string) string {
	c.tb.Helper()
	if m.Type != liveflux.MessageUpdate || m.ComponentID != id {
		c.tb.Fatalf("got %s, want an update of %s", m.raw, id)
	}
	u, err := wire.ParseUpdate(m.Data)
	if err != nil {
		c.tb.Fatalf("update %s: %v", m.raw, err)
	}
	if c.views == nil {
		c.views = make(map[string]clientView)
	}
	v, held := c.views[id]
	next, outcome, err := wire.Apply(v, held, id, u)
	switch {
	case err != nil:
		c.tb.Fatal(err)
	case outcome == wire.NeedsInit:
		c.tb.Fatalf("diff %s does not apply to the rendering held (rev %d)", m.raw, v.Rev)
	case outcome == wire.Applied:
		c.views[id] = next
	}
	if u.HTML != nil {
		return *u.HTML // a stale one too: the tests look at what came
	}
	return next.HTML(id)
}

// bodyOf is what a component's root element holds.
func bodyOf(html string) string {
	return html[strings.IndexByte(html, '>')+1 : len(html)-len("</div>")]
}

// ---- asserts ----

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
	idPattern    = regexp.MustCompile(`data-flux-component-id="([^"]+)"`)
	revPattern   = regexp.MustCompile(`data-flux-rev="(\d+)"`)
	countPattern = regexp.MustCompile(`count=(-?\d+)`)
)

// idOf is the ID of the component html renders.
func idOf(tb testing.TB, html string) string {
	tb.Helper()
	m := idPattern.FindStringSubmatch(html)
	if m == nil {
		tb.Fatalf("no component ID in %q", html)
	}
	return m[1]
}

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

// jsonUnmarshalStrict decodes b into v, refusing fields v does not have.
func jsonUnmarshalStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
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

// receive waits for a value from ch, failing the test after waitTimeout.
func receive[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		tb.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
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
