// Command cluster runs two Liveflux nodes on two ports that share one
// Redis: both serve a page with the same counter, whose count is the
// component's own state, kept in Redis. A click on either node updates the
// page on both, over WebSockets, through the Redis backplane.
//
//	redis-server --port 6379 --save '' --appendonly no &
//	go run ./examples/cluster -redis 127.0.0.1:6379 -addr1 127.0.0.1:8081 -addr2 127.0.0.1:8082
//
// The two nodes run in one process here for convenience, but share nothing
// except Redis: each has its own Redis client, store, backplane and
// handler, as separate processes (or machines) behind a load balancer
// would. The counter's ID is kept in Redis too, so the count survives
// restarting the example.
//
// The counter is deliberately one for every visitor, so this example does
// not bind components to sessions (liveflux.WithSessionKey), unlike
// examples/websocket. Components that belong to one user should be bound:
// the binding is stored with the instance and holds on every node.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
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
	fluxredis "github.com/go-liveflux/liveflux/redis"
	"github.com/redis/go-redis/v9"
)

// Counter is the shared counter. Count is exported: it is what the store
// keeps in Redis.
type Counter struct {
	liveflux.Base
	Count int
}

func (c *Counter) Mount(ctx context.Context, params map[string]string) error { return nil }

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
<title>Liveflux cluster: {{.Node}}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; color: #222; }
  .counter { display: flex; align-items: center; gap: 1rem; margin: 1rem 0; }
  .counter button { font-size: 1.5rem; width: 3rem; height: 3rem; border-radius: .5rem; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
  .count { font-size: 2rem; min-width: 3rem; text-align: center; font-variant-numeric: tabular-nums; }
  #status { display: inline-block; padding: .2rem .6rem; border-radius: 1rem; background: #eee; }
  #status.connected { background: #d8f5d0; color: #1d5e12; }
  #status.disconnected { background: #fbe0e0; color: #8a1c1c; }
</style>
</head>
<body>
<h1>One counter, two nodes</h1>
<p>This page is served by <strong>{{.Node}}</strong>. Open <a href="{{.Other}}">the other node</a>
in a second window and click + or − on either: both follow, through Redis.</p>
<p>Connection: <span id="status" role="status">connecting…</span></p>
{{.Counter}}
<script>
  const status = document.getElementById("status");
  const show = (text) => { status.textContent = text; status.className = text; };
  document.addEventListener("liveflux:connected", () => show("connected"));
  document.addEventListener("liveflux:disconnected", () => show("disconnected"));
</script>
{{.Script}}
</body>
</html>`))

// counterIDKey is the Redis key that holds the shared counter's ID.
const counterIDKey = "liveflux:example:cluster:counter-id"

// shared finds the shared counter, creating it when there is none yet or
// it expired (nobody used it for liveflux.DefaultIdleTTL).
type shared struct {
	mu       sync.Mutex // both nodes run in this process
	registry *liveflux.Registry
}

func (s *shared) counter(ctx context.Context, client redis.UniversalClient, store *fluxredis.Store) (liveflux.Component, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := client.Get(ctx, counterIDKey).Result()
	switch {
	case err == nil:
		c, err := store.Get(ctx, id)
		if !errors.Is(err, liveflux.ErrNotFound) {
			return c, err
		}
	case !errors.Is(err, redis.Nil):
		return nil, err
	}
	c, err := s.registry.New("counter")
	if err != nil {
		return nil, err
	}
	c.SetID(rand.Text())
	if err := c.Mount(ctx, nil); err != nil {
		return nil, err
	}
	if err := store.Set(ctx, c); err != nil {
		return nil, err
	}
	if err := client.Set(ctx, counterIDKey, c.GetID(), 0).Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// firstPaint renders an existing instance inside its root element, so the
// page shows the current count before the client connects; the client then
// watches it by its ID.
func firstPaint(ctx context.Context, c liveflux.Component) (template.HTML, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<div %s="%s" %s="%s">`,
		liveflux.AttrKind, template.HTMLEscapeString(c.GetKind()),
		liveflux.AttrID, template.HTMLEscapeString(c.GetID()))
	if err := c.Render(ctx, &buf); err != nil {
		return "", err
	}
	buf.WriteString("</div>")
	return template.HTML(buf.String()), nil
}

