// Command scroll serves an infinite scroll over a million rows: rows load
// as the end of the list scrolls into view (the visible trigger) and are
// streamed into the page, which keeps a window of 300 of them; scrolling
// back up loads the rows above again. Each session's component keeps two
// numbers (where its window starts and ends), however far the visitor
// scrolls. No JavaScript of its own.
//
//	go run ./examples/scroll -addr 127.0.0.1:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-liveflux/liveflux"
)

const (
	// Total is how many rows there are.
	Total = 1_000_000
	// Page is how many rows one load brings.
	Page = 50
	// Window is how many rows the page keeps: loading past it drops the
	// rows at the other end.
	Window = 300
)

// Row is one row of the list: made up from its number, as a database
// would return it.
type Row struct {
	N     int
	Name  string
	Score int
}

var words = strings.Fields("amber azure coral crimson emerald indigo ivory jade lemon lilac navy olive ruby teal badger crane falcon heron lynx otter raven wolf")

// rowAt returns row n (0 ≤ n < Total).
func rowAt(n int) Row {
	h := fnv.New32a()
	fmt.Fprint(h, n)
	x := h.Sum32()
	return Row{N: n, Name: words[x%uint32(len(words))] + " " + words[(x>>8)%uint32(len(words))], Score: int(x>>16) % 1000}
}

var rowView = template.Must(template.New("row").Funcs(template.FuncMap{"num": num}).Parse(
	`<tr><td class="n">{{num .N}}</td><td>{{.Name}}</td><td class="score">{{.Score}}</td></tr>`))

// num writes n with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// List is one visitor's view of the rows: the page holds rows First to
// Next-1 (the stream "rows"); the instance holds only those two numbers.
type List struct {
	liveflux.Base
	First, Next int
}

// key is row n's key in the stream.
func key(n int) string { return strconv.Itoa(n) }

func row(n int) liveflux.Renderer {
	return liveflux.RenderFunc(func(_ context.Context, w io.Writer) error { return rowView.Execute(w, rowAt(n)) })
}

// Mount puts the first page in the first rendering, or the page around
// row ?from=N.
func (l *List) Mount(ctx context.Context, params map[string]string) error {
	from, _ := strconv.Atoi(params["from"])
	l.First = min(max(from, 0), Total-Page) / Page * Page
	l.Next = l.First
	return l.more(ctx)
}

func (l *List) Handle(ctx context.Context, action string, _ url.Values) error {
	switch action {
	case "more": // the end of the list is in view
		return l.more(ctx)
	case "back": // the start of the list is in view
		return l.back(ctx)
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
}

// more appends the next page, dropping rows at the top past the window.
func (l *List) more(ctx context.Context) error {
	end := min(l.Next+Page, Total)
	for n := l.Next; n < end; n++ {
		if err := liveflux.StreamAppend(ctx, "rows", key(n), row(n)); err != nil {
			return err
		}
	}
	l.Next = end
	if l.Next-l.First > Window {
		l.First = l.Next - Window
		return liveflux.StreamLimit(ctx, "rows", -Window)
	}
	return nil
}

// back prepends the page above, dropping rows at the bottom past the
// window.
func (l *List) back(ctx context.Context) error {
	start := max(l.First-Page, 0)
	for n := l.First - 1; n >= start; n-- {
		if err := liveflux.StreamPrepend(ctx, "rows", key(n), row(n)); err != nil {
			return err
		}
	}
	l.First = start
	if l.Next-l.First > Window {
		l.Next = l.First + Window
		return liveflux.StreamLimit(ctx, "rows", Window)
	}
	return nil
}

// Streams gives a page that connects, or reconnects, the rows of its
// window.
func (l *List) Streams(ctx context.Context) error {
	if err := liveflux.StreamReset(ctx, "rows"); err != nil {
		return err
	}
	for n := l.First; n < l.Next; n++ {
		if err := liveflux.StreamAppend(ctx, "rows", key(n), row(n)); err != nil {
			return err
		}
	}
	return nil
}

// The sentinels above and below the rows load more when they scroll into
// view; they are rendered only while there is more that way.
var listView = template.Must(template.New("list").Funcs(template.FuncMap{"num": num}).Parse(`
<p class="where">Rows {{num .First}} to {{num .Last}} of {{num .Total}} in the page</p>
<div class="scroller">
  {{if gt .First 0}}<p class="sentinel back" data-flux-action="back" data-flux-on="visible">Loading rows above…</p>{{end}}
  <table><thead><tr><th>#</th><th>Name</th><th>Score</th></tr></thead>
    <tbody data-flux-stream="rows"></tbody>
  </table>
  {{if lt .Next .Total}}<p class="sentinel more" data-flux-action="more" data-flux-on="visible">Loading more rows…</p>{{else}}<p class="end">The end.</p>{{end}}
</div>`))

func (l *List) Render(_ context.Context, w io.Writer) error {
	return listView.Execute(w, map[string]int{"First": l.First, "Last": l.Next - 1, "Next": l.Next, "Total": Total})
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Liveflux infinite scroll</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; color: #222; }
  .where { color: #555; }
  .scroller { height: 28rem; overflow-y: auto; border: 1px solid #ccc; border-radius: .5rem; }
  table { width: 100%; border-collapse: collapse; }
  th { position: sticky; top: 0; background: #f4f4f4; text-align: left; }
  td, th { padding: .3rem .6rem; border-bottom: 1px solid #eee; }
  .n, .score { font-variant-numeric: tabular-nums; text-align: right; }
  .sentinel, .end { color: #888; text-align: center; margin: .5rem; }
  /* Rows put above the view must push the view's rows down, not the
     sentinel: the browser keeps the rows in place (scroll anchoring), and
     the sentinel leaves the view until it is scrolled to again. */
  .sentinel { overflow-anchor: none; }
</style>
</head>
<body>
<h1>A million rows</h1>
{{.List}}
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

// newApp returns the example's endpoint and page handlers, keeping the
// components in store (nil: a MemoryStore of the handler's own).
func newApp(logger *slog.Logger, store liveflux.Store) (*liveflux.WebSocketHandler, *http.ServeMux) {
	registry := liveflux.NewRegistry()
	if err := registry.Register("list", func() liveflux.Component { return &List{} }); err != nil {
		panic(err)
	}
	lf := liveflux.NewWebSocketHandler(store, liveflux.WithRegistry(registry), liveflux.WithLogger(logger))
	mux := http.NewServeMux()
	mux.Handle("/liveflux", lf)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		html, err := lf.Mount(r, "list", map[string]string{"from": r.URL.Query().Get("from")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{"List": html, "Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true})})
	})
	return lf, mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	_, mux := newApp(slog.Default(), nil)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux infinite scroll example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
