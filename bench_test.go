package liveflux_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/gorilla/websocket"
)

// BenchmarkWSAction measures one action round trip over WebSocket: the
// client sends an action and reads the update it causes.
func BenchmarkWSAction(b *testing.B) {
	f := newFixture(b)
	id := f.mount(b, "counter", nil)
	c := f.dialIdle(b)
	init := []byte(`{"type":"init","componentID":"` + id + `"}`)
	act := []byte(`{"type":"action","componentID":"` + id + `","action":"inc"}`)
	assertNoError(b, c.ws.WriteMessage(websocket.TextMessage, init))
	if _, _, err := c.ws.ReadMessage(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ws.WriteMessage(websocket.TextMessage, act); err != nil {
			b.Fatal(err)
		}
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		if len(msg) < 20 || string(msg[:18]) != `{"type":"update","` {
			b.Fatalf("got %s", msg)
		}
	}
}

// BenchmarkHTTPAction measures one action round trip over HTTP: the client
// posts an action and reads the rendering in the response.
func BenchmarkHTTPAction(b *testing.B) {
	f := newFixture(b)
	id := f.mount(b, "counter", nil)
	body := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}}.Encode()
	client := f.srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Post(f.srv.URL, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d, err %v", resp.StatusCode, err)
		}
	}
}
