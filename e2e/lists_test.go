package e2e

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// Lists: keyed rows that morphs move instead of making again, and streams.

// grid is a table of keyed rows in the order of Order; each row has a
// text input the server never learns about and a small scrolling box.
type grid struct {
	liveflux.Base
	Order []int
}

func (g *grid) Mount(_ context.Context, p map[string]string) error {
	n, _ := strconv.Atoi(p["rows"])
	for i := range n {
		g.Order = append(g.Order, i)
	}
	return nil
}

func (g *grid) Handle(_ context.Context, action string, _ url.Values) error {
	switch action {
	case "reverse":
		slices.Reverse(g.Order)
	case "shuffle": // the same permutation every time: row i of n goes to (i*7919) mod n
		out := make([]int, len(g.Order))
		for i, r := range g.Order {
			out[i*7919%len(out)] = r
		}
		g.Order = out
	case "evens": // keeps the even rows
		g.Order = slices.DeleteFunc(g.Order, func(r int) bool { return r%2 == 1 })
	default:
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	return nil
}

func (g *grid) Render(_ context.Context, w io.Writer) error {
	var b strings.Builder
	b.WriteString(`<div class="scroller" style="height:300px;overflow:auto"><table><tbody>`)
	for _, r := range g.Order {
		fmt.Fprintf(&b, `<tr data-flux-key="%d"><td>%d</td><td><input class="note" name="note%d" autocomplete="off"></td><td><div class="box" style="height:20px;width:80px;overflow:auto"><div style="height:200px">row %d</div></div></td></tr>`, r, r, r, r)
	}
	b.WriteString(`</tbody></table></div>`)
	_, err := io.WriteString(w, b.String())
	return err
}

// listsServer serves the grid at / with rows rows.
func listsServer(t *testing.T, ws bool, rows int) *server {
	s := newServer(t)
	if err := s.registry.Register("grid", func() liveflux.Component { return &grid{} }); err != nil {
		t.Fatal(err)
	}
	s.page("/{$}", liveflux.ClientOptions{UseWebSocket: ws}, func(r *http.Request) template.HTML {
		return `<section id="grid">` + s.mount(r, "grid", map[string]string{"rows": strconv.Itoa(rows)}) + `</section>`
	})
	return s
}

// Keyed rows are moved, not made again, when a list of 1,000 is reversed,
// shuffled and filtered: the focused input keeps focus, typed text and
// selection; a row's scrolled box keeps its scroll position; a widget's
// state kept on an element (a property a library set) stays. (A morph
// without keys matches rows by position: each row's content is rewritten
// into the element that was at its place, the typed text stays at the
// place while its row leaves it.)
func TestKeyedRowsAreMoved(t *testing.T) {
	overBothTransports(t, func(t *testing.T, ws bool) {
		s := listsServer(t, ws, 1000)
		tb := openPage(t, s, ws, 1)
		tb.waitFor("1,000 rows", `document.querySelectorAll("tr").length === 1000`, `document.querySelectorAll("tr").length`)
		// The state a user and a widget leave in the rows.
		eval[bool](tb, `(() => {
			window.rows = new Map([...document.querySelectorAll("tr")].map((tr) => [tr.dataset.fluxKey, tr]));
			for (const k of ["10", "500", "999"]) rows.get(k).widget = { key: k };
			rows.get("500").querySelector(".box").scrollTop = 37;
			const input = rows.get("500").querySelector(".note");
			input.focus();
			input.value = "hello there";
			input.setSelectionRange(2, 5);
			return true;
		})()`)
		// replica is the grid as the server has it.
		replica := &grid{}
		replica.Mount(context.Background(), map[string]string{"rows": "1000"})
		for _, name := range []string{"reverse", "shuffle", "evens"} {
			// From script: a click would take the focus off the input.
			eval[bool](tb, fmt.Sprintf(`(Liveflux.action(document.querySelector("[data-flux-component-id]"), %q), true)`, name))
			replica.Handle(context.Background(), name, nil)
			n, order := len(replica.Order), fmt.Sprint(replica.Order[:4])
			tb.waitFor("the rows in the new order", fmt.Sprintf(`"[" + [...document.querySelectorAll("tr")].slice(0, 4).map((tr) => tr.dataset.fluxKey).join(" ") + "]" === %q && document.querySelectorAll("tr").length === %d`, order, n),
				`[...document.querySelectorAll("tr")].slice(0, 4).map((tr) => tr.dataset.fluxKey)`)
			got := eval[string](tb, `(() => {
				const trs = [...document.querySelectorAll("tr")];
				const a = document.activeElement, r500 = rows.get("500");
				return JSON.stringify({
					rows: trs.length,
					order: "[" + trs.map((tr) => tr.dataset.fluxKey).slice(0, 4).join(" ") + "]",
					madeAgain: trs.filter((tr) => rows.get(tr.dataset.fluxKey) !== tr).length,
					focus: a === r500.querySelector(".note") && a.value + " [" + a.selectionStart + "," + a.selectionEnd + "]",
					scroll: r500.querySelector(".box").scrollTop,
					widgets: ["10", "500", "999"].map((k) => rows.get(k).isConnected ? rows.get(k).widget?.key : "gone").join(" "),
					typedElsewhere: trs.filter((tr) => tr !== r500 && tr.querySelector(".note").value).length,
				});
			})()`)
			want := fmt.Sprintf(`{"rows":%d,"order":"%s","madeAgain":0,"focus":"hello there [2,5]","scroll":37,"widgets":"%s","typedElsewhere":0}`,
				n, order, map[bool]string{true: "10 500 999", false: "10 500 gone"}[n == 1000])
			if got != want {
				t.Fatalf("after %s: %s\nwant %s", name, got, want)
			}
		}
	})
}

// feed streams items into the list "items" and keeps only their number;
// each item has a text input, so that an item made again would lose
// what is typed in it.
type feed struct {
	liveflux.Base
	Next  int // the number of the last item
	Shown int // how many it shows (Streams), and keeps in the page (a limit)
}

func feedItem(n int, text string) liveflux.RenderFunc {
	return func(_ context.Context, w io.Writer) error {
		_, err := fmt.Fprintf(w, `<li class="item"><span class="text">%s</span> <input class="note" name="n%d" autocomplete="off"></li>`, template.HTMLEscapeString(text), n)
		return err
	}
}

func (f *feed) append(ctx context.Context, n int) error {
	for range n {
		f.Next++
		if err := liveflux.StreamAppend(ctx, "items", strconv.Itoa(f.Next), feedItem(f.Next, "item "+strconv.Itoa(f.Next))); err != nil {
			return err
		}
	}
	if f.Shown > 0 {
		return liveflux.StreamLimit(ctx, "items", -f.Shown)
	}
	return nil
}

func (f *feed) Mount(ctx context.Context, p map[string]string) error {
	f.Shown, _ = strconv.Atoi(p["shown"])
	return f.append(ctx, 3)
}

func (f *feed) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "add":
		n, _ := strconv.Atoi(data.Get("n"))
		return f.append(ctx, max(n, 1))
	case "first": // a new first item
		return liveflux.StreamPrepend(ctx, "items", "top", feedItem(0, "on top"))
	case "edit": // item 2, new text: in place
		return liveflux.StreamInsert(ctx, "items", "2", -1, feedItem(2, "item 2, edited"))
	case "drop":
		return liveflux.StreamDelete(ctx, "items", data.Get("key"))
	case "clear":
		return liveflux.StreamReset(ctx, "items")
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
}

