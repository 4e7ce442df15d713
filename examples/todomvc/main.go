// Command todomvc serves TodoMVC (todomvc.com's app spec): a todo list
// kept on the server for each visitor, the same in every tab they open,
// with its routes (/, /active, /completed) in the URL and an about page,
// all without a reload and without JavaScript of its own.
//
// The routes are URL state: the list component implements HandleURL, so
// a deep link renders the filtered list on first paint, the filter links
// (data-flux-patch) change the URL without a reload, and Back and Forward
// restore the filter. The about page is another page of the site, which
// the page loads without a reload (data-flux-navigate on <body>), keeping
// the socket; its "Delete all todos" flashes a message and redirects to
// the list, where the message shows.
//
//	go run ./examples/todomvc -addr 127.0.0.1:8080
package main

import (
	"crypto/rand"
	"embed"
	"flag"
	"fmt"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-liveflux/liveflux"
)

//go:embed todomvc-app-css.css app.css
var styles embed.FS

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="/todomvc-app-css.css">
<link rel="stylesheet" href="/app.css">
</head>
<body data-flux-navigate>
<section class="todoapp">{{.Content}}</section>
<footer class="info">
  <p class="flash" role="status" data-flux-flash hidden></p>
  <p>Double-click to edit a todo</p>
  <p><a href="/about">About this app</a> · <a href="/">The list</a></p>
  <p>Part of <a href="https://todomvc.com">TodoMVC</a></p>
</footer>
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

// newApp returns the app's routes around one set of lists.
func newApp(logger *slog.Logger) http.Handler {
	todos := newLists()
	registry := liveflux.NewRegistry()
	registry.Register("todos", func() liveflux.Component { return &Todos{lists: todos} })
	registry.Register("about", func() liveflux.Component { return &About{lists: todos} })
	ws := liveflux.NewWebSocketHandler(nil,
		liveflux.WithRegistry(registry),
		liveflux.WithSessionKey(sessionKey),
		liveflux.WithLogger(logger),
	)
	script := liveflux.Script(liveflux.ClientOptions{UseWebSocket: true})

	// show renders a page around a component of kind mounted for r (the
	// session is a sealed parameter: the page never shows it).
	show := func(title, kind string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ensureSession(w, r)
			html, err := ws.Mount(r, kind, map[string]string{"session": sessionKey(r)})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			page.Execute(w, map[string]any{"Title": title, "Content": html, "Script": script})
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/liveflux", ws)
	for _, path := range []string{"GET /{$}", "GET /active", "GET /completed"} {
		mux.HandleFunc(path, show("Liveflux • TodoMVC", "todos"))
	}
	mux.HandleFunc("GET /about", show("About • Liveflux • TodoMVC", "about"))
	mux.Handle("GET /todomvc-app-css.css", http.FileServerFS(styles))
	mux.Handle("GET /app.css", http.FileServerFS(styles))
	return mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux TodoMVC example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(newApp(slog.Default())).Serve(ln))
}
