package fluxredis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// lobby subscribes to topic "lobby" when mounted, is in its presence list
// as "who" (when given), and shows the messages published there and who is
// online, on every node.
type lobby struct {
	liveflux.Base
	Who    string
	Msgs   []string
	Online []string
}

func (l *lobby) Mount(ctx context.Context, p map[string]string) error {
	l.Who = p["who"]
	if err := liveflux.Subscribe(ctx, "lobby"); err != nil {
		return err
	}
	if l.Who != "" {
		return liveflux.Track(ctx, "lobby", l.Who)
	}
	return nil
}

func (l *lobby) Handle(ctx context.Context, action string, data url.Values) error {
	if action == "say" {
		return liveflux.Publish(ctx, "lobby", data.Get("text"))
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action")
}

func (l *lobby) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	if msg.Presence != nil {
		l.Online = l.Online[:0]
		for _, e := range liveflux.HandlerOf(ctx).Presence("lobby") {
			var who string
			json.Unmarshal(e.Meta, &who)
			l.Online = append(l.Online, who)
		}
		sort.Strings(l.Online)
		return nil
	}
	var text string
	if err := msg.Decode(&text); err != nil {
		return err
	}
	l.Msgs = append(l.Msgs, text)
	return nil
}

func (l *lobby) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "msgs=[%s] online=[%s]", strings.Join(l.Msgs, ","), strings.Join(l.Online, ","))
	return err
}

// lobbyRegistry is newRegistry with the lobby kind.
func lobbyRegistry(t testing.TB) *liveflux.Registry {
	t.Helper()
	r := newRegistry(t, nil)
	if err := r.Register("lobby", func() liveflux.Component { return &lobby{} }); err != nil {
		t.Fatal(err)
	}
	return r
}

// mountLobby mounts a lobby on n as who and returns its ID.
func (n *node) mountLobby(who string) string {
	n.t.Helper()
	status, body := n.post(url.Values{liveflux.FieldKind: {"lobby"}, "who": {who}})
	if status != http.StatusOK {
		n.t.Fatalf("mount: %d %s", status, body)
	}
	return idRE.FindStringSubmatch(body)[1]
}

// expectShowing waits for an update of id whose rendering contains text.
func (c *wsClient) expectShowing(id, text string) serverMsg {
	c.t.Helper()
	return c.expect(fmt.Sprintf("update of %s showing %q", id, text), 10*time.Second, func(m serverMsg) bool {
		return m.Type == liveflux.MessageUpdate && m.ComponentID == id && strings.Contains(m.HTML, text)
	})
}

// A message published on node A reaches the subscribers that node B
// mounted, and their watchers on both nodes.
func TestTopicAcrossNodes(t *testing.T) {
	srv := startRedis(t)
	reg := lobbyRegistry(t)
	a, b := newNode(t, srv.Addr, reg), newNode(t, srv.Addr, reg)
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	onB := b.mountLobby("")
	cb, ca := dial(t, b), dial(t, a)
	cb.send(liveflux.MessageInit, onB, "")
	cb.expectShowing(onB, "msgs=[]")
	ca.send(liveflux.MessageInit, onB, "")
	ca.expectShowing(onB, "msgs=[]")

	if err := a.h.Publish(context.Background(), "lobby", "from A"); err != nil {
		t.Fatal(err)
	}
	cb.expectShowing(onB, "msgs=[from A]")
	ca.expectShowing(onB, "msgs=[from A]")
}

// Presence lists merge the nodes, and the entries of a node that stops
// leave every other node's lists within three presence intervals.
func TestPresenceAcrossNodes(t *testing.T) {
	srv := startRedis(t)
	reg := lobbyRegistry(t)
	const every = 200 * time.Millisecond
	a := newNode(t, srv.Addr, reg, liveflux.WithPresenceInterval(every))
	b := newNode(t, srv.Addr, reg, liveflux.WithPresenceInterval(every))
	waitFor(t, "both backplanes to subscribe", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })
	ann, bob := a.mountLobby("ann"), b.mountLobby("bob")
	ca, cb := dial(t, a), dial(t, b)
	ca.send(liveflux.MessageInit, ann, "")
	ca.expectShowing(ann, "online=[ann]")
	cb.send(liveflux.MessageInit, bob, "")
	ca.expectShowing(ann, "online=[ann,bob]")
	cb.expectShowing(bob, "online=[ann,bob]")
	for _, n := range []*node{a, b} {
		if got := n.h.Presence("lobby"); len(got) != 2 || got[0].Node == got[1].Node {
			t.Fatalf("presence on one node: %+v", got)
		}
	}

	// Node B stops without a word (its handler closes, so it publishes
	// nothing more): node A drops bob after three silent intervals.
	stopped := time.Now()
	b.Close()
	ca.expectShowing(ann, "online=[ann]")
	took := time.Since(stopped)
	t.Logf("a stopped node's presence left the other node's lists after %v (interval %v)", took.Round(10*time.Millisecond), every)
	if took > 6*every+time.Second {
		t.Fatalf("took %v, want about 3 intervals (%v)", took, 3*every)
	}
	if got := a.h.Presence("lobby"); len(got) != 1 {
		t.Fatalf("presence after node B stopped: %+v", got)
	}
}