// Streams gives a page that connects the last Shown items (all of them
// without a limit).
func (f *feed) Streams(ctx context.Context) error {
	if err := liveflux.StreamReset(ctx, "items"); err != nil {
		return err
	}
	from := 1
	if f.Shown > 0 {
		from = max(f.Next-f.Shown+1, 1)
	}
	for n := from; n <= f.Next; n++ {
		if err := liveflux.StreamAppend(ctx, "items", strconv.Itoa(n), feedItem(n, "item "+strconv.Itoa(n))); err != nil {
			return err
		}
	}
	return nil
}

func (f *feed) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p class="count">%d items so far</p><ul class="items" data-flux-stream="items"></ul>`, f.Next)
	return err
}

// feedServer serves a new feed at / (in a section "feed") to each page
// load, and remembers the last one's ID.
func feedServer(t *testing.T, ws bool, shown int) (*server, *atomic.Value) {
	s := newServer(t)
	if err := s.registry.Register("feed", func() liveflux.Component { return &feed{} }); err != nil {
		t.Fatal(err)
	}
	id := new(atomic.Value)
	s.page("/{$}", liveflux.ClientOptions{UseWebSocket: ws}, func(r *http.Request) template.HTML {
		html := s.mount(r, "feed", map[string]string{"shown": strconv.Itoa(shown)})
		_, after, _ := strings.Cut(string(html), liveflux.AttrID+`="`)
		id.Store(after[:strings.IndexByte(after, '"')])
		return `<section id="feed">` + html + `</section>`
	})
	return s, id
}

