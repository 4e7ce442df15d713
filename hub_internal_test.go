package liveflux

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// recorder is a peer of a transport of the test's own: it keeps every
// message it is sent.
type recorder struct {
	h    *WebSocketHandler
	mu   sync.Mutex
	msgs []string
}

func (p *recorder) send(f frame, _ bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, string(f.data))
}
func (p *recorder) speaks() updateKind { return fullUpdates }

// watch makes p a watcher of the instances it acts on (watcher).
func (p *recorder) watch(c Component) error {
	if !p.h.hub.watch(p, c) {
		return fmt.Errorf("too many")
	}
	return nil
}

func (p *recorder) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.msgs...)
}

// tick counts its actions.
type tick struct {
	Base
	N int
}

func (t *tick) Mount(context.Context, map[string]string) error   { return nil }
func (t *tick) Handle(context.Context, string, url.Values) error { t.N++; return nil }
func (t *tick) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "n=%d", t.N)
	return err
}

// The hub and the updates reach clients only through the peer interface:
// a transport that is not a WebSocket plugs in by implementing it.
func TestPeerOfAnotherTransport(t *testing.T) {
	reg := NewRegistry()
	if err := reg.Register("tick", func() Component { return &tick{} }); err != nil {
		t.Fatal(err)
	}
	h := NewWebSocketHandler(nil, WithRegistry(reg), WithLogger(slog.New(slog.DiscardHandler)))
	defer h.Close()
	id, _, err := h.MountID(httptest.NewRequest("GET", "/", nil), "tick", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &recorder{h: h}
	ctx := context.Background()
	// It watches by acting, as a WebSocket connection's init does.
	if _, err := h.act(ctx, actRequest{id: id, action: "inc", watcher: p}); err != nil {
		t.Fatal(err)
	}
	if err := h.Refresh(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.Broadcast(id, map[string]string{"type": "note"}); err != nil {
		t.Fatal(err)
	}
	got := p.got()
	if len(got) != 2 || !strings.Contains(got[0], `n=1`) || got[1] != `{"type":"note"}` {
		t.Fatalf("the peer was sent %q, want the refreshed rendering and the note", got)
	}
	h.hub.forget(p)
	if err := h.Broadcast(id, map[string]string{"type": "late"}); err != nil {
		t.Fatal(err)
	}
	if n := len(p.got()); n != 2 {
		t.Fatalf("a forgotten peer was sent %d more messages", n-2)
	}
}
