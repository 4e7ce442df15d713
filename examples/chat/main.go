// Command chat serves a chat room: every tab that opens the page joins it,
// sees the messages as they are sent, and who is online. A message goes
// with Enter or the Send button; what another tab is half-way through
// typing is never disturbed by the messages that arrive meanwhile.
//
// Each tab's chat component subscribes to the room's topic and is tracked
// in its presence list under the visitor's name (?name=Ada, or a guest
// name). Sending publishes the message to the topic; joining and leaving
// (closing the tab, or losing the connection) publish presence changes to
// it. No JavaScript of its own.
//
//	go run ./examples/chat -addr 127.0.0.1:8080
//	open http://127.0.0.1:8080/?name=Ada in one tab, ?name=Bob in another
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
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
	"unicode/utf8"

	"github.com/go-liveflux/liveflux"
)

const (
	// roomTopic is the room's topic: its messages and its presence list.
	roomTopic = "chat:lobby"
	// historySize is how many messages the room keeps, and shows.
	historySize = 50
	// maxText and maxName bound what one visitor may send and be called,
	// in characters.
	maxText = 500
	maxName = 24
)

// Message is one message of the room.
type Message struct {
	Seq  int64     `json:"seq"` // its place in the room, from 1
	From string    `json:"from"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// roomLog keeps the room's last historySize messages, and numbers them.
//
// The history lives here, once for the room, rather than only in each
// component: a tab opened later starts with the recent conversation, and
// the memory the room holds does not grow with the number of tabs or of
// messages. Each component keeps a copy of what it shows (at most
// historySize messages too), so that rendering needs no lock. The room
// also numbers the messages, under its lock: two messages sent at once may
// reach two components in different orders, and the numbers put them back
// in one order everywhere.
type roomLog struct {
	mu   sync.Mutex
	seq  int64
	msgs []Message
}

// add numbers a new message and keeps it.
func (l *roomLog) add(from, text string, at time.Time) Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	m := Message{Seq: l.seq, From: from, Text: text, At: at}
	l.msgs = appendBounded(l.msgs, m)
	return m
}

// recent returns a copy of the messages kept.
func (l *roomLog) recent() []Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Message(nil), l.msgs...)
}

// appendBounded returns msgs with m added, sorted by Seq, once, keeping
// the last historySize. It leaves msgs as they were: the store puts back
// an instance's fields when its action fails, and a slice changed in place
// would not be put back.
func appendBounded(msgs []Message, m Message) []Message {
	i := len(msgs)
	for i > 0 && msgs[i-1].Seq >= m.Seq {
		if msgs[i-1].Seq == m.Seq {
			return msgs // known already
		}
		i--
	}
	out := make([]Message, 0, min(len(msgs)+1, historySize))
	start := max(len(msgs)+1-historySize, 0)
	for j := start; j < len(msgs)+1; j++ {
		switch {
		case j < i:
			out = append(out, msgs[j])
		case j == i:
			out = append(out, m)
		default:
			out = append(out, msgs[j-1])
		}
	}
	return out
}

// member is what the presence list says of a visitor.
type member struct {
	Name string `json:"name"`
}

// Online is one entry of the presence list, as the component shows it.
type Online struct {
	Name string
	You  bool // this tab
}

// Chat is one tab's view of the room.
type Chat struct {
	liveflux.Base
	Name   string
	Msgs   []Message
	Online []Online
	room   *roomLog
}

func (c *Chat) Mount(ctx context.Context, params map[string]string) error {
	// The parameters come from the page, or from any client that mounts
	// a chat itself: the name is cleaned here.
	c.Name = visitorName(params["name"])
	// Subscribe before reading the history: a message sent in between is
	// then both read and received (appendBounded keeps it once), never
	// missed.
	if err := liveflux.Subscribe(ctx, roomTopic); err != nil {
		return err
	}
	// In the presence list while a tab watches this component: from when
	// its page connects until it closes.
	if err := liveflux.Track(ctx, roomTopic, member{Name: c.Name}); err != nil {
		return err
	}
	c.Msgs = c.room.recent()
	c.setOnline(liveflux.HandlerOf(ctx))
	return nil
}

func (c *Chat) Handle(ctx context.Context, action string, data url.Values) error {
	if action != "send" {
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	text := strings.TrimSpace(data.Get("text"))
	if text == "" {
		return nil
	}
	if utf8.RuneCountInString(text) > maxText {
		return liveflux.NewError(http.StatusBadRequest, fmt.Sprintf("a message has at most %d characters", maxText))
	}
	m := c.room.add(c.Name, text, time.Now())
	// The sender sees its message in the answer to its action (which also
	// empties its text box); the others get it through the topic.
	c.Msgs = appendBounded(c.Msgs, m)
	return liveflux.Publish(ctx, roomTopic, m)
}

func (c *Chat) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	if msg.Presence != nil { // someone joined or left
		c.setOnline(liveflux.HandlerOf(ctx))
		return nil
	}
	var m Message
	if err := msg.Decode(&m); err != nil {
		return err
	}
	c.Msgs = appendBounded(c.Msgs, m)
	return nil
}

// setOnline reads who is online from the room's presence list.
func (c *Chat) setOnline(h *liveflux.Handler) {
	entries := h.Presence(roomTopic)
	c.Online = make([]Online, 0, len(entries))
	for _, e := range entries {
		var m member
		if json.Unmarshal(e.Meta, &m) == nil {
			c.Online = append(c.Online, Online{Name: m.Name, You: e.ID == c.GetID()})
		}
	}
}

// The text box keeps its name and id through every rendering, and is
// always rendered empty: the client keeps what the user is typing in it
// through updates, and empties it once its message is sent.
var chatView = template.Must(template.New("chat").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04") },
}).Parse(`
<div class="chat">
  <aside class="people">
    <h2 class="online-count">{{len .Online}} online</h2>
    <ul class="online">{{range .Online}}
      <li{{if .You}} class="you"{{end}}>{{.Name}}{{if .You}} (you){{end}}</li>{{end}}
    </ul>
  </aside>
  <div class="room">
    <div class="log" role="log" aria-live="polite"><ol class="messages">{{range .Msgs}}
      <li class="msg{{if eq .From $.Name}} mine{{end}}" data-seq="{{.Seq}}" title="{{clock .At}}"><b class="from">{{.From}}</b> <span class="text">{{.Text}}</span></li>{{else}}
      <li class="empty">No messages yet. Say hello!</li>{{end}}
    </ol></div>
    <form class="compose" data-flux-action="send">
      <label for="{{.GetID}}-text">{{.Name}}</label>
      <input id="{{.GetID}}-text" name="text" value="" autocomplete="off" maxlength="500" placeholder="Write a message…">
      <button type="submit">Send</button>
    </form>
  </div>
</div>`))

func (c *Chat) Render(ctx context.Context, w io.Writer) error {
	return chatView.Execute(w, c)
}

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
  .empty { color: #888; }
  .compose { display: flex; gap: .5rem; margin-top: .75rem; align-items: center; }
  .compose label { color: #555; }
  .compose input { flex: 1; font: inherit; padding: .4rem .6rem; border: 1px solid #888; border-radius: .4rem; }
  .compose button { font: inherit; padding: .4rem 1rem; border-radius: .4rem; border: 1px solid #888; background: #f4f4f4; cursor: pointer; }
  #status { display: inline-block; padding: .1rem .6rem; border-radius: 1rem; background: #eee; }
  #status.connected { background: #d8f5d0; color: #1d5e12; }
  #status.disconnected { background: #fbe0e0; color: #8a1c1c; }
</style>
</head>
<body>
<h1>Lobby</h1>
<p>Open this page in another tab (add <code>?name=…</code> to choose a name) and talk to yourself. Connection: <span id="status" role="status">connecting…</span></p>
<section id="chat">{{.Chat}}</section>
<script>
  const status = document.getElementById("status");
  const show = (text) => { status.textContent = text; status.className = text; };
  document.addEventListener("liveflux:connected", () => show("connected"));
  document.addEventListener("liveflux:disconnected", () => show("disconnected"));
</script>
{{.Script}}
</body>
</html>`))

// visitorName returns name with its blanks collapsed, cut to maxName
// characters; a guest name when that leaves nothing.
func visitorName(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if utf8.RuneCountInString(name) > maxName {
		name = strings.TrimSpace(string([]rune(name)[:maxName]))
	}
	if name == "" {
		name = "guest-" + strings.ToLower(rand.Text()[:4])
	}
	return name
}

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
	room := &roomLog{}
	registry := liveflux.NewRegistry()
	if err := registry.Register("chat", func() liveflux.Component { return &Chat{room: room} }); err != nil {
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
		chat, err := ws.Mount(r, "chat", map[string]string{"name": r.URL.Query().Get("name")})
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
