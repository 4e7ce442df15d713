package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	lab         *labState    // the "lab" components' views and the actions they got
}

func newServer(t *testing.T, wsOpts ...liveflux.WebSocketOption) *server {
	t.Helper()
	s := &server{
		t:        t,
		store:    liveflux.NewMemoryStore(),
		registry: liveflux.NewRegistry(),
		mux:      http.NewServeMux(),
		gate:     make(chan struct{}),
		lab:      newLabState(),
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
		"lab":        func() liveflux.Component { return &lab{st: s.lab} },
		"tabs":       func() liveflux.Component { return &tabs{} },
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
		// A multipart body is an action with files; it is left for the
		// handler to read, within its limits.
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			s.httpActions.Add(1)
		} else if err := r.ParseForm(); err == nil && r.PostForm.Get(liveflux.FieldAction) != "" {
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
<style>
  #status > span { display: none; }
  html:not([data-flux-socket=open], [data-flux-socket=closed], [data-flux-socket=failed]) #status .none,
  html[data-flux-socket=open] #status .open,
  html:is([data-flux-socket=closed], [data-flux-socket=failed]) #status .closed { display: inline; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Socket: <span id="status"><span class="none">none</span><span class="open">connected</span><span class="closed">disconnected</span></span></p>
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

// labState is what the "lab" components share with their test: the views
// they render, by name, and every action they received, in order.
type labState struct {
	mu    sync.Mutex
	views map[string]*template.Template
	acts  []labAct
	more  chan struct{}   // closed (and replaced) when an action arrives
	gate  chan struct{}   // actions "slow" and "slow2" wait until it is closed
	left  map[string]bool // instances no client of the node watches any more
}

// labAct is one action a lab component received.
type labAct struct {
	ID, Action string
	Data       url.Values
}

func newLabState() *labState {
	st := &labState{views: map[string]*template.Template{}, more: make(chan struct{}), gate: make(chan struct{})}
	close(st.gate)
	return st
}

// labView adds a view: an html/template rendered with the *lab as dot.
func (s *server) labView(name, src string) {
	s.t.Helper()
	tpl, err := template.New(name).Parse(src)
	if err != nil {
		s.t.Fatal(err)
	}
	s.lab.mu.Lock()
	s.lab.views[name] = tpl
	s.lab.mu.Unlock()
}

// labPage serves at / a page with one lab component per view, in sections
// #v0, #v1, …, after the page's own markup extra.
func (s *server) labPage(client liveflux.ClientOptions, extra template.HTML, views ...string) {
	s.page("/{$}", client, func(r *http.Request) template.HTML {
		html := extra
		for i, v := range views {
			html += template.HTML(fmt.Sprintf(`<section id="v%d">`, i)) + s.mount(r, "lab", map[string]string{"view": v}) + "</section>\n"
		}
		return html
	})
}

// holdSlow makes the actions "slow" and "slow2" wait until the returned
// function is called.
func (s *server) holdSlow() (release func()) {
	gate := make(chan struct{})
	s.lab.mu.Lock()
	s.lab.gate = gate
	s.lab.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	s.t.Cleanup(release)
	return release
}

// acts returns the actions lab components received so far.
func (s *server) acts() []labAct {
	s.lab.mu.Lock()
	defer s.lab.mu.Unlock()
	return append([]labAct(nil), s.lab.acts...)
}

// waitActs waits until lab components received at least n actions and
// returns them all.
func (s *server) waitActs(n int) []labAct {
	s.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		s.lab.mu.Lock()
		acts, more := append([]labAct(nil), s.lab.acts...), s.lab.more
		s.lab.mu.Unlock()
		if len(acts) >= n {
			return acts
		}
		select {
		case <-more:
		case <-timeout:
			s.t.Fatalf("timed out waiting for %d actions; got %v", n, acts)
		}
	}
}

// expectActs waits for the actions after the first `from` and checks
// their names and the fields given (other fields may be there too).
func (s *server) expectActs(from int, want ...labAct) {
	s.t.Helper()
	got := s.waitActs(from + len(want))[from:]
	if len(got) != len(want) {
		s.t.Fatalf("got actions %v, want %d: %v", got, len(want), want)
	}
	for i, w := range want {
		if got[i].Action != w.Action {
			s.t.Fatalf("action %d: got %v, want %q", from+i, got[i], w.Action)
		}
		for name, vals := range w.Data {
			if !slices.Equal(got[i].Data[name], vals) {
				s.t.Errorf("action %d (%s): field %s = %q, want %q", from+i, w.Action, name, got[i].Data[name], vals)
			}
		}
	}
}

// expectActsInAnyOrder is expectActs for actions sent at one moment, which
// may reach the server in any order.
func (s *server) expectActsInAnyOrder(from int, want ...labAct) {
	s.t.Helper()
	got := s.waitActs(from + len(want))[from:]
	if len(got) != len(want) {
		s.t.Fatalf("got actions %v, want %d: %v", got, len(want), want)
	}
	slices.SortFunc(got, func(a, b labAct) int { return strings.Compare(a.Action, b.Action) })
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b labAct) int { return strings.Compare(a.Action, b.Action) })
	for i, w := range want {
		if got[i].Action != w.Action {
			s.t.Fatalf("actions from %d: got %v, want %v in any order", from, got, want)
		}
		for name, vals := range w.Data {
			if !slices.Equal(got[i].Data[name], vals) {
				s.t.Errorf("action %s: field %s = %q, want %q", w.Action, name, got[i].Data[name], vals)
			}
		}
	}
}

