package e2e

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/go-liveflux/liveflux"
)

// tabs lives in the URL: its tab is the path after /tabs/ (HandleURL),
// its page the query parameter "page" (a field tagged url). Actions: next
// (page + 1), open (a patch to /tabs/ + field tab).
type tabs struct {
	liveflux.Base
	Tab  string
	Page int `url:"page,push"`
}

func (c *tabs) Mount(context.Context, map[string]string) error { return nil }

func (c *tabs) HandleURL(_ context.Context, u *url.URL) error {
	c.Tab = strings.TrimPrefix(u.Path, "/tabs/")
	return nil
}

func (c *tabs) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "next":
		c.Page++
	case "open":
		return liveflux.PatchURL(ctx, "/tabs/"+data.Get("tab"))
	}
	return nil
}

var tabsView = template.Must(template.New("tabs").Parse(`
<nav><a class="t-a" href="/tabs/a" data-flux-patch>A</a> <a class="t-b" href="/tabs/b?page=7" data-flux-patch>B</a> <a class="t-c" href="/tabs/c" data-flux-patch="replace">C</a></nav>
<p class="shown">tab={{.Tab}} page={{.Page}}</p>
<button class="next" data-flux-action="next">next</button>
<button class="open" data-flux-action="open" data-flux-value-tab="z">open z</button>`))

func (c *tabs) Render(_ context.Context, w io.Writer) error { return tabsView.Execute(w, c) }

// URL state in the browser, over HTTP and over WebSocket: a deep link
// renders on first paint; patch links change the URL without a reload
// (a push, or a replace); an action's tagged field and PatchURL change it
// too; Back and Forward bring the component back to each URL.
func TestURLState(t *testing.T) {
	needBrowser(t)
	overBothTransports(t, func(t *testing.T, ws bool) {
		s := newServer(t)
		s.page("/tabs/{tab}", liveflux.ClientOptions{UseWebSocket: ws}, func(r *http.Request) template.HTML {
			return `<section id="t">` + s.mount(r, "tabs", nil) + `</section>`
		})
		tb := todo{newTab(t)}
		tb.navigate(s.URL + "/tabs/start?page=2")
		const shown = "#t .shown"
		tb.waitText(shown, "tab=start page=2")
		if ws {
			tb.waitSynced(1)
		}
		tb.markPage()
		where := func(want string) {
			t.Helper()
			tb.waitFor("the URL "+want, fmt.Sprintf(`location.pathname + location.search === %q`, want), `location.pathname + location.search`)
		}
		tb.click("#t .t-a")
		tb.waitText(shown, "tab=a page=0")
		where("/tabs/a")
		tb.click("#t .t-b")
		tb.waitText(shown, "tab=b page=7")
		tb.click("#t .next")
		tb.waitText(shown, "tab=b page=8")
		where("/tabs/b?page=8")
		tb.click("#t .open")
		tb.waitText(shown, "tab=z page=0")
		where("/tabs/z")
		tb.click("#t .t-c") // replaces /tabs/z
		tb.waitText(shown, "tab=c page=0")
		tb.do("going back", chromedp.NavigateBack())
		tb.waitText(shown, "tab=b page=8")
		where("/tabs/b?page=8")
		tb.do("going back", chromedp.NavigateBack())
		tb.waitText(shown, "tab=b page=7")
		tb.do("going back", chromedp.NavigateBack())
		tb.waitText(shown, "tab=a page=0")
		tb.do("going forward", chromedp.NavigateForward())
		tb.waitText(shown, "tab=b page=7")
		tb.assertNotReloaded("after patches, Back and Forward")
		if n := len(tb.socketURLs()); ws != (n == 1) || n > 1 {
			t.Errorf("%d sockets", n)
		}
	})
}

