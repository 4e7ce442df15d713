package fluxtest

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
)

type tally struct {
	liveflux.Base
	N int
}

func (c *tally) Mount(context.Context, map[string]string) error { return nil }
func (c *tally) Handle(_ context.Context, _ string, _ url.Values) error {
	c.N++
	return nil
}
func (c *tally) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p>%s</p><button data-flux-action="inc">%d</button>`, strings.Repeat("x", 200), c.N)
	return err
}

func tallyServer(t *testing.T) *Server {
	reg := liveflux.NewRegistry()
	reg.Register("tally", func() liveflux.Component { return &tally{} })
	return Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg)))
}

// A page that missed an update is sent a diff against a rendering it does
// not hold: it asks for the full rendering (init) and catches up.
func TestDiffOnAMissedRenderingResyncs(t *testing.T) {
	t.Parallel()
	srv := tallyServer(t)
	v1 := srv.Client(t).Mount("tally", nil)
	c2 := srv.Client(t)
	v2 := c2.Watch(v1)
	v1.Click("button")
	v2.AssertText("button", "1")
	// Make the page believe it shows an older rendering.
	c2.mu.Lock()
	c2.views[attrOr(v2.root, attrID, "")].rev--
	inits := 0
	c2.mu.Unlock()
	v1.Click("button")
	v2.AssertText("button", "2")
	for _, m := range c2.Messages() {
		if m.Type == "update" && strings.Contains(string(m.Data), `"html"`) {
			inits++
		}
	}
	if inits < 2 { // the first init's, and the one the missed diff asked for
		t.Errorf("%d full renderings received, want the page to have asked for one", inits)
	}
}

// A rendering older than the one shown is ignored.
func TestStaleRenderingIsIgnored(t *testing.T) {
	t.Parallel()
	srv := tallyServer(t)
	c := srv.Client(t)
	v := c.Mount("tally", nil)
	v.Click("button")
	id, rev := v.ID(), v.Rev()
	c.mu.Lock()
	applied := c.apply(id, wire.RootHTML("tally", id, rev-1, `<button data-flux-action="inc">old</button>`), nil)
	c.mu.Unlock()
	if applied {
		t.Error("an older rendering was applied")
	}
	v.AssertText("button", "1")
}
