// Package room is the chat example's component: one tab's view of the
// room, with its messages and who is online. The messages are streamed:
// each is rendered once and sent to the page, which keeps the last ones;
// the component keeps none. The example's server (the
// package above) registers it and serves its page; the load program
// (bench/) mounts a thousand of it.
package room

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-liveflux/liveflux"
)

// Register registers kind "chat" in r: the tabs of one room.
func Register(r *liveflux.Registry) error {
	log := &roomLog{}
	return r.Register(Kind, func() liveflux.Component { return &Chat{room: log} })
}

// Kind is the kind Register registers.
const Kind = "chat"

const (
	// Topic is the room's topic: its messages and its presence list.
	Topic = "chat:lobby"
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
// The history lives here, once for the room: a tab opened later, or one
// that reconnects, starts with the recent conversation, and the memory the
// room holds does not grow with the number of tabs or of messages. The
// components keep none of it: they stream each message to their page as
// it arrives, and the page keeps the last historySize.
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

// Chat is one tab's view of the room. Its messages are in the page only
// (the stream "messages"): the instance holds the visitor's name and who
// is online, a few hundred bytes however long the conversation.
type Chat struct {
	liveflux.Base
	Name   string
	Online []Online
	room   *roomLog
}

// Stream is the name of the stream of messages.
const Stream = "messages"

func (c *Chat) Mount(ctx context.Context, params map[string]string) error {
	// The parameters come from the page, or from any client that mounts
	// a chat itself: the name is cleaned here.
	c.Name = visitorName(params["name"])
	// Subscribe before reading the history: a message sent in between is
	// then both read and received (streamed twice under one key: the page
	// shows it once), never missed.
	if err := liveflux.Subscribe(ctx, Topic); err != nil {
		return err
	}
	// In the presence list while a tab watches this component: from when
	// its page connects until it closes.
	if err := liveflux.Track(ctx, Topic, member{Name: c.Name}); err != nil {
		return err
	}
	// The recent messages go in the first rendering.
	if err := c.streamRecent(ctx, false); err != nil {
		return err
	}
	return c.setOnline(liveflux.HandlerOf(ctx))
}

// Streams gives a page that connects (or reconnects, having maybe missed
// messages) the recent messages in place of what it shows.
func (c *Chat) Streams(ctx context.Context) error { return c.streamRecent(ctx, true) }

// streamRecent streams the room's recent messages, after a reset of the
// page's list when reset is set.
func (c *Chat) streamRecent(ctx context.Context, reset bool) error {
	if reset {
		if err := liveflux.StreamReset(ctx, Stream); err != nil {
			return err
		}
	}
	for _, m := range c.room.recent() {
		if err := c.stream(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// stream sends m to the page, which keeps the last historySize messages.
func (c *Chat) stream(ctx context.Context, m Message) error {
	item := liveflux.RenderFunc(func(_ context.Context, w io.Writer) error {
		return messageView.Execute(w, shownMessage{m, m.From == c.Name})
	})
	if err := liveflux.StreamAppend(ctx, Stream, strconv.FormatInt(m.Seq, 10), item); err != nil {
		return err
	}
	return liveflux.StreamLimit(ctx, Stream, -historySize)
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
	// The sender sees its message with the answer to its action (which
	// also empties its text box); the others get it through the topic
	// (this component too: the page keeps it once, by its key).
	if err := c.stream(ctx, m); err != nil {
		return err
	}
	return liveflux.Publish(ctx, Topic, m)
}

func (c *Chat) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	switch {
	case msg.Missed > 0: // it fell behind: what it shows is reloaded
		if err := c.streamRecent(ctx, true); err != nil {
			return err
		}
		return c.setOnline(liveflux.HandlerOf(ctx))
	case msg.Presence != nil: // someone joined or left
		return c.setOnline(liveflux.HandlerOf(ctx))
	}
	var m Message
	if err := msg.Decode(&m); err != nil {
		return err
	}
	return c.stream(ctx, m)
}

// setOnline reads who is online from the room's presence list. Every tab
// does so after each join and leave: PresenceOf decodes the list once per
// change for all of them.
func (c *Chat) setOnline(h *liveflux.Handler) error {
	present, err := liveflux.PresenceOf[member](h, Topic)
	if err != nil {
		return err
	}
	c.Online = make([]Online, len(present))
	for i, p := range present {
		c.Online[i] = Online{Name: p.Meta.Name, You: p.ID == c.GetID()}
	}
	return nil
}

// OnlineList is the list of who is online, as HTML. It is written here
// rather than with a range in the template: with a thousand people online,
// each of them rendering the list after every join, the template's
// reflection on each item would be most of the server's work.
func (c *Chat) OnlineList() template.HTML {
	var b strings.Builder
	b.Grow(len(c.Online) * 40)
	for _, o := range c.Online {
		if o.You {
			b.WriteString("\n      <li class=\"you\">")
		} else {
			b.WriteString("\n      <li>")
		}
		b.WriteString(html.EscapeString(o.Name))
		if o.You {
			b.WriteString(" (you)")
		}
		b.WriteString("</li>")
	}
	return template.HTML(b.String())
}

// shownMessage is a message as one tab shows it.
type shownMessage struct {
	Message
	Mine bool
}

// messageView is one message: an item of the stream.
var messageView = template.Must(template.New("msg").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04") },
}).Parse(`<li class="msg{{if .Mine}} mine{{end}}" title="{{clock .At}}"><b class="from">{{.From}}</b> <span class="text">{{.Text}}</span></li>`))

// The text box keeps its name and id through every rendering, and is
// always rendered empty: the client keeps what the user is typing in it
// through updates, and empties it once its message is sent. The list of
// messages is the stream's container, rendered empty: the page keeps its
// items; the placeholder after it shows while it is empty (CSS).
var chatView = template.Must(template.New("chat").Parse(`
<div class="chat">
  <aside class="people">
    <h2 class="online-count">{{len .Online}} online</h2>
    <ul class="online">{{.OnlineList}}
    </ul>
  </aside>
  <div class="room">
    <div class="log" role="log" aria-live="polite"><div><ol class="messages" data-flux-stream="messages"></ol><p class="empty">No messages yet. Say hello!</p></div></div>
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
