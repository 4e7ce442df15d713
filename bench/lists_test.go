package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/examples/chat/room"
	"github.com/gorilla/websocket"
)

// keeper is the chat example's component as it was before streams: it
// keeps the last 50 messages it shows, and renders them every time.
type keeper struct {
	liveflux.Base
	Name   string
	Msgs   []room.Message
	Online []room.Online
}

type keeperMember struct {
	Name string `json:"name"`
}

func (k *keeper) Mount(ctx context.Context, p map[string]string) error {
	k.Name = p["name"]
	if err := liveflux.Subscribe(ctx, room.Topic); err != nil {
		return err
	}
	return liveflux.Track(ctx, room.Topic, keeperMember{k.Name})
}

func (k *keeper) Handle(context.Context, string, url.Values) error { return nil }

func (k *keeper) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	if msg.Presence != nil || msg.Missed > 0 {
		present, err := liveflux.PresenceOf[keeperMember](liveflux.HandlerOf(ctx), room.Topic)
		if err != nil {
			return err
		}
		k.Online = make([]room.Online, len(present))
		for i, p := range present {
			k.Online[i] = room.Online{Name: p.Meta.Name, You: p.ID == k.GetID()}
		}
		return nil
	}
	var m room.Message
	if err := msg.Decode(&m); err != nil {
		return err
	}
	msgs := append(k.Msgs[max(len(k.Msgs)-49, 0):len(k.Msgs):len(k.Msgs)], m) // a new slice: a failed call keeps the old
	k.Msgs = msgs
	return nil
}

func (k *keeper) Render(_ context.Context, w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="chat"><h2 class="online-count">%d online</h2><ol class="messages">`, len(k.Online))
	for _, m := range k.Msgs {
		mine := ""
		if m.From == k.Name {
			mine = " mine"
		}
		fmt.Fprintf(&b, `<li class="msg%s" title="%s"><b class="from">%s</b> <span class="text">%s</span></li>`,
			mine, m.At.Format("15:04"), html.EscapeString(m.From), html.EscapeString(m.Text))
	}
	b.WriteString(`</ol><form class="compose" data-flux-action="send"><input name="text" value=""><button>Send</button></form></div>`)
	_, err := io.WriteString(w, b.String())
	return err
}

// chatRoom is a room of n sessions of kind, each watched by a client over
// a WebSocket of its own (liveflux.v2, as the JS client), that reads and
// forgets what it is sent.
type chatRoom struct {
	store   *liveflux.MemoryStore
	h       *liveflux.WebSocketHandler
	srv     *httptest.Server
	ids     []string
	clients []*websocket.Conn
	last    []atomic.Int64 // the number of the last message each client saw
}

func openRoom(b *testing.B, kind string, n int) *chatRoom {
	r := &chatRoom{store: liveflux.NewMemoryStore(), last: make([]atomic.Int64, n)}
	reg := liveflux.NewRegistry()
	if err := room.Register(reg); err != nil {
		b.Fatal(err)
	}
	if err := reg.Register("keeper", func() liveflux.Component { return &keeper{} }); err != nil {
		b.Fatal(err)
	}
	r.h = liveflux.NewWebSocketHandler(r.store, liveflux.WithRegistry(reg), liveflux.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	r.srv = httptest.NewServer(r.h)
	d := websocket.Dialer{Subprotocols: []string{liveflux.SubprotocolV2}, HandshakeTimeout: 10 * time.Second}
	for i := range n {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		id, _, err := r.h.MountID(req, kind, map[string]string{"name": fmt.Sprint("member ", i)})
		if err != nil {
			b.Fatal(err)
		}
		ws, _, err := d.Dial("ws"+strings.TrimPrefix(r.srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		ws.WriteJSON(map[string]string{"type": liveflux.MessageInit, "componentID": id})
		r.ids, r.clients = append(r.ids, id), append(r.clients, ws)
		go func(last *atomic.Int64) {
			for {
				_, msg, err := ws.ReadMessage()
				if err != nil {
					return
				}
				// Messages are numbered "m<N>." in their text.
				for _, m := range numbered.FindAllSubmatch(msg, -1) {
					seq, _ := strconv.ParseInt(string(m[1]), 10, 64)
					last.Store(max(last.Load(), seq))
				}
			}
		}(&r.last[i])
	}
	return r
}

func (r *chatRoom) close() {
	for _, c := range r.clients {
		c.Close()
	}
	r.h.Close()
	r.srv.Close()
}

// numbered finds the numbers of the messages in a frame.
var numbered = regexp.MustCompile(`m(\d+)\. Lorem`)

// heap is the live heap after a collection.
func heap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkChatMemory measures what a chat session holds after 10,000
// messages: 100 sessions of a chat, each watched over a WebSocket, and
// 10,000 messages published to their room. For the chat example, whose
// messages are streamed (the page keeps them), and for the component it
// replaced, which kept its last 50 messages and rendered them each time.
// Reported per session: the instance's bytes as MemoryStore counts them
// (B/instance) and encoded as a store outside the process keeps them
// (B/instance-json), and how much the process's live heap grew with the
// messages (B-heap/session: the instance, and the last rendering its
// watchers hold, which diffs are made against).
//
//	cd bench && go test -run '^$' -bench BenchmarkChatMemory -benchtime 1x
func BenchmarkChatMemory(b *testing.B) {
	const sessions, messages = 100, 10_000
	for _, kind := range []string{"keeper", room.Kind} {
		name := map[string]string{"keeper": "keeps 50 messages", room.Kind: "streams (the example)"}[kind]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r := openRoom(b, kind, sessions)
				time.Sleep(500 * time.Millisecond) // the joins settle
				before := heap()
				at := time.Now()
				for i := 1; i <= messages; i++ {
					m := room.Message{Seq: int64(i), From: "member 1", Text: fmt.Sprintf("m%d. Lorem ipsum dolor sit amet, consectetur.", i), At: at}
					if err := r.h.Publish(context.Background(), room.Topic, m); err != nil {
						b.Fatal(err)
					}
				}
				deadline := time.Now().Add(2 * time.Minute)
				for i := range r.last {
					for r.last[i].Load() < messages {
						if time.Now().After(deadline) {
							b.Fatalf("session %d saw message %d of %d after 2 minutes", i, r.last[i].Load(), messages)
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				grown := heap() - before
				var enc int
				for _, id := range r.ids {
					c, err := r.store.Get(context.Background(), id)
					if err != nil {
						b.Fatal(err)
					}
					j, _ := json.Marshal(c)
					enc += len(j)
				}
				b.ReportMetric(float64(r.store.Bytes())/sessions, "B/instance")
				b.ReportMetric(float64(enc)/sessions, "B/instance-json")
				b.ReportMetric(float64(grown)/sessions, "B-heap/session")
				r.close()
			}
		})
	}
}