// startNode serves one node on ln until the process ends.
func startNode(name, other string, ln net.Listener, redisAddr string, s *shared) {
	client := redis.NewClient(&redis.Options{
		Addr: redisAddr,
		// Fail fast while Redis is unreachable: an action then gets an
		// error within about a second instead of waiting.
		DialTimeout:           time.Second,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           2 * time.Second,
		MaxRetries:            1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
	})
	logger := slog.Default().With("node", name)
	store := fluxredis.NewStore(client, fluxredis.WithRegistry(s.registry))
	ws := liveflux.NewWebSocketHandler(store,
		liveflux.WithRegistry(s.registry),
		liveflux.WithLogger(logger),
		liveflux.WithWebSocketBackplane(fluxredis.NewBackplane(client,
			fluxredis.WithNodeID(name),
			fluxredis.WithBackplaneLogger(logger))),
	)

	mux := http.NewServeMux()
	mux.Handle("/liveflux", ws)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		c, err := s.counter(r.Context(), client, store)
		if err != nil {
			logger.Error("shared counter unavailable", "err", err)
			http.Error(w, "the counter is unavailable (is Redis running?)", http.StatusServiceUnavailable)
			return
		}
		view, err := firstPaint(r.Context(), c)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{
			"Node": name, "Other": other, "Counter": view,
			"Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true}),
		})
	})
	go func() { log.Fatal(newServer(mux).Serve(ln)) }()
}

// newServer returns the HTTP server for handler, with limits on slow
// clients. ReadHeaderTimeout drops a client that takes too long to send its
// request headers, IdleTimeout one that keeps a connection idle between
// requests, and withDeadlines one that sends its body or reads the answer
// too slowly (the Liveflux handler also caps POST bodies: 1 MiB,
// liveflux.WithMaxBodyBytes). There is deliberately no ReadTimeout or
// WriteTimeout: http.Hijacker warns that their deadlines may stay on a
// connection taken over for a WebSocket, and a WebSocket stays open as long
// as its page (Liveflux pings it and drops it when silent).
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           withDeadlines(handler, 30*time.Second),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// withDeadlines gives every request but a WebSocket handshake d to send its
// body and receive its answer, so that a client sending or reading slowly
// cannot hold a connection forever. A handshake gets none: its connection
// becomes the WebSocket.
func withDeadlines(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(time.Now().Add(d))
			rc.SetWriteDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}

func main() {
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	addr1 := flag.String("addr1", "127.0.0.1:8081", "address of the first node")
	addr2 := flag.String("addr2", "127.0.0.1:8082", "address of the second node")
	flag.Parse()

	s := &shared{registry: liveflux.NewRegistry()}
	if err := s.registry.Register("counter", func() liveflux.Component { return &Counter{} }); err != nil {
		log.Fatal(err)
	}

	// Create the counter once, now, so that both nodes show the same one.
	client := redis.NewClient(&redis.Options{Addr: *redisAddr, DialTimeout: 2 * time.Second, MaxRetries: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := s.counter(ctx, client, fluxredis.NewStore(client, fluxredis.WithRegistry(s.registry)))
	cancel()
	client.Close()
	if err != nil {
		log.Fatalf("Redis at %s: %v", *redisAddr, err)
	}

	ln1, err := net.Listen("tcp", *addr1)
	if err != nil {
		log.Fatal(err)
	}
	ln2, err := net.Listen("tcp", *addr2)
	if err != nil {
		log.Fatal(err)
	}
	url1, url2 := "http://"+ln1.Addr().String()+"/", "http://"+ln2.Addr().String()+"/"
	startNode("node-1", url2, ln1, *redisAddr, s)
	startNode("node-2", url1, ln2, *redisAddr, s)
	log.Printf("Liveflux cluster example, counter %s in Redis at %s:\n  node 1: %s\n  node 2: %s\n",
		c.GetID(), *redisAddr, url1, url2)
	select {}
}
