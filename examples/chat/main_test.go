package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/examples/chat/room"
	"github.com/go-liveflux/liveflux/internal/wire"
	"github.com/gorilla/websocket"
)

// visitor is a page of the chat: its component, watched over a socket
// that speaks liveflux.v2, as the JS client's does. It keeps what the page
// would show: the last rendering, and the messages streamed to it.
type visitor struct {
	t        *testing.T
	id       string
	ws       *websocket.Conn
	view     wire.View
	held     bool // the page holds a rendering it was sent
	first    string
	messages map[string][]wire.StreamItem
}

// open mounts a chat for name, as the page handler does, and watches it
// over a WebSocket of its own.
func open(t *testing.T, srv *httptest.Server, name string) *visitor {
	t.Helper()
	res, err := http.Get(srv.URL + "/?name=" + url.QueryEscape(name))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`data-flux-component-id="([^"]+)"`).FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("page: %s %s", res.Status, body)
	}
	hdr := http.Header{}
	for _, c := range res.Cookies() {
		hdr.Add("Cookie", c.String())
	}
	d := websocket.Dialer{Subprotocols: []string{liveflux.SubprotocolV2}, HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/liveflux", hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	p := &visitor{t: t, id: string(m[1]), ws: ws, first: string(body), messages: map[string][]wire.StreamItem{}}
	p.send(liveflux.WebSocketMessage{Type: "init", ComponentID: p.id})
	return p
}

func (p *visitor) send(m liveflux.WebSocketMessage) {
	p.t.Helper()
	if err := p.ws.WriteJSON(m); err != nil {
		p.t.Fatal(err)
	}
}

// shows is what the page shows: its rendering and its messages.
func (p *visitor) shows() string {
	var b strings.Builder
	if p.held {
		b.WriteString(p.view.HTML(p.id))
	} else {
		b.WriteString(p.first) // the first paint
	}
	for _, it := range p.messages[room.Stream] {
		b.WriteString(it.HTML)
	}
	return b.String()
}

// await reads the page's frames until it shows all of texts, and returns
// what it shows.
func (p *visitor) await(texts ...string) string {
	p.t.Helper()
	p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, raw, err := p.ws.ReadMessage()
		if err != nil {
			p.t.Fatalf("waiting for %q: %v; the page shows %s", texts, err, p.shows())
		}
		f, err := wire.Parse(raw)
		if err != nil || f.ComponentID != p.id {
			continue
		}
		switch f.Type {
		case liveflux.MessageUpdate:
			u, err := wire.ParseUpdate(f.Data)
			if err != nil {
				p.t.Fatal(err)
			}
			view, outcome, err := wire.Apply(p.view, p.held, p.id, u)
			switch {
			case err != nil:
				p.t.Fatal(err)
			case outcome == wire.NeedsInit:
				p.send(liveflux.WebSocketMessage{Type: "init", ComponentID: p.id})
			case outcome == wire.Applied:
				p.view, p.held = view, true
			}
		case liveflux.MessageStream:
			var d struct {
				Ops json.RawMessage `json:"ops"`
			}
			json.Unmarshal(f.Data, &d)
			ops, err := wire.ParseStreamOps(d.Ops)
			if err != nil {
				p.t.Fatal(err)
			}
			wire.ApplyStreamOps(p.messages, ops)
		}
		all := true
		for _, s := range texts {
			all = all && strings.Contains(p.shows(), s)
		}
		if all {
			return p.shows()
		}
	}
}

// Two visitors: each sees the other online, and the other's messages;
// when one leaves, the other sees it.
func TestRoom(t *testing.T) {
	ws, mux := newApp(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer ws.Close()

	ada := open(t, srv, "Ada")
	ada.await("1 online", "Ada (you)")
	bob := open(t, srv, "Bob")
	bob.await("2 online", "Ada", "Bob (you)")
	ada.await("2 online", "Ada (you)", "Bob")

	data, _ := json.Marshal(map[string]string{"text": "hello <b>Bob</b>"})
	ada.send(liveflux.WebSocketMessage{Type: "action", ComponentID: ada.id, Action: "send", Data: data})
	const shown = `<b class="from">Ada</b> <span class="text">hello &lt;b&gt;Bob&lt;/b&gt;</span>`
	bob.await(shown)
	ada.await(shown)

	// A tab opened later starts with the history.
	cy := open(t, srv, "Cy")
	cy.await(shown, "3 online")

	bob.ws.Close()
	ada.await("2 online", "Ada (you)", "Cy")
}