// Client commands (data-flux-do) run in the page, with or without an
// action: show, hide and toggle (with a CSS transition), classes and
// attributes that survive the next update, focus, dispatch; an unknown
// command is reported. And the markup that shows what the client knows:
// data-flux-error, data-flux-socket, autofocus on insert, Escape that
// lets the server empty a focused field.
func TestClientCommands(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("cmds", `
<button class="c-toggle" data-flux-do="toggle #menu; toggle-class.open closest section; set-attr.aria-expanded.true">menu</button>
<ul id="menu" hidden><li>one</li></ul>
<button class="c-mark" data-flux-do="add-class.marked #out; remove-attr.title #out" data-flux-action="mark">mark</button>
<output id="out" title="t">{{.N}}</output>
<div class="c-heard" data-flux-action="heard" data-flux-on="lab-ping.document"></div>
<button class="c-ping" data-flux-do="dispatch.lab-ping">ping</button>
<button class="c-focus" data-flux-do="focus #q">focus</button> <input id="q" name="q">
<button class="c-hide" data-flux-do="hide.fading #panel">fade out</button>
<button class="c-show" data-flux-do="show.fading #panel">fade in</button>
<div id="panel">panel</div>
<button class="c-bad" data-flux-do="explode #menu">bad</button>
<input class="c-esc" name="e" value="" data-flux-action="clear" data-flux-on="keydown.escape">
<div class="c-auto">{{if .Off}}<input class="auto" autofocus>{{end}}</div>
<button class="c-insert" data-flux-action="off">insert</button>
<p class="err" data-flux-error hidden></p>
<button class="c-fail" data-flux-action="fail">fail</button>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, `<style>#panel { transition: opacity 120ms; } .fading { opacity: 0; }</style>`, "cmds")
	tb := newTab(t, expectLivefluxErrors())
	tb.navigate(s.URL)
	tb.waitSynced(1)
	if got := eval[string](tb, `document.documentElement.getAttribute("data-flux-socket")`); got != "open" {
		t.Errorf("data-flux-socket=%q, want open", got)
	}
	r := rootSel("v0")

	tb.click(r + " .c-toggle")
	tb.waitFor("the menu shown", `!document.querySelector("#menu").hidden && document.querySelector("#v0").classList.contains("open") && document.querySelector(".c-toggle").getAttribute("aria-expanded") === "true"`, `document.querySelector("#v0").outerHTML`)
	tb.click(r + " .c-mark")
	s.expectActs(0, act("mark"))
	tb.waitText("#out", "1")
	tb.waitIdle()
	if !eval[bool](tb, `document.querySelector("#out").classList.contains("marked") && !document.querySelector("#out").hasAttribute("title") && !document.querySelector("#menu").hidden && document.querySelector(".c-toggle").getAttribute("aria-expanded") === "true"`) {
		t.Errorf("what the commands set did not survive the update: %s", eval[string](tb, `document.querySelector("#v0").innerHTML`))
	}
	tb.click(r + " .c-toggle")
	tb.waitFor("the menu hidden again", `document.querySelector("#menu").hidden && !document.querySelector("#v0").classList.contains("open")`, "")

	tb.click(r + " .c-ping")
	s.expectActs(1, act("heard"))
	tb.click(r + " .c-focus")
	tb.waitFor("#q focused", `document.activeElement === document.querySelector("#q")`, "")

	tb.click(r + " .c-hide")
	tb.waitFor("the panel fading", `document.querySelector("#panel").classList.contains("fading")`, "")
	tb.waitFor("the panel hidden after its transition", `document.querySelector("#panel").hidden && !document.querySelector("#panel").classList.contains("fading")`, "")
	tb.click(r + " .c-show")
	tb.waitFor("the panel shown", `!document.querySelector("#panel").hidden && !document.querySelector("#panel").classList.contains("fading")`, "")

	tb.click(r + " .c-bad")
	tb.waitFor("the bad command reported", `window.__e2e.errors.some((e) => /data-flux-do: cannot run "explode #menu"/.test(e.message))`, `window.__e2e.errors`)

	tb.click(r + " .c-esc")
	tb.keys("typed")
	tb.keys(kb.Escape)
	s.expectActs(2, act("clear", "e", "typed"))
	tb.waitFor("the server's empty value in the focused field", `document.activeElement === document.querySelector(".c-esc") && document.activeElement.value === ""`, `document.querySelector(".c-esc").value`)

	tb.click(r + " .c-insert")
	tb.waitFor("the inserted field focused", `document.activeElement === document.querySelector(".auto")`, `document.activeElement.outerHTML`)

	tb.click(r + " .c-fail")
	tb.waitFor("the error shown", `document.querySelector(".err").textContent === "choose a file first" && !document.querySelector(".err").hidden`, `document.querySelector(".err").outerHTML`)
	tb.click(r + " .c-mark")
	tb.waitFor("the error gone with the next action", `document.querySelector(".err").textContent === "" && document.querySelector(".err").hidden`, `document.querySelector(".err").outerHTML`)
}

// Pages of the site without a reload (data-flux-navigate): the socket
// stays, the components of the page left are released (leave), the
// progress class is set while the page loads, the scroll position comes
// back with Back, a link can opt out, a page whose scripts differ loads
// in full.
func TestNavigation(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("nav", `<p class="n">{{.N}}</p><button class="bump" data-flux-action="bump">bump</button>`)
	client := liveflux.ClientOptions{UseWebSocket: true}
	for _, p := range []string{"a", "b"} {
		s.page("/"+p, client, func(r *http.Request) template.HTML {
			return template.HTML(`<div data-flux-navigate><h2 id="title">page `+p+`</h2><a class="to-a" href="/a">a</a> <a class="to-b" href="/b">b</a> <a class="full" href="/b" data-flux-navigate="false">b in full</a> <a class="other" href="/other">other</a></div><section id="v0">`) +
				s.mount(r, "lab", map[string]string{"view": "nav"}) + `</section><div style="height: 3000px"></div><p id="end">end</p>`
		})
	}
	s.page("/other", liveflux.ClientOptions{UseWebSocket: true, Headers: map[string]string{"X-Other": "1"}}, func(r *http.Request) template.HTML {
		return `<h2 id="title">other</h2>`
	})
	tb := todo{newTab(t)}
	tb.navigate(s.URL + "/a")
	tb.waitSynced(1)
	tb.markPage()
	idA := tb.id("#v0 > [data-flux-component-id]")
	tb.do("scrolling down", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 1200)`))
	tb.do("recording the progress class", chromedp.Evaluate[chromedp.Void](`new MutationObserver(() => { if (document.documentElement.classList.contains("flux-navigating")) window.__progress = true; }).observe(document.documentElement, { attributes: true })`))
	tb.do("clicking b", chromedp.Evaluate[chromedp.Void](`document.querySelector(".to-b").click()`))
	tb.waitText("#title", "page b")
	tb.waitSynced(1)
	tb.assertNotReloaded("after a navigation")
	if !eval[bool](tb.tab, `window.__progress === true && !document.documentElement.classList.contains("flux-navigating") && scrollY === 0 && location.pathname === "/b"`) {
		t.Errorf("progress, scroll or path: %s", eval[string](tb.tab, `JSON.stringify([window.__progress, document.documentElement.className, scrollY, location.pathname])`))
	}
	if idB := tb.id("#v0 > [data-flux-component-id]"); idB == idA || idB == "" {
		t.Errorf("page b shows component %q, page a showed %q", idB, idA)
	}
	deadline := time.Now().Add(waitTimeout)
	for !s.leftBy(idA) {
		if time.Now().After(deadline) {
			t.Fatal("page a's component is still watched after the navigation (no leave)")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.click("#v0 .bump")
	tb.waitText("#v0 .n", "1")
	tb.do("going back", chromedp.NavigateBack())
	tb.waitText("#title", "page a")
	tb.waitFor("the scroll position restored", `scrollY === 1200`, `scrollY`)
	tb.assertNotReloaded("after Back")
	if n := len(tb.socketURLs()); n != 1 {
		t.Errorf("%d sockets, want 1", n)
	}
	tb.do("scrolling up", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	tb.click(".full")
	tb.waitText("#title", "page b")
	tb.waitFor("a full load", `window.__kept !== true`, "")
	tb.markPage()
	tb.click(".other") // another client configuration: loaded in full
	tb.waitText("#title", "other")
	tb.waitFor("a full load", `window.__kept !== true`, "")
}

// A flash sent with a redirect that loads the next page in full shows
// there, once: a reload of that page shows it no more.
func TestFlashAcrossRedirect(t *testing.T) {
	needBrowser(t)
	overBothTransports(t, func(t *testing.T, ws bool) {
		s := newServer(t)
		s.labView("away", `<button class="away" data-flux-action="flash-away">save</button>`)
		client := liveflux.ClientOptions{UseWebSocket: ws}
		s.labPage(client, "", "away")
		s.page("/flashed", client, func(*http.Request) template.HTML {
			return `<h2 id="title">flashed</h2><p id="flash" data-flux-flash="info" hidden></p><p id="any" data-flux-flash hidden></p><p id="other" data-flux-flash="error" hidden></p>`
		})
		tb := newTab(t)
		tb.navigate(s.URL)
		if ws {
			tb.waitSynced(1)
		}
		tb.click(rootSel("v0") + " .away")
		tb.waitText("#title", "flashed")
		tb.waitFor("the flash shown in the regions of its kind and of any", `document.querySelector("#flash").textContent === "Saved, then redirected." && !document.querySelector("#flash").hidden && document.querySelector("#any").textContent === "Saved, then redirected." && document.querySelector("#other").hidden`, `document.body.innerHTML`)
		tb.navigate(s.URL + "/flashed")
		tb.waitText("#title", "flashed")
		tb.waitFor("the client started", `!!window.Liveflux`, "")
		if !eval[bool](tb, `document.querySelector("#flash").hidden && document.querySelector("#flash").textContent === ""`) {
			t.Error("the flash shows again after a reload")
		}
	})
}
