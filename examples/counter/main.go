// Command counter serves a page with two independent counters that talk to
// the server over HTTP.
//
//	go run ./examples/counter
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-liveflux/liveflux"
)

// Counter is a number with + and − buttons.
type Counter struct {
	liveflux.Base
	Count int
}

func (c *Counter) Mount(ctx context.Context, params map[string]string) error {
	if s := params["start"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return liveflux.NewError(http.StatusBadRequest, "start must be a number")
		}
		c.Count = n
	}
	return nil
}

func (c *Counter) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "inc":
		c.Count++
	case "dec":
		c.Count--
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	return nil
}

var counterView = template.Must(template.New("counter").Parse(`
<div class="counter">
  <button type="button" data-flux-action="dec" aria-label="decrement">−</button>
  <output class="count">{{.Count}}</output>
  <button type="button" data-flux-action="inc" aria-label="increment">+</button>
</div>`))

func (c *Counter) Render(ctx context.Context, w io.Writer) error {
	return counterView.Execute(w, c)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Liveflux counters</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; color: #222; }
  .counter { display: flex; align-items: center; gap: 1rem; margin: 1rem 0; }
  .counter button { font-size: 1.5rem; width: 3rem; height: 3rem; border-radius: .5rem; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
  .count { font-size: 2rem; min-width: 3rem; text-align: center; font-variant-numeric: tabular-nums; }
  .flux-busy { opacity: .6; }
</style>
</head>
<body>
<h1>Two counters</h1>
<p>Each counter keeps its own state on the server. The first is rendered with the page; the second mounts after load.</p>
<section id="first">{{.First}}</section>
<section id="second">{{.Second}}</section>
{{.Script}}
</body>
</html>`))

// The session helpers below are repeated in every example on purpose, so
// that each one stays standalone: copy the one you start from.
//
// sessionCookie names the cookie that identifies a visitor. Components are
// bound to the session that mounted them (liveflux.WithSessionKey), so a
// component ID seen by someone else is of no use to them.
const sessionCookie = "example_session"

func sessionKey(r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// ensureSession gives a new visitor a session cookie, also on r so that the
// components this request mounts are bound to it.
func ensureSession(w http.ResponseWriter, r *http.Request) {
	if sessionKey(r) != "" {
		return
	}
	c := &http.Cookie{Name: sessionCookie, Value: rand.Text(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	http.SetCookie(w, c)
	r.AddCookie(c)
}

// newServer returns the HTTP server for handler, with limits on slow
// clients. ReadHeaderTimeout drops a client that takes too long to send its
// request headers, IdleTimeout one that keeps a connection idle between
// requests, and withWriteDeadline one that reads the answer too slowly (the
// Liveflux handler bounds POST bodies itself, in size and in time:
// liveflux.WithMaxBodyBytes, liveflux.WithBodyReadTimeout). There is
// deliberately no ReadTimeout or
// WriteTimeout, so that this stays right with liveflux.NewWebSocketHandler:
// http.Hijacker warns that their deadlines may stay on a connection taken
// over for a WebSocket, and a WebSocket stays open as long as its page.
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           withWriteDeadline(handler, 30*time.Second),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// withWriteDeadline gives every request but a WebSocket handshake d to
// receive its answer, so that a client reading slowly cannot hold a
// connection forever. A handshake gets none: its connection becomes the
// WebSocket. (The Liveflux handler bounds the time to send a body itself:
// liveflux.WithBodyReadTimeout.)
func withWriteDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	if err := liveflux.RegisterByKind("counter", func() liveflux.Component { return &Counter{} }); err != nil {
		log.Fatal(err)
	}
	lf := liveflux.NewHandler(nil, liveflux.WithSessionKey(sessionKey))

	mux := http.NewServeMux()
	mux.Handle("/liveflux", lf)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ensureSession(w, r)
		// First paint: rendered in place, no round trip.
		first, err := lf.Mount(r, "counter", map[string]string{"start": "0"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{
			"First":  first,
			"Second": liveflux.Placeholder("counter", map[string]string{"start": "10"}),
			"Script": liveflux.Script(liveflux.ClientOptions{}),
		})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux counter example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
