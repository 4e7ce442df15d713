package fluxtest_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// Two tabs watch one instance: one acts, the other is sent the update and
// applies it (as a diff against what it holds).
func TestTabsWatchOneInstance(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	a := srv.Client(t)
	v1 := a.Mount("counter", nil)
	v2 := a.NewTab().Watch(v1)
	v3 := srv.Client(t).Watch(v1) // another browser: no session binding here
	v1.Click("button[data-flux-action=inc]")
	v1.Click("button[data-flux-action=inc]")
	v2.AssertText(".count", "2")
	v3.AssertText(".count", "2")
	v2.Click("button[data-flux-action=dec]")
	v1.AssertText(".count", "1")
	v3.AssertText(".count", "1")
}

// A dropped connection: actions go over HTTP meanwhile, updates are
// missed; on reconnect the page catches up.
func TestDropAndReconnect(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	v1 := srv.Client(t).Mount("counter", nil)
	tab := srv.Client(t)
	v2 := tab.Watch(v1)
	tab.Drop()
	if tab.Connected() {
		t.Fatal("still connected after Drop")
	}
	v1.Click("button[data-flux-action=inc]")
	v1.Click("button[data-flux-action=inc]")
	v2.AssertText(".count", "0") // missed while away
	if out := v2.Click("button[data-flux-action=inc]"); out.Transport != "http" {
		t.Errorf("an action while the socket is closed went over %s", out.Transport)
	}
	v2.AssertText(".count", "3")
	tab.Reconnect()
	v1.Click("button[data-flux-action=inc]")
	v2.AssertText(".count", "4")
}

// The server closes every connection (Shutdown): the client knows.
func TestServerCloses(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	c := srv.Client(t)
	v := c.Mount("counter", nil)
	srv.Handler.Close()
	v.WaitFor("the socket to close", func(*fluxtest.View) bool { return !c.Connected() })
	if err := c.SocketError(); err == nil {
		t.Error("no reason for the closed socket")
	}
	if out := v.Click("button[data-flux-action=inc]"); out.Transport != "http" {
		t.Errorf("sent over %s after the socket closed", out.Transport)
	}
	v.AssertText(".count", "1")
}

// An instance the server lost (expired): the action fails with 404, and
// the client mounts the component again from its original parameters.
func TestExpiredInstanceIsRemounted(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]fluxtest.Option{nil, {fluxtest.HTTPOnly()}} {
		srv := serve(t)
		c := srv.Client(t, opts...)
		v := c.Mount("counter", map[string]string{"start": "10"})
		v.Click("button[data-flux-action=inc]")
		old := v.ID()
		if err := srv.Handler.Store().Delete(context.Background(), old); err != nil {
			t.Fatal(err)
		}
		out := v.ExpectError(http.StatusNotFound).Click("button[data-flux-action=inc]")
		if !out.Remounted {
			t.Errorf("%+v: not re-mounted", out)
		}
		if v.ID() == old {
			t.Error("the view still shows the lost instance")
		}
		v.AssertText(".count", "10")
		v.Click("button[data-flux-action=inc]")
		v.AssertText(".count", "11")
	}
}

// A page whose instance expired while its socket was away re-mounts it
// when it reconnects.
func TestExpiredWhileAway(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	c := srv.Client(t)
	v := c.Mount("counter", map[string]string{"start": "7"})
	old := v.ID()
	c.Drop()
	srv.Handler.Store().Delete(context.Background(), old)
	c.Reconnect()
	if v.ID() == old {
		t.Error("not re-mounted on reconnect")
	}
	v.AssertText(".count", "7")
}

// HTTP only: as the client without UseWebSocket, and as the fallback when
// the endpoint serves no WebSocket.
func TestHTTPOnlyAndFallback(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*fluxtest.Client{
		"HTTPOnly": serve(t).Client(t, fluxtest.HTTPOnly()),
		"fallback": fluxtest.Serve(t, liveflux.NewHandler(nil, liveflux.WithRegistry(registry(t)), quiet)).Client(t),
	} {
		v := c.Mount("counter", nil)
		if out := v.Click("button[data-flux-action=inc]"); out.Transport != "http" {
			t.Errorf("%s: sent over %s", name, out.Transport)
		}
		v.AssertText(".count", "1")
		if c.Connected() {
			t.Errorf("%s: a socket is open", name)
		}
	}
}

