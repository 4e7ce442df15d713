package fluxtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
	"github.com/gorilla/websocket"
)

// Message is one frame the server sent a client, as received.
type Message struct {
	// The envelope's fields, when the frame has them.
	Type        string
	ComponentID string
	Action      string
	Data        json.RawMessage
	// Code and Text are an error message's code and message.
	Code int
	Text string
	// Raw is the frame as received.
	Raw json.RawMessage
}

// Decode decodes the frame into v.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Raw, v) }

// socket is a page's one WebSocket.
type socket struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	watched map[string]bool // guarded by state.mu
	done    chan struct{}   // closed when the reader ended
}

// markerPrefix starts the IDs the client syncs with: it sends init for
// such an ID, which no instance has, and the server answers with an error
// after everything it sent before.
const markerPrefix = "fluxtest.sync."

// connect opens the page's socket (js/socket.js connect) and sends init
// for every component shown.
func (c *Client) connect() {
	u, err := url.Parse(c.wsURL)
	if c.wsURL == "" {
		u, err = url.Parse(c.endpoint)
	}
	if err != nil {
		c.sockErr = err
		return
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	q := u.Query()
	for k, v := range c.headers {
		q.Add(k, v)
	}
	u.RawQuery = q.Encode()
	d := websocket.Dialer{Jar: c.jar, HandshakeTimeout: c.cfg.timeout}
	if !c.cfg.noDiffs {
		d.Subprotocols = []string{liveflux.SubprotocolV2, liveflux.SubprotocolDiff}
	}
	h := http.Header{"Origin": {c.origin()}}
	ws, res, err := d.Dial(u.String(), h)
	if err != nil {
		if res != nil {
			err = fmt.Errorf("%w (%s)", err, res.Status)
		}
		c.mu.Lock()
		c.sockErr = err
		c.mu.Unlock()
		return // actions go over HTTP, as the JS client's do
	}
	s := &socket{ws: ws, watched: map[string]bool{}, done: make(chan struct{})}
	c.mu.Lock()
	c.sock, c.sockErr = s, nil
	c.wsSync()
	c.mu.Unlock()
	go c.read(s)
}

// read receives frames until the socket closes.
func (c *Client) read(s *socket) {
	defer close(s.done)
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			if c.sock == s {
				c.sock = nil
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.sockErr = ce
				} else {
					c.sockErr = err
				}
			}
			c.signal()
			c.mu.Unlock()
			return
		}
		c.receive(s, data)
	}
}

// receive handles a frame as js/socket.js receive does.
func (c *Client) receive(s *socket, raw []byte) {
	var m struct {
		Type        string          `json:"type"`
		ComponentID string          `json:"componentID"`
		Action      string          `json:"action"`
		Data        json.RawMessage `json:"data"`
		Code        int             `json:"code"`
		Message     string          `json:"message"`
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.signal()
	if err := json.Unmarshal(raw, &m); err != nil {
		c.problems = append(c.problems, fmt.Sprintf("the server sent a frame that is not JSON: %.200q", raw))
		return
	}
	if m.Type == liveflux.MessageError && strings.HasPrefix(m.ComponentID, markerPrefix) {
		if n, err := strconv.ParseInt(strings.TrimPrefix(m.ComponentID, markerPrefix), 10, 64); err == nil && n > c.seenMark {
			c.seenMark = n
		}
		return
	}
	c.frames = append(c.frames, Message{Type: m.Type, ComponentID: m.ComponentID, Action: m.Action, Data: m.Data, Code: m.Code, Text: m.Message, Raw: append(json.RawMessage(nil), raw...)})
	id, v := m.ComponentID, c.views[m.ComponentID]
	switch m.Type {
	case liveflux.MessageUpdate:
		u, err := wire.ParseUpdate(m.Data)
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("an update with malformed data (%v): %.200q", err, raw))
			return
		}
		var own *ownValue
		if v != nil {
			own, v.own = v.own, nil
		}
		if !u.IsDiff() {
			delete(c.awaiting, id)
			c.apply(id, *u.HTML, own)
			return
		}
		root := c.findRoot(id)
		if root == nil || v == nil || u.Rev <= v.rev {
			return // stale
		}
		body, fits := u.ApplyTo(v.body)
		if u.Base != v.rev || !fits { // missed one: ask for the full rendering
			c.awaiting[id] = true
			c.write(s, map[string]string{"type": liveflux.MessageInit, "componentID": id})
			return
		}
		c.apply(id, wire.RootHTML(v.kind, id, u.Rev, body), own)
	case liveflux.MessageStream:
		var d struct {
			Ops json.RawMessage `json:"ops"`
		}
		var ops []wire.StreamOp
		err := json.Unmarshal(m.Data, &d)
		if err == nil {
			ops, err = wire.ParseStreamOps(d.Ops)
		}
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("a stream frame with malformed data (%v): %.200q", err, raw))
			return
		}
		c.applyStreams(id, ops)
	case liveflux.MessageRedirect:
		var d struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(m.Data, &d) == nil && d.URL != "" {
			c.navigate(d.URL)
		}
	case liveflux.MessageError:
		delete(c.awaiting, id)
		c.lostQ = append(c.lostQ, lostInstance{id: id, status: m.Code, message: m.Message})
	case liveflux.MessagePatch:
		if p := decodePatch(m.Data); p != nil {
			c.patchQ = append(c.patchQ, p)
		}
	}
}

