package liveflux_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// bomb panics in whichever method its mode names.
type bomb struct {
	liveflux.Base
	Mode  string
	Count int
}

func (b *bomb) Mount(_ context.Context, p map[string]string) error {
	b.Mode = p["mode"]
	if b.Mode == "mount" {
		panic("mount")
	}
	return nil
}

func (b *bomb) Handle(_ context.Context, action string, _ url.Values) error {
	b.Count++
	switch action {
	case "handle":
		panic("handle")
	case "arm":
		b.Mode = "render"
	}
	return nil
}

func (b *bomb) Render(_ context.Context, w io.Writer) error {
	if b.Mode == "render" {
		panic("render")
	}
	_, err := fmt.Fprintf(w, "<i>bomb=%d</i>", b.Count)
	return err
}

func TestPanicsAreContained(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	assertNoError(t, f.reg.Register("bomb", func() liveflux.Component { return &bomb{} }))
	if _, err := f.h.Mount(httptest.NewRequest("GET", "/", nil), "bomb", map[string]string{"mode": "mount"}); err == nil {
		t.Fatal("a panicking Mount mounted")
	}
	id := f.mount(t, "bomb", nil)
	c := f.dial(t)
	c.sendInit(id)
	c.nextUpdate(id)
	c.sendAction(id, "handle", nil)
	assertErrorMsg(t, c.nextMsg(), id, http.StatusInternalServerError)
	c.sendAction(id, "arm", nil) // Handle succeeds, then Render panics
	assertErrorMsg(t, c.nextMsg(), id, http.StatusInternalServerError)
	// Neither failed action left a trace; the socket and server still work.
	c.sendAction(id, "inc", nil)
	if html := c.nextUpdate(id); !strings.Contains(html, "bomb=1") {
		t.Fatalf("state after contained panics: %s", html)
	}
}
