package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// How long one browser action, and one wait for a page condition, may take.
const (
	actionTimeout = 15 * time.Second
	waitTimeout   = 10 * time.Second
)

// The one browser process the whole suite shares; each test opens its own
// tabs in it. browserErr says why there is none.
var (
	browserCtx context.Context
	browserErr error
)

var errNoChromium = errors.New("no Chromium found: install it (Debian: apt-get install chromium) or set LIVEFLUX_CHROMIUM to its path")

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	path := findChromium()
	if path == "" {
		browserErr = errNoChromium
		return m.Run()
	}
	profile, err := os.MkdirTemp("", "liveflux-e2e-profile-")
	if err != nil {
		browserErr = err
		return m.Run()
	}
	defer os.RemoveAll(profile)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(900, 700),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		browserErr = fmt.Errorf("starting %s: %w", path, err)
		return m.Run()
	}
	browserCtx = ctx
	return m.Run()
}

// findChromium returns the browser to run: $LIVEFLUX_CHROMIUM, else the
// Debian package's /usr/bin/chromium, else a Chromium or Chrome on $PATH.
func findChromium() string {
	if p := os.Getenv("LIVEFLUX_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// needBrowser skips the test when there is no Chromium, except on CI
// (CI=true), where a missing browser fails it.
func needBrowser(t *testing.T) {
	t.Helper()
	switch {
	case browserErr == nil:
	case errors.Is(browserErr, errNoChromium) && os.Getenv("CI") != "true":
		t.Skip(browserErr)
	case errors.Is(browserErr, errNoChromium):
		t.Fatalf("%v (CI=true: a missing browser fails the suite)", browserErr)
	default:
		t.Fatal(browserErr)
	}
}

// recorderJS runs in every document a tab loads, before the page's own
// scripts: it records the client's DOM events (PROTOCOL.md, README.md) so
// that tests can wait for them and check them, and whether the page came
// back from the back-forward cache.
const recorderJS = `(() => {
  const rec = window.__e2e = { events: {}, disconnects: [], errors: [], restored: false };
  addEventListener("pageshow", (e) => { rec.restored = e.persisted; });
  for (const name of ["connected", "disconnected", "message", "updated", "mounted", "error"]) {
    document.addEventListener("liveflux:" + name, (e) => {
      rec.events[name] = (rec.events[name] || 0) + 1;
      if (name === "disconnected") rec.disconnects.push(e.detail);
      if (name === "error") rec.errors.push(e.detail);
    }, true);
  }
})();`

// problem is a console error, an uncaught exception or an error the
// browser logged.
type problem struct {
	kind string // "console.error", "exception" or "browser"
	text string
}

func (p problem) String() string { return p.kind + ": " + p.text }

// tab is one browser tab, with what it recorded.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []problem
	more     chan struct{} // closed (and replaced) when a problem is added
	sockets  []string      // URLs of the WebSockets the page opened
	dialogs  []string      // messages of the dialogs (confirm, …) the page opened

	// acceptDialogs: dialogs are accepted (OK), else dismissed (Cancel).
	acceptDialogs atomic.Bool

	allowBrowser  []*regexp.Regexp
	allowLfErrors bool
}

type tabOption func(*tab)

// allowBrowserError lets the browser log errors matching re (anchored)
// without failing the test. It never excuses console.error calls or
// exceptions, which come from the page's scripts.
func allowBrowserError(re string) tabOption {
	return func(tb *tab) { tb.allowBrowser = append(tb.allowBrowser, regexp.MustCompile("^(?:"+re+")$")) }
}

// expectLivefluxErrors lets the page report liveflux:error events; without
// it any such event fails the test.
func expectLivefluxErrors() tabOption {
	return func(tb *tab) { tb.allowLfErrors = true }
}

// newTab opens a tab in the shared browser. When the test ends it fails the
// test for every console error, uncaught exception, browser-logged error and
// liveflux:error event the tab saw (unless allowed), then closes the tab.
func newTab(t *testing.T, opts ...tabOption) *tab {
	t.Helper()
	needBrowser(t)
	tb := &tab{t: t, more: make(chan struct{})}
	// Chromium asks every site for /favicon.ico by itself; the example
	// programs serve none. Not a request of the page or of the client.
	allowBrowserError(`Failed to load resource: the server responded with a status of 404 \(Not Found\) \[http://127\.0\.0\.1:\d+/favicon\.ico\]`)(tb)
	for _, o := range opts {
		o(tb)
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	tb.ctx = ctx
	t.Cleanup(func() {
		tb.checkLivefluxErrors()
		tb.checkProblems()
		cancel()
	})
	// The first action creates the tab: no timeout on it, as it binds the
	// tab's life to its context.
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recorderJS})
		return err
	}))
	if err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tb
}

// listen runs in the tab's event loop: it must return fast.
func (tb *tab) listen(ev any) {
	var p *problem
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			p = &problem{"console." + string(ev.Type), argsText(ev.Args)}
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + d.Exception.Description
		}
		p = &problem{"exception", text}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			text := ev.Entry.Text
			if ev.Entry.URL != "" {
				text += " [" + ev.Entry.URL + "]"
			}
			p = &problem{"browser", text}
		}
	case *page.EventJavascriptDialogOpening:
		tb.mu.Lock()
		tb.dialogs = append(tb.dialogs, ev.Message)
		tb.mu.Unlock()
		accept := tb.acceptDialogs.Load()
		go chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
	case *network.EventWebSocketCreated:
		tb.mu.Lock()
		tb.sockets = append(tb.sockets, ev.URL)
		tb.mu.Unlock()
	}
	if p != nil {
		tb.mu.Lock()
		tb.problems = append(tb.problems, *p)
		close(tb.more)
		tb.more = make(chan struct{})
		tb.mu.Unlock()
	}
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a.Type == runtime.RemoteObjectTypeString:
			parts = append(parts, strings.Trim(string(a.Value), `"`))
		case len(a.Value) > 0:
			parts = append(parts, string(a.Value))
		case a.UnserializableValue != "":
			parts = append(parts, string(a.UnserializableValue))
		default:
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