// Two nodes share a store and a backplane: a client of one sees what a
// client of the other does.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	reg, store, bp := registry(t), liveflux.NewMemoryStore(), fluxtest.NewMemoryBackplane()
	node := func() *fluxtest.Server {
		return fluxtest.Serve(t, liveflux.NewWebSocketHandler(store, liveflux.WithRegistry(reg), quiet, liveflux.WithWebSocketBackplane(bp.Node())))
	}
	n1, n2 := node(), node()
	v1 := n1.Client(t).Mount("counter", nil)
	c2 := n2.Client(t)
	v2 := c2.Watch(v1)
	v1.Click("button[data-flux-action=inc]")
	v2.WaitText(".count", "1")
	v2.Click("button[data-flux-action=inc]")
	v1.WaitText(".count", "2")
	// A Broadcast on one node reaches the other node's clients.
	if err := n1.Handler.Broadcast(v1.ID(), map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	c2.WaitMessage("the broadcast from node 1", func(m fluxtest.Message) bool { return m.Type == "ping" })
}

// Sessions: an instance bound to one session is a 404 for another, which
// mounts its own.
func TestSessions(t *testing.T) {
	t.Parallel()
	key := func(r *http.Request) string {
		c, err := r.Cookie("sid")
		if err != nil {
			return ""
		}
		return c.Value
	}
	srv := serve(t, liveflux.WithSessionKey(key))
	alice := srv.Client(t, fluxtest.WithCookie("sid", "alice"))
	v := alice.Mount("counter", nil)
	v.Click("button[data-flux-action=inc]")
	mallory := srv.Client(t, fluxtest.WithCookie("sid", "mallory")).Watch(v)
	if mallory.ID() == v.ID() {
		t.Fatal("another session watches alice's instance")
	}
	mallory.AssertText(".count", "0")
	alice.NewTab().Watch(v).AssertText(".count", "1") // her other tab may
}

// A page from the application: components rendered in place, placeholders
// mounted, the client configured by the page's Script tag.
func TestOpenPage(t *testing.T) {
	t.Parallel()
	ws := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(registry(t)), quiet)
	mux := http.NewServeMux()
	mux.Handle("/live", ws)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		first, _ := ws.Mount(r, "counter", map[string]string{"start": "1"})
		fmt.Fprintf(w, `<!doctype html><main>%s<section id="second">%s</section></main>%s`, first,
			liveflux.Placeholder("counter", map[string]string{"start": "20"}),
			liveflux.Script(liveflux.ClientOptions{Endpoint: "/live", UseWebSocket: true}))
	})
	srv := fluxtest.Serve(t, mux)
	c := srv.Client(t)
	views := c.Open("/")
	if len(views) != 2 {
		t.Fatalf("%d components on the page:\n%s", len(views), c.HTML())
	}
	second := c.View("#second .count")
	second.Click("button[data-flux-action=inc]")
	second.AssertText(".count", "21")
	views[0].AssertText(".count", "1")
	if !c.Connected() {
		t.Error("the page asked for a WebSocket, and none is open")
	}
}

// First paint through Handler.Mount with the browser's request.
func TestAdoptFirstPaint(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	c := srv.Client(t)
	html, err := srv.Handler.Mount(c.Request(), "counter", map[string]string{"start": "3"})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Adopt(string(html))
	v.Click("button[data-flux-action=inc]")
	v.AssertText(".count", "4")
}

// An action over HTTP updates the pages watching over WebSocket; a failed
// one sends them nothing. (The root package's test of the same name,
// rewritten with the harness.)
func TestHTTPActionUpdatesWebSocketWatchers(t *testing.T) {
	t.Parallel()
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(markupRegistry(t)), quiet))
	v := srv.Client(t, fluxtest.HTTPOnly()).Mount("buttons", nil)
	a, b := srv.Client(t).Watch(v), srv.Client(t).Watch(v)
	v.Click("button[data-flux-action=inc]")
	a.AssertText(".count", "1")
	b.AssertText(".count", "1")
	v.ExpectError(http.StatusForbidden).Click("button[data-flux-action=forbidden]")
	a.AssertText(".count", "1")
}
