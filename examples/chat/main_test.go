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
	"github.com/gorilla/websocket"
)

// visitor is a page of the chat: its component, watched over a socket.
type visitor struct {
	t  *testing.T
	id string
	ws *websocket.Conn
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
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/liveflux", hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	p := &visitor{t: t, id: string(m[1]), ws: ws}
	p.send(liveflux.WebSocketMessage{Type: "init", ComponentID: p.id})
	return p
}

func (p *visitor) send(m liveflux.WebSocketMessage) {
	p.t.Helper()
	if err := p.ws.WriteJSON(m); err != nil {
		p.t.Fatal(err)
	}
}

// await reads the page's frames until its component is rendered with all
// of texts, and returns that rendering.
func (p *visitor) await(texts ...string) string {
	p.t.Helper()
	p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m struct {
			Type        string `json:"type"`
			ComponentID string `json:"componentID"`
			Data        struct {
				HTML string `json:"html"`
			} `json:"data"`
		}
		if err := p.ws.ReadJSON(&m); err != nil {
			p.t.Fatalf("waiting for %q: %v", texts, err)
		}
		if m.Type != "update" || m.ComponentID != p.id {
			continue
		}
		all := true
		for _, s := range texts {
			all = all && strings.Contains(m.Data.HTML, s)
		}
		if all {
			return m.Data.HTML
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
