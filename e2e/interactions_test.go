package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/go-liveflux/liveflux"
)

// The interaction grammar (README.md, "Interactions"), one test per
// capability, driven in the browser against lab components
// (server_test.go): each view is the markup under test, and the test
// checks the actions, with their fields, that reach the server.

// humanKeyDelay is the pause between two keys when a test types as a
// person does.
const humanKeyDelay = 80 * time.Millisecond

// typeSlowly types s into the focused element one key at a time, at human
// speed.
func (tb *tab) typeSlowly(s string) {
	tb.t.Helper()
	for _, r := range s {
		tb.keys(string(r))
		time.Sleep(humanKeyDelay)
	}
}

// recordKeys starts recording, in the page, when each input event happens.
func (tb *tab) recordKeys() {
	tb.t.Helper()
	tb.do("recording input events", chromedp.Evaluate[chromedp.Void](`window.inputTimes = [];
		document.addEventListener("input", () => inputTimes.push(performance.now()), true);`))
}

// checkDebounced checks that sends, the number of actions a debounce of
// wait ms sent for the input events recorded (recordKeys), is one per
// pause between them of at least wait, plus one for the last: at human
// speed, one. On a loaded machine a key may come late, making a pause; a
// pause close to wait may go either way.
func (tb *tab) checkDebounced(sends int, wait float64) {
	tb.t.Helper()
	times := eval[[]float64](tb, `inputTimes`)
	least, most := 1, 1
	for i := 1; i < len(times); i++ {
		if gap := times[i] - times[i-1]; gap >= wait*1.3 {
			least++
			most++
		} else if gap >= wait*0.9 {
			most++
		}
	}
	if sends < least || sends > most {
		tb.t.Errorf("%d actions for %d keys (times %v), want %d to %d: one per pause of %v ms", sends, len(times), times, least, most, wait)
	}
}

// act is shorthand for an expected action and some of its fields, given
// as name, value pairs.
func act(action string, fields ...string) labAct {
	data := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		data.Add(fields[i], fields[i+1])
	}
	return labAct{Action: action, Data: data}
}

// waitPageTime waits until ms milliseconds have passed in the page: long
// enough for a timer of the client to have fired if it were going to.
func (tb *tab) waitPageTime(ms int) {
	tb.t.Helper()
	start := eval[float64](tb, `performance.now()`)
	tb.waitFor(fmt.Sprintf("%d ms of page time", ms), fmt.Sprintf(`performance.now() > %f`, start+float64(ms)), "")
}

