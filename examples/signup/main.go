// Command signup serves a sign-up form validated as the user goes: each
// field is checked when the user leaves it, errors show only for the
// fields the user has touched (liveflux.Touched), and a valid form
// redirects to a welcome page. No JavaScript of its own.
//
//	go run ./examples/signup -addr 127.0.0.1:8080
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
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/go-liveflux/liveflux"
)

// Signup is the form: what the user typed and the errors to show. The
// password is never rendered back: its input is marked data-flux-ignore,
// so updates leave what the user typed there.
type Signup struct {
	liveflux.Base
	Name, Email string
	Errors      map[string]string
}

func (s *Signup) Mount(ctx context.Context, params map[string]string) error { return nil }

// taken are the addresses already signed up.
var taken = map[string]bool{"ada@example.com": true}

func (s *Signup) Handle(ctx context.Context, action string, data url.Values) error {
	if action != "validate" && action != "submit" {
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	s.Name, s.Email = strings.TrimSpace(data.Get("name")), strings.TrimSpace(data.Get("email"))
	password := data.Get("password")
	all := map[string]string{}
	if s.Name == "" {
		all["name"] = "Tell us your name."
	}
	if a, err := mail.ParseAddress(s.Email); err != nil || a.Address != s.Email {
		all["email"] = "That is not an email address."
	} else if taken[strings.ToLower(s.Email)] {
		all["email"] = "That address already has an account."
	}
	if len(password) < 8 {
		all["password"] = "At least 8 characters."
	}
	// Only the fields the user has touched (all of them on submit).
	s.Errors = map[string]string{}
	for field, msg := range all {
		if liveflux.Touched(data, field) {
			s.Errors[field] = msg
		}
	}
	if action == "submit" && len(all) == 0 {
		return s.Redirect("/welcome?name=" + url.QueryEscape(s.Name))
	}
	return nil
}

var signupView = template.Must(template.New("signup").Parse(`
<form class="signup" data-flux-action="submit" novalidate>
  {{define "field"}}<label for="{{.ID}}">{{.Label}}</label>
  <input id="{{.ID}}" name="{{.Name}}" type="{{.Type}}" value="{{.Value}}" autocomplete="off"
         data-flux-action="validate" data-flux-on="blur"{{if .Error}} aria-invalid="true"{{end}}{{if eq .Type "password"}} data-flux-ignore{{end}}>
  <p class="error" id="{{.Name}}-error">{{.Error}}</p>{{end}}
  {{template "field" (call .F "name" "Name" "text" .S.Name)}}
  {{template "field" (call .F "email" "Email" "email" .S.Email)}}
  {{template "field" (call .F "password" "Password" "password" "")}}
  <button type="submit" data-flux-disable-with="Signing up…">Sign up</button>
</form>`))

func (s *Signup) Render(ctx context.Context, w io.Writer) error {
	field := func(name, label, typ, value string) map[string]string {
		return map[string]string{"ID": s.GetID() + "-" + name, "Name": name, "Label": label, "Type": typ, "Value": value, "Error": s.Errors[name]}
	}
	return signupView.Execute(w, map[string]any{"S": s, "F": field})
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 24rem; margin: 3rem auto; color: #222; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { font-size: 1rem; padding: .4rem; width: 100%; box-sizing: border-box; }
  input[aria-invalid] { border: 2px solid #b3261e; }
  .error { color: #b3261e; min-height: 1.2em; margin: .2rem 0; }
  button { margin-top: 1rem; font-size: 1rem; padding: .5rem 1rem; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{.Body}}
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
	flag.Parse()

	registry := liveflux.NewRegistry()
	if err := registry.Register("signup", func() liveflux.Component { return &Signup{} }); err != nil {
		log.Fatal(err)
	}
	lf := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(registry), liveflux.WithLogger(slog.Default()))
	mux := http.NewServeMux()
	mux.Handle("/liveflux", lf)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		html, err := lf.Mount(r, "signup", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{"Title": "Sign up", "Body": html, "Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true})})
	})
	mux.HandleFunc("GET /welcome", func(w http.ResponseWriter, r *http.Request) {
		body := template.HTML(`<p class="welcome">Welcome, ` + template.HTMLEscapeString(r.URL.Query().Get("name")) + `!</p>`)
		page.Execute(w, map[string]any{"Title": "Welcome", "Body": body})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux sign-up example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
