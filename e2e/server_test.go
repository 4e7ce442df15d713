package e2e

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// server is an in-process Liveflux application the tests control: its
// WebSocket handler can be replaced (dropping every socket) over the same
// store, handshakes can be held, and it counts what reaches its endpoint.
type server struct {
	t        *testing.T
	URL      string
	store    *liveflux.MemoryStore
	registry *liveflux.Registry
	wsOpts   []liveflux.WebSocketOption
	mux      *http.ServeMux

	mu   sync.Mutex
	ws   *liveflux.WebSocketHandler
	gate chan struct{} // WebSocket handshakes wait until it is closed

	handshakes  atomic.Int64 // WebSocket upgrade requests received
	httpActions atomic.Int64 // POSTs that carried an action
	ticks       atomic.Int64 // shown by the "note" component
	pwned       atomic.Int64 // requests to /pwned: script a page must never run
}

func newServer(t *testing.T, wsOpts ...liveflux.WebSocketOption) *server {
	t.Helper()
	s := &server{
		t:        t,
		store:    liveflux.NewMemoryStore(),
		registry: liveflux.NewRegistry(),
		mux:      http.NewServeMux(),
		gate:     make(chan struct{}),
	}
	close(s.gate)
	logs := &lockedBuffer{}
	s.wsOpts = append([]liveflux.WebSocketOption{
		liveflux.WithRegistry(s.registry),
		liveflux.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
	}, wsOpts...)
	s.ws = liveflux.NewWebSocketHandler(s.store, s.wsOpts...)
	for kind, f := range map[string]func() liveflux.Component{
		"counter":    func() liveflux.Component { return &counter{} },
		"note":       func() liveflux.Component { return &note{ticks: &s.ticks} },
		"profile":    func() liveflux.Component { return &profile{} },
		"redirector": func() liveflux.Component { return &redirector{} },
		"replier":    func() liveflux.Component { return &replier{} },
	} {
		if err := s.registry.Register(kind, f); err != nil {
			t.Fatal(err)
		}
	}
	s.mux.HandleFunc("/liveflux", s.serveLiveflux)
	s.mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		writePage(w, "Done", template.HTML(`<p id="from">`+template.HTMLEscapeString(r.URL.Query().Get("from"))+`</p>`), "")
	})
	s.mux.HandleFunc("/pwned", func(w http.ResponseWriter, r *http.Request) { s.pwned.Add(1) })
	srv := httptest.NewServer(s.mux)
	s.URL = srv.URL
	t.Cleanup(func() {
		s.mu.Lock()
		select {
		case <-s.gate:
		default:
			close(s.gate)
		}
		ws := s.ws
		s.mu.Unlock()
		ws.Close()
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return s
}

func (s *server) serveLiveflux(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.handshakes.Add(1)
		s.mu.Lock()
		gate := s.gate
		s.mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if r.Method == http.MethodPost {
		// The handler parses the form again; ParseForm keeps the first result.
		if err := r.ParseForm(); err == nil && r.PostForm.Get(liveflux.FieldAction) != "" {
			s.httpActions.Add(1)
		}
		// Action raw-redirect answers with a redirect to its field "to" as
		// is, as a server that does not check redirect targets would
		// (Base.Redirect refuses unsafe ones).
		if r.PostForm.Get(liveflux.FieldAction) == "raw-redirect" {
			w.Header().Set(liveflux.HeaderRedirect, r.PostForm.Get("to"))
		}
	}
	s.handler().ServeHTTP(w, r)
}

// handler returns the WebSocket handler serving the endpoint now.
func (s *server) handler() *liveflux.WebSocketHandler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ws
}

// dropSockets closes every WebSocket (close 1001, as on a server shutdown)
// and holds new handshakes until restore; HTTP keeps being served, by a new
// handler over the same store.
func (s *server) dropSockets() {
	s.mu.Lock()
	old := s.ws
	s.gate = make(chan struct{})
	s.ws = liveflux.NewWebSocketHandler(s.store, s.wsOpts...)
	s.mu.Unlock()
	if err := old.Close(); err != nil {
		s.t.Fatalf("closing the WebSocket handler: %v", err)
	}
}

// restore lets the held handshakes through.
func (s *server) restore() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.gate)
}

// mount renders a new instance for a page's first paint.
func (s *server) mount(r *http.Request, kind string, params map[string]string) template.HTML {
	html, err := s.handler().Mount(r, kind, params)
	if err != nil {
		panic(err) // a broken test component: the page shows nothing
	}
	return html
}

// page serves a page at path whose body is made by body, with the client
// configured by client.
func (s *server) page(path string, client liveflux.ClientOptions, body func(r *http.Request) template.HTML) {
	s.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		writePage(w, "Liveflux e2e", body(r), liveflux.Script(client))
	})
}

