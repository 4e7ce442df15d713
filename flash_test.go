package liveflux_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// A flash is the event liveflux:flash, {kind, text}: in the JSON answer
// over HTTP, in an event frame over WebSocket. A kind that is not a plain
// word is refused.
func TestFlash(t *testing.T) {
	f := newFixture(t)
	html, err := f.h.Mount(pageRequest("/"), "pager", nil)
	assertNoError(t, err)
	id := idOf(t, string(html))
	_, body := postJSON(f.h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"flash"}})
	if !strings.Contains(body, `{"name":"liveflux:flash","detail":{"kind":"info","text":"saved"}}`) {
		t.Errorf("HTTP answer %s", body)
	}
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "flash", nil)
	c.nextUpdate(id)
	if m := c.nextMsg(); m.Type != liveflux.MessageEvent || string(m.Data) != `{"name":"liveflux:flash","detail":{"kind":"info","text":"saved"}}` {
		t.Errorf("WebSocket: %s", m)
	}
}