// Capability 1: triggers on any element and event: input, change, blur,
// focus, keydown/keyup, load, visible (every time, or once), custom DOM
// events, and several triggers on one element.
func TestTriggers(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("triggers", `
<div class="t-load" data-flux-action="loaded" data-flux-on="load"></div>
<input class="t-input" name="q" data-flux-action="typed" data-flux-on="input">
<select class="t-change" name="color" data-flux-action="picked" data-flux-on="change"><option>red</option><option>blue</option></select>
<input class="t-blur" name="b" data-flux-action="left" data-flux-on="blur">
<input class="t-focus" name="f" data-flux-action="entered" data-flux-on="focus">
<input class="t-keys" name="k" data-flux-action="key" data-flux-on="keydown.enter, keyup.escape">
<div class="t-custom" data-flux-action="custom" data-flux-value-n="{{.N}}" data-flux-on="chart-select, chart-zoom"></div>
<button class="mark" data-flux-action="mark">mark</button> <output class="n">{{.N}}</output>
<div style="height: 3000px"></div>
<div class="t-visible" data-flux-action="seen" data-flux-on="visible">visible</div>
<div class="t-visible-once" data-flux-action="seen-once" data-flux-on="visible.once">visible once</div>`)
	s.labPage(liveflux.ClientOptions{}, "", "triggers")
	tb := newTab(t)
	tb.navigate(s.URL)
	root := rootSel("v0")

	s.expectActs(0, act("loaded")) // on mount
	tb.click(root + " .t-input")
	tb.keys("a")
	s.expectActs(1, act("typed", "q", "a"))
	tb.keys("b")
	s.expectActs(2, act("typed", "q", "ab"))

	tb.focus(root + " .t-change")
	tb.keys(kb.ArrowDown)
	s.expectActs(3, act("picked", "color", "blue"))

	tb.click(root + " .t-blur")
	tb.click(root + " .t-focus") // leaves .t-blur, enters .t-focus
	// Two actions at one moment: over HTTP they travel side by side, and
	// either may reach the server first.
	s.expectActsInAnyOrder(4, act("left", "b", ""), act("entered", "f", ""))

	tb.click(root + " .t-keys")
	tb.keys("x")
	tb.keys(kb.Enter)
	s.expectActs(6, act("key", "k", "x"))
	tb.waitIdle()
	tb.keys(kb.Escape) // the server rendered the input empty: sent with Enter, it took that value
	s.expectActs(7, act("key", "k", ""))
	tb.waitIdle()

	tb.do("dispatching custom events", chromedp.Evaluate[chromedp.Void](`
		document.querySelector(".t-custom").dispatchEvent(new CustomEvent("chart-select", { bubbles: true }));`))
	s.expectActs(8, act("custom", "n", "8"))
	tb.waitText(root+" .n", "9")
	tb.do("dispatching custom events", chromedp.Evaluate[chromedp.Void](`
		document.querySelector(".t-custom").dispatchEvent(new CustomEvent("chart-zoom"));`))
	s.expectActs(9, act("custom", "n", "9"))

	// Scrolled into view: both; out of view and back: only the one
	// without .once.
	tb.do("scrolling down", chromedp.Evaluate[chromedp.Void](`document.querySelector(".t-visible-once").scrollIntoView()`))
	got := s.waitActs(12)[10:]
	if names := []string{got[0].Action, got[1].Action}; !(names[0] == "seen" && names[1] == "seen-once" || names[0] == "seen-once" && names[1] == "seen") {
		t.Fatalf("after scrolling down: %v, want seen and seen-once", got)
	}
	tb.do("scrolling up", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	tb.waitFor("the page scrolled up", `window.scrollY === 0`, `window.scrollY`)
	tb.click(root + " .mark")
	s.expectActs(12, act("mark"))
	tb.do("scrolling down", chromedp.Evaluate[chromedp.Void](`document.querySelector(".t-visible-once").scrollIntoView()`))
	s.expectActs(13, act("seen"))
	tb.do("scrolling up", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	tb.click(root + " .mark")
	s.expectActs(14, act("mark"))
	tb.waitIdle()
}

// focus focuses the element sel, as a user tabbing to it would.
func (tb *tab) focus(sel string) {
	tb.t.Helper()
	tb.do("focusing "+sel, chromedp.Focus(chromedp.CSS(sel)))
}

// Capability 2: modifiers. Debounce (typing at human speed sends one
// action), throttle, changed, key filters with modifier keys, once,
// prevent and stop, and listening on window or document.
func TestModifiers(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("modifiers", `
<input class="m-debounce" name="q" data-flux-action="search" data-flux-on="input.debounce.400ms">
<div class="m-throttle" data-flux-action="tick" data-flux-on="ping.throttle.10s"></div>
<input class="m-changed" name="c" data-flux-action="changed" data-flux-on="keyup.changed">
<textarea class="m-keys" name="k" data-flux-action="enter" data-flux-on="keydown.enter.prevent"></textarea>
<input class="m-ctrl" name="ce" data-flux-action="ctrl-enter" data-flux-on="keydown.ctrl.enter">
<button class="m-once" data-flux-action="once" data-flux-on="click.once">once</button>
<form class="m-form" data-flux-action="submitted"><input class="m-prevent" name="p" data-flux-action="kept" data-flux-on="keydown.enter.prevent"></form>
<div class="m-outer" onclick="window.outerClicks = (window.outerClicks || 0) + 1"><button class="m-stop" data-flux-action="stopped" data-flux-on="click.stop">stop</button></div>
<div data-flux-action="escaped" data-flux-on="keydown.escape.window"></div>
<div data-flux-action="doc-key" data-flux-on="keyup.document.shift.k"></div>
<button class="mark" data-flux-action="mark">mark</button>`)
	s.labPage(liveflux.ClientOptions{}, "", "modifiers")
	tb := newTab(t)
	tb.navigate(s.URL)
	root := rootSel("v0")
	n := 0
	next := func(want ...labAct) {
		t.Helper()
		s.expectActs(n, want...)
		n += len(want)
	}
	mark := func() {
		t.Helper()
		tb.click(root + " .mark")
		next(act("mark"))
	}

	// Debounce: one action, after the last key.
	tb.click(root + " .m-debounce")
	tb.recordKeys()
	tb.typeSlowly("liveflux")
	start := n
	var acts []labAct
	for k := start + 1; len(acts) == 0 || acts[len(acts)-1].Data.Get("q") != "liveflux"; k++ {
		acts = s.waitActs(k)
	}
	tb.click(root + " .mark")
	s.expectActs(len(acts), act("mark"))
	searches := acts[start:]
	n = len(acts) + 1
	for _, a := range searches {
		if a.Action != "search" {
			t.Fatalf("actions: %v, want searches then mark", searches)
		}
	}
	if len(searches) == 0 || searches[len(searches)-1].Data.Get("q") != "liveflux" {
		t.Fatalf("searches: %v, want the last for liveflux", searches)
	}
	tb.checkDebounced(len(searches), 400)

	// Throttle: the first of a burst.
	tb.do("pinging", chromedp.Evaluate[chromedp.Void](`for (let i = 0; i < 5; i++) document.querySelector(".m-throttle").dispatchEvent(new Event("ping"))`))
	next(act("tick"))
	mark()

	// Changed: a key that changes nothing sends nothing.
	tb.click(root + " .m-changed")
	tb.keys(kb.ArrowLeft)
	tb.keys("z")
	next(act("changed", "c", "z"))
	tb.keys(kb.ArrowLeft)
	mark()

	// Key filters: Shift+Enter is not Enter; prevent keeps the newline out.
	tb.click(root + " .m-keys")
	tb.keys("a")
	tb.keys(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift))
	tb.keys("b")
	tb.keys(kb.Enter)
	next(act("enter", "k", "a\nb"))
	tb.click(root + " .m-ctrl")
	tb.keys(kb.Enter)
	tb.keys(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl))
	next(act("ctrl-enter"))

	// Once.
	tb.click(root + " .m-once")
	next(act("once"))
	tb.click(root + " .m-once")
	mark()

	// prevent: Enter in the input does not submit its form.
	tb.click(root + " .m-prevent")
	tb.pressEnter()
	next(act("kept"))
	mark()

	// stop: the page's handler on the parent does not see the click.
	tb.click(root + " .m-stop")
	next(act("stopped"))
	if c := eval[int](tb, `window.outerClicks || 0`); c != 0 {
		t.Errorf("the parent saw %d clicks, want none (stop)", c)
	}

	// window and document: keys anywhere.
	tb.do("blurring", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	tb.keys(kb.Escape)
	next(act("escaped"))
	tb.keys("K", chromedp.KeyModifiers(chromedp.ModifierShift))
	next(act("doc-key"))
	mark()
	tb.waitIdle()
	if got := s.acts(); len(got) != n {
		t.Errorf("%d actions, want %d: %v", len(got), n, got)
	}
}

// Capability 3: polling. An element with every.N sends its action every N
// while in the page, not while the tab is hidden, and stops when removed.
func TestPolling(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("poll", `{{if not .Off}}<div class="poll" data-flux-action="poll" data-flux-on="every.200ms"></div>{{end}}
<button class="off" data-flux-action="off">off</button>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, "", "poll")
	tb := newTab(t)
	tb.navigate(s.URL)
	s.expectActs(0, act("poll"), act("poll"), act("poll"))

	// Hidden: the page says so, as a browser does for a background tab.
	tb.do("hiding the page", chromedp.Evaluate[chromedp.Void](`
		Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
		document.dispatchEvent(new Event("visibilitychange"));`))
	tb.waitPageTime(250) // an action sent before may still be on its way
	before := len(s.acts())
	tb.waitPageTime(1000)
	if n := len(s.acts()) - before; n != 0 {
		t.Errorf("%d polls while hidden, want none", n)
	}
	tb.do("showing the page", chromedp.Evaluate[chromedp.Void](`
		delete document.hidden;
		document.dispatchEvent(new Event("visibilitychange"));`))
	s.waitActs(before + 2)

	// Removed by an update: no more polls.
	tb.click(rootSel("v0") + " .off")
	tb.waitFor("the poller removed", `!document.querySelector(".poll")`, "")
	tb.waitPageTime(250)
	after := len(s.acts())
	tb.waitPageTime(1000)
	if n := len(s.acts()) - after; n != 0 {
		t.Errorf("%d polls after the element left the page, want none", n)
	}
	acts := s.acts()
	offAt := slices.IndexFunc(acts, func(a labAct) bool { return a.Action == "off" })
	for _, a := range acts[offAt+1:] {
		t.Errorf("action after the poller was removed: %v", a)
	}
}

// Capability 4: loading states aimed at elements: shown, hidden, a class,
// controls disabled, while an action (any, or the one named) is in flight;
// a submit button's "disable with" text.
func TestLoadingStates(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("loading", `
<button class="slow" data-flux-action="slow">slow</button>
<button class="slow2" data-flux-action="slow2">slow2</button>
<span class="spin" data-flux-loading hidden>loading…</span>
<span class="idle" data-flux-loading="hide">idle</span>
<span class="for-slow" data-flux-loading="show" data-flux-loading-for="slow" hidden>slow…</span>
<div class="dimmer" data-flux-loading="class.dim, class.busy-too" data-flux-loading-for="slow"></div>
<input class="ctl" name="x" data-flux-loading="disable">
<input class="ctl-off" name="y" disabled data-flux-loading="disable">
<form data-flux-action="slow"><input name="z"><button class="submit" type="submit" data-flux-disable-with="Saving…">Save <b>now</b></button></form>
<output class="n">{{.N}}</output>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, "", "loading")
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(1)
	root := rootSel("v0")
	type state struct {
		Spin, Idle, ForSlow, Dim, Ctl, CtlOff, Busy, Submit bool
		Text                                                string
	}
	read := fmt.Sprintf(`(() => { const r = document.querySelector(%q), q = (s) => r.querySelector(s);
		return { Spin: !q(".spin").hidden, Idle: !q(".idle").hidden, ForSlow: !q(".for-slow").hidden,
			Dim: q(".dimmer").classList.contains("dim") && q(".dimmer").classList.contains("busy-too"),
			Ctl: q(".ctl").disabled, CtlOff: q(".ctl-off").disabled, Busy: r.classList.contains("flux-busy"),
			Submit: q(".submit").disabled, Text: q(".submit").innerHTML }; })()`, root)
	waitState := func(what string, want state) {
		t.Helper()
		wantJSON := fmt.Sprintf(`{"Spin":%v,"Idle":%v,"ForSlow":%v,"Dim":%v,"Ctl":%v,"CtlOff":%v,"Busy":%v,"Submit":%v,"Text":%q}`,
			want.Spin, want.Idle, want.ForSlow, want.Dim, want.Ctl, want.CtlOff, want.Busy, want.Submit, want.Text)
		tb.waitFor(what, `JSON.stringify(`+read+`) === `+fmt.Sprintf("%q", wantJSON), read)
	}
	idle := state{Idle: true, CtlOff: true, Text: "Save <b>now</b>"}
	waitState("idle", idle)

	release := s.holdSlow()
	tb.click(root + " .slow")
	waitState("slow in flight", state{Spin: true, ForSlow: true, Dim: true, Ctl: true, CtlOff: true, Busy: true, Text: "Save <b>now</b>"})
	release()
	tb.waitText(root+" .n", "1")
	waitState("idle after slow", idle)

	// Another action: the states for any action, not those for "slow".
	release = s.holdSlow()
	tb.click(root + " .slow2")
	waitState("slow2 in flight", state{Spin: true, Ctl: true, CtlOff: true, Busy: true, Text: "Save <b>now</b>"})
	release()
	tb.waitText(root+" .n", "2")
	waitState("idle after slow2", idle)

	// The submit button of the form whose action is in flight.
	release = s.holdSlow()
	tb.click(root + " .submit")
	waitState("the form's action in flight", state{Spin: true, ForSlow: true, Dim: true, Ctl: true, CtlOff: true, Busy: true, Submit: true, Text: "Saving…"})
	release()
	tb.waitText(root+" .n", "3")
	waitState("idle after the form", idle)
}

// Capability 5: confirm. The action is sent only when the user accepts a
// real confirm dialog with the given text.
func TestConfirm(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("confirm", `<button class="del" data-flux-action="delete" data-flux-confirm="Delete “draft”?">Delete</button>
<button class="mark" data-flux-action="mark">mark</button>`)
	s.labPage(liveflux.ClientOptions{}, "", "confirm")
	tb := newTab(t)
	tb.navigate(s.URL)
	root := rootSel("v0")

	tb.acceptDialogs.Store(false)
	tb.click(root + " .del")
	tb.click(root + " .mark")
	s.expectActs(0, act("mark"))

	tb.acceptDialogs.Store(true)
	tb.click(root + " .del")
	s.expectActs(1, act("delete"))
	tb.waitIdle()
	if got := tb.dialogMessages(); !slices.Equal(got, []string{"Delete “draft”?", "Delete “draft”?"}) {
		t.Errorf("dialogs: %q, want the question twice", got)
	}
	if n := len(s.acts()); n != 2 {
		t.Errorf("%d actions, want 2: %v", n, s.acts())
	}
}

// Capability 6: fields from outside the component, by selector: a
// control, or every control inside the element selected.
func TestInclude(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("include", `<button class="go" data-flux-action="go" data-flux-value-own="1" data-flux-include="#ext, #filters">Go</button>`)
	s.labPage(liveflux.ClientOptions{}, `<input id="ext" name="ext" value="outside">
<div id="filters"><input name="f1" value="a"><input type="checkbox" name="f2" value="b" checked><input type="checkbox" name="f3" value="c"><select name="f4"><option>x</option><option selected>y</option></select></div>`, "include")
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.click("#ext")
	tb.keys("!")
	tb.click(rootSel("v0") + " .go")
	s.expectActs(0, act("go", "own", "1", "ext", "outside!", "f1", "a", "f2", "b", "f4", "y"))
	if _, ok := s.acts()[0].Data["f3"]; ok {
		t.Error("an unchecked box was sent")
	}
	tb.waitIdle()
}

// Capability 7: an element in one component runs an action on another,
// named by ID or by kind (every one of that kind on the page).
func TestTarget(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("target", `<button class="by-id" data-flux-action="inc" data-flux-target="{{index .P "to"}}">+ first</button>
<button class="by-kind" data-flux-action="dec" data-flux-target="counter">− all</button>`)
	idRE := regexp.MustCompile(`data-flux-component-id="([^"]+)"`)
	s.page("/{$}", liveflux.ClientOptions{UseWebSocket: true}, func(r *http.Request) template.HTML {
		first := s.mount(r, "counter", map[string]string{"start": "0"})
		second := s.mount(r, "counter", map[string]string{"start": "100"})
		to := idRE.FindStringSubmatch(string(first))[1]
		return `<section id="c0">` + first + `</section><section id="c1">` + second + `</section><section id="v0">` +
			s.mount(r, "lab", map[string]string{"view": "target", "to": to}) + `</section>`
	})
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(3)
	tb.click(rootSel("v0") + " .by-id")
	tb.waitText(rootSel("c0")+" .count", "1")
	tb.click(rootSel("v0") + " .by-kind")
	tb.waitText(rootSel("c0")+" .count", "0")
	tb.waitText(rootSel("c1")+" .count", "99")
	tb.waitIdle()
	if acts := s.acts(); len(acts) != 0 {
		t.Errorf("the lab itself got actions: %v", acts)
	}
}

// Capability 8: an element marked data-flux-ignore is never touched by
// updates: what a third-party script put there stays.
func TestIgnore(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("ignore", `<div id="widget" class="from-server" data-flux-ignore>server {{.N}}</div>
<output class="n">{{.N}}</output><button class="bump" data-flux-action="bump">bump</button>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, "", "ignore")
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(1)
	tb.do("running the widget", chromedp.Evaluate[chromedp.Void](`const w = document.getElementById("widget");
		w.innerHTML = "<canvas></canvas><b>third-party</b>"; w.className = "mine"; w.dataset.state = "playing";`))
	root := rootSel("v0")
	tb.click(root + " .bump")
	tb.waitText(root+" .n", "1")
	tb.click(root + " .bump")
	tb.waitText(root+" .n", "2")
	got := eval[string](tb, `(() => { const w = document.getElementById("widget"); return w.innerHTML + "|" + w.className + "|" + w.dataset.state; })()`)
	if want := "<canvas></canvas><b>third-party</b>|mine|playing"; got != want {
		t.Errorf("widget after updates: %q, want %q", got, want)
	}
}

// Capability 9: an update that answers a form's action sets the values the
// server rendered (the chat box it renders empty is emptied), whether the
// form was sent with Enter or with the button; an update pushed from
// elsewhere never overwrites what the user is typing.
func TestServerControlsInputs(t *testing.T) {
	needBrowser(t)
	for _, ws := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "websocket"}[ws], func(t *testing.T) {
			s := newServer(t)
			s.labView("chat", `<div class="msgs">{{range .Msgs}}<p class="msg">{{.}}</p>{{end}}</div>
<form data-flux-action="send"><input class="box" name="msg" value="" autocomplete="off"><button class="send">Send</button></form>`)
			s.labPage(liveflux.ClientOptions{UseWebSocket: ws}, "", "chat")
			tb := newTab(t)
			tb.navigate(s.URL)
			if ws {
				tb.waitSynced(1)
			}
			root := rootSel("v0")
			box := root + " .box"
			value := func() string { return eval[string](tb, fmt.Sprintf(`document.querySelector(%q).value`, box)) }

			tb.click(box)
			tb.keys("hello")
			tb.keys(kb.Enter)
			tb.waitText(root+" .msgs", "hello")
			tb.waitFor("the box emptied after Enter", fmt.Sprintf(`document.querySelector(%q).value === ""`, box), fmt.Sprintf(`document.querySelector(%q).value`, box))
			if !eval[bool](tb, fmt.Sprintf(`document.activeElement === document.querySelector(%q)`, box)) {
				t.Error("the box lost focus")
			}
			tb.keys("world")
			tb.click(root + " .send")
			tb.waitText(root+" .msgs", "helloworld")
			tb.waitFor("the box emptied after Send", fmt.Sprintf(`document.querySelector(%q).value === ""`, box), fmt.Sprintf(`document.querySelector(%q).value`, box))

			// Typing while updates come from elsewhere.
			tb.click(box)
			tb.keys("draft")
			id := tb.id(root)
			s.postAction("lab", id, "push")
			if ws {
				tb.waitText(root+" .msgs", "helloworldmessage 3")
			} else {
				tb.do("re-rendering", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`Liveflux.action(%q, "")`, id)))
				tb.waitText(root+" .msgs", "helloworldmessage 3")
			}
			tb.waitIdle()
			if got := value(); got != "draft" {
				t.Errorf("the box holds %q after an update from elsewhere, want the typed draft", got)
			}
			tb.keys("!")
			if got := value(); got != "draft!" {
				t.Errorf("the box holds %q, want draft!", got)
			}
		})
	}
}

// Capability 10: focus never leaves the focused input during an update:
// a morph that moves it (messages inserted above it) fires no focusout or
// focusin, so a blur trigger fires only when the user leaves.
func TestFocusStaysDuringUpdates(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("focus", `{{range .Msgs}}<p class="msg">{{.}}</p>{{end}}
<input id="note-{{.GetID}}" class="note" name="note" data-flux-action="check" data-flux-on="blur" autocomplete="off">
<button class="other">elsewhere</button>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, "", "focus")
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(1)
	root := rootSel("v0")
	tb.do("counting focus events", chromedp.Evaluate[chromedp.Void](`window.focusEvents = [];
		for (const type of ["focusin", "focusout", "blur", "focus"]) document.addEventListener(type, (e) => e.target.classList?.contains("note") && focusEvents.push(type), true);`))
	tb.click(root + " .note")
	tb.keys("abc")
	eval[bool](tb, `(focusEvents.length = 0, true)`)
	id := tb.id(root)
	for i := 1; i <= 3; i++ {
		s.postAction("lab", id, "push")
		tb.waitFor(fmt.Sprintf("%d messages above the input", i), fmt.Sprintf(`document.querySelectorAll(".msg").length === %d`, i), `document.querySelectorAll(".msg").length`)
	}
	if got := eval[[]string](tb, `focusEvents`); len(got) != 0 {
		t.Errorf("updates fired %q on the input, want none", got)
	}
	if !eval[bool](tb, `document.activeElement?.classList.contains("note") && document.activeElement.value === "abc"`) {
		t.Error("the input lost focus or text")
	}
	if n := len(s.acts()); n != 3 {
		t.Errorf("%d actions, want the 3 pushes only (no blur check): %v", n, s.acts())
	}
	tb.click(root + " .other")
	s.expectActs(3, act("check", "note", "abc", liveflux.FieldTrigger, "note"))
	tb.waitIdle()
}

// Capability 12: file uploads. A form with a file input sends its files
// over HTTP even while the socket is open; a 5 MB file arrives
// byte-identical; progress shows as events and on a progress bar; limits
// on size and count answer with a clear error.
func TestUpload(t *testing.T) {
	needBrowser(t)
	s := newServer(t, liveflux.WithMaxUploadBytes(6<<20), liveflux.WithMaxUploadFiles(2))
	s.labView("upload", `<form data-flux-action="upload"><input type="file" name="doc" multiple><input name="note" value="n1">
<progress data-flux-progress max="1" value="0"></progress><button class="up">Upload</button></form>
<ul>{{range .Files}}<li class="file">{{.}}</li>{{end}}</ul><output class="n">{{.N}}</output>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, "", "upload")
	tb := newTab(t, expectLivefluxErrors(),
		allowBrowserError(`Failed to load resource: the server responded with a status of 413 \(Request Entity Too Large\) \[http://127\.0\.0\.1:\d+/liveflux\]`))
	tb.navigate(s.URL)
	tb.waitSynced(1)
	tb.do("recording progress", chromedp.Evaluate[chromedp.Void](`window.progress = [];
		document.addEventListener("liveflux:progress", (e) => progress.push({ ...e.detail, bar: e.target.querySelector("progress").value }));`))
	root := rootSel("v0")
	dir := t.TempDir()
	file := func(name string, size int) (path, line string) {
		b := make([]byte, size)
		rand.Read(b)
		path = filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path, fmt.Sprintf("%s %d %x", name, size, sha256.Sum256(b))
	}
	big, bigLine := file("big.bin", 5<<20)
	tb.do("choosing a file", chromedp.SetUploadFiles(chromedp.CSS(root+` input[type=file]`), []string{big}))
	before := s.httpActions.Load()
	tb.click(root + " .up")
	tb.waitText(root+" .file", bigLine)
	if n := s.httpActions.Load() - before; n != 1 {
		t.Errorf("%d actions over HTTP, want the upload", n)
	}
	if got := s.acts()[0].Data.Get("note"); got != "n1" {
		t.Errorf("field note = %q, want n1 along with the file", got)
	}
	type prog struct {
		ComponentID   string `json:"componentID"`
		Action        string `json:"action"`
		Loaded, Total int
		Bar           float64
	}
	ps := eval[[]prog](tb, `progress.map(p => ({componentID: p.componentID, action: p.action, Loaded: p.loaded, Total: p.total, Bar: p.bar}))`)
	if len(ps) == 0 || ps[len(ps)-1].Loaded != ps[len(ps)-1].Total || ps[0].Total < 5<<20 || ps[0].Action != "upload" || ps[0].ComponentID != tb.id(root) {
		t.Errorf("progress events: %+v, want some, the last complete, about the upload", ps)
	} else if last := ps[len(ps)-1]; last.Bar != 1 {
		t.Errorf("progress bar at %v when the upload was complete, want 1", last.Bar)
	}

	// Too many files, then too many bytes: 413 with the reason.
	a, _ := file("a.txt", 10)
	b, _ := file("b.txt", 10)
	c, _ := file("c.txt", 10)
	tb.do("choosing three files", chromedp.SetUploadFiles(chromedp.CSS(root+` input[type=file]`), []string{a, b, c}))
	tb.click(root + " .up")
	tb.waitFor("an error", `window.__e2e.errors.length === 1`, `window.__e2e.errors`)
	huge, _ := file("huge.bin", 7<<20)
	tb.do("choosing a huge file", chromedp.SetUploadFiles(chromedp.CSS(root+` input[type=file]`), []string{huge}))
	tb.click(root + " .up")
	tb.waitFor("another error", `window.__e2e.errors.length === 2`, `window.__e2e.errors`)
	errs := eval[[]map[string]any](tb, `window.__e2e.errors`)
	if errs[0]["status"] != float64(413) || errs[0]["message"] != "more than 2 files" {
		t.Errorf("three files: %v, want 413 more than 2 files", errs[0])
	}
	if errs[1]["status"] != float64(413) || !strings.HasPrefix(fmt.Sprint(errs[1]["message"]), fmt.Sprintf("request body over %d bytes", 6<<20)) {
		t.Errorf("7 MB: %v, want 413 request body over 6 MiB", errs[1])
	}
	if n := len(s.acts()); n != 1 {
		t.Errorf("%d actions reached the component, want only the first upload", n)
	}
}

// Events a component emits (liveflux.Emit) are dispatched on its root, with
// their detail, where another component's data-flux-on="NAME.document"
// hears them; over HTTP and WebSocket.
func TestEmittedEvents(t *testing.T) {
	needBrowser(t)
	for _, ws := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "websocket"}[ws], func(t *testing.T) {
			s := newServer(t)
			s.labView("emitter", `<button class="emit" data-flux-action="emit">emit</button>`)
			s.labView("listener", `<div data-flux-action="heard" data-flux-on="lab-said.document"></div>`)
			s.labPage(liveflux.ClientOptions{UseWebSocket: ws}, `<script>window.said = [];
  document.addEventListener("lab-said", (e) => said.push({ detail: e.detail, fromRoot: !!e.target.closest?.("#v0") }));</script>`, "emitter", "listener")
			tb := newTab(t)
			tb.navigate(s.URL)
			if ws {
				tb.waitSynced(2)
			}
			tb.click(rootSel("v0") + " .emit")
			s.expectActs(0, act("emit"), act("heard"))
			if got := s.acts()[1].ID; got != tb.id(rootSel("v1")) {
				t.Errorf("heard by %s, want the listener", got)
			}
			type said struct {
				Detail   map[string]int `json:"detail"`
				FromRoot bool           `json:"fromRoot"`
			}
			if got := eval[[]said](tb, `said`); len(got) != 1 || got[0].Detail["n"] != 1 || !got[0].FromRoot {
				t.Errorf("events seen: %+v, want one with detail {n: 1} from the emitter's root", got)
			}
			tb.waitIdle()
		})
	}
}