// takeProblems returns and forgets what the tab recorded so far.
func (tb *tab) takeProblems() []problem {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	p := tb.problems
	tb.problems = nil
	return p
}

// waitProblems waits until the tab recorded at least n problems, and
// returns and forgets them.
func (tb *tab) waitProblems(n int) []problem {
	tb.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		tb.mu.Lock()
		got, more := len(tb.problems), tb.more
		tb.mu.Unlock()
		if got >= n {
			return tb.takeProblems()
		}
		select {
		case <-more:
		case <-timeout:
			tb.t.Fatalf("timed out waiting for %d problems; got %q", n, tb.takeProblems())
		}
	}
}

func (tb *tab) checkProblems() {
	for _, p := range tb.takeProblems() {
		allowed := false
		if p.kind == "browser" {
			for _, re := range tb.allowBrowser {
				allowed = allowed || re.MatchString(p.text)
			}
		}
		if allowed {
			tb.t.Logf("allowed browser error: %s", p.text)
			continue
		}
		tb.t.Errorf("the page reported %s", p)
	}
}

func (tb *tab) checkLivefluxErrors() {
	if tb.allowLfErrors {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	errs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.__e2e?.errors ?? [])`))
	if err != nil {
		tb.t.Logf("reading liveflux:error events: %v", err)
		return
	}
	if errs != "[]" {
		tb.t.Errorf("the client reported liveflux:error events: %s", errs)
	}
}

// dialogMessages returns the messages of the dialogs the tab's pages opened.
func (tb *tab) dialogMessages() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialogs...)
}

// socketURLs returns the URLs of the WebSockets the tab's pages opened.
func (tb *tab) socketURLs() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.sockets...)
}

// do runs browser actions, failing the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

func (tb *tab) navigate(url string) {
	tb.t.Helper()
	tb.do("navigating to "+url, chromedp.Navigate(url))
}

// click clicks the element sel (a CSS selector) with the mouse.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("clicking "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// keys types keys into the focused element, as a user would.
func (tb *tab) keys(keys string, opts ...chromedp.KeyOption) {
	tb.t.Helper()
	tb.do(fmt.Sprintf("typing %q", keys), chromedp.KeyEvent(keys, opts...))
}

// eval evaluates expr in the page, failing the test on error.
func eval[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// text returns the trimmed text of the element sel, or "<missing>".
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.querySelector(%q)?.textContent.trim() ?? "<missing>"`, sel))
}

// waitFor waits until the JavaScript expression cond is true in the page,
// polling in the page; a page that navigates meanwhile is polled again once
// loaded. On timeout it fails the test, showing the value of show.
func (tb *tab) waitFor(what, cond, show string) {
	tb.t.Helper()
	tb.waitForWithin(waitTimeout, what, cond, show)
}

// waitForWithin is waitFor with a timeout of its own, for what takes the
// client longer by design (its reconnect backoff).
func (tb *tab) waitForWithin(timeout time.Duration, what, cond, show string) {
	tb.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		ctx, cancel := context.WithTimeout(tb.ctx, left+time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!(`+cond+`)`,
			chromedp.WithPollingInterval(10*time.Millisecond), chromedp.WithPollingTimeout(left)))
		cancel()
		if err == nil {
			return
		}
		lastErr = err
		if errors.Is(err, chromedp.ErrPollingTimeout) || tb.ctx.Err() != nil {
			break
		}
		// The document changed under the poll: poll the new one, once it
		// has a frame again.
		select {
		case <-time.After(10 * time.Millisecond):
		case <-tb.ctx.Done():
		}
	}
	state := "?"
	if show != "" {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		state, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { try { return JSON.stringify(`+show+`); } catch (e) { return String(e); } })()`))
		cancel()
	}
	tb.t.Fatalf("timed out waiting for %s (%s): %v; now %s", what, cond, lastErr, state)
}

// waitText waits until the element sel has the text want.
func (tb *tab) waitText(sel, want string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%s to read %q", sel, want),
		fmt.Sprintf(`document.querySelector(%q)?.textContent.trim() === %q`, sel, want),
		fmt.Sprintf(`document.querySelector(%q)?.textContent.trim()`, sel))
}

// shownText returns the text the element sel shows (its innerText: what
// CSS hides left out), trimmed, or "<missing>".
func (tb *tab) shownText(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`document.querySelector(%q)?.innerText.trim() ?? "<missing>"`, sel))
}

// waitShown waits until the element sel shows the text want (innerText).
func (tb *tab) waitShown(sel, want string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf("%s to show %q", sel, want),
		fmt.Sprintf(`document.querySelector(%q)?.innerText.trim() === %q`, sel, want),
		fmt.Sprintf(`document.querySelector(%q)?.innerText.trim()`, sel))
}

// waitIdle waits until no component has an action in flight.
func (tb *tab) waitIdle() {
	tb.t.Helper()
	tb.waitFor("no component busy", `!document.querySelector(".flux-busy")`, "")
}

// screenshot returns a PNG of the tab's viewport, width×height CSS pixels.
func (tb *tab) screenshot(width, height int64) []byte {
	tb.t.Helper()
	tb.do("sizing the viewport", chromedp.EmulateViewport(width, height))
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot: %v", err)
	}
	return png
}
