package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
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
		t.Errorf("ReadTimeout %v, WriteTimeout %v: either may cut WebSockets", srv.ReadTimeout, srv.WriteTimeout)
	}
}

// A client that stops sending its body is dropped at the deadline.
func TestSlowBodyIsDropped(t *testing.T) {
	registry := liveflux.NewRegistry()
	if err := registry.Register("counter", func() liveflux.Component { return &Counter{} }); err != nil {
		t.Fatal(err)
	}
	h := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(registry), liveflux.WithBodyReadTimeout(200*time.Millisecond), liveflux.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer h.Close()
	srv := httptest.NewServer(withDeadlines(h, 200*time.Millisecond))
	defer srv.Close()
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
