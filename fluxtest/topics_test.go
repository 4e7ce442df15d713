package fluxtest_test

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// Notes emits an event and publishes to a topic for each note added.
type Notes struct{ liveflux.Base }

func (n *Notes) Mount(context.Context, map[string]string) error { return nil }

func (n *Notes) Handle(ctx context.Context, action string, data url.Values) error {
	text := data.Get("text")
	if err := liveflux.Emit(ctx, "note-added", map[string]string{"text": text}); err != nil {
		return err
	}
	return liveflux.Publish(ctx, "notes", text)
}

func (n *Notes) Render(_ context.Context, w io.Writer) error {
	_, err := io.WriteString(w, `<form data-flux-action="add"><input name="text"><button>Add</button></form>`)
	return err
}

// Feed shows the last note published.
type Feed struct {
	liveflux.Base
	Last string
}

func (f *Feed) Mount(ctx context.Context, _ map[string]string) error {
	return liveflux.Subscribe(ctx, "notes")
}
func (f *Feed) Handle(context.Context, string, url.Values) error { return nil }
func (f *Feed) HandleTopic(_ context.Context, m *liveflux.TopicMessage) error {
	return m.Decode(&f.Last)
}
func (f *Feed) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p class="last">%s</p>`, template.HTMLEscapeString(f.Last))
	return err
}

// Events a component emits come with the outcome of the action, over
// either transport; what it publishes to a topic reaches the pages that
// watch its subscribers.
func TestEventsAndTopics(t *testing.T) {
	t.Parallel()
	reg := liveflux.NewRegistry()
	reg.Register("notes", func() liveflux.Component { return &Notes{} })
	reg.Register("feed", func() liveflux.Component { return &Feed{} })
	srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg), quiet))
	feed := srv.Client(t).Mount("feed", nil)
	for _, opts := range [][]fluxtest.Option{nil, {fluxtest.HTTPOnly()}} {
		notes := srv.Client(t, opts...).Mount("notes", nil)
		out := notes.Submit("form", map[string]string{"text": "hi " + fmt.Sprint(len(opts))})
		out.AssertEvent("note-added", map[string]string{"text": "hi " + fmt.Sprint(len(opts))})
		feed.WaitText(".last", "hi "+fmt.Sprint(len(opts)))
	}
}
