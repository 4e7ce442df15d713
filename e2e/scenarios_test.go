package e2e

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/go-liveflux/liveflux"
)

// A refused or failed WebSocket handshake makes Chromium itself log this
// error (the page cannot prevent it). Only the fallback test allows it.
const socketFailed = `WebSocket connection to 'ws://127\.0\.0\.1:\d+/liveflux' failed: .*`

// rootSel selects the root of the component shown in the section with the
// given id.
func rootSel(section string) string { return "#" + section + " > [data-flux-component-id]" }

// waitSynced waits until the socket is open and every component on the page
// got its rendering over it (its revision went past the first one).
func (tb *tab) waitSynced(components int) {
	tb.t.Helper()
	tb.waitFor("the socket to open", `window.Liveflux?.socketState === "open"`, `window.Liveflux?.socketState`)
	tb.waitFor(fmt.Sprintf("%d components initialised over the socket", components),
		fmt.Sprintf(`(() => { const r = [...document.querySelectorAll("[data-flux-component-id]")]; return r.length === %d && r.every(e => +e.getAttribute("data-flux-rev") >= 2); })()`, components),
		`[...document.querySelectorAll("[data-flux-component-id]")].map(e => e.getAttribute("data-flux-rev"))`)
}

func (tb *tab) id(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.querySelector(%q)?.getAttribute("data-flux-component-id") ?? ""`, sel))
}

// counters serves at / a page with counters rendered in sections c0, c1, …
// starting at starts[i].
func counters(s *server, client liveflux.ClientOptions, starts ...int) {
	s.page("/{$}", client, func(r *http.Request) template.HTML {
		var html template.HTML
		for i, n := range starts {
			html += template.HTML(fmt.Sprintf(`<section id="c%d">`, i)) +
				s.mount(r, "counter", map[string]string{"start": strconv.Itoa(n)}) + "</section>\n"
		}
		return html
	})
}

// Scenario 3: one WebSocket per page, whatever number of components it shows:
// rendered with the page, mounted from placeholders after load, and added
// to the page later.
func TestOneSocketPerPage(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.page("/{$}", liveflux.ClientOptions{UseWebSocket: true}, func(r *http.Request) template.HTML {
		var html template.HTML
		for i := range 3 {
			html += template.HTML(fmt.Sprintf(`<section id="c%d">`, i)) +
				s.mount(r, "counter", map[string]string{"start": strconv.Itoa(i * 10)}) + "</section>\n"
		}
		for i := 3; i < 6; i++ {
			html += template.HTML(fmt.Sprintf(`<section id="c%d">`, i)) +
				liveflux.Placeholder("counter", map[string]string{"start": strconv.Itoa(i * 10)}) + "</section>\n"
		}
		return html
	})
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(6)

	// Four more, added by the page's own script.
	tb.do("adding placeholders", chromedp.Evaluate[chromedp.Void](`for (let i = 6; i < 10; i++)
		document.body.insertAdjacentHTML("beforeend", '<section id="c' + i + '"><div data-flux-component-kind="counter" data-flux-param-start="' + i * 10 + '"></div></section>');`))
	tb.waitSynced(10)

	for i := range 10 {
		tb.click(rootSel(fmt.Sprintf("c%d", i)) + " .inc")
	}
	for i := range 10 {
		tb.waitText(rootSel(fmt.Sprintf("c%d", i))+" .count", strconv.Itoa(i*10+1))
	}
	tb.waitIdle()

	if got := tb.socketURLs(); len(got) != 1 {
		t.Errorf("the page opened %d WebSockets, want 1: %q", len(got), got)
	}
	if n := s.handshakes.Load(); n != 1 {
		t.Errorf("the server saw %d WebSocket handshakes, want 1", n)
	}
	if n := s.httpActions.Load(); n != 0 {
		t.Errorf("%d actions went over HTTP, want all 10 over the socket", n)
	}
	if n := len(s.handler().Watched()); n != 10 {
		t.Errorf("the server has %d watched components, want 10", n)
	}
}

// Scenario 4: with the WebSocket unavailable, every action still works over
// HTTP POST, and after five failed handshakes in a row the page gives the
// socket up for good (Liveflux.socketState "failed") and says so once. The
// browser's own "WebSocket connection … failed" error is allowed here (and
// in TestSocketGivenUp): the failing handshake is the point of the test,
// and the page can neither prevent nor catch that message.
func TestFallbackToHTTP(t *testing.T) {
	needBrowser(t)
	t.Run("handshake refused", func(t *testing.T) {
		s := newServer(t, liveflux.WithWebSocketCSRFCheck(func(*http.Request) error {
			return errors.New("no token")
		}))
		counters(s, liveflux.ClientOptions{UseWebSocket: true}, 0, 100)
		testFallback(t, s)
		if n := s.handshakes.Load(); n != 5 {
			t.Errorf("the page tried the WebSocket %d times, want 5", n)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		s := newServer(t)
		counters(s, liveflux.ClientOptions{UseWebSocket: true, WebSocketURL: "ws://" + closed + "/liveflux"}, 0, 100)
		testFallback(t, s)
	})
}

func testFallback(t *testing.T, s *server) {
	tb := newTab(t, allowBrowserError(socketFailed), expectLivefluxErrors())
	tb.navigate(s.URL)
	// The first attempt has failed: the client reported the socket closed.
	tb.waitFor("the socket attempt to fail", `(window.__e2e.events.disconnected ?? 0) >= 1`, `window.__e2e.events`)

	tb.click(rootSel("c0") + " .inc")
	tb.waitText(rootSel("c0")+" .count", "1")
	tb.click(rootSel("c0") + " .inc")
	tb.waitText(rootSel("c0")+" .count", "2")
	tb.click(rootSel("c1") + " .dec")
	tb.waitText(rootSel("c1")+" .count", "99")
	tb.waitText(rootSel("c0")+" .count", "2")
	tb.waitIdle()

	if n := s.httpActions.Load(); n != 3 {
		t.Errorf("%d actions arrived over HTTP, want 3", n)
	}
	if n := eval[int](tb, `window.__e2e.events.connected ?? 0`); n != 0 {
		t.Errorf("%d liveflux:connected events, want none", n)
	}
	if got := tb.shownText("#status"); got == "connected" {
		t.Errorf("status %q", got)
	}
	checkSocketGivenUp(tb)
}

// checkSocketGivenUp waits until the page gave its socket up (the backoff
// before the fifth try may take 7.5 s) and checks that it said so once,
// after five attempts.
func checkSocketGivenUp(tb *tab) {
	tb.t.Helper()
	tb.waitForWithin(20*time.Second, "the socket given up", `Liveflux.socketState === "failed"`, `[Liveflux.socketState, window.__e2e.events]`)
	if n := len(tb.socketURLs()); n != 5 {
		tb.t.Errorf("the page opened %d WebSockets, want 5", n)
	}
	errs := eval[[]map[string]any](tb, `window.__e2e.errors`)
	if len(errs) != 1 || errs[0]["status"] != float64(0) || errs[0]["message"] != "WebSocket unreachable: actions go over HTTP" {
		tb.t.Errorf("liveflux:error events %v, want one saying the socket is unreachable", errs)
	}
}

// Scenario 5: the server drops every socket (as on a restart) and, while the
// page is disconnected, a component changes; the page reconnects by itself
// and shows the change, and the socket carries actions again.
func TestReconnect(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	counters(s, liveflux.ClientOptions{UseWebSocket: true}, 0, 100)
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(2)
	tb.waitShown("#status", "connected")

	tb.click(rootSel("c0") + " .inc")
	tb.waitText(rootSel("c0")+" .count", "1")
	tb.waitIdle()
	idB := tb.id(rootSel("c1"))

	s.dropSockets()
	tb.waitFor("the page to notice the socket closed",
		`window.__e2e.events.disconnected === 1 && Liveflux.socketState !== "open"`, `[window.__e2e.events, Liveflux.socketState]`)
	if code := eval[int](tb, `window.__e2e.disconnects[0].code`); code != 1001 {
		t.Errorf("close code %d, want 1001 (going away)", code)
	}
	tb.waitShown("#status", "disconnected")

	// Changed by someone else while this page has no socket.
	s.postAction("counter", idB, "inc")
	s.postAction("counter", idB, "inc")
	if got := tb.text(rootSel("c1") + " .count"); got != "100" {
		t.Fatalf("counter B shows %q while disconnected, want the old 100", got)
	}

	s.restore()
	tb.waitText(rootSel("c1")+" .count", "102")
	tb.waitShown("#status", "connected")
	tb.waitText(rootSel("c0")+" .count", "1")
	if n := eval[int](tb, `window.__e2e.events.connected`); n != 2 {
		t.Errorf("%d liveflux:connected events, want 2", n)
	}

	before := s.httpActions.Load()
	tb.click(rootSel("c1") + " .inc")
	tb.waitText(rootSel("c1")+" .count", "103")
	tb.click(rootSel("c0") + " .dec")
	tb.waitText(rootSel("c0")+" .count", "0")
	tb.waitIdle()
	if n := s.httpActions.Load() - before; n != 0 {
		t.Errorf("%d actions went over HTTP after the reconnect, want them over the socket", n)
	}
	if got := tb.socketURLs(); len(got) != 2 {
		t.Errorf("the page opened %d WebSockets, want 2 (the first and the reconnect): %q", len(got), got)
	}
}

// Scenario 6: a rendering pushed by the server while the user types in an
// input of the component keeps the focus, the caret (or selection) and the
// text typed so far.
func TestTypingSurvivesUpdates(t *testing.T) {
	needBrowser(t)
	t.Run("in place", func(t *testing.T) { testTyping(t, "0") })
	// Notices come and go before the input: morphing moves it.
	t.Run("moved", func(t *testing.T) { testTyping(t, "1") })
}

func testTyping(t *testing.T, moving string) {
	s := newServer(t)
	s.page("/{$}", liveflux.ClientOptions{UseWebSocket: true}, func(r *http.Request) template.HTML {
		return `<section id="note">` + s.mount(r, "note", map[string]string{"moving": moving}) + `</section>`
	})
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(1)
	id := tb.id(rootSel("note"))
	input := rootSel("note") + " input.note"

	// refresh pushes a new rendering and waits until the page shows it.
	refresh := func() {
		t.Helper()
		n := s.ticks.Add(1)
		if err := s.handler().Refresh(context.Background(), id); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		tb.waitText(rootSel("note")+" .ticks", strconv.FormatInt(n, 10))
		if got, want := eval[int](tb, `document.querySelectorAll(".notice").length`), int(n%3); moving == "1" && got != want {
			t.Fatalf("%d notices shown, want %d", got, want)
		}
	}
	type state struct {
		Focused bool   `json:"focused"`
		Value   string `json:"value"`
		Start   int    `json:"start"`
		End     int    `json:"end"`
		Dir     string `json:"dir"`
	}
	check := func(want state) {
		t.Helper()
		got := eval[state](tb, fmt.Sprintf(`(() => { const i = document.querySelector(%q);
			return { focused: document.activeElement === i, value: i.value, start: i.selectionStart, end: i.selectionEnd, dir: i.selectionDirection }; })()`, input))
		if want.Dir == "" { // a caret's direction depends on the platform
			got.Dir = ""
		}
		if got != want {
			t.Fatalf("input: got %+v, want %+v", got, want)
		}
	}

	tb.click(input)
	// One update after every key.
	typed := ""
	for _, r := range "hello world" {
		tb.keys(string(r))
		typed += string(r)
		refresh()
		check(state{true, typed, len(typed), len(typed), ""})
	}
	// The caret in the middle of the text.
	tb.keys(kb.ArrowLeft + kb.ArrowLeft + kb.ArrowLeft)
	refresh()
	check(state{true, "hello world", 8, 8, ""})
	tb.keys("X")
	refresh()
	check(state{true, "hello woXrld", 9, 9, ""})
	// A selection made backwards.
	tb.keys(kb.ArrowLeft+kb.ArrowLeft, chromedp.KeyModifiers(chromedp.ModifierShift))
	check(state{true, "hello woXrld", 7, 9, "backward"})
	refresh()
	check(state{true, "hello woXrld", 7, 9, "backward"})
	tb.keys("Y") // replaces the selection
	refresh()
	check(state{true, "hello wYrld", 8, 8, ""})
}

// Scenario 7: a form with data-flux-action sends its fields (the result the
// server renders shows them), and a redirect asked by Handle navigates the
// page; over HTTP and over the WebSocket.
func TestForms(t *testing.T) {
	needBrowser(t)
	for _, ws := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "websocket"}[ws]
		t.Run(name, func(t *testing.T) {
			s := newServer(t)
			s.page("/{$}", liveflux.ClientOptions{UseWebSocket: ws}, func(r *http.Request) template.HTML {
				return `<section id="profile">` + s.mount(r, "profile", nil) + `</section>`
			})
			tb := newTab(t)
			tb.navigate(s.URL)
			if ws {
				tb.waitSynced(1)
			}
			root := rootSel("profile")
			tb.click(root + ` input[name=name]`)
			tb.keys("Zoë <&> Ada")
			tb.do("choosing a colour", chromedp.SetValue(chromedp.CSS(root+` select[name=color]`), "green"))
			tb.click(root + ` input[name=tags][value=go]`)
			tb.click(root + ` input[name=tags][value=sql]`)
			tb.click(root + ` textarea[name=bio]`)
			tb.keys("likes forms")
			tb.click(root + ` button[type=submit]`)

			tb.waitText(root+" .r-name", "Zoë <&> Ada")
			for sel, want := range map[string]string{
				".r-color": "green", ".r-tags": "go,sql", ".r-bio": "likes forms",
				".r-op": "save-pressed", ".r-from": "profile-form",
			} {
				if got := tb.text(root + " " + sel); got != want {
					t.Errorf("%s: got %q, want %q", sel, got, want)
				}
			}
			// The form shows the stored state after the morph.
			if got := eval[string](tb, fmt.Sprintf(`document.querySelector(%q).value`, root+` input[name=name]`)); got != "Zoë <&> Ada" {
				t.Errorf("name input after save: %q", got)
			}
			wantHTTP := map[bool]int64{false: 1, true: 0}[ws]
			if n := s.httpActions.Load(); n != wantHTTP {
				t.Errorf("%d actions over HTTP, want %d", n, wantHTTP)
			}

			tb.click(root + " button.leave")
			tb.waitFor("the redirect", `location.pathname === "/done"`, `location.href`)
			tb.waitText("h1", "Done")
			tb.waitText("#from", "Zoë <&> Ada")
		})
	}
}

// Scenario 8: an action on a component the server no longer has (evicted,
// expired, server restarted) mounts it again from its original parameters,
// and the new instance works; over HTTP and over the WebSocket.
func TestRemountEvicted(t *testing.T) {
	needBrowser(t)
	for _, ws := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "websocket"}[ws]
		t.Run(name, func(t *testing.T) {
			s := newServer(t)
			counters(s, liveflux.ClientOptions{UseWebSocket: ws}, 5, 50)
			opts := []tabOption{expectLivefluxErrors()}
			if !ws {
				// The browser logs the 404 answer to the action that finds
				// the instance gone; that answer is the protocol's signal
				// to re-mount.
				opts = append(opts, allowBrowserError(`Failed to load resource: the server responded with a status of 404 \(Not Found\) \[http://127\.0\.0\.1:\d+/liveflux\]`))
			}
			tb := newTab(t, opts...)
			tb.navigate(s.URL)
			if ws {
				tb.waitSynced(2)
			}
			c0 := rootSel("c0")
			tb.click(c0 + " .inc")
			tb.waitText(c0+" .count", "6")
			tb.waitIdle()
			old := tb.id(c0)

			if err := s.store.Delete(context.Background(), old); err != nil {
				t.Fatal(err)
			}
			tb.click(c0 + " .inc")
			tb.waitFor("the component to be mounted again",
				fmt.Sprintf(`(() => { const r = document.querySelector(%q); return r && r.getAttribute("data-flux-component-id") !== %q; })()`, c0, old),
				fmt.Sprintf(`document.querySelector(%q)?.outerHTML`, c0))
			tb.waitText(c0+" .count", "5") // from its mount parameter start=5
			errs := eval[[]map[string]any](tb, `window.__e2e.errors`)
			if len(errs) != 1 || errs[0]["status"] != float64(404) || errs[0]["remounted"] != true || errs[0]["componentID"] != old {
				t.Errorf("liveflux:error events: got %v, want one 404 for %s with remounted: true", errs, old)
			}

			before := s.httpActions.Load()
			tb.click(c0 + " .inc")
			tb.waitText(c0+" .count", "6")
			tb.click(c0 + " .inc")
			tb.waitText(c0+" .count", "7")
			tb.click(rootSel("c1") + " .inc")
			tb.waitText(rootSel("c1")+" .count", "51")
			tb.waitIdle()
			wantHTTP := map[bool]int64{false: 3, true: 0}[ws]
			if n := s.httpActions.Load() - before; n != wantHTTP {
				t.Errorf("%d actions over HTTP after the re-mount, want %d", n, wantHTTP)
			}
			if ws {
				if got := tb.socketURLs(); len(got) != 1 {
					t.Errorf("the page opened %d WebSockets, want 1", len(got))
				}
			}
		})
	}
}

// Scenario 9 is checked by every tab (see newTab); this test shows that the
// check catches what it must: console.error, an uncaught exception and an
// unhandled rejection.
func TestConsoleCheck(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.page("/{$}", liveflux.ClientOptions{}, func(r *http.Request) template.HTML {
		return `<script>
			console.error("boom");
			setTimeout(() => { throw new Error("bang"); });
			Promise.reject(new Error("nobody waits"));
		</script>`
	})
	tb := newTab(t)
	tb.navigate(s.URL)
	got := tb.waitProblems(3)
	for _, want := range []string{"console.error: boom", "exception: Uncaught Error: bang", "exception: Uncaught (in promise) Error: nobody waits"} {
		found := false
		for _, p := range got {
			found = found || strings.HasPrefix(p.String(), want)
		}
		if !found {
			t.Errorf("%q not caught; caught %q", want, got)
		}
	}
}
