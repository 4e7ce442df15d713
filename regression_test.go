package liveflux

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/gorilla/websocket"
)

var rvLog = slog.New(slog.DiscardHandler)

// ---- components ----

type rvSecret struct {
	Base
	Secret string
	slow   time.Duration
}

func (c *rvSecret) Mount(_ context.Context, p map[string]string) error {
	c.Secret = p["secret"]
	return nil
}
func (c *rvSecret) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "slow" {
		time.Sleep(300 * time.Millisecond)
	}
	if action == "bad" {
		return NewError(0, "oops")
	}
	if action == "slow2" {
		time.Sleep(2500 * time.Millisecond)
	}
	c.Secret += "!"
	return nil
}
func (c *rvSecret) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<p>%s</p>", c.Secret)
	return err
}

// rvNoBase implements Component without embedding Base.
type rvNoBase struct {
	kind, id string
	N        int
}

func (c *rvNoBase) GetKind() string                                  { return c.kind }
func (c *rvNoBase) SetKind(k string)                                 { c.kind = k }
func (c *rvNoBase) GetID() string                                    { return c.id }
func (c *rvNoBase) SetID(id string)                                  { c.id = id }
func (c *rvNoBase) Mount(context.Context, map[string]string) error   { return nil }
func (c *rvNoBase) Handle(context.Context, string, url.Values) error { c.N++; return nil }
func (c *rvNoBase) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<b>%d</b>", c.N)
	return err
}

type rvWS struct {
	Base
	N int
}

func (c *rvWS) Mount(context.Context, map[string]string) error { return nil }
func (c *rvWS) Handle(context.Context, string, url.Values) error {
	c.N++
	return nil
}
func (c *rvWS) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<b>%d</b>", c.N)
	return err
}
func (c *rvWS) HandleWS(_ context.Context, m *WebSocketMessage) (any, error) {
	if m.Action == "go" {
		c.Redirect("/only-for-the-ws-client")
	}
	return nil, nil
}

func rvRegistry() *Registry {
	r := NewRegistry()
	r.Register("secret", func() Component { return &rvSecret{} })
	r.Register("nobase", func() Component { return &rvNoBase{} })
	r.Register("wsc", func() Component { return &rvWS{} })
	return r
}

// ---- helpers ----

type rvFix struct {
	h   *WebSocketHandler
	srv *httptest.Server
	ws  string
}

func newRV(t testing.TB, opts ...WebSocketOption) *rvFix {
	opts = append([]WebSocketOption{WithRegistry(rvRegistry()), WithLogger(rvLog)}, opts...)
	h := NewWebSocketHandler(nil, opts...)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })
	return &rvFix{h: h, srv: srv, ws: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

func (f *rvFix) dial(t testing.TB, sid string) (*websocket.Conn, chan map[string]any) {
	hdr := http.Header{}
	if sid != "" {
		hdr.Set("Cookie", "sid="+sid)
	}
	ws, _, err := websocket.DefaultDialer.Dial(f.ws, hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	ch := make(chan map[string]any, 4096)
	go func() {
		defer close(ch)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m map[string]any
			json.Unmarshal(b, &m)
			ch <- m
		}
	}()
	return ws, ch
}

func (f *rvFix) post(t testing.TB, sid string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func sidOf(r *http.Request) string {
	if c, err := r.Cookie("sid"); err == nil {
		return c.Value
	}
	return ""
}

func idOfHTML(h string) string {
	i := strings.Index(h, AttrID+`="`)
	return h[i+len(AttrID)+2 : i+len(AttrID)+2+26]
}

// Guards against: a foreign session is briefly a watcher of the victim's component.

func TestForeignSessionGetsNoUpdates(t *testing.T) {
	t.Parallel()
	f := newRV(t, WithSessionKey(sidOf))
	_, html := f.post(t, "alice", url.Values{FieldKind: {"secret"}, "secret": {"alice-password"}})
	id := idOfHTML(html)

	// Deterministic variant: alice's action is slow (holds the instance);
	// mallory's init waits for it while registered as a watcher.
	mws, mch := f.dial(t, "mallory")
	go func() {
		form := url.Values{FieldKind: {"secret"}, FieldID: {id}, FieldAction: {"slow"}}
		req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "sid", Value: "alice"})
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	mws.WriteJSON(map[string]string{"type": "init", "componentID": id})
	deadline := time.After(3 * time.Second)
	for {
		select {
		case m := <-mch:
			t.Logf("mallory got: %v", m)
			if m["type"] == "update" {
				t.Errorf("mallory (other session) received alice's rendering: %v", m["data"])
				return
			}
		case <-deadline:
			return
		}
	}
}

// Also Broadcast payloads reach a foreign watcher during the window.
func TestForeignSessionGetsNoBroadcast(t *testing.T) {
	t.Parallel()
	f := newRV(t, WithSessionKey(sidOf))
	_, html := f.post(t, "alice", url.Values{FieldKind: {"secret"}, "secret": {"x"}})
	id := idOfHTML(html)
	mws, mch := f.dial(t, "mallory")
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			f.h.Broadcast(id, map[string]string{"type": "private", "msg": "for alice only"})
		}
	}()
	defer close(stop)
	go func() {
		for i := 0; i < 5000; i++ {
			if mws.WriteJSON(map[string]string{"type": "init", "componentID": id}) != nil {
				return
			}
		}
	}()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-mch:
			if m["type"] == "private" {
				t.Errorf("mallory received alice's broadcast: %v", m)
				return
			}
		case <-deadline:
			t.Log("no leak observed")
			return
		}
	}
}

