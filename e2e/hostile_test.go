package e2e

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/go-liveflux/liveflux"
)

// Hostile content and hostile networks: markup a sanitizer let through,
// text that would turn into markup, answers too large for a header, a
// proxy that does not pass WebSocket on.

// overBothTransports runs test with a page on HTTP only and with one on
// WebSocket.
func overBothTransports(t *testing.T, test func(t *testing.T, ws bool)) {
	for _, ws := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "websocket"}[ws], func(t *testing.T) { test(t, ws) })
	}
}

// openPage opens s's page in a new tab; with ws, it waits until the socket
// carries the page's components.
func openPage(t *testing.T, s *server, ws bool, components int) *tab {
	t.Helper()
	tb := newTab(t)
	tb.navigate(s.URL)
	if ws {
		tb.waitSynced(components)
	}
	return tb
}

// ugc is what a comment that passed an HTML sanitizer's default policy
// (DOMPurify keeps data-* attributes) can hold: data-flux-* markup aimed at
// the viewer's lab components (data-flux-target names their kind), sending
// with no click, on a timer, on the first mouse move, on a click, on a
// submit.
const ugc = `<span data-flux-action="delete" data-flux-target="lab" data-flux-on="load">a</span>
<span data-flux-action="delete" data-flux-target="lab" data-flux-on="every.100ms">b</span>
<span class="hover" data-flux-action="delete" data-flux-target="lab" data-flux-on="mouseover.document">c</span>
<button class="ugc-click" data-flux-action="delete" data-flux-target="lab">d</button>
<form class="ugc-form" data-flux-action="delete" data-flux-target="lab"><button class="ugc-submit">e</button></form>`

// Markup outside every component sends nothing, and neither does markup in
// a data-flux-inert region inside one (issue: a sanitizer-passed comment
// ran "delete" on the viewer's component on load, 15 times in 1.5 s with
// every.100ms, and on the first mouse move with mouseover.document). An
// inert region is still morphed by updates, and its data-flux-loading,
// data-flux-ignore and placeholders have no effect. (A placeholder outside
// every component is how pages mount components: it is mounted. The
// README's rule for sanitizers covers it.)
func TestUserContentIsInert(t *testing.T) {
	needBrowser(t)
	overBothTransports(t, func(t *testing.T, ws bool) {
		s := newServer(t)
		s.labView("evil", `<p class="evil">mounted by a comment</p><span data-flux-action="delete" data-flux-on="load"></span>`)
		s.labView("account", `<output class="n">{{.N}}</output>
<button class="mark" data-flux-action="mark">mark</button>
<button class="slow" data-flux-action="slow">slow</button>
<div class="comments" data-flux-inert>
  <p class="c-text">comment {{.N}}</p>
  <div class="c-ignore" data-flux-ignore>ignored {{.N}}</div>
  <span class="c-loading" data-flux-loading="class.pwned"></span>
  <div data-flux-component-kind="lab" data-flux-param-view="evil"></div>
  `+strings.ReplaceAll(ugc, `data-flux-target="lab" `, ``)+`
</div>`)
		// A form the client leaves alone is not sent by the browser
		// either: the page stays.
		s.labPage(liveflux.ClientOptions{UseWebSocket: ws}, `<script>window.addEventListener("submit", (e) => e.preventDefault());</script>
<section id="ugc">`+ugc+`</section>`, "account")
		tb := openPage(t, s, ws, 1)
		root := rootSel("v0")

		// The first mouse move, clicks and a submit on the comments,
		// outside the component and inside.
		tb.do("moving the mouse", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 20, 20), chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 200, 300))
		for _, sel := range []string{"#ugc .ugc-click", "#ugc .ugc-submit", root + " .ugc-click", root + " .ugc-submit", root + " .hover", "#ugc .hover"} {
			tb.click(sel)
		}
		// The component's own markup still works, and updates still
		// morph the inert region.
		tb.click(root + " .mark")
		s.expectActs(0, act("mark"))
		tb.waitText(root+" .c-text", "comment 1")
		tb.waitText(root+" .c-ignore", "ignored 1")

		// While an action is in flight, loading states in the region
		// stay off.
		release := s.holdSlow()
		tb.click(root + " .slow")
		tb.waitFor("the slow action in flight", fmt.Sprintf(`document.querySelector(%q).classList.contains("flux-busy")`, root), "")
		if eval[bool](tb, fmt.Sprintf(`document.querySelector(%q).classList.contains("pwned")`, root+" .c-loading")) {
			t.Error("data-flux-loading in an inert region took effect")
		}
		release()
		tb.waitText(root+" .n", "2")

		// Long enough for every.100ms to have sent several times.
		tb.waitPageTime(600)
		tb.waitIdle()
		for _, a := range s.acts() {
			if a.Action != "mark" && a.Action != "slow" {
				t.Errorf("user content sent %v", a)
			}
		}
		if n := len(s.acts()); n != 2 {
			t.Errorf("%d actions, want 2 (mark, slow): %v", n, s.acts())
		}
		if eval[bool](tb, `!!document.querySelector(".evil")`) {
			t.Error("a placeholder in user content was mounted")
		}
	})
}

