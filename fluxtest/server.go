package fluxtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// Server is a Liveflux endpoint under test: a real handler served on
// loopback, which simulated clients reach through the real protocol.
type Server struct {
	// URL is the server's base URL ("http://127.0.0.1:PORT"). Clients
	// find the endpoint at URL + liveflux.DefaultEndpoint, unless a page
	// they open says otherwise.
	URL string
	// Handler is the handler served, when it is a
	// *liveflux.WebSocketHandler (for Broadcast, Refresh, Store…).
	Handler *liveflux.WebSocketHandler

	t testing.TB
}

// Serve serves h on loopback until the test ends, when it closes the
// server (and h, if it is a *liveflux.WebSocketHandler). h is the
// endpoint itself (a *liveflux.Handler or *liveflux.WebSocketHandler,
// which answer on every path) or an application's mux that routes
// liveflux.DefaultEndpoint to one and serves the pages Client.Open loads.
func Serve(t testing.TB, h http.Handler) *Server {
	t.Helper()
	srv := httptest.NewServer(h)
	s := &Server{URL: srv.URL, t: t}
	if ws, ok := h.(*liveflux.WebSocketHandler); ok {
		s.Handler = ws
	}
	t.Cleanup(func() {
		if s.Handler != nil {
			s.Handler.Close()
		}
		srv.CloseClientConnections()
		srv.Close()
	})
	return s
}

// Remote returns a Server for an application already running at baseURL,
// in another process (a built example, a staging server on loopback).
// Clients drive it as they drive one started with Serve; its Handler is
// nil.
func Remote(t testing.TB, baseURL string) *Server {
	return &Server{URL: strings.TrimSuffix(baseURL, "/"), t: t}
}

// Client returns a new simulated page of a new browser on this server,
// which reports to t: an empty page that loads the client (over WebSocket
// unless HTTPOnly). Use Client.Mount to show components in it, or
// Client.Open to load one of the application's pages instead. The page
// closes when t's test ends.
func (s *Server) Client(t testing.TB, opts ...Option) *Client {
	t.Helper()
	cfg := config{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	return newClient(t, s, cfg, nil)
}
