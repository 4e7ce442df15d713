package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The examples built on topics and presence (examples/chat,
// examples/dashboard), each driven in several tabs at once.
// TestWebSocketExample drives examples/websocket, whose counters keep in
// sync through a topic.

// waitTexts waits until the elements sel selects have, in order, the
// trimmed texts want.
func waitTexts(tb *tab, sel string, want ...string) {
	tb.t.Helper()
	if want == nil {
		want = []string{}
	}
	js, _ := json.Marshal(want)
	list := fmt.Sprintf(`JSON.stringify([...document.querySelectorAll(%q)].map(e => e.textContent.trim()))`, sel)
	tb.waitFor(fmt.Sprintf("%s to read %s", sel, js), fmt.Sprintf(`%s === %q`, list, js), list)
}

// recordSent starts recording, in the page, the frames the page sends
// over its socket.
func recordSent(tb *tab) {
	tb.t.Helper()
	tb.do("recording sent frames", chromedp.Evaluate[chromedp.Void](`window.sentFrames = [];
		const send = WebSocket.prototype.send;
		WebSocket.prototype.send = function (d) { sentFrames.push(JSON.parse(d)); return send.call(this, d); };`))
}

// closeTab closes the tab, as the user does, after checking what its
// cleanup would: once the tab is closed, it cannot be asked.
func closeTab(tb *tab) {
	tb.t.Helper()
	if errs := eval[string](tb, `JSON.stringify(window.__e2e.errors)`); errs != "[]" {
		tb.t.Errorf("the client reported liveflux:error events: %s", errs)
	}
	tb.allowLfErrors = true // checked above
	c := chromedp.FromContext(tb.ctx)
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	if _, err := cdp.Call(ctx, c.Browser, target.CloseTarget, target.CloseTargetParams{TargetID: c.Target.TargetID}); err != nil {
		tb.t.Fatalf("closing the tab: %v", err)
	}
}

// examples/chat in three tabs, one visitor each: a message sent in one
// tab (with Enter, or the Send button) shows in all three; "3 online", and
// "2 online" once a tab is closed; a message half typed in the third tab
// keeps its text, caret and focus while the others' messages arrive, and
// is sent as typed.
func TestChatExample(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	base := startExample(t, "chat")
	names := []string{"Ada", "Bob", "Cy"}
	tabs := make([]*tab, len(names))
	for i, name := range names {
		tabs[i] = newTab(t)
		tabs[i].navigate(base + "?name=" + url.QueryEscape(name))
		tabs[i].waitShown("#status", "connected")
	}
	ada, bob, cy := tabs[0], tabs[1], tabs[2]
	for i, tb := range tabs {
		tb.waitText(".online-count", "3 online")
		online := []string{"Ada", "Bob", "Cy"}
		online[i] += " (you)"
		waitTexts(tb, ".online li", online...)
		tb.waitFor("no messages yet, said once", `!document.querySelector(".messages li") && getComputedStyle(document.querySelector(".empty")).display !== "none"`, `document.querySelector(".log").innerText`)
	}
	const box = `input[name=text]`
	messages := func(want ...string) {
		t.Helper()
		for _, tb := range tabs {
			if tb != nil {
				waitTexts(tb, ".messages .msg", want...)
				tb.waitFor("the placeholder hidden", `getComputedStyle(document.querySelector(".empty")).display === "none"`, "")
			}
		}
	}
	boxValue := func(tb *tab) string { return eval[string](tb, fmt.Sprintf(`document.querySelector(%q).value`, box)) }

	// Cy starts a message.
	cy.click(box)
	cy.typeSlowly("half")

	// Ada sends one with Enter: everyone sees it, her box is emptied.
	ada.click(box)
	ada.keys("hello from Ada")
	ada.keys(kb.Enter)
	messages("Ada hello from Ada")
	ada.waitFor("Ada's box emptied", fmt.Sprintf(`document.querySelector(%q).value === ""`, box), fmt.Sprintf(`document.querySelector(%q).value`, box))

	// Cy's draft is as she left it: text, caret, focus.
	draftIntact := func(want string) {
		t.Helper()
		cy.waitIdle()
		if got := boxValue(cy); got != want {
			t.Errorf("Cy's box holds %q, want her draft %q", got, want)
		}
		state := eval[string](cy, fmt.Sprintf(`(() => { const b = document.querySelector(%q);
			return (document.activeElement === b) + " " + b.selectionStart + " " + b.selectionEnd; })()`, box))
		if n := len([]rune(want)); state != fmt.Sprintf("true %d %d", n, n) {
			t.Errorf("Cy's box: focused, caret start and end = %s; want focused with the caret at %d", state, n)
		}
	}
	draftIntact("half")

	// Cy goes on typing; Bob sends one with the Send button meanwhile.
	cy.typeSlowly(" typ")
	bob.click(box)
	bob.keys("hi all")
	bob.click(`form.compose button[type=submit]`)
	messages("Ada hello from Ada", "Bob hi all")
	bob.waitFor("Bob's box emptied", fmt.Sprintf(`document.querySelector(%q).value === ""`, box), fmt.Sprintf(`document.querySelector(%q).value`, box))
	draftIntact("half typ")
	cy.typeSlowly("ed")
	draftIntact("half typed")

	// Cy sends it: as typed, and her box is emptied.
	cy.keys(kb.Enter)
	messages("Ada hello from Ada", "Bob hi all", "Cy half typed")
	cy.waitFor("Cy's box emptied", fmt.Sprintf(`document.querySelector(%q).value === ""`, box), fmt.Sprintf(`document.querySelector(%q).value`, box))

	// Bob closes his tab: he leaves the list.
	closeTab(bob)
	tabs[1] = nil
	for i, tb := range []*tab{ada, cy} {
		tb.waitText(".online-count", "2 online")
		online := []string{"Ada", "Cy"}
		online[i] += " (you)"
		waitTexts(tb, ".online li", online...)
	}
	// The room goes on without him.
	ada.keys("bye Bob")
	ada.keys(kb.Enter)
	messages("Ada hello from Ada", "Bob hi all", "Cy half typed", "Ada bye Bob")

	ada.do("leaving the box", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	saveScreenshot(t, "chat.png", ada.screenshot(760, 520))
}

// examples/dashboard in two tabs: both show the samples the server's
// goroutine publishes every second, the same samples, without sending a
// single action.
func TestDashboardExample(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	base := startExample(t, "dashboard")
	tabs := []*tab{newTab(t), newTab(t)}
	for _, tb := range tabs {
		tb.navigate(base)
		tb.waitShown("#status", "connected")
		recordSent(tb)
	}
	seq := func(tb *tab) int {
		return eval[int](tb, `+document.querySelector(".latest").dataset.seq`)
	}
	// Two samples newer than any either tab shows now.
	want := max(seq(tabs[0]), seq(tabs[1])) + 2
	for _, tb := range tabs {
		tb.waitFor(fmt.Sprintf("sample #%d", want), fmt.Sprintf(`+document.querySelector(".latest").dataset.seq >= %d`, want),
			`document.querySelector(".latest").textContent`)
	}
	// The same sample in both, with its values.
	row := fmt.Sprintf(`.samples tr[data-seq="%d"]`, want)
	cells := func(tb *tab) []string {
		return eval[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll('%s td')].map(td => td.textContent)`, row))
	}
	a, b := cells(tabs[0]), cells(tabs[1])
	if len(a) != 5 || a[0] != strconv.Itoa(want) || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("sample #%d: tab A shows %q, tab B %q; want the same five cells", want, a, b)
	}
	if rate, err := strconv.ParseFloat(a[2], 64); err != nil || rate < 0 || rate > 1000 {
		t.Errorf("sample #%d: request rate %q, want a number from 0 to 1000", want, a[2])
	}
	for i, tb := range tabs {
		if n := eval[int](tb, `document.querySelector(".card polyline").getAttribute("points").split(" ").length`); n < 2 {
			t.Errorf("tab %d: the sparkline has %d points, want at least 2", i, n)
		}
		if sent := eval[string](tb, `JSON.stringify(sentFrames.filter(f => f.type === "action"))`); sent != "[]" {
			t.Errorf("tab %d sent actions: %s", i, sent)
		}
	}
}