// lab renders the view named by its mount parameter "view" and records
// every action. "send" adds the field msg to Msgs (and "push" a message of
// its own), "off" sets Off, "emit" emits the event lab-said {n: N},
// "emit-big" five events lab-big of 60,000 bytes (more than a response
// header may carry) and then one over liveflux.MaxEventBytes, whose error
// it adds to Msgs, "upload" lists the files of field "doc" (name, size,
// SHA-256); "slow" and "slow2" wait for holdSlow's release.
type lab struct {
	liveflux.Base
	View  string
	P     map[string]string
	N     int
	Off   bool
	Msgs  []string
	Files []string
	Data  url.Values
	st    *labState
}

func (l *lab) Mount(ctx context.Context, params map[string]string) error {
	l.View, l.P = params["view"], params
	return nil
}

func (l *lab) Handle(ctx context.Context, action string, data url.Values) error {
	st := l.st
	st.mu.Lock()
	st.acts = append(st.acts, labAct{l.GetID(), action, data})
	close(st.more)
	st.more = make(chan struct{})
	gate := st.gate
	st.mu.Unlock()
	l.N++
	l.Data = data
	switch action {
	case "slow", "slow2":
		select {
		case <-gate:
		case <-ctx.Done():
		}
	case "send":
		if m := data.Get("msg"); m != "" {
			l.Msgs = append(l.Msgs, m)
		}
	case "push":
		l.Msgs = append(l.Msgs, fmt.Sprintf("message %d", len(l.Msgs)+1))
	case "off":
		l.Off = true
	case "emit":
		return liveflux.Emit(ctx, "lab-said", map[string]int{"n": l.N})
	case "fail":
		return liveflux.NewError(http.StatusUnprocessableEntity, "choose a file first")
	case "flash-away":
		if err := liveflux.Flash(ctx, "info", "Saved, then redirected."); err != nil {
			return err
		}
		return l.Redirect("/flashed")
	case "emit-big":
		for i := range 5 {
			if err := liveflux.Emit(ctx, "lab-big", map[string]any{"i": i, "pad": strings.Repeat("x", 60000)}); err != nil {
				return err
			}
		}
		if err := liveflux.Emit(ctx, "lab-big", strings.Repeat("y", 70000)); err != nil {
			l.Msgs = append(l.Msgs, err.Error())
		}
	case "upload":
		for _, fh := range liveflux.FormFiles(ctx, "doc") {
			f, err := fh.Open()
			if err != nil {
				return err
			}
			h := sha256.New()
			n, err := io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			l.Files = append(l.Files, fmt.Sprintf("%s %d %x", fh.Filename, n, h.Sum(nil)))
		}
	}
	return nil
}

// Watching notes when no client watches the instance any more.
func (l *lab) Watching(ctx context.Context, watched bool) error {
	l.st.mu.Lock()
	defer l.st.mu.Unlock()
	if l.st.left == nil {
		l.st.left = map[string]bool{}
	}
	l.st.left[l.GetID()] = !watched
	return nil
}

// leftBy reports whether no client watches lab instance id any more.
func (s *server) leftBy(id string) bool {
	s.lab.mu.Lock()
	defer s.lab.mu.Unlock()
	return s.lab.left[id]
}

func (l *lab) Render(ctx context.Context, w io.Writer) error {
	l.st.mu.Lock()
	tpl := l.st.views[l.View]
	l.st.mu.Unlock()
	if tpl == nil {
		return fmt.Errorf("no lab view %q", l.View)
	}
	return tpl.Execute(w, l)
}
