package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// todo drives the TodoMVC example in a tab.
type todo struct{ *tab }

// waitTitles waits until the list shows exactly these titles ("": none).
func (tb todo) waitTitles(want string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("the list to show %q", want),
		fmt.Sprintf(`[...document.querySelectorAll(".todo-list li label")].map((l) => l.textContent).join("|") === %q`, want),
		`[...document.querySelectorAll(".todo-list li label")].map((l) => l.textContent).join("|")`)
}

// add types title into the new todo field and presses Enter.
func (tb todo) add(title string) {
	tb.t.Helper()
	tb.click(".new-todo")
	tb.keys(title)
	tb.pressEnter()
	tb.waitFor("the new todo field to be emptied", `document.querySelector(".new-todo").value === ""`, `document.querySelector(".new-todo").value`)
}

// center returns the viewport coordinates of the middle of the element sel.
func (tb todo) center(sel string) []float64 {
	tb.t.Helper()
	return eval[[]float64](tb.tab, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel))
}

// hover moves the mouse over the element sel.
func (tb todo) hover(sel string) {
	tb.t.Helper()
	xy := tb.center(sel)
	tb.do("hovering "+sel, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: xy[0], Y: xy[1]})
		return err
	}))
}

// visible reports whether the element sel is rendered and displayed.
func (tb todo) visible(sel string) bool {
	tb.t.Helper()
	return eval[bool](tb.tab, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.getClientRects().length > 0; })()`, sel))
}

// path returns the page's path.
func (tb todo) path() string { return eval[string](tb.tab, `location.pathname`) }

// markPage marks the document, so that a later check tells whether the
// page was loaded again (the mark is gone) or not.
func (tb todo) markPage() {
	tb.do("marking the page", chromedp.Evaluate[chromedp.Void](`window.__kept = true`))
}

func (tb todo) assertNotReloaded(when string) {
	tb.t.Helper()
	if !eval[bool](tb.tab, `window.__kept === true`) {
		tb.t.Fatalf("%s: the page was loaded again", when)
	}
}

// waitByEval waits until cond is true in the page, evaluating it every 20
// ms for at most waitTimeout: unlike waitFor's in-page polling, it goes on
// in a document the back-forward cache restored.
func (tb todo) waitByEval(what, cond string) {
	tb.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-tb.ctx.Done():
		}
	}
	tb.t.Fatalf("timed out waiting for %s (%s)", what, cond)
}

// mouseClick clicks the middle of the element sel with the mouse.
func (tb todo) mouseClick(sel string) {
	tb.t.Helper()
	xy := tb.center(sel)
	tb.do("clicking "+sel, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchMouseEventType{input.DispatchMouseEventTypeMousePressed, input.DispatchMouseEventTypeMouseReleased} {
			p := input.DispatchMouseEventParams{Type: typ, X: xy[0], Y: xy[1], Button: input.MouseButtonLeft, ClickCount: 1}
			if _, err := cdp.Call(ctx, t, input.DispatchMouseEvent, p); err != nil {
				return err
			}
		}
		return nil
	}))
}

// sibling opens another tab of the same browser (its cookies, so the same
// visitor), checked as newTab's are.
func (tb *tab) sibling() *tab {
	tb.t.Helper()
	other := &tab{t: tb.t, more: make(chan struct{}), allowBrowser: tb.allowBrowser}
	ctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithListener(other.listen))
	other.ctx = ctx
	tb.t.Cleanup(func() {
		other.checkLivefluxErrors()
		other.checkProblems()
		cancel()
	})
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recorderJS})
		return err
	}))
	if err != nil {
		tb.t.Fatalf("opening a tab: %v", err)
	}
	return other
}

// TestTodoMVCExample drives examples/todomvc through the groups of the
// TodoMVC app spec (tests/test.js of todomvc.com): no todos, new todo,
// mark all as completed, item, editing, counter, clear completed,
// persistence, routing with Back and Forward. Then what Liveflux adds:
// two tabs of one visitor in sync, the about page loaded without a reload
// and back, a flash after a redirect, an error shown by markup, and a
// return from the back-forward cache. The page has no script of its own;
// no console error is allowed.
func TestTodoMVCExample(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	base := startExample(t, "todomvc")
	tb := todo{newTab(t, expectLivefluxErrors())}
	tb.navigate(base)
	tb.waitSynced(1)
	if n := eval[int](tb.tab, `document.querySelectorAll("script:not([data-liveflux-config])").length`); n != 0 {
		t.Errorf("the page has %d scripts of its own", n)
	}
	tb.markPage()

	t.Log("no todos: #main and #footer are hidden")
	if tb.visible(".main") || tb.visible(".footer") {
		t.Error("main or footer shown without todos")
	}

	t.Log("new todo")
	if !eval[bool](tb.tab, `document.activeElement === document.querySelector(".new-todo")`) {
		t.Error("the new todo field is not focused on load")
	}
	tb.add("buy some cheese")
	tb.waitTitles("buy some cheese")
	tb.add("feed the cat")
	tb.add("book a doctors appointment")
	tb.waitTitles("buy some cheese|feed the cat|book a doctors appointment")
	tb.add("   trim me   ")
	tb.waitTitles("buy some cheese|feed the cat|book a doctors appointment|trim me")
	tb.click(".new-todo")
	tb.keys("   ")
	tb.pressEnter()
	tb.waitIdle()
	tb.waitTitles("buy some cheese|feed the cat|book a doctors appointment|trim me")
	if !tb.visible(".main") || !tb.visible(".footer") {
		t.Error("main or footer hidden with todos")
	}
	// Escape empties the focused field: the server renders it empty.
	tb.keys("half typed")
	tb.keys(kb.Escape)
	tb.waitFor("Escape to empty the new todo field", `document.querySelector(".new-todo").value === ""`, `document.querySelector(".new-todo").value`)
	if !eval[bool](tb.tab, `document.activeElement === document.querySelector(".new-todo")`) {
		t.Error("the new todo field lost the focus on Escape")
	}
	tb.hover(".todo-list li:nth-child(4)")
	tb.click(".todo-list li:nth-child(4) .destroy")
	tb.waitTitles("buy some cheese|feed the cat|book a doctors appointment")

	t.Log("mark all as completed")
	tb.click(`label[for="toggle-all"]`)
	tb.waitFor("every item completed", `document.querySelectorAll(".todo-list li.completed").length === 3`, "")
	tb.click(`label[for="toggle-all"]`)
	tb.waitFor("no item completed", `document.querySelectorAll(".todo-list li.completed").length === 0`, "")
	for i := 1; i <= 3; i++ {
		tb.click(fmt.Sprintf(".todo-list li:nth-child(%d) .toggle", i))
	}
	tb.waitFor("toggle-all checked once every item is", `document.querySelector(".toggle-all").checked`, "")
	tb.click(".todo-list li:nth-child(1) .toggle")
	tb.waitFor("toggle-all unchecked once one item is not", `!document.querySelector(".toggle-all").checked`, "")
	tb.click(".todo-list li:nth-child(2) .toggle")
	tb.click(".todo-list li:nth-child(3) .toggle")
	tb.waitFor("no item completed", `document.querySelectorAll(".todo-list li.completed").length === 0`, "")

	t.Log("item")
	tb.click(".todo-list li:nth-child(1) .toggle")
	tb.waitFor("the first item completed", `document.querySelector(".todo-list li:nth-child(1)").classList.contains("completed")`, "")
	tb.click(".todo-list li:nth-child(1) .toggle")
	tb.waitFor("the first item active again", `!document.querySelector(".todo-list li:nth-child(1)").classList.contains("completed")`, "")
	tb.do("double-clicking the second title", chromedp.DoubleClick(chromedp.CSS(".todo-list li:nth-child(2) label")))
	tb.waitFor("the second item in editing mode, its field focused", `document.querySelector(".todo-list li:nth-child(2)").classList.contains("editing") && document.activeElement === document.querySelector(".todo-list li:nth-child(2) .edit") && document.activeElement.value === "feed the cat"`, `document.activeElement.outerHTML`)

	t.Log("editing")
	if tb.visible(".todo-list li:nth-child(2) .toggle") || tb.visible(".todo-list li:nth-child(2) label") {
		t.Error("the other controls are shown while editing")
	}
	tb.do("selecting the title", chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`))
	tb.keys("feed the dog")
	tb.pressEnter()
	tb.waitTitles("buy some cheese|feed the dog|book a doctors appointment")
	tb.waitFor("editing mode left", `!document.querySelector(".todo-list li.editing")`, "")
	// Saved on blur, trimmed.
	tb.do("double-clicking the first title", chromedp.DoubleClick(chromedp.CSS(".todo-list li:nth-child(1) label")))
	tb.waitFor("the first item in editing mode", `document.activeElement === document.querySelector(".todo-list li:nth-child(1) .edit")`, `document.activeElement.outerHTML`)
	tb.do("selecting the title", chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`))
	tb.keys("   buy some sausages   ")
	tb.click("h1") // leaves the field
	tb.waitTitles("buy some sausages|feed the dog|book a doctors appointment")
	// Escape discards the changes.
	tb.do("double-clicking the third title", chromedp.DoubleClick(chromedp.CSS(".todo-list li:nth-child(3) label")))
	tb.waitFor("the third item in editing mode", `document.activeElement === document.querySelector(".todo-list li:nth-child(3) .edit")`, `document.activeElement.outerHTML`)
	tb.keys("something else")
	tb.keys(kb.Escape)
	tb.waitFor("editing mode left", `!document.querySelector(".todo-list li.editing")`, "")
	tb.waitTitles("buy some sausages|feed the dog|book a doctors appointment")
	// An empty title removes the item.
	tb.do("double-clicking the third title", chromedp.DoubleClick(chromedp.CSS(".todo-list li:nth-child(3) label")))
	tb.waitFor("the third item in editing mode", `document.activeElement === document.querySelector(".todo-list li:nth-child(3) .edit")`, `document.activeElement.outerHTML`)
	tb.do("emptying the field", chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`))
	tb.keys(kb.Backspace)
	tb.pressEnter()
	tb.waitTitles("buy some sausages|feed the dog")

	t.Log("counter")
	tb.waitText(".todo-count", "2 items left")
	tb.click(".todo-list li:nth-child(1) .toggle")
	tb.waitText(".todo-count", "1 item left")
	if got := eval[string](tb.tab, `document.querySelector(".todo-count strong").textContent`); got != "1" {
		t.Errorf("the count's <strong> holds %q", got)
	}

	t.Log("clear completed button")
	tb.waitText(".clear-completed", "Clear completed")
	tb.add("walk the dog")
	tb.click(".todo-list li:nth-child(3) .toggle")
	tb.waitText(".todo-count", "1 item left")
	tb.click(".clear-completed")
	tb.waitTitles("feed the dog")
	tb.waitFor("the clear completed button hidden", `!document.querySelector(".clear-completed")`, "")

	t.Log("persistence")
	tb.add("water the plants")
	tb.click(".todo-list li:nth-child(2) .toggle")
	tb.waitText(".todo-count", "1 item left")
	tb.navigate(base) // a reload
	tb.waitSynced(1)
	tb.waitTitles("feed the dog|water the plants")
	if !eval[bool](tb.tab, `document.querySelector(".todo-list li:nth-child(2)").classList.contains("completed")`) {
		t.Error("the completed state did not persist")
	}
	tb.markPage()

	t.Log("routing")
	tb.click(`.filters a[href="/active"]`)
	tb.waitTitles("feed the dog")
	if p := tb.path(); p != "/active" {
		t.Errorf("path %q after Active, want /active", p)
	}
	tb.waitFor("Active selected", `document.querySelector(".filters a.selected").textContent === "Active"`, "")
	tb.click(`.filters a[href="/completed"]`)
	tb.waitTitles("water the plants")
	tb.waitFor("Completed selected", `document.querySelector(".filters a.selected").textContent === "Completed"`, "")
	// An item updated while filtered leaves the view.
	tb.click(".todo-list li:nth-child(1) .toggle")
	tb.waitTitles("")
	tb.do("going back", chromedp.NavigateBack())
	tb.waitTitles("feed the dog|water the plants")
	if p := tb.path(); p != "/active" {
		t.Errorf("path %q after Back, want /active", p)
	}
	tb.do("going back", chromedp.NavigateBack())
	if p := tb.path(); p != "/" {
		t.Errorf("path %q after Back, want /", p)
	}
	tb.waitTitles("feed the dog|water the plants")
	tb.waitFor("All selected", `document.querySelector(".filters a.selected").textContent === "All"`, "")
	tb.do("going forward", chromedp.NavigateForward())
	tb.waitFor("Active selected", `document.querySelector(".filters a.selected")?.textContent === "Active"`, "")
	tb.assertNotReloaded("after the filters, Back and Forward")
	tb.click(`.filters a[href="/"]`)
	tb.waitFor("All selected", `document.querySelector(".filters a.selected").textContent === "All"`, "")
	tb.assertNotReloaded("after All")

	t.Log("two tabs of one visitor show one list")
	other := todo{tb.sibling()}
	other.navigate(base + "completed") // a deep link renders the filter on first paint
	other.waitTitles("")
	other.waitFor("Completed selected on first paint", `document.querySelector(".filters a.selected").textContent === "Completed"`, "")
	other.navigate(base)
	other.waitSynced(1)
	other.waitTitles("feed the dog|water the plants")
	other.add("call mom")
	tb.waitTitles("feed the dog|water the plants|call mom")
	tb.click(".todo-list li:nth-child(3) .toggle")
	other.waitFor("the other tab to show it completed", `document.querySelector(".todo-list li:nth-child(3)")?.classList.contains("completed")`, "")

	t.Log("another page of the site, without a reload")
	sockets := len(tb.socketURLs())
	tb.click(`.info a[href="/about"]`)
	tb.waitText(".about .count", "3")
	if p := tb.path(); p != "/about" {
		t.Errorf("path %q, want /about", p)
	}
	tb.assertNotReloaded("after a click on About")
	tb.waitFor("the about page initialised over the socket", `+document.querySelector("[data-flux-component-kind=about]").getAttribute("data-flux-rev") >= 2`, "")
	if n := len(tb.socketURLs()); n != sockets {
		t.Errorf("the page opened %d sockets more", n-sockets)
	}
	tb.do("going back", chromedp.NavigateBack())
	tb.waitTitles("feed the dog|water the plants|call mom")
	tb.assertNotReloaded("after Back to the list")
	tb.do("going forward", chromedp.NavigateForward())
	tb.waitText(".about .count", "3")

	t.Log("a flash after a redirect")
	tb.acceptDialogs.Store(true)
	tb.click(".delete-all")
	tb.waitText(".info .flash", "Deleted 3 todos.")
	if p := tb.path(); p != "/" {
		t.Errorf("path %q after the redirect, want /", p)
	}
	tb.waitTitles("")
	other.waitTitles("")
	tb.assertNotReloaded("after the redirect")
	tb.click(".info .flash")
	tb.waitFor("a click to close the flash", `document.querySelector(".info .flash").hidden`, "")

	t.Log("an action's error, shown by markup")
	tb.click(`.info a[href="/about"]`)
	tb.waitText(".about .count", "0")
	tb.click(".delete-all")
	tb.waitText(".about .error", "There is nothing to delete.")

	tb.click(`.info a[href="/"]`)
	tb.add("buy milk")
	tb.add("write the report")
	tb.click(".todo-list li:nth-child(1) .toggle")
	tb.waitText(".todo-count", "1 item left")
	saveScreenshot(t, "todomvc.png", tb.screenshot(720, 460))
	tb.click(".clear-completed")
	tb.hover(".todo-list li:nth-child(1)")
	tb.click(".todo-list li:nth-child(1) .destroy")
	tb.waitTitles("")

	t.Log("back from the back-forward cache")
	tb.click(`.info a[href="/about"]`)
	tb.waitText(".about .count", "0")
	tb.navigate(base + "active") // a full load
	tb.waitSynced(1)
	// history.back(), as chromedp's NavigateBack waits for a load event
	// that a page restored from the cache does not fire.
	tb.do("going back", chromedp.Evaluate[chromedp.Void](`history.back()`))
	tb.waitByEval("the about page back from the cache, its socket open again", `location.pathname === "/about" && window.__e2e.restored === true && window.Liveflux?.socketState === "open"`)
	// chromedp loses track of the document the cache restored: the rest
	// goes through the input events and evaluations alone.
	tb.mouseClick(`.info a[href="/"]`)
	tb.waitByEval("the list", `!!document.querySelector(".new-todo")`)
	tb.mouseClick(".new-todo")
	tb.do("typing", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: "after the cache"})
		return err
	}))
	tb.pressEnter()
	tb.waitByEval("the new todo", `[...document.querySelectorAll(".todo-list li label")].map((l) => l.textContent).join("|") === "after the cache"`)
	other.waitTitles("after the cache")
	tb.assertNotReloaded("after the cache")
}
