// Command websocket serves a page with two counters that share one count,
// kept in sync over WebSockets: a click on either updates both, in every
// open tab.
//
// The counters stay in sync through a topic, not by refreshing every
// component on the server: each counter subscribes to topic "count" when it
// is mounted, and an action publishes the new count there. The work of a
// click is proportional to the counters that show the count, whatever else
// the server holds.
//
//	go run ./examples/websocket -addr 127.0.0.1:8080
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-liveflux/liveflux"
)

// countTopic is the topic every counter subscribes to.
const countTopic = "count"

// countMsg is what is published to countTopic: the count after a change,
// and the change's number. Two clicks at once may reach a counter in
// either order; the version tells it which is newer.
type countMsg struct {
	Count   int64 `json:"count"`
	Version int64 `json:"version"`
}

// shared is the count the counters share.
type shared struct {
	mu  sync.Mutex
	now countMsg
}

// add changes the count by d and returns the result.
func (s *shared) add(d int64) countMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now.Count += d
	s.now.Version++
	return s.now
}

func (s *shared) load() countMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Counter shows the shared count with + and − buttons.
type Counter struct {
	liveflux.Base
	Label   string
	Count   int64
	Version int64 // of the change Count comes from
	shared  *shared
}

func (c *Counter) Mount(ctx context.Context, params map[string]string) error {
	c.Label = params["label"]
	// Subscribe first, then read: a change in between is then both read
	// and received, never missed (HandleTopic ignores what it knows).
	if err := liveflux.Subscribe(ctx, countTopic); err != nil {
		return err
	}
	c.set(c.shared.load())
	return nil
}

func (c *Counter) Handle(ctx context.Context, action string, data url.Values) error {
	var now countMsg
	switch action {
	case "inc":
		now = c.shared.add(1)
	case "dec":
		now = c.shared.add(-1)
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	// This counter shows the change in the answer to the action; every
	// counter subscribed to the topic, this one included, gets the message
	// and is pushed to the pages watching it if its rendering changed.
	c.set(now)
	return liveflux.Publish(ctx, countTopic, now)
}

func (c *Counter) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	var m countMsg
	if err := msg.Decode(&m); err != nil {
		return err
	}
	c.set(m)
	return nil
}

// set shows m unless the counter shows a newer change already.
func (c *Counter) set(m countMsg) {
	if m.Version > c.Version {
		c.Count, c.Version = m.Count, m.Version
	}
}

var counterView = template.Must(template.New("counter").Parse(`
<div class="counter">
  <span class="label">{{.Label}}</span>
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
<title>Liveflux over WebSocket</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; color: #222; }
  .counter { display: flex; align-items: center; gap: 1rem; margin: 1rem 0; }
  .label { width: 6rem; color: #555; }
  .counter button { font-size: 1.5rem; width: 3rem; height: 3rem; border-radius: .5rem; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
  .count { font-size: 2rem; min-width: 3rem; text-align: center; font-variant-numeric: tabular-nums; }
  /* The connection's state, from the attribute data-flux-socket the client
     keeps on <html>: one of the three words is shown. */
  #status { display: inline-block; padding: .2rem .6rem; border-radius: 1rem; background: #eee; }
  #status > span { display: none; }
  html:not([data-flux-socket=open], [data-flux-socket=closed], [data-flux-socket=failed]) #status .connecting,
  html[data-flux-socket=open] #status .open,
  html:is([data-flux-socket=closed], [data-flux-socket=failed]) #status .closed { display: inline; }
  html[data-flux-socket=open] #status { background: #d8f5d0; color: #1d5e12; }
  html:is([data-flux-socket=closed], [data-flux-socket=failed]) #status { background: #fbe0e0; color: #8a1c1c; }
</style>
</head>
<body>
<h1>Two counters, one count</h1>
<p>Both counters show the same number. Click + or − on either; open this page in a second tab and watch it follow.</p>
<p>Connection: <span id="status" role="status"><span class="connecting">connecting…</span><span class="open">connected</span><span class="closed">disconnected</span></span></p>
<section id="counters">{{.A}}{{.B}}</section>
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
// deliberately no ReadTimeout or WriteTimeout: http.Hijacker warns that
// their deadlines may stay on a connection taken over for a WebSocket, and
// a WebSocket stays open as long as its page (Liveflux pings it and drops
// it when silent).
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           withWriteDeadline(handler, 30*time.Second),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// withWriteDeadline gives every request but a WebSocket handshake d to
// receive its answer (the Liveflux handler bounds the time to send a body
// itself: liveflux.WithBodyReadTimeout).
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

	count := &shared{}
	registry := liveflux.NewRegistry()
	if err := registry.Register("counter", func() liveflux.Component { return &Counter{shared: count} }); err != nil {
		log.Fatal(err)
	}
	ws := liveflux.NewWebSocketHandler(nil,
		liveflux.WithRegistry(registry),
		liveflux.WithSessionKey(sessionKey),
		liveflux.WithLogger(slog.Default()),
	)

	mux := http.NewServeMux()
	mux.Handle("/liveflux", ws)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ensureSession(w, r)
		var views [2]template.HTML
		for i, label := range []string{"Counter A", "Counter B"} {
			html, err := ws.Mount(r, "counter", map[string]string{"label": label})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			views[i] = html
		}
		page.Execute(w, map[string]any{
			"A": views[0], "B": views[1],
			"Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true}),
		})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux WebSocket example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