// Capability 13: the client API. window.Liveflux runs actions, mounts
// placeholders and tells the socket's state; the liveflux:* events carry
// the documented details; mounted, updated and removed serve as lifecycle
// hooks; a page handler that called preventDefault wins.
func TestClientAPI(t *testing.T) {
	needBrowser(t)
	s := newServer(t)
	s.labView("api", `<output class="n">{{.N}}</output>
<button class="mine" data-flux-action="clicked" onclick="event.preventDefault()">page handles it</button>
<button class="mark" data-flux-action="mark">mark</button>`)
	s.labPage(liveflux.ClientOptions{UseWebSocket: true}, `<script>
  window.seen = [];
  for (const name of ["mounted", "updated", "removed", "message", "connected"])
    document.addEventListener("liveflux:" + name, (e) => seen.push({ name, detail: e.detail, onRoot: e.target !== document }));
</script>`, "api")
	tb := newTab(t)
	tb.navigate(s.URL)
	tb.waitSynced(1)
	root := rootSel("v0")
	id := tb.id(root)
	if st := eval[string](tb, `Liveflux.socketState`); st != "open" {
		t.Errorf("socketState %q, want open", st)
	}

	tb.do("calling Liveflux.action", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`Liveflux.action(%q, "api", { a: 1, b: ["x", "y"] })`, id)))
	s.expectActs(0, labAct{Action: "api", Data: url.Values{"a": {"1"}, "b": {"x", "y"}}})
	tb.waitText(root+" .n", "1")

	// preventDefault in a page handler wins.
	tb.click(root + " .mine")
	tb.click(root + " .mark")
	s.expectActs(1, act("mark"))
	tb.waitText(root+" .n", "2")

	// Mount from script, then remove.
	tb.do("mounting", chromedp.Evaluate[chromedp.Void](`(async () => {
		const el = document.createElement("div");
		el.setAttribute("data-flux-component-kind", "counter");
		el.setAttribute("data-flux-param-start", "7");
		document.body.append(el);
		window.mountedRoot = await Liveflux.mount(el);
	})()`))
	tb.waitFor("Liveflux.mount to resolve", `window.mountedRoot?.getAttribute("data-flux-component-id")`, "")
	tb.waitText("body > [data-flux-component-kind=counter] .count", "7")
	counterID := eval[string](tb, `mountedRoot.getAttribute("data-flux-component-id")`)
	tb.do("removing", chromedp.Evaluate[chromedp.Void](`mountedRoot.remove()`))
	tb.waitFor("liveflux:removed", `seen.some(e => e.name === "removed")`, `seen.map(e => e.name)`)

	type ev struct {
		Name   string         `json:"name"`
		Detail map[string]any `json:"detail"`
		OnRoot bool           `json:"onRoot"`
	}
	events := eval[[]ev](tb, `seen`)
	find := func(name string, match func(map[string]any) bool) *ev {
		for i := range events {
			if events[i].Name == name && match(events[i].Detail) {
				return &events[i]
			}
		}
		return nil
	}
	is := func(d map[string]any, id, kind string) bool {
		return d["componentID"] == id && d["kind"] == kind && len(d) == 2
	}
	if e := find("mounted", func(d map[string]any) bool { return is(d, id, "lab") }); e == nil || !e.OnRoot {
		t.Errorf("no liveflux:mounted {componentID, kind} on the lab's root: %+v", events)
	}
	if e := find("updated", func(d map[string]any) bool { return is(d, id, "lab") }); e == nil || !e.OnRoot {
		t.Errorf("no liveflux:updated {componentID, kind} on the lab's root: %+v", events)
	}
	if e := find("mounted", func(d map[string]any) bool { return is(d, counterID, "counter") }); e == nil {
		t.Errorf("no liveflux:mounted for the counter mounted from script: %+v", events)
	}
	if e := find("removed", func(d map[string]any) bool { return is(d, counterID, "counter") }); e == nil || e.OnRoot {
		t.Errorf("no liveflux:removed {componentID, kind} on document for the counter: %+v", events)
	}
	if e := find("message", func(d map[string]any) bool { return d["type"] == "update" && d["componentID"] == id }); e == nil {
		t.Errorf("no liveflux:message with the update frame: %+v", events)
	}
	if e := find("connected", func(d map[string]any) bool { return len(d) == 0 }); e == nil {
		t.Errorf("no liveflux:connected {}: %+v", events)
	}
	tb.waitIdle()
	if n := len(s.acts()); n != 2 {
		t.Errorf("%d actions, want 2 (the page's handler kept its click): %v", n, s.acts())
	}
}

// pressEnter presses Enter as a keyboard does: one key-down that carries
// its text, so that a page calling preventDefault on keydown also stops
// the keypress and what follows (a form's implicit submission). chromedp's
// KeyEvent sends the text as a separate event, which Chromium turns into a
// keypress whatever keydown's handlers did.
func (tb *tab) pressEnter() {
	tb.t.Helper()
	down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r"}
	up := down
	up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
	tb.do("pressing Enter", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, p := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	}))
}