// Guards against: diff of renderings with invalid UTF-8 diverges from the full rendering.

// jsString is what a browser holds after JSON.parse: UTF-16 code units.
func jsString(t *testing.T, jsonStr []byte) []uint16 {
	var s string
	if err := json.Unmarshal(jsonStr, &s); err != nil {
		t.Fatal(err)
	}
	return utf16.Encode([]rune(s))
}

func TestDiffOfInvalidUTF8RebuildsTheRendering(t *testing.T) {
	t.Parallel()
	steps := [][]byte{
		[]byte("<p>Zo\xc3</p>"),              // name truncated mid-rune by bytes
		[]byte("<p>Zo\xc3\xab</p>"),          // now whole: "Zoë"
		[]byte("<p>Zo\xc3\xab</p><i>ok</i>"), // something appended
	}
	enc := func(b []byte) []byte { x, _ := json.Marshal(string(b)); return x }
	client := jsString(t, enc(steps[0])) // body from a full update
	for i := 1; i < len(steps); i++ {
		msg, ok := appendDiffUpdate(nil, "ID", uint64(i+1), uint64(i), steps[i-1], steps[i])
		if !ok { // a full update: the client takes the rendering as is
			client = jsString(t, enc(steps[i]))
			continue
		}
		var m struct {
			Data struct {
				Diff [3]json.RawMessage `json:"diff"`
			} `json:"data"`
		}
		json.Unmarshal(msg, &m)
		var p, s int
		json.Unmarshal(m.Data.Diff[0], &p)
		json.Unmarshal(m.Data.Diff[1], &s)
		text := jsString(t, m.Data.Diff[2])
		next := append(append(append([]uint16{}, client[:p]...), text...), client[len(client)-s:]...)
		client = next
		want := jsString(t, enc(steps[i]))
		got, exp := string(utf16.Decode(client)), string(utf16.Decode(want))
		if got != exp {
			t.Errorf("step %d: client body %q, full rendering %q", i, got, exp)
		}
	}
}

// Guards against: a component without Base never gets WebSocket updates.