// postAction runs an action over HTTP from Go, as another client would.
func (s *server) postAction(kind, id, action string) {
	s.t.Helper()
	res, err := http.PostForm(s.URL+"/liveflux", url.Values{
		liveflux.FieldKind: {kind}, liveflux.FieldID: {id}, liveflux.FieldAction: {action},
	})
	if err != nil {
		s.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("POST action %s on %s: %s %s", action, id, res.Status, body)
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
</head>
<body>
<h1>{{.Title}}</h1>
<p>Socket: <span id="status">none</span></p>
<script>
  document.addEventListener("liveflux:connected", () => { document.getElementById("status").textContent = "connected"; });
  document.addEventListener("liveflux:disconnected", () => { document.getElementById("status").textContent = "disconnected"; });
</script>
{{.Body}}
{{.Script}}
</body>
</html>`))

func writePage(w http.ResponseWriter, title string, body, script template.HTML) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	pageTemplate.Execute(w, map[string]any{"Title": title, "Body": body, "Script": script})
}

// counter is a number with − and + buttons.
type counter struct {
	liveflux.Base
	Count int
}

func (c *counter) Mount(ctx context.Context, params map[string]string) error {
	if s := params["start"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return liveflux.NewError(http.StatusBadRequest, "start must be a number")
		}
		c.Count = n
	}
	return nil
}

func (c *counter) Handle(ctx context.Context, action string, data url.Values) error {
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

func (c *counter) Render(ctx context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<div class="counter"><button type="button" class="dec" data-flux-action="dec">−</button> <output class="count">%d</output> <button type="button" class="inc" data-flux-action="inc">+</button></div>`, c.Count)
	return err
}

// note is a text input next to a number that changes elsewhere (ticks); the
// server never learns what is typed, so each rendering has an empty input.
// With the mount parameter moving=1 the input has an id and each rendering
// puts 0, 1 or 2 notices before it, so that morphing moves the input.
type note struct {
	liveflux.Base
	Moving bool
	ticks  *atomic.Int64
}

func (n *note) Mount(ctx context.Context, params map[string]string) error {
	n.Moving = params["moving"] == "1"
	return nil
}

func (n *note) Handle(ctx context.Context, action string, data url.Values) error {
	return liveflux.NewError(http.StatusBadRequest, "no actions")
}

func (n *note) Render(ctx context.Context, w io.Writer) error {
	ticks := n.ticks.Load()
	id := ""
	if n.Moving {
		for i := range ticks % 3 {
			fmt.Fprintf(w, `<p class="notice">notice %d</p>`, i)
		}
		id = ` id="note-` + n.GetID() + `"`
	}
	_, err := fmt.Fprintf(w, `<label>Note <input type="text"%s class="note" name="note" autocomplete="off" value=""></label> <span class="ticks">%d</span>`, id, ticks)
	return err
}

// profile is a form; it shows what it received, and "leave" redirects.
type profile struct {
	liveflux.Base
	Saved bool
	Name  string
	Color string
	Tags  []string
	Bio   string
	Op    string
	From  string // the form's data-flux-value-from
}

func (p *profile) Mount(ctx context.Context, params map[string]string) error { return nil }

func (p *profile) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "save":
		p.Saved = true
		p.Name, p.Color, p.Bio = data.Get("name"), data.Get("color"), data.Get("bio")
		p.Tags = data["tags"]
		p.Op, p.From = data.Get("op"), data.Get("from")
	case "leave":
		p.Redirect("/done?from=" + url.QueryEscape(p.Name))
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	return nil
}

var profileView = template.Must(template.New("profile").Funcs(template.FuncMap{
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"join": strings.Join,
}).Parse(`
<form class="profile" data-flux-action="save" data-flux-value-from="profile-form">
  <label>Name <input type="text" name="name" value="{{.Name}}"></label>
  <label>Colour <select name="color">
    {{range $c := .Colors}}<option value="{{$c}}"{{if eq $c $.P.Color}} selected{{end}}>{{$c}}</option>{{end}}
  </select></label>
  {{range $t := .AllTags}}<label><input type="checkbox" name="tags" value="{{$t}}"{{if has $.P.Tags $t}} checked{{end}}> {{$t}}</label>{{end}}
  <label>Bio <textarea name="bio">{{.Bio}}</textarea></label>
  <button type="submit" name="op" value="save-pressed">Save</button>
</form>
{{if .Saved}}<dl class="result">
  <dt>name</dt><dd class="r-name">{{.Name}}</dd>
  <dt>colour</dt><dd class="r-color">{{.P.Color}}</dd>
  <dt>tags</dt><dd class="r-tags">{{join .P.Tags ","}}</dd>
  <dt>bio</dt><dd class="r-bio">{{.Bio}}</dd>
  <dt>op</dt><dd class="r-op">{{.Op}}</dd>
  <dt>from</dt><dd class="r-from">{{.From}}</dd>
</dl>{{end}}
<button type="button" class="leave" data-flux-action="leave">Leave</button>`))

func (p *profile) Render(ctx context.Context, w io.Writer) error {
	return profileView.Execute(w, map[string]any{
		"P": p, "Name": p.Name, "Bio": p.Bio, "Saved": p.Saved, "Op": p.Op, "From": p.From,
		"Colors": []string{"red", "green", "blue"}, "AllTags": []string{"go", "js", "sql"},
	})
}
