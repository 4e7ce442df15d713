// Command dashboard serves a live dashboard fed by the server: a goroutine
// takes a sample every second (a simulated request rate, and the process's
// goroutines and heap) and publishes it to a topic; every open dashboard
// subscribes to the topic and is pushed its new rendering, a sparkline of
// the last minute and the latest samples. The page sends nothing.
//
//	go run ./examples/dashboard -addr 127.0.0.1:8080
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"math"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-liveflux/liveflux"
)

const (
	// metricsTopic is where the samples are published.
	metricsTopic = "metrics"
	// window is how many samples a dashboard keeps: a minute's worth.
	window = 60
)

// Sample is one reading of the metrics.
type Sample struct {
	Seq        int64     `json:"seq"` // from 1, one more each time
	At         time.Time `json:"at"`
	Rate       float64   `json:"rate"` // simulated requests per second
	Goroutines int       `json:"goroutines"`
	HeapMB     float64   `json:"heapMB"`
}

// feed takes the samples, keeps the last window of them for dashboards
// opened later, and publishes each one.
type feed struct {
	mu     sync.Mutex
	recent []Sample
	seq    int64
	rate   float64
}

// next takes a sample: the request rate is a random walk between 0 and
// 1000.
func (f *feed) next(now time.Time) Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seq == 0 {
		f.rate = 400
	}
	f.rate = math.Min(1000, math.Max(0, f.rate+mathrand.NormFloat64()*40))
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	f.seq++
	s := Sample{
		Seq:        f.seq,
		At:         now,
		Rate:       math.Round(f.rate*10) / 10,
		Goroutines: runtime.NumGoroutine(),
		HeapMB:     math.Round(float64(mem.HeapAlloc)/(1<<20)*10) / 10,
	}
	f.recent = appendWindow(f.recent, s)
	return s
}

// samples returns a copy of the samples kept.
func (f *feed) samples() []Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Sample(nil), f.recent...)
}

// run takes and publishes a sample every interval until ctx is done.
func (f *feed) run(ctx context.Context, h *liveflux.WebSocketHandler, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if err := h.Publish(ctx, metricsTopic, f.next(now)); err != nil {
				slog.Error("publishing a sample", "err", err)
			}
		}
	}
}

// appendWindow returns samples with s added, if newer than the last one,
// keeping the last window. It leaves samples as they were (the store puts
// back an instance's fields when a method fails; a slice changed in place
// would not be put back).
func appendWindow(samples []Sample, s Sample) []Sample {
	if n := len(samples); n > 0 && samples[n-1].Seq >= s.Seq {
		return samples // seen already
	}
	start := max(len(samples)+1-window, 0)
	out := make([]Sample, 0, len(samples)+1-start)
	return append(append(out, samples[start:]...), s)
}

// Dashboard shows the samples of the last minute.
type Dashboard struct {
	liveflux.Base
	Samples []Sample
	feed    *feed
}

func (d *Dashboard) Mount(ctx context.Context, params map[string]string) error {
	// Subscribe, then read what the feed has: a sample published in
	// between is both read and received, and kept once.
	if err := liveflux.Subscribe(ctx, metricsTopic); err != nil {
		return err
	}
	d.Samples = d.feed.samples()
	return nil
}

func (d *Dashboard) Handle(ctx context.Context, action string, data url.Values) error {
	return liveflux.NewError(http.StatusBadRequest, "a dashboard has no actions")
}

func (d *Dashboard) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	var s Sample
	if err := msg.Decode(&s); err != nil {
		return err
	}
	d.Samples = appendWindow(d.Samples, s)
	return nil
}

// card is one metric as the view shows it.
type card struct {
	Title, Value, Unit string
	Points             string // the sparkline's polyline
}

// sparkline returns the points of a polyline of values, scaled to fill a
// w×h box, the last value at the right edge, one step per sample of a full
// window.
func sparkline(values []float64, w, h float64) string {
	if len(values) == 0 {
		return ""
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-1, hi+1
	}
	step := w / float64(window-1)
	var b strings.Builder
	for i, v := range values {
		x := w - float64(len(values)-1-i)*step
		y := h - (v-lo)/(hi-lo)*h
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y)
	}
	return strings.TrimSpace(b.String())
}

func (d *Dashboard) cards() []card {
	if len(d.Samples) == 0 {
		return nil
	}
	series := func(f func(Sample) float64) string {
		vs := make([]float64, len(d.Samples))
		for i, s := range d.Samples {
			vs[i] = f(s)
		}
		return sparkline(vs, 240, 48)
	}
	last := d.Samples[len(d.Samples)-1]
	return []card{
		{"Requests", fmt.Sprintf("%.1f", last.Rate), "/s", series(func(s Sample) float64 { return s.Rate })},
		{"Goroutines", fmt.Sprint(last.Goroutines), "", series(func(s Sample) float64 { return float64(s.Goroutines) })},
		{"Heap", fmt.Sprintf("%.1f", last.HeapMB), "MB", series(func(s Sample) float64 { return s.HeapMB })},
	}
}