func TestComponentWithoutBaseGetsUpdates(t *testing.T) {
	t.Parallel()
	f := newRV(t)
	_, html := f.post(t, "", url.Values{FieldKind: {"nobase"}})
	id := idOfHTML(html)
	ws, ch := f.dial(t, "")
	ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
	rvExpect(t, ch, "the init answer", rvUpdateShowing(id, "<b>0</b>"))
	ws.WriteJSON(map[string]any{"type": "action", "componentID": id, "action": "inc"})
	rvExpect(t, ch, "the update after a WebSocket action", rvUpdateShowing(id, "<b>1</b>"))
	resp, body := f.post(t, "", url.Values{FieldKind: {"nobase"}, FieldID: {id}, FieldAction: {"inc"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP action: %d %s", resp.StatusCode, body)
	}
	rvExpect(t, ch, "the update after an HTTP action", rvUpdateShowing(id, "<b>2</b>"))
}

// Guards against: a redirect requested in HandleWS leaks to the next client.

func TestHandleWSRedirectGoesToItsClient(t *testing.T) {
	t.Parallel()
	f := newRV(t)
	_, html := f.post(t, "", url.Values{FieldKind: {"wsc"}})
	id := idOfHTML(html)
	ws, ch := f.dial(t, "")
	ws.WriteJSON(map[string]any{"type": "action", "componentID": id, "action": "go"})
	m := rvExpect(t, ch, "a redirect", func(m map[string]any) bool { return m["type"] == "redirect" })
	if data, _ := m["data"].(map[string]any); m["componentID"] != id || data["url"] != "/only-for-the-ws-client" {
		t.Fatalf("redirect %v, want one of %s to /only-for-the-ws-client", m, id)
	}
	resp, _ := f.post(t, "someone-else", url.Values{FieldKind: {"wsc"}, FieldID: {id}, FieldAction: {"inc"}})
	if r := resp.Header.Get(HeaderRedirect); r != "" {
		t.Errorf("an unrelated HTTP client was redirected to %q (set by HandleWS of another client)", r)
	}
}

// rvExpect returns the first message on ch that match accepts, skipping
// others; it fails the test when the connection ends or none comes within
// 10 s.
func rvExpect(t testing.TB, ch <-chan map[string]any, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("connection ended while waiting for %s", what)
			}
			if match(m) {
				return m
			}
			t.Logf("skipped %v while waiting for %s", m, what)
		case <-deadline:
			t.Fatalf("no %s within 10s", what)
		}
	}
}

// rvUpdateShowing matches an update of id whose HTML contains text.
func rvUpdateShowing(id, text string) func(map[string]any) bool {
	return func(m map[string]any) bool {
		data, _ := m["data"].(map[string]any)
		html, _ := data["html"].(string)
		return m["type"] == "update" && m["componentID"] == id && strings.Contains(html, text)
	}
}

// Guards against: backplane: the first publisher drains everybody's updates.

type slowBP struct{ n atomic.Int32 }

func (b *slowBP) Publish(ctx context.Context, id string, msg []byte) error {
	b.n.Add(1)
	time.Sleep(20 * time.Millisecond)
	return ctx.Err()
}
func (b *slowBP) Subscribe(ctx context.Context, _ func(string, []byte)) error {
	<-ctx.Done()
	return nil
}