// itemsShown is the page's list: each item's key and text.
const itemsShown = `[...document.querySelectorAll(".items > li")].map((li) => li.dataset.fluxKey + ":" + li.querySelector(".text").textContent).join(", ")`

// A stream's items are on the first paint, and every operation reaches
// the page, over either transport, while updates of the component leave
// the items alone: appended, put first, edited in place (the element, and
// what is typed in it, stays), deleted, kept to a limit, cleared.
func TestStreamOperations(t *testing.T) {
	overBothTransports(t, func(t *testing.T, ws bool) {
		s, _ := feedServer(t, ws, 0)
		tb := openPage(t, s, ws, 1)
		tb.waitFor("the first paint's items", itemsShown+` === "1:item 1, 2:item 2, 3:item 3"`, itemsShown)
		eval[bool](tb, `(() => {
			window.item2 = document.querySelector('[data-flux-key="2"]');
			const input = item2.querySelector(".note");
			input.focus();
			input.value = "typed";
			return true;
		})()`)
		steps := []struct{ action, fields, want string }{
			{"add", `{n: "2"}`, "1:item 1, 2:item 2, 3:item 3, 4:item 4, 5:item 5"},
			{"first", `{}`, "top:on top, 1:item 1, 2:item 2, 3:item 3, 4:item 4, 5:item 5"},
			{"edit", `{}`, "top:on top, 1:item 1, 2:item 2, edited, 3:item 3, 4:item 4, 5:item 5"},
			{"drop", `{key: "3"}`, "top:on top, 1:item 1, 2:item 2, edited, 4:item 4, 5:item 5"},
		}
		for _, st := range steps {
			eval[bool](tb, fmt.Sprintf(`(Liveflux.action(document.querySelector("[data-flux-component-id]"), %q, %s), true)`, st.action, st.fields))
			tb.waitFor("the list after "+st.action, itemsShown+fmt.Sprintf(` === %q`, st.want), itemsShown)
		}
		tb.waitText(".count", "5 items so far")
		got := eval[string](tb, `(() => {
			const a = document.activeElement;
			return [item2.isConnected, a === item2.querySelector(".note"), a.value].join(" ");
		})()`)
		if got != "true true typed" {
			t.Fatalf("item 2, edited in place: connected, focused, its text: %s; want true true typed", got)
		}
		eval[bool](tb, `(Liveflux.action(document.querySelector("[data-flux-component-id]"), "clear"), true)`)
		tb.waitFor("the list cleared", itemsShown+` === ""`, itemsShown)
	})
}