// write sends msg on s. Writes are serialized by s.writeMu; a failure
// shows as the socket closing.
func (c *Client) write(s *socket, msg any) {
	data, _ := json.Marshal(msg)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.ws.WriteMessage(websocket.TextMessage, data)
}

// wsSync sends init for new roots and leave for those gone
// (js/socket.js wsSync). c.mu is held.
func (c *Client) wsSync() {
	s := c.sock
	if s == nil {
		return
	}
	ids := map[string]bool{}
	for _, r := range queryAll(c.page.doc, selRoot) {
		ids[attrOr(r, attrID, "")] = true
	}
	for _, r := range queryAll(c.page.doc, selRoot) {
		id := attrOr(r, attrID, "")
		if !s.watched[id] {
			s.watched[id] = true
			c.awaiting[id] = true
			c.write(s, map[string]string{"type": liveflux.MessageInit, "componentID": id})
			if v := c.views[id]; v != nil && v.url {
				c.write(s, c.urlMessage(id))
			}
		}
	}
	for id := range s.watched {
		if !ids[id] {
			delete(s.watched, id)
			c.write(s, map[string]string{"type": liveflux.MessageLeave, "componentID": id})
		}
	}
}

// sync waits until everything the server sent this page before now has
// been received: messages of one connection are handled in order, so the
// answer to a marker sent now comes after them. Without a socket there is
// nothing to wait for.
func (c *Client) sync() {
	c.t.Helper()
	c.mu.Lock()
	s := c.sock
	if s == nil {
		c.mu.Unlock()
		return
	}
	c.sentMark++
	n := c.sentMark
	c.mu.Unlock()
	c.write(s, map[string]string{"type": liveflux.MessageInit, "componentID": markerPrefix + strconv.FormatInt(n, 10)})
	if !c.waitUntil(func() bool { return c.seenMark >= n || c.sock != s }) {
		c.fatalf(nil, "the server did not answer within %v", c.cfg.timeout)
	}
}

// Connected reports whether the page's socket is open.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sock != nil
}

// Drop cuts the page's socket as a network failure would: no close
// handshake. Until Reconnect, the page's actions go over HTTP, as the JS
// client's do while its socket is closed.
func (c *Client) Drop() {
	c.t.Helper()
	c.mu.Lock()
	s := c.sock
	c.sock = nil
	c.signal()
	c.mu.Unlock()
	if s == nil {
		c.fatalf(nil, "drop: the page has no open socket")
	}
	s.ws.NetConn().Close()
	<-s.done
}

// Reconnect opens the page's socket again, as the JS client does after a
// close: it sends init for every component shown and so receives a fresh
// rendering of each, and re-mounts those the server lost.
func (c *Client) Reconnect() {
	c.t.Helper()
	c.close()
	c.connect()
	c.mu.Lock()
	err := c.sockErr
	c.mu.Unlock()
	if err != nil {
		c.fatalf(nil, "reconnect: %v", err)
	}
	c.settle()
}

// SocketError returns why the page's socket is not open (the close frame's
// code and reason, a refused handshake), or nil.
func (c *Client) SocketError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sock != nil {
		return nil
	}
	return c.sockErr
}

// Messages returns every frame the page's sockets received, in order.
func (c *Client) Messages() []Message {
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.frames...)
}

// WaitMessage waits for a frame for which match returns true, received
// before or after the call, and returns it; what names the frame in the
// failure message.
func (c *Client) WaitMessage(what string, match func(Message) bool) Message {
	c.t.Helper()
	var got Message
	ok := c.waitUntil(func() bool {
		for _, m := range c.frames {
			if match(m) {
				got = m
				return true
			}
		}
		return false
	})
	if !ok {
		c.fatalf(nil, "no %s within %v; received:\n%s", what, c.cfg.timeout, c.framesText())
	}
	return got
}

// AssertReceived fails the test unless the page received a frame equal,
// as JSON, to payload (a Broadcast payload, a HandleWS reply).
func (c *Client) AssertReceived(payload any) {
	c.t.Helper()
	want, err := json.Marshal(payload)
	if err != nil {
		c.fatalf(nil, "AssertReceived: %v", err)
	}
	var w any
	json.Unmarshal(want, &w)
	c.settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.frames {
		var g any
		if json.Unmarshal(m.Raw, &g) == nil && reflect.DeepEqual(g, w) {
			return
		}
	}
	c.errorf(nil, "the page did not receive %s; it received:\n%s", want, c.framesTextLocked())
}

func (c *Client) framesText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.framesTextLocked()
}

func (c *Client) framesTextLocked() string {
	if len(c.frames) == 0 {
		return "\t(nothing)"
	}
	var b strings.Builder
	for _, m := range c.frames {
		fmt.Fprintf(&b, "\t%.300s\n", m.Raw)
	}
	return b.String()
}
