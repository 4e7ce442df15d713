package fluxtest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// Greeter waves back.
type Greeter struct {
	liveflux.Base
	Name  string
	Waves int
}

func (g *Greeter) Mount(_ context.Context, p map[string]string) error { g.Name = p["name"]; return nil }
func (g *Greeter) Handle(_ context.Context, action string, _ url.Values) error {
	if action != "wave" {
		return liveflux.NewError(400, "unknown action "+action)
	}
	g.Waves++
	return nil
}
func (g *Greeter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p>Hello, %s!</p><button data-flux-action="wave">👋 %d</button><button data-flux-action="wink">😉</button>`, g.Name, g.Waves)
	return err
}

// t stands for a test's *testing.T in the examples.
var t = &exampleT{}

// exampleT is the least of a testing.TB an example needs.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func (*exampleT) Helper()                      {}
func (e *exampleT) Cleanup(f func())           { e.cleanups = append(e.cleanups, f) }
func (*exampleT) Errorf(f string, args ...any) { fmt.Printf("FAIL: "+f+"\n", args...) }
func (*exampleT) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// end runs the cleanups, as the end of a test does.
func (e *exampleT) end() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	e.cleanups = nil
}

// A component test: mount, click, assert.
func Example() {
	reg := liveflux.NewRegistry()
	reg.Register("greeter", func() liveflux.Component { return &Greeter{} })
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg)))

	defer t.end()

	v := srv.Client(t).Mount("greeter", map[string]string{"name": "Gopher"})
	v.Click("button[data-flux-action=wave]")
	v.AssertText("button[data-flux-action=wave]", "👋 1")
	fmt.Println(v.Text("p"), v.Text("button[data-flux-action=wave]"))
	// Output: Hello, Gopher! 👋 1
}

// Two tabs watch one instance: what one does, the other shows.
func ExampleClient_Watch() {
	reg := liveflux.NewRegistry()
	reg.Register("greeter", func() liveflux.Component { return &Greeter{} })
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg)))

	defer t.end()

	tab1 := srv.Client(t)
	v1 := tab1.Mount("greeter", map[string]string{"name": "Ada"})
	v2 := tab1.NewTab().Watch(v1)
	v1.Click("button[data-flux-action=wave]")
	fmt.Println(v2.Text("button[data-flux-action=wave]"))
	// Output: 👋 1
}

// The markup names an action the component does not handle: without
// ExpectError, the click fails the test and shows the markup.
func ExampleView_ExpectError() {
	reg := liveflux.NewRegistry()
	reg.Register("greeter", func() liveflux.Component { return &Greeter{} })
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg), liveflux.WithLogger(slog.New(slog.DiscardHandler))))
	defer t.end()

	v := srv.Client(t).Mount("greeter", nil)
	out := v.ExpectError(400).Click("button[data-flux-action=wink]")
	fmt.Println(out.Status, out.Message)
	// Output: 400 unknown action wink
}