// latest returns the last n samples, newest first.
func (d *Dashboard) latest(n int) []Sample {
	out := make([]Sample, 0, n)
	for i := len(d.Samples) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, d.Samples[i])
	}
	return out
}

var dashboardView = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04:05") },
}).Parse(`
{{with .Last}}<p class="latest" data-seq="{{.Seq}}">Sample #{{.Seq}} at {{clock .At}}</p>{{else}}<p class="latest" data-seq="0">Waiting for the first sample…</p>{{end}}
<div class="cards">{{range .Cards}}
  <figure class="card">
    <figcaption>{{.Title}}</figcaption>
    <p class="value">{{.Value}}<small>{{.Unit}}</small></p>
    <svg viewBox="-2 -2 244 52" width="244" height="52" role="img" aria-label="{{.Title}}, last minute"><polyline points="{{.Points}}" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round"/></svg>
  </figure>{{end}}
</div>
<table class="samples">
  <thead><tr><th>#</th><th>time</th><th>requests/s</th><th>goroutines</th><th>heap MB</th></tr></thead>
  <tbody>{{range .Latest}}
    <tr data-seq="{{.Seq}}"><td>{{.Seq}}</td><td>{{clock .At}}</td><td>{{printf "%.1f" .Rate}}</td><td>{{.Goroutines}}</td><td>{{printf "%.1f" .HeapMB}}</td></tr>{{end}}
  </tbody>
</table>`))

func (d *Dashboard) Render(ctx context.Context, w io.Writer) error {
	var last *Sample
	if n := len(d.Samples); n > 0 {
		last = &d.Samples[n-1]
	}
	return dashboardView.Execute(w, map[string]any{"Last": last, "Cards": d.cards(), "Latest": d.latest(5)})
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Liveflux dashboard</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #222; }
  .latest { color: #555; font-variant-numeric: tabular-nums; }
  .cards { display: flex; gap: 1rem; flex-wrap: wrap; }
  .card { margin: 0; padding: .75rem 1rem; border: 1px solid #ccc; border-radius: .5rem; color: #1d5ea8; }
  .card figcaption { color: #555; }
  .card .value { font-size: 1.8rem; margin: .2rem 0; color: #222; font-variant-numeric: tabular-nums; }
  .card small { font-size: .9rem; color: #777; margin-left: .2rem; }
  .samples { margin-top: 1.5rem; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  .samples th, .samples td { padding: .2rem .8rem; text-align: right; border-bottom: 1px solid #eee; }
  /* The connection's state, from the attribute data-flux-socket the client
     keeps on <html>: one of the three words is shown. */
  #status { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; background: #eee; }
  #status > span { display: none; }
  html:not([data-flux-socket=open], [data-flux-socket=closed], [data-flux-socket=failed]) #status .connecting,
  html[data-flux-socket=open] #status .open,
  html:is([data-flux-socket=closed], [data-flux-socket=failed]) #status .closed { display: inline; }
  html[data-flux-socket=open] #status { background: #d8f5d0; color: #1d5e12; }
  html:is([data-flux-socket=closed], [data-flux-socket=failed]) #status { background: #fbe0e0; color: #8a1c1c; }
</style>
</head>
<body>
<h1>Dashboard</h1>
<p>A goroutine on the server publishes a sample every second; every open tab follows. Connection: <span id="status" role="status"><span class="connecting">connecting…</span><span class="open">connected</span><span class="closed">disconnected</span></span></p>
<section id="dashboard">{{.Dashboard}}</section>
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
// clients (see examples/websocket for why there is no ReadTimeout or
// WriteTimeout).
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

// newApp returns the dashboard's endpoint and page handlers around f.
func newApp(f *feed, logger *slog.Logger) (*liveflux.WebSocketHandler, *http.ServeMux) {
	registry := liveflux.NewRegistry()
	if err := registry.Register("dashboard", func() liveflux.Component { return &Dashboard{feed: f} }); err != nil {
		panic(err)
	}
	ws := liveflux.NewWebSocketHandler(nil,
		liveflux.WithRegistry(registry),
		liveflux.WithSessionKey(sessionKey),
		liveflux.WithLogger(logger),
	)
	mux := http.NewServeMux()
	mux.Handle("/liveflux", ws)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ensureSession(w, r)
		html, err := ws.Mount(r, "dashboard", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{
			"Dashboard": html,
			"Script":    liveflux.Script(liveflux.ClientOptions{UseWebSocket: true}),
		})
	})
	return ws, mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	interval := flag.Duration("interval", time.Second, "time between two samples")
	flag.Parse()

	f := &feed{}
	ws, mux := newApp(f, slog.Default())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux dashboard example: http://%s/\n", ln.Addr())

	// Until Ctrl-C or SIGTERM: then the feed stops, and the server closes
	// its connections.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		f.run(ctx, ws, *interval)
	}()
	srv := newServer(mux)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C ends the process at once
	<-fed
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.Print(err)
	}
	if err := ws.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Print(err)
	}
	fmt.Println("stopped")
}
