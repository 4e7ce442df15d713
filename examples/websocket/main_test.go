package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

func TestServerLimitsSlowClients(t *testing.T) {
	srv := newServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 {
		t.Error("no ReadHeaderTimeout: a client that never finishes its headers holds a connection forever")
	}
	if srv.IdleTimeout <= 0 && srv.ReadTimeout <= 0 {
		t.Error("no IdleTimeout: an idle keep-alive connection is held forever")
	}
	if srv.ReadTimeout != 0 || srv.WriteTimeout != 0 {
		t.Errorf("ReadTimeout %v, WriteTimeout %v: either would cut every WebSocket", srv.ReadTimeout, srv.WriteTimeout)
	}
}

// newTestApp serves the example's component and handler through
// withWriteDeadline(d), its body read timeout d.
func newTestApp(t *testing.T, d time.Duration) *httptest.Server {
	t.Helper()
	count := &shared{}
	registry := liveflux.NewRegistry()
	if err := registry.Register("counter", func() liveflux.Component { return &Counter{shared: count} }); err != nil {
		t.Fatal(err)
	}
	ws := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(registry), liveflux.WithBodyReadTimeout(d),
		liveflux.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	srv := httptest.NewServer(withWriteDeadline(ws, d))
	t.Cleanup(func() {
		ws.Close()
		srv.Close()
	})
	return srv
}

// mount mounts a counter over HTTP and returns its ID.
func mount(t *testing.T, srv *httptest.Server, label string) string {
	t.Helper()
	res, err := http.PostForm(srv.URL+"/liveflux", url.Values{liveflux.FieldKind: {"counter"}, "label": {label}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`data-flux-component-id="([^"]+)"`).FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("mount: %s %s", res.Status, body)
	}
	return string(m[1])
}

// A click on one counter reaches a page that watches only the other one,
// through the topic.
func TestCountReachesTheOtherCounter(t *testing.T) {
	srv := newTestApp(t, 30*time.Second)
	a, b := mount(t, srv, "A"), mount(t, srv, "B")
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/liveflux", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteJSON(liveflux.WebSocketMessage{Type: "init", ComponentID: b}); err != nil {
		t.Fatal(err)
	}
	var got liveflux.WebSocketMessage
	if err := ws.ReadJSON(&got); err != nil || got.Type != "update" {
		t.Fatalf("answer to init: %+v, %v", got, err)
	}
	// Another client clicks + on A, over HTTP.
	res, err := http.PostForm(srv.URL+"/liveflux", url.Values{
		liveflux.FieldKind: {"counter"}, liveflux.FieldID: {a}, liveflux.FieldAction: {"inc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for {
		var m struct {
			Type        string `json:"type"`
			ComponentID string `json:"componentID"`
			Data        struct {
				HTML string `json:"html"`
			} `json:"data"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for B's update: %v", err)
		}
		if m.Type == "update" && m.ComponentID == b && strings.Contains(m.Data.HTML, `<output class="count">1</output>`) {
			return
		}
	}
}

// Messages that arrive out of order never take a counter back.
func TestOlderChangesAreIgnored(t *testing.T) {
	c := &Counter{shared: &shared{}}
	for _, m := range []countMsg{{Count: 1, Version: 1}, {Count: 3, Version: 3}, {Count: 2, Version: 2}} {
		data, _ := json.Marshal(m)
		if err := c.HandleTopic(context.Background(), &liveflux.TopicMessage{Topic: countTopic, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if c.Count != 3 || c.Version != 3 {
		t.Errorf("count %d (version %d), want 3 (version 3)", c.Count, c.Version)
	}
}

// A client that stops sending its body is dropped at the deadline.
func TestSlowBodyIsDropped(t *testing.T) {
	srv := newTestApp(t, 200*time.Millisecond)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /liveflux HTTP/1.1\r\nHost: example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nliveflux_component_kind=")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn) // until the server closes the connection
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still holds, after 5 s, a client that stopped sending its body")
	}
}

// A WebSocket outlives the deadlines of plain requests, also on a
// connection that carried such a request before.
func TestWebSocketOutlivesDeadlines(t *testing.T) {
	const d = 200 * time.Millisecond
	srv := newTestApp(t, d)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Mount a counter over the connection.
	form := url.Values{liveflux.FieldKind: {"counter"}, "label": {"A"}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/liveflux", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`data-flux-component-id="([^"]+)"`).FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("mount: %s %s", res.Status, body)
	}
	id := string(m[1])

	// Past the mount's deadline, the same connection becomes the WebSocket,
	// which keeps working.
	time.Sleep(3 * d)
	dialer := websocket.Dialer{NetDialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
	ws, _, err := dialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/liveflux", nil)
	if err != nil {
		t.Fatalf("WebSocket handshake: %v", err)
	}
	defer ws.Close()
	time.Sleep(3 * d)
	for i := range 2 {
		if err := ws.WriteJSON(liveflux.WebSocketMessage{Type: "init", ComponentID: id}); err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got liveflux.WebSocketMessage
		if err := ws.ReadJSON(&got); err != nil || got.Type != "update" {
			t.Fatalf("answer to init %d: %+v, %v; want an update", i, got, err)
		}
		time.Sleep(3 * d)
	}
}
