package fluxtest_test

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// The components the harness's own tests drive.

// Counter counts clicks; a few actions fail or redirect on purpose.
type Counter struct {
	liveflux.Base
	Count int
}

func (c *Counter) Mount(_ context.Context, params map[string]string) error {
	if s := params["start"]; s != "" {
		if _, err := fmt.Sscan(s, &c.Count); err != nil {
			return liveflux.NewError(http.StatusBadRequest, "start must be a number")
		}
	}
	return nil
}

func (c *Counter) Handle(_ context.Context, action string, data url.Values) error {
	switch action {
	case "inc":
		c.Count++
	case "dec":
		c.Count--
	case "set":
		fmt.Sscan(data.Get("n"), &c.Count)
	case "forbidden":
		return liveflux.NewError(http.StatusForbidden, "not yours")
	case "leave":
		return c.Redirect("/done")
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	return nil
}

func (c *Counter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<output class="count">%d</output> <button data-flux-action="inc">+</button> <button data-flux-action="dec">−</button>`, c.Count)
	return err
}

// Signup is a form.
type Signup struct {
	liveflux.Base
	Name, Email, Plan string
	Agree             bool
	Files             []string
	Errors            map[string]string
}

func (s *Signup) Mount(context.Context, map[string]string) error { return nil }

func (s *Signup) Handle(_ context.Context, action string, data url.Values) error {
	s.Name, s.Email, s.Plan, s.Agree = data.Get("name"), data.Get("email"), data.Get("plan"), data.Get("agree") == "yes"
	s.Errors = map[string]string{}
	if liveflux.Touched(data, "email") && s.Email != "" && !contains(s.Email, "@") {
		s.Errors["email"] = "not an email address"
	}
	switch action {
	case "validate":
	case "save":
		if len(s.Errors) > 0 {
			return nil
		}
		s.Files = nil
		for name := range data {
			if name == "upload" {
				s.Files = append(s.Files, data[name]...)
			}
		}
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	return nil
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

var signupView = template.Must(template.New("").Parse(`<form data-flux-action="save">
<input name="name" required value="{{.Name}}">
<input name="email" data-flux-on="blur" data-flux-action="validate" value="{{.Email}}">
{{with .Errors.email}}<p class="error">{{.}}</p>{{end}}
<select name="plan"><option>free</option><option {{if eq .Plan "pro"}}selected{{end}}>pro</option></select>
<input type="checkbox" name="agree" value="yes">
<button>Sign up</button>
</form>
<p class="saved">{{.Name}} {{.Email}} {{.Plan}} {{.Agree}}</p>`))

func (s *Signup) Render(_ context.Context, w io.Writer) error { return signupView.Execute(w, s) }

// Echo answers over WebSocket itself.
type Echo struct{ liveflux.Base }

func (e *Echo) Mount(context.Context, map[string]string) error   { return nil }
func (e *Echo) Handle(context.Context, string, url.Values) error { return nil }
func (e *Echo) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, `<button data-flux-action="echo" name="text" value="hi">echo</button>`)
	return err
}
func (e *Echo) HandleWS(_ context.Context, m *liveflux.WebSocketMessage) (any, error) {
	return map[string]any{"type": "echo", "data": m.Data}, nil
}

// registry returns a registry of the test components.
func registry(t testing.TB) *liveflux.Registry {
	r := liveflux.NewRegistry()
	for kind, f := range map[string]func() liveflux.Component{
		"counter": func() liveflux.Component { return &Counter{} },
		"signup":  func() liveflux.Component { return &Signup{} },
		"echo":    func() liveflux.Component { return &Echo{} },
		"chat":    func() liveflux.Component { return &Chat{} },
		"poll":    func() liveflux.Component { return &Poll{} },
	} {
		if err := r.Register(kind, f); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// quiet keeps component failures the tests cause out of the output.
var quiet = liveflux.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// serve serves the test components with opts.
func serve(t testing.TB, opts ...liveflux.WebSocketOption) *fluxtest.Server {
	return fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, append([]liveflux.WebSocketOption{liveflux.WithRegistry(registry(t)), quiet}, opts...)...))
}

// Upload shows the files it was sent.
type Upload struct {
	liveflux.Base
	Got string
}

func (u *Upload) Mount(context.Context, map[string]string) error { return nil }
func (u *Upload) Handle(_ context.Context, _ string, data url.Values) error {
	u.Got = data.Get("note")
	return nil
}
func (u *Upload) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<form data-flux-action="upload"><input type="file" name="doc"><input name="note" value="with a file"><button>Send</button></form><p>%s</p>`, template.HTMLEscapeString(u.Got))
	return err
}

// Markup renders fixed markup and handles the Counter's actions.
type Markup struct {
	Counter
	HTML string
}

func (m *Markup) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, m.HTML)
	return err
}

// markupRegistry registers "buttons": a counter with a button for each
// action.
func markupRegistry(t testing.TB) *liveflux.Registry {
	r := liveflux.NewRegistry()
	r.Register("buttons", func() liveflux.Component { return &Buttons{} })
	return r
}

// Buttons is a Counter with a button for each of its actions.
type Buttons struct{ Counter }

func (b *Buttons) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<output class="count">%d</output>`+
		`<button data-flux-action="inc">+</button><button data-flux-action="forbidden">x</button><button data-flux-action="leave">go</button>`, b.Count)
	return err
}

// Chat has a message box the server empties and a search box it echoes.
type Chat struct {
	liveflux.Base
	Lines []string
	Query string
}

func (c *Chat) Mount(context.Context, map[string]string) error { return nil }

func (c *Chat) Handle(_ context.Context, action string, data url.Values) error {
	switch action {
	case "send":
		c.Lines = append(c.Lines, data.Get("msg"))
	case "search":
		c.Query = data.Get("q")
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	return nil
}

var chatView = template.Must(template.New("").Parse(`<form data-flux-action="send"><input name="msg" value=""><button>Send</button></form>` +
	`<ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul>` +
	`<input name="q" data-flux-on="input" data-flux-action="search" value="{{.Query}} (server)"><p class="query">{{.Query}}</p>`))

func (c *Chat) Render(_ context.Context, w io.Writer) error { return chatView.Execute(w, c) }

// Poll counts its loads and its timer's ticks.
type Poll struct{ Counter }

func (p *Poll) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p data-flux-on="load" data-flux-action="inc">loaded</p><span data-flux-on="every.5s" data-flux-action="inc">tick</span>`+
		`<input name="q" data-flux-on="keyup.changed" data-flux-action="inc"><output class="count">%d</output>`, p.Count)
	return err
}