// The client never turns text into markup (issue: user text escaped by
// html/template in a <noscript> of a data-flux-disable-with button ran as
// script after one update and one click: the update, parsed in a
// <template> where scripting is off, made the escaped text a text node,
// which the button's save and restore through innerHTML serialized as is
// and parsed again as markup). The button gets back its own nodes.
func TestTextStaysText(t *testing.T) {
	needBrowser(t)
	overBothTransports(t, func(t *testing.T, ws bool) {
		s := newServer(t)
		payload := fmt.Sprintf(`</noscript><img src=x onerror="document.title='PWNED';fetch('%s/pwned')">`, s.URL)
		s.labView("mxss", `<form data-flux-action="save"><button class="save" type="submit" data-flux-disable-with="Saving…"><noscript>{{index .P "payload"}}</noscript>Save</button></form>
<button class="bump" data-flux-action="bump">bump</button> <output class="n">{{.N}}</output>`)
		s.page("/{$}", liveflux.ClientOptions{UseWebSocket: ws}, func(r *http.Request) template.HTML {
			return `<section id="v0">` + s.mount(r, "lab", map[string]string{"view": "mxss", "payload": payload}) + `</section>`
		})
		tb := openPage(t, s, ws, 1)
		root := rootSel("v0")
		tb.click(root + " .bump") // one update
		tb.waitText(root+" .n", "1")
		tb.do("marking the button's text node", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).lastChild.__mark = 1`, root+" .save")))

		tb.click(root + " .save") // one click
		tb.waitText(root+" .n", "2")
		tb.waitIdle()
		tb.waitPageTime(300) // an image's error handler would have run

		if title := eval[string](tb, `document.title`); title == "PWNED" {
			t.Fatal("the payload ran: document.title is PWNED")
		}
		if n := s.pwned.Load(); n != 0 {
			t.Fatalf("the payload ran %d times", n)
		}
		// The <noscript> an update brought is empty (parsed in a
		// template, its text would be markup), and the button got back
		// its own text node.
		got := eval[string](tb, fmt.Sprintf(`(() => { const b = document.querySelector(%q);
				return [b.textContent, b.disabled, b.querySelectorAll("img").length, b.querySelector("noscript").childNodes.length, b.lastChild.__mark === 1].join("|"); })()`, root+" .save"))
		if got != "Save|false|0|0|true" {
			t.Errorf("button [text, disabled, images, nodes in noscript, own text node] = %s, want Save|false|0|0|true", got)
		}
	})
}

// Events never cost the answer (issue: 300,000 bytes of events in the
// X-Liveflux-Events header made Chromium refuse the whole response,
// ERR_RESPONSE_HEADERS_TOO_BIG: the page kept the old rendering). Now the
// events travel in the body, every one arrives with the rendering, and an
// event over the bound is refused to the component, which can say so.
func TestLargeEventsArrive(t *testing.T) {
	needBrowser(t)
	overBothTransports(t, func(t *testing.T, ws bool) {
		s := newServer(t)
		s.labView("events", `<button class="big" data-flux-action="emit-big">emit</button> <output class="n">{{.N}}</output>
<p class="err">{{range .Msgs}}{{.}}{{end}}</p>`)
		s.labPage(liveflux.ClientOptions{UseWebSocket: ws}, `<script>
  window.__big = [];
  document.addEventListener("lab-big", (e) => __big.push(e.detail.pad ? e.detail.i + ":" + e.detail.pad.length : "other"));
</script>`, "events")
		tb := openPage(t, s, ws, 1)
		root := rootSel("v0")
		tb.click(root + " .big")
		tb.waitText(root+" .n", "1")
		tb.waitFor("five events", `__big.length === 5`, `__big`)
		if got := eval[string](tb, `__big.join(" ")`); got != "0:60000 1:60000 2:60000 3:60000 4:60000" {
			t.Errorf("events %q, want five of 60,000 bytes, in order", got)
		}
		if msg := tb.text(root + " .err"); !strings.HasPrefix(msg, "liveflux: event too large: lab-big is 70031 bytes, over MaxEventBytes") {
			t.Errorf("the component was told %q, want that its 70,000-byte event was refused", msg)
		}
	})
}

// A page behind a proxy that does not pass WebSocket on (it drops the
// Upgrade header) tries the socket five times, then stays on HTTP and says
// so once; the handshakes it sent are refused with a short 400, never
// answered with the client runtime again (issue: the client retried every
// 15 s forever, each attempt downloading the 9.8 KB runtime with a 200).
func TestSocketGivenUp(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	var handshakes, runtimes, refused atomic.Int64
	s.mux.HandleFunc("/noupgrade", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			if r.Header.Get("Sec-WebSocket-Key") != "" {
				handshakes.Add(1)
				r.Header.Del("Upgrade") // what the proxy does
				r.Header.Del("Connection")
			}
			w = &statusRecorder{ResponseWriter: w, seen: func(status int, ctype string) {
				switch {
				case status == http.StatusOK && strings.HasPrefix(ctype, "application/javascript"):
					runtimes.Add(1)
				case status == http.StatusBadRequest:
					refused.Add(1)
				}
			}}
		}
		s.serveLiveflux(w, r)
	})
	s.labView("plain", `<button class="mark" data-flux-action="mark">mark</button> <output class="n">{{.N}}</output>`)
	s.labPage(liveflux.ClientOptions{Endpoint: "/noupgrade", UseWebSocket: true}, "", "plain")
	tb := newTab(t, allowBrowserError(`WebSocket connection to 'ws://127\.0\.0\.1:\d+/noupgrade' failed: .*`), expectLivefluxErrors())
	tb.navigate(s.URL)
	checkSocketGivenUp(tb)
	tb.waitPageTime(1500) // a sixth try would come within the backoff cap
	if n := handshakes.Load(); n != 5 {
		t.Errorf("%d handshakes, want 5", n)
	}
	if n := refused.Load(); n != 5 {
		t.Errorf("%d handshakes answered 400, want 5", n)
	}
	if n := runtimes.Load(); n != 1 {
		t.Errorf("the runtime was downloaded %d times, want once", n)
	}
	tb.click(rootSel("v0") + " .mark")
	tb.waitText(rootSel("v0")+" .n", "1")
	if n := s.httpActions.Load(); n != 1 {
		t.Errorf("%d actions over HTTP, want 1", n)
	}
}

// statusRecorder tells seen the status and Content-Type of the answer.
type statusRecorder struct {
	http.ResponseWriter
	seen  func(status int, ctype string)
	wrote bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.wrote = true
		r.seen(status, r.Header().Get("Content-Type"))
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.ResponseWriter.Write(b)
}