// A limit keeps the page's list short however long the stream runs, and
// a page that reconnects after missing items gets the list the component
// wants shown (Streams), in one go: the items it still shows keep their
// elements, and the input focused in one keeps focus and text.
func TestStreamAfterReconnect(t *testing.T) {
	s, id := feedServer(t, true, 5)
	tb := openPage(t, s, true, 1)
	mine := id.Load().(string)
	other := openPage(t, s, true, 1) // a second tab on the same page: another instance
	tb.waitFor("the first paint's items", itemsShown+` === "1:item 1, 2:item 2, 3:item 3"`, itemsShown)
	eval[bool](tb, `(Liveflux.action(document.querySelector("[data-flux-component-id]"), "add", {n: "20"}), true)`)
	tb.waitFor("the last five of 23", itemsShown+` === "19:item 19, 20:item 20, 21:item 21, 22:item 22, 23:item 23"`, itemsShown)
	eval[bool](tb, `(() => {
		window.kept = document.querySelector('[data-flux-key="22"]');
		kept.querySelector(".note").focus();
		kept.querySelector(".note").value = "still here";
		return true;
	})()`)
	s.dropSockets()
	tb.waitFor("the page to notice the socket closed", `Liveflux.socketState !== "open"`, `Liveflux.socketState`)
	// Three items streamed while the page has no socket.
	for range 3 {
		s.postAction("feed", mine, "add")
	}
	s.restore()
	tb.waitFor("the list the component wants shown", itemsShown+` === "22:item 22, 23:item 23, 24:item 24, 25:item 25, 26:item 26"`, itemsShown)
	tb.waitText(".count", "26 items so far")
	got := eval[string](tb, `(() => {
		const a = document.activeElement;
		return [kept.isConnected, a === kept.querySelector(".note"), a.value].join(" ");
	})()`)
	if got != "true true still here" {
		t.Fatalf("item 22 after the reconnect: connected, focused, its text: %s; want true true still here", got)
	}
	if got := eval[string](other, itemsShown); got != "1:item 1, 2:item 2, 3:item 3" {
		t.Fatalf("the other tab's own feed shows %q", got)
	}
}

// rowsShown says which rows examples/scroll's page holds: "first-last
// (count)", or where a row is out of order.
const rowsShown = `(() => {
	const keys = [...document.querySelectorAll("tbody > tr")].map((tr) => +tr.dataset.fluxKey);
	const gap = keys.findIndex((k, i) => k !== keys[0] + i);
	return gap >= 0 ? "row " + keys[gap] + " out of order at " + gap : keys[0] + "-" + keys[keys.length - 1] + " (" + keys.length + ")";
})()`

// examples/scroll as a visitor uses it: scrolling down loads rows as the
// end of the list comes into view, the page keeps 300 of them however far
// it goes, and scrolling back up loads the rows above.
func TestScrollExample(t *testing.T) {
	needBrowser(t)
	t.Parallel()
	base := startExample(t, "scroll")
	tb := newTab(t)
	tb.navigate(base)
	tb.waitFor("the first page", rowsShown+` === "0-49 (50)"`, rowsShown)
	tb.waitFor("the socket to open", `Liveflux.socketState === "open"`, `Liveflux.socketState`)
	scrollTo := func(where string) {
		// As a person does: a few frames after the rows arrived, when the
		// sentinel has been seen leaving the view.
		tb.waitPageTime(50)
		eval[bool](tb, `(document.querySelector(".scroller").scrollTop = `+where+`, true)`)
	}
	// Down, a page at a time: each time the end comes into view, 50 more.
	for want := 100; want <= 1000; want += 50 {
		scrollTo(`1e9`)
		first := max(want-300, 0)
		tb.waitFor(fmt.Sprintf("rows %d to %d", first, want-1), fmt.Sprintf(`%s === "%d-%d (%d)"`, rowsShown, first, want-1, want-first), rowsShown)
	}
	tb.waitText(".where", "Rows 700 to 999 of 1,000,000 in the page")
	// Up: the rows above come back, the ones below go, and the rows in
	// view stay in view (the row at the top now is the one that was).
	for first := 650; first >= 550; first -= 50 {
		scrollTo(`0`)
		topRow := first + 50
		tb.waitFor(fmt.Sprintf("rows from %d", first), fmt.Sprintf(`%s === "%d-%d (300)"`, rowsShown, first, first+299), `[`+rowsShown+`, document.querySelector(".scroller").scrollTop]`)
		inView := fmt.Sprintf(`(() => {
			const s = document.querySelector(".scroller").getBoundingClientRect(), r = document.querySelector('tr[data-flux-key="%d"]').getBoundingClientRect();
			return r.bottom > s.top && r.top < s.top + 120;
		})()`, topRow)
		if !eval[bool](tb, inView) {
			t.Fatalf("row %d, at the top of the view before the rows above came, left the view", topRow)
		}
	}
	scrollTo(`200`)
	saveScreenshot(t, "scroll.png", tb.screenshot(640, 620))
}
