package fluxtest_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// recorder is a testing.TB that records failures instead of failing the
// test: the harness's own failures are what these tests check.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	logs   []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	r.FailNow()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// FailNow ends the goroutine, as testing.T's does; run runs test code on
// one of its own.
func (r *recorder) FailNow() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	panicOrExit()
}

func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *recorder) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.logs, "\n")
}

// run runs fn with a recorder on a goroutine of its own and returns the
// recorder once fn returned or failed.
func run(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r
}

// Unhandled is a component whose markup names an action its Handle does
// not know: the bug the harness must catch.
type Unhandled struct{ liveflux.Base }

func (u *Unhandled) Mount(context.Context, map[string]string) error { return nil }
func (u *Unhandled) Handle(_ context.Context, action string, _ url.Values) error {
	if action != "save" {
		return liveflux.NewError(400, "unknown action "+action)
	}
	return nil
}
func (u *Unhandled) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, `<form data-flux-action="save"><input name="title"><button data-flux-action="publsh">Publish</button></form>`)
	return err
}

// A test fails when the markup names an action the component does not
// handle, and the failure shows the markup.
func TestFailsWhenMarkupNamesAnUnhandledAction(t *testing.T) {
	t.Parallel()
	reg := liveflux.NewRegistry()
	reg.Register("post", func() liveflux.Component { return &Unhandled{} })
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg), quiet))
	r := run(t, func(tb testing.TB) {
		v := srv.Client(tb).Mount("post", nil)
		v.Click("button")
		tb.Errorf("the test went on after a failed action")
	})
	out := r.output()
	if !r.Failed() || strings.Contains(out, "went on") {
		t.Fatalf("the harness did not fail the test:\n%s", out)
	}
	for _, want := range []string{`action "publsh" failed: 400 unknown action publsh`, `<button data-flux-action="publsh">Publish</button>`} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure does not say %q:\n%s", want, out)
		}
	}
}

// A selector that matches nothing fails the test and shows the HTML
// around where it stopped matching.
func TestFailureShowsHTMLAroundSelector(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	r := run(t, func(tb testing.TB) {
		srv.Client(tb).Mount("signup", nil).Click("form button.primary")
	})
	out := r.output()
	if !r.Failed() || !strings.Contains(out, `no element matches "form button.primary"`) ||
		!strings.Contains(out, `"form" matches 1 element(s)`) || !strings.Contains(out, "<button>Sign up</button>") {
		t.Errorf("failure:\n%s", out)
	}
	r = run(t, func(tb testing.TB) {
		srv.Client(tb).Mount("counter", nil).AssertText(".count", "41")
	})
	if out := r.output(); !r.Failed() || !strings.Contains(out, `text of ".count" is "0", want "41"`) || !strings.Contains(out, `<output class="count">0</output>`) {
		t.Errorf("failure:\n%s", out)
	}
}

// A click that sends nothing fails the test and says why.
func TestClickThatSendsNothingFails(t *testing.T) {
	t.Parallel()
	reg := liveflux.NewRegistry()
	reg.Register("m", func() liveflux.Component {
		return &Markup{HTML: `<p class="note">no action here</p><form data-flux-action="save"><input name="q" required><button>Go</button></form>`}
	})
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg), quiet))
	r := run(t, func(tb testing.TB) { srv.Client(tb).Mount("m", nil).Click(".note") })
	if out := r.output(); !r.Failed() || !strings.Contains(out, "sends no action") || !strings.Contains(out, "no [data-flux-action] there or above") {
		t.Errorf("failure:\n%s", out)
	}
	r = run(t, func(tb testing.TB) { srv.Client(tb).Mount("m", nil).Click("button") })
	if out := r.output(); !r.Failed() || !strings.Contains(out, "is required and has no value") {
		t.Errorf("failure:\n%s", out)
	}
}

// ExpectError fails the test when the action succeeds.
func TestExpectErrorFailsOnSuccess(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	r := run(t, func(tb testing.TB) {
		srv.Client(tb).Mount("counter", nil).ExpectError(403).Click("button[data-flux-action=inc]")
	})
	if out := r.output(); !r.Failed() || !strings.Contains(out, "succeeded, want it to fail with status 403") {
		t.Errorf("failure:\n%s", out)
	}
}
