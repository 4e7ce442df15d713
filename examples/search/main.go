// Command search serves a live search over 500 items: the list follows
// what the user types (debounced: one request once typing pauses), with
// an indicator while a search is in flight. No JavaScript of its own.
//
//	go run ./examples/search -addr 127.0.0.1:8080
package main

import (
	"context"
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
	"time"

	"github.com/go-liveflux/liveflux"
)

// items are the 500 things to search: every colour with every animal.
var items = func() []string {
	colours := strings.Fields("Amber Azure Beige Black Blue Bronze Coral Crimson Cyan Ebony Emerald Gold Green Grey Indigo Ivory Jade Lemon Lilac Navy Olive Orange Pink Ruby Teal")
	animals := strings.Fields("Badger Bear Beaver Bison Crane Deer Eagle Falcon Ferret Fox Gecko Heron Ibex Koala Lynx Otter Owl Panda Raven Wolf")
	out := make([]string, 0, len(colours)*len(animals))
	for _, c := range colours {
		for _, a := range animals {
			out = append(out, c+" "+a)
		}
	}
	return out
}()

// Search shows the items that contain its query, at most 50.
type Search struct {
	liveflux.Base
	Query string
	delay time.Duration // stands for a slow database
}

func (s *Search) Mount(ctx context.Context, params map[string]string) error { return nil }

func (s *Search) Handle(ctx context.Context, action string, data url.Values) error {
	if action != "search" {
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	s.Query = strings.TrimSpace(data.Get("q"))
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
	}
	return nil
}

var searchView = template.Must(template.New("search").Parse(`
<label class="search">Search
  <input type="search" name="q" value="{{.Query}}" placeholder="e.g. blue fox" autocomplete="off" autofocus
         data-flux-action="search" data-flux-on="input.changed.debounce.300ms">
  <span class="searching" data-flux-loading data-flux-loading-for="search" hidden>Searching…</span>
</label>
<p class="count" data-flux-loading="class.stale">{{len .All}} of 500{{if .Query}} match “{{.Query}}”{{end}}</p>
<ul class="results" data-flux-loading="class.stale">{{range .Shown}}<li>{{.}}</li>{{end}}</ul>`))

func (s *Search) Render(ctx context.Context, w io.Writer) error {
	var all []string
	q := strings.ToLower(s.Query)
	for _, it := range items {
		if strings.Contains(strings.ToLower(it), q) {
			all = append(all, it)
		}
	}
	return searchView.Execute(w, map[string]any{"Query": s.Query, "All": all, "Shown": all[:min(len(all), 50)]})
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Liveflux live search</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; color: #222; }
  input { font-size: 1.1rem; padding: .4rem .6rem; width: 16rem; margin-left: .5rem; }
  .searching { color: #777; margin-left: .5rem; }
  .stale { opacity: .5; }
  .results { columns: 2; padding-left: 1.2rem; }
</style>
</head>
<body>
<h1>Live search</h1>
{{.Search}}
{{.Script}}
</body>
</html>`))

// newServer returns the HTTP server for handler, with limits on slow
// clients (see examples/websocket, which explains each).
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
	delay := flag.Duration("delay", 150*time.Millisecond, "how long each search takes")
	flag.Parse()

	registry := liveflux.NewRegistry()
	if err := registry.Register("search", func() liveflux.Component { return &Search{delay: *delay} }); err != nil {
		log.Fatal(err)
	}
	lf := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(registry), liveflux.WithLogger(slog.Default()))
	mux := http.NewServeMux()
	mux.Handle("/liveflux", lf)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		html, err := lf.Mount(r, "search", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{"Search": html, "Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true})})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux live search example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