func TestPublishingDoesNotHoldRequests(t *testing.T) {
	t.Parallel()
	bp := &slowBP{}
	f := newRV(t, WithWebSocketBackplane(bp))
	_, html := f.post(t, "", url.Values{FieldKind: {"secret"}})
	id := idOfHTML(html)
	ws, ch := f.dial(t, "")
	ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
	<-ch
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a ticker refreshing the component every 5 ms for 2 s
		defer wg.Done()
		time.Sleep(5 * time.Millisecond)
		end := time.After(2 * time.Second)
		for {
			select {
			case <-end:
				return
			case <-stop:
				return
			default:
			}
			f.h.Refresh(context.Background(), id)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start := time.Now()
	f.post(t, "", url.Values{FieldKind: {"secret"}, FieldID: {id}, FieldAction: {"x"}})
	took := time.Since(start)
	close(stop)
	wg.Wait()
	t.Logf("HTTP action answered after %v; %d publishes", took, bp.n.Load())
	if took > 500*time.Millisecond {
		t.Errorf("an HTTP action waited %v publishing other callers' updates", took)
	}
}

func TestForeignSessionGetsNoRendering(t *testing.T) {
	t.Parallel()
	f := newRV(t, WithSessionKey(sidOf))
	_, html := f.post(t, "alice", url.Values{FieldKind: {"secret"}, "secret": {"alice-password"}})
	id := idOfHTML(html)
	var chans []chan map[string]any
	var conns []*websocket.Conn
	for i := 0; i < 10; i++ {
		ws, ch := f.dial(t, "mallory")
		conns = append(conns, ws)
		chans = append(chans, ch)
	}
	go func() {
		form := url.Values{FieldKind: {"secret"}, FieldID: {id}, FieldAction: {"slow"}}
		req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "sid", Value: "alice"})
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	for _, ws := range conns {
		ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
	}
	leaks := 0
	for _, ch := range chans {
		deadline := time.After(2 * time.Second)
	loop:
		for {
			select {
			case m := <-ch:
				if m["type"] == "update" {
					leaks++
					t.Logf("mallory got alice's rendering: %v", m["data"])
				}
				if m["type"] == "error" {
					break loop
				}
			case <-deadline:
				break loop
			}
		}
	}
	if leaks > 0 {
		t.Errorf("%d of 10 connections of another session received alice's rendering", leaks)
	}
}

func TestHTTPEdgeCases(t *testing.T) {
	t.Parallel()
	f := newRV(t, WithMaxBodyBytes(1000))
	// multipart over the limit
	var b strings.Builder
	b.WriteString("--XX\r\nContent-Disposition: form-data; name=\"liveflux_component_kind\"\r\n\r\nsecret\r\n--XX\r\nContent-Disposition: form-data; name=\"big\"\r\n\r\n")
	b.WriteString(strings.Repeat("a", 5000))
	b.WriteString("\r\n--XX--\r\n")
	req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader(b.String()))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=XX")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("multipart over limit: %d %s", resp.StatusCode, body)
	}
	// urlencoded over limit
	resp2, body2 := f.post(t, "", url.Values{FieldKind: {"secret"}, "big": {strings.Repeat("a", 5000)}})
	if resp2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("urlencoded over limit: %d %s", resp2.StatusCode, body2)
	}
	// upper-case multipart
	req, _ = http.NewRequest("POST", f.srv.URL, strings.NewReader("--XX\r\nContent-Disposition: form-data; name=\"liveflux_component_kind\"\r\n\r\nsecret\r\n--XX--\r\n"))
	req.Header.Set("Content-Type", "Multipart/Form-Data; boundary=XX")
	resp3, _ := http.DefaultClient.Do(req)
	b3, _ := io.ReadAll(resp3.Body)
	if resp3.StatusCode != http.StatusOK {
		t.Errorf("Multipart/Form-Data: %d %s", resp3.StatusCode, b3)
	}
}

func TestNewConnectionsAreNotDropped(t *testing.T) {
	t.Parallel()
	f := newRV(t, WithWebSocketPingInterval(4*time.Millisecond))
	var dropped, failed atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 400; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			ws, _, err := d.Dial(f.ws, nil)
			if err != nil {
				failed.Add(1)
				return
			}
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					if !strings.Contains(err.Error(), "timeout") {
						dropped.Add(1)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of 400 handshakes failed", n)
	}
	if n := dropped.Load(); n > 0 {
		t.Errorf("%d of 400 fresh connections dropped within 300ms", n)
	}
}

func TestComponentErrorWithInvalidStatus(t *testing.T) {
	t.Parallel()
	f := newRV(t)
	_, html := f.post(t, "", url.Values{FieldKind: {"secret"}})
	id := idOfHTML(html)
	form := url.Values{FieldKind: {"secret"}, FieldID: {id}, FieldAction: {"bad"}}
	req, _ := http.NewRequest("POST", f.srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("NewError(0, ...): request failed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("NewError(0, ...): status %d, want 500", resp.StatusCode)
	}
}
