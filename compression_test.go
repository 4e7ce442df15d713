package liveflux_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// countingConn counts the bytes read from the network, and written.
type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// dialCompressing opens a WebSocket to f that offers permessage-deflate
// (as browsers do), counting the bytes it reads from the network and
// writes to it.
func dialCompressing(t *testing.T, f *fixture) (c *wsClient, resp *http.Response, read, written *atomic.Int64) {
	t.Helper()
	read, written = new(atomic.Int64), new(atomic.Int64)
	d := f.dialer
	d.EnableCompression = true
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countingConn{c, read, written}, err
	}
	ws, resp, err := d.Dial(f.wsURL, nil)
	assertNoError(t, err)
	c = newClient(t, ws)
	c.startReading()
	return c, resp, read, written
}

// A client that offers permessage-deflate gets it: a large update travels
// compressed, a small one as it is. A handler without compression does not
// negotiate it.
func TestCompression(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "rows", nil) // 300 rows, about 7 KB
	c, resp, read, _ := dialCompressing(t, f)
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
		t.Fatalf("extensions %q, want permessage-deflate", ext)
	}
	before := read.Load()
	html := c.init(id)
	if wire := read.Load() - before; wire > int64(len(html))/3 {
		t.Fatalf("a %d-byte rendering took %d bytes on the wire, want it compressed", len(html), wire)
	}
	before = read.Load()
	c.sendAction(id, "bump", nil) // a diff update: about 100 bytes, under CompressMin
	m := c.nextMsg()
	if wire := read.Load() - before; wire < int64(len(m.raw)) {
		t.Fatalf("a %d-byte update took %d bytes on the wire, want it as it is", len(m.raw), wire)
	}

	off := newFixture(t, liveflux.WithWebSocketCompression(false))
	_, resp, _, _ = dialCompressing(t, off)
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("extensions %q negotiated with compression off", ext)
	}
}

// The read limit holds for a compressed message once decompressed: 1 MiB
// of JSON that compresses to a few kilobytes closes the connection with
// 1009, as it would uncompressed.
func TestCompressedMessageOverTheReadLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, _, _, written := dialCompressing(t, f)
	c.ws.EnableWriteCompression(true)
	big := `{"type":"action","componentID":"x","action":"a","data":{"v":"` + strings.Repeat("a", 1<<20) + `"}}`
	before := written.Load()
	assertNoError(t, c.ws.WriteMessage(websocket.TextMessage, []byte(big)))
	if sent := written.Load() - before; sent > liveflux.DefaultReadLimit {
		t.Fatalf("the message took %d bytes on the wire: not compressed", sent)
	}
	if err := c.waitEnd(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("got %v, want close 1009", err)
	}
}

// An answer to a POST goes gzip'd to a client that accepts it, when it is
// large enough to gain from it; a small one, or one for a client that
// does not accept gzip, goes as it is.
func TestAnswersAreGzipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rows, counter := f.mount(t, "rows", nil), f.mount(t, "counter", nil)
	post := func(kind, id, encoding string) (*http.Response, []byte) {
		t.Helper()
		form := url.Values{liveflux.FieldKind: {kind}, liveflux.FieldID: {id}, liveflux.FieldAction: {"bump"}}
		if kind == "counter" {
			form.Set(liveflux.FieldAction, "inc")
		}
		req, err := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(form.Encode()))
		assertNoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", liveflux.MediaTypeAnswer)
		req.Header.Set("Accept-Encoding", encoding) // set: the client does not decompress by itself
		resp, err := f.srv.Client().Do(req)
		assertNoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		assertNoError(t, err)
		assertEqual(t, resp.StatusCode, http.StatusOK, "status")
		return resp, body
	}
	resp, body := post("rows", rows, "gzip, deflate, br")
	assertEqual(t, resp.Header.Get("Content-Encoding"), "gzip", "Content-Encoding of a 7 KB answer")
	assertEqual(t, resp.Header.Get("Vary"), "Accept-Encoding", "Vary")
	zr, err := gzip.NewReader(bytes.NewReader(body))
	assertNoError(t, err)
	plain, err := io.ReadAll(zr)
	assertNoError(t, err)
	if !strings.Contains(string(plain), "row 150: 1") || len(body) > len(plain)/3 {
		t.Fatalf("%d bytes gzip'd for %d: %.80s", len(body), len(plain), plain)
	}
	resp, body = post("rows", rows, "identity")
	if resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), "row 150: 2") {
		t.Fatalf("a client that does not accept gzip got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	resp, body = post("counter", counter, "gzip")
	if resp.Header.Get("Content-Encoding") != "" || !strings.Contains(string(body), "count=1") {
		t.Fatalf("a %d-byte answer was sent with Content-Encoding %q", len(body), resp.Header.Get("Content-Encoding"))
	}
}

// BenchmarkCompression measures what permessage-deflate costs and saves:
// an action on a 300-row list answered with its whole rendering (a client
// of the first version: no diffs), over a connection that negotiated
// compression and over one that did not: the bytes on the wire per update
// and the time per round trip; and the live heap per idle connection, 500
// of them, each way.
//
//	go test -run '^$' -bench BenchmarkCompression -benchtime 2000x .
func BenchmarkCompression(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run("update/"+name, func(b *testing.B) {
			f := newFixture(b)
			id := f.mount(b, "rows", nil)
			read := new(atomic.Int64)
			d := websocket.Dialer{EnableCompression: on, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				return countingConn{c, read, new(atomic.Int64)}, err
			}}
			ws, _, err := d.Dial(f.wsURL, nil)
			assertNoError(b, err)
			defer ws.Close()
			ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
			ws.ReadMessage()
			msg, _ := json.Marshal(actionMsg(id, "bump", nil))
			read.Store(0)
			for b.Loop() {
				ws.WriteMessage(websocket.TextMessage, msg)
				if _, _, err := ws.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(read.Load())/float64(b.N), "wire-B/update")
		})
		b.Run("idle/"+name, func(b *testing.B) {
			// Connections that negotiated compression share its
			// compressors (pools, warmed by the first 500): what the next
			// 500 add is what a connection holds.
			f := newFixture(b)
			id := f.mount(b, "counter", nil)
			d := websocket.Dialer{EnableCompression: on}
			var conns []*websocket.Conn
			dial := func(n int) {
				for range n {
					ws, _, err := d.Dial(f.wsURL, nil)
					assertNoError(b, err)
					ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
					ws.ReadMessage()
					conns = append(conns, ws)
				}
			}
			dial(500)
			before := liveHeap()
			dial(500)
			perConn := float64(liveHeap()-before) / 500
			for _, c := range conns {
				c.Close()
			}
			for b.Loop() {
			}
			b.ReportMetric(perConn, "heap-B/conn")
		})
	}
}

// liveHeap is the live heap after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
