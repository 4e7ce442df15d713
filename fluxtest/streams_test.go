package fluxtest_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// Board streams its cards and keeps only their number; it also renders a
// keyed list of rows (Rows) with an input each.
type Board struct {
	liveflux.Base
	Cards int
	Rows  []string
}

func card(n int) liveflux.RenderFunc {
	return func(_ context.Context, w io.Writer) error {
		_, err := fmt.Fprintf(w, `<li class="card">card %d</li>`, n)
		return err
	}
}

func (b *Board) add(ctx context.Context) error {
	b.Cards++
	return liveflux.StreamAppend(ctx, "cards", fmt.Sprint(b.Cards), card(b.Cards))
}

func (b *Board) Mount(ctx context.Context, _ map[string]string) error {
	b.Rows = []string{"a", "b", "c"}
	if err := b.add(ctx); err != nil {
		return err
	}
	return b.add(ctx)
}

func (b *Board) Handle(ctx context.Context, action string, _ url.Values) error {
	switch action {
	case "add":
		return b.add(ctx)
	case "drop":
		return liveflux.StreamDelete(ctx, "cards", "1")
	case "reverse":
		slices.Reverse(b.Rows)
	}
	return nil
}

// Streams gives a page that connects every card.
func (b *Board) Streams(ctx context.Context) error {
	if err := liveflux.StreamReset(ctx, "cards"); err != nil {
		return err
	}
	for n := 1; n <= b.Cards; n++ {
		if err := liveflux.StreamAppend(ctx, "cards", fmt.Sprint(n), card(n)); err != nil {
			return err
		}
	}
	return nil
}

func (b *Board) Render(_ context.Context, w io.Writer) error {
	var s strings.Builder
	s.WriteString(`<button class="add" data-flux-action="add">Add</button><button class="drop" data-flux-action="drop">Drop</button><button class="reverse" data-flux-action="reverse">Reverse</button>`)
	fmt.Fprintf(&s, `<p class="count">%d cards</p><ul class="cards" data-flux-stream="cards"></ul><ul class="rows">`, b.Cards)
	for _, r := range b.Rows {
		fmt.Fprintf(&s, `<li data-flux-key="%s"><input class="row-%s" name="%s"></li>`, html.EscapeString(r), r, r)
	}
	s.WriteString(`</ul>`)
	_, err := io.WriteString(w, s.String())
	return err
}

func boards(t *testing.T) *fluxtest.Server {
	r := liveflux.NewRegistry()
	if err := r.Register("board", func() liveflux.Component { return &Board{} }); err != nil {
		t.Fatal(err)
	}
	return fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(r), quiet))
}

// cards lists the cards a view shows.
func cards(v *fluxtest.View) string {
	var out []string
	for i := range v.Count("li.card") {
		out = append(out, v.Text(fmt.Sprintf("li.card:nth-child(%d)", i+1)))
	}
	return strings.Join(out, ", ")
}

// A harness page applies stream operations as the JS client does: the
// first paint's items, appends and deletes over the socket and over HTTP,
// in every tab, and the list Streams gives a tab that reconnects; updates
// of the component leave the items alone.
func TestStreams(t *testing.T) {
	t.Parallel()
	srv := boards(t)
	v := srv.Client(t).Mount("board", nil)
	if got := cards(v); got != "card 1, card 2" {
		t.Fatalf("first paint: %q", got)
	}
	tab := srv.Client(t)
	w := tab.Watch(v)
	if out := v.Click(".add"); out.Transport != "websocket" {
		t.Fatalf("sent over %s", out.Transport)
	}
	v.AssertText(".count", "3 cards")
	for _, view := range []*fluxtest.View{v, w} {
		view.WaitFor("three cards", func(view *fluxtest.View) bool { return cards(view) == "card 1, card 2, card 3" })
	}
	http := srv.Client(t, fluxtest.HTTPOnly()).Watch(v)
	http.Click(".drop")
	if got := cards(http); got != "card 2, card 3" { // Watch copied v's page: its three cards
		t.Fatalf("HTTP page after drop: %q", got)
	}
	v.WaitFor("card 1 dropped", func(v *fluxtest.View) bool { return cards(v) == "card 2, card 3" })
	tab.Drop()
	v.Click(".add")
	v.Click(".add")
	w.AssertText(".count", "3 cards") // missed while away
	tab.Reconnect()
	w.WaitFor("every card, from Streams", func(w *fluxtest.View) bool { return cards(w) == "card 1, card 2, card 3, card 4, card 5" })
}

// A keyed row keeps the focus and what was typed in its focused input
// when the list is reordered; other inputs show what the server rendered,
// as in a browser.
func TestKeyedRows(t *testing.T) {
	t.Parallel()
	srv := boards(t)
	v := srv.Client(t).Mount("board", nil)
	v.Fill(".row-c", "typed in c")
	v.Focus(".row-a")
	v.Fill(".row-a", "typed in a")
	srv.Client(t).Watch(v).Click(".reverse") // another tab: the focus stays here
	v.WaitFor("the rows reversed", func(v *fluxtest.View) bool {
		name, _ := v.Attr(".rows li:nth-child(1) input", "name")
		return name == "c"
	})
	v.AssertValue(".rows li:nth-child(3) input", "typed in a")
	v.AssertValue(".rows li:nth-child(1) input", "")
}
