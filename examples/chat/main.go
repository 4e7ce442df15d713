// Command chat serves a chat room: every tab that opens the page joins it,
// sees the messages as they are sent, and who is online. A message goes
// with Enter or the Send button; what another tab is half-way through
// typing is never disturbed by the messages that arrive meanwhile.
//
// Each tab's chat component (package room, beside this file) subscribes to
// the room's topic and is tracked in its presence list under the visitor's
// name (?name=Ada, or a guest name). Sending publishes the message to the
// topic; joining and leaving (closing the tab, or losing the connection)
// publish presence changes to it. No JavaScript of its own.
//
//	go run ./examples/chat -addr 127.0.0.1:8080
//	open http://127.0.0.1:8080/?name=Ada in one tab, ?name=Bob in another
package main

import (
	"crypto/rand"
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
	"github.com/go-liveflux/liveflux/examples/chat/room"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Liveflux chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; color: #222; }
  .chat { display: flex; gap: 1.5rem; }
  .people { width: 11rem; }
  .people h2 { font-size: 1rem; margin: 0 0 .5rem; }
  .online { list-style: none; padding: 0; margin: 0; }
  .online li::before { content: "● "; color: #2e9b3a; }
  .online .you { font-weight: 600; }
  .room { flex: 1; }
  /* column-reverse keeps the log scrolled to its newest message. */
  .log { height: 18rem; overflow-y: auto; display: flex; flex-direction: column-reverse; border: 1px solid #ccc; border-radius: .5rem; padding: .5rem; }
  .messages { list-style: none; padding: 0; margin: 0; }
  .msg { padding: .15rem 0; }
  .msg.mine .from { color: #1d5ea8; }
  .empty { color: #888; margin: 0; }
  .messages:not(:empty) + .empty { display: none; }
  .compose { display: flex; gap: .5rem; margin-top: .75rem; align-items: center; }
  .compose label { color: #555; }
  .compose input { flex: 1; font: inherit; padding: .4rem .6rem; border: 1px solid #888; border-radius: .4rem; }
  .compose button { font: inherit; padding: .4rem 1rem; border-radius: .4rem; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
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
<h1>Lobby</h1>
<p>Open this page in another tab (add <code>?name=…</code> to choose a name) and talk to yourself. Connection: <span id="status" role="status"><span class="connecting">connecting…</span><span class="open">connected</span><span class="closed">disconnected</span></span></p>
<section id="chat">{{.Chat}}</section>
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

// newApp returns the chat's endpoint and page handlers, around one room.
func newApp(logger *slog.Logger) (*liveflux.WebSocketHandler, *http.ServeMux) {
	registry := liveflux.NewRegistry()
	if err := room.Register(registry); err != nil {
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
		chat, err := ws.Mount(r, room.Kind, map[string]string{"name": r.URL.Query().Get("name")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{
			"Chat":   chat,
			"Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true}),
		})
	})
	return ws, mux
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	_, mux := newApp(slog.Default())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux chat example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
