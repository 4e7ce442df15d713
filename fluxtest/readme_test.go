package fluxtest_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// QuickStart is the README's quick-start Counter.
type QuickStart struct {
	liveflux.Base
	Count int
}

func (c *QuickStart) Mount(ctx context.Context, params map[string]string) error { return nil }

func (c *QuickStart) Handle(ctx context.Context, action string, data url.Values) error {
	if action == "inc" {
		c.Count++
	}
	return nil
}

func (c *QuickStart) Render(ctx context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<button data-flux-action="inc">Clicked %d times</button>`, c.Count)
	return err
}

// The README's component test, as it is written there.
func TestReadmeCounter(t *testing.T) {
	reg := liveflux.NewRegistry()
	reg.Register("counter", func() liveflux.Component { return &QuickStart{} })
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg)))

	v := srv.Client(t).Mount("counter", nil)
	v.AssertText("button", "Clicked 0 times")
	v.Click("button")
	v.AssertText("button", "Clicked 1 times")
}
