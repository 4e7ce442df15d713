package liveflux_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/bus"
	"github.com/go-liveflux/liveflux/internal/wire"
)

// feed keeps no items: it streams them into the list "items". Its
// rendering is a title and the empty container.
type feed struct {
	liveflux.Base
	Title string
	Next  int // the number of the next item
}

// item is the markup of item n of a feed.
func item(n int, text string) liveflux.RenderFunc {
	return func(_ context.Context, w io.Writer) error {
		_, err := fmt.Fprintf(w, `<li class="item" data-n="%d">%s</li>`, n, html.EscapeString(text))
		return err
	}
}

func (f *feed) add(ctx context.Context, n int) error {
	for range n {
		f.Next++
		if err := liveflux.StreamAppend(ctx, "items", "i"+strconv.Itoa(f.Next), item(f.Next, fmt.Sprint("item ", f.Next))); err != nil {
			return err
		}
	}
	return nil
}

func (f *feed) Mount(ctx context.Context, p map[string]string) error {
	if p["topic"] != "" {
		if err := liveflux.Subscribe(ctx, p["topic"]); err != nil {
			return err
		}
	}
	n, _ := strconv.Atoi(p["items"])
	if err := f.add(ctx, n); err != nil {
		return err
	}
	if p["prepend"] != "" {
		if err := liveflux.StreamPrepend(ctx, "items", "first", item(0, p["prepend"])); err != nil {
			return err
		}
	}
	if p["update"] != "" { // item 2 again, new text: replaced where it stands
		if err := liveflux.StreamAppend(ctx, "items", "i2", item(2, p["update"])); err != nil {
			return err
		}
	}
	if p["delete"] != "" {
		if err := liveflux.StreamDelete(ctx, "items", p["delete"]); err != nil {
			return err
		}
	}
	if l, _ := strconv.Atoi(p["limit"]); l != 0 {
		if err := liveflux.StreamLimit(ctx, "items", l); err != nil {
			return err
		}
	}
	if p["elsewhere"] != "" {
		return liveflux.StreamAppend(ctx, "nowhere", "x", item(0, "lost"))
	}
	return nil
}

func (f *feed) Handle(ctx context.Context, action string, data url.Values) error {
	n, _ := strconv.Atoi(data.Get("n"))
	switch action {
	case "add":
		return f.add(ctx, max(n, 1))
	case "insert":
		return liveflux.StreamInsert(ctx, "items", data.Get("key"), n, item(-1, data.Get("text")))
	case "delete":
		return liveflux.StreamDelete(ctx, "items", data.Get("key"))
	case "reset":
		return liveflux.StreamReset(ctx, "items")
	case "limit":
		return liveflux.StreamLimit(ctx, "items", n)
	case "title":
		f.Title = data.Get("title")
		return f.add(ctx, 1)
	case "fail": // streams, then fails: nothing is sent
		if err := f.add(ctx, 1); err != nil {
			return err
		}
		return liveflux.NewError(http.StatusConflict, "failed on purpose")
	case "big":
		err := liveflux.StreamAppend(ctx, "items", "big", item(0, strings.Repeat("x", n)))
		if errors.Is(err, liveflux.ErrTooLarge) {
			return liveflux.NewError(http.StatusRequestEntityTooLarge, "item too large")
		}
		return err
	case "bad":
		err := liveflux.StreamAppend(ctx, "items", data.Get("key"), liveflux.RenderFunc(func(_ context.Context, w io.Writer) error {
			_, err := io.WriteString(w, data.Get("html"))
			return err
		}))
		if err != nil {
			return liveflux.NewError(http.StatusBadRequest, err.Error())
		}
		return nil
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action")
}

// HandleTopic appends the message's text as an item: the rendering does
// not change.
func (f *feed) HandleTopic(ctx context.Context, msg *liveflux.TopicMessage) error {
	var text string
	if err := msg.Decode(&text); err != nil {
		return err
	}
	f.Next++
	return liveflux.StreamAppend(ctx, "items", "i"+strconv.Itoa(f.Next), item(f.Next, text))
}

// Streams gives a client that connects the last three items.
func (f *feed) Streams(ctx context.Context) error {
	if err := liveflux.StreamReset(ctx, "items"); err != nil {
		return err
	}
	for n := max(f.Next-2, 1); n <= f.Next; n++ {
		if err := liveflux.StreamAppend(ctx, "items", "i"+strconv.Itoa(n), item(n, fmt.Sprint("item ", n))); err != nil {
			return err
		}
	}
	return nil
}

func (f *feed) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<h1>%s</h1><ul %s="items"></ul>`, html.EscapeString(f.Title), liveflux.AttrStream)
	return err
}

func feedFixture(t *testing.T, opts ...liveflux.WebSocketOption) *fixture {
	t.Helper()
	f := newFixture(t, opts...)
	assertNoError(t, f.reg.Register("feed", func() liveflux.Component { return &feed{} }))
	return f
}

// streamsOf returns the operations of the stream frames among msgs, for
// instance id, in order, and how many frames carried them.
func streamsOf(t *testing.T, msgs []serverMsg, id string) (ops []wire.StreamOp, frames int) {
	t.Helper()
	for _, m := range msgs {
		if m.Type != liveflux.MessageStream {
			continue
		}
		if m.ComponentID != id {
			t.Fatalf("stream frame of %s, want %s: %s", m.ComponentID, id, m.raw)
		}
		var data struct {
			Ops json.RawMessage `json:"ops"`
		}
		assertNoError(t, json.Unmarshal(m.Data, &data))
		o, err := wire.ParseStreamOps(data.Ops)
		assertNoError(t, err)
		ops = append(ops, o...)
		frames++
	}
	return ops, frames
}

// keysOf lists the keys of the inserts among ops, in order.
func keysOf(ops []wire.StreamOp) string {
	var keys []string
	for _, o := range ops {
		if o.Op == "insert" {
			keys = append(keys, o.Key)
		}
	}
	return strings.Join(keys, " ")
}

// itemsIn returns the stream items of container "items" in a rendering,
// as key=text pairs.
func itemsIn(t *testing.T, rendering string) string {
	t.Helper()
	open := liveflux.AttrStream + `="items">`
	i := strings.Index(rendering, open)
	if i < 0 {
		t.Fatalf("no container in %s", rendering)
	}
	list := rendering[i+len(open) : strings.Index(rendering, "</ul>")]
	var out []string
	for _, li := range strings.SplitAfter(list, "</li>") {
		if li == "" {
			continue
		}
		key := strings.TrimPrefix(li, `<li `+liveflux.AttrKey+`="`)
		if key == li {
			t.Fatalf("item without its key first: %s", li)
		}
		key = key[:strings.IndexByte(key, '"')]
		text := li[strings.IndexByte(li, '>')+1 : len(li)-len("</li>")]
		out = append(out, key+"="+text)
	}
	return strings.Join(out, " ")
}

// What Mount streams is in the first rendering, in the order the
// operations leave the items: the page shows them on first paint.
func TestStreamItemsAreInTheFirstRendering(t *testing.T) {
	t.Parallel()
	f := feedFixture(t)
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"items": "3"}, "i1=item 1 i2=item 2 i3=item 3"},
		{map[string]string{"items": "2", "prepend": "<top>"}, "first=&lt;top&gt; i1=item 1 i2=item 2"},
		{map[string]string{"items": "3", "update": "two"}, "i1=item 1 i2=two i3=item 3"},
		{map[string]string{"items": "3", "delete": "i2"}, "i1=item 1 i3=item 3"},
		{map[string]string{"items": "5", "limit": "-2"}, "i4=item 4 i5=item 5"},
		{map[string]string{"items": "5", "prepend": "p", "limit": "2"}, "first=p i1=item 1"},
		{map[string]string{}, ""},
	} {
		html, err := f.h.Mount(sessionRequest(""), "feed", tc.params)
		assertNoError(t, err)
		if got := itemsIn(t, string(html)); got != tc.want {
			t.Errorf("%v: items %q, want %q", tc.params, got, tc.want)
		}
	}
	// A Mount that streams into a list its rendering lacks fails, and
	// says why.
	_, err := f.h.Mount(sessionRequest(""), "feed", map[string]string{"elsewhere": "1"})
	if !errors.Is(err, liveflux.ErrNoStream) || !strings.Contains(err.Error(), `data-flux-stream="nowhere"`) {
		t.Fatalf("mount streaming into a missing container: %v", err)
	}
}

// Items go to every watcher that speaks liveflux.v2, after the update,
// and stay out of the instance: it holds its number of items, not them.
func TestStreamReachesEveryWatcher(t *testing.T) {
	t.Parallel()
	f := feedFixture(t)
	id := f.mount(t, "feed", nil)
	a, b, plain := f.dial(t), f.dial(t), f.dialPlain(t)
	for _, c := range []*wsClient{a, b, plain} {
		c.init(id)
	}
	a.before() // the answer to a's init: a reset, nothing to stream
	b.before()
	a.sendAction(id, "title", map[string]string{"title": "News"})
	for _, c := range []*wsClient{a, b} {
		msgs := c.before()
		if len(msgs) < 2 || msgs[0].Type != liveflux.MessageUpdate || !strings.Contains(bodyOf(c.update(msgs[0], id)), "<h1>News</h1>") {
			t.Fatalf("want the update first, got %v", msgs)
		}
		ops, frames := streamsOf(t, msgs, id)
		assertEqual(t, frames, 1, "stream frames")
		assertEqual(t, keysOf(ops), "i1", "items streamed")
		assertEqual(t, ops[0].HTML, `<li `+liveflux.AttrKey+`="i1" class="item" data-n="1">item 1</li>`, "item, marked with its key")
	}
	// A client of the first version gets the update, and no frame it
	// would not know.
	msgs := plain.before()
	if _, frames := streamsOf(t, msgs, id); frames != 0 || len(msgs) != 1 {
		t.Fatalf("a client without liveflux.v2 got %v", msgs)
	}
	for range 200 {
		a.sendAction(id, "add", nil)
	}
	a.before()
	c, err := f.store.Get(context.Background(), id)
	assertNoError(t, err)
	if state, _ := json.Marshal(c); len(state) > 100 {
		t.Fatalf("the instance holds %d bytes after 201 items: %s", len(state), state)
	}
}

// The client that sent an action over HTTP gets what it streamed in the
// answer; the watchers get it over WebSocket.
func TestStreamInTheAnswer(t *testing.T) {
	t.Parallel()
	f := feedFixture(t)
	id := f.mount(t, "feed", nil)
	w := f.dial(t)
	w.init(id)
	w.before()
	form := url.Values{liveflux.FieldKind: {"feed"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"add"}, "n": {"3"}}
	req, err := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(form.Encode()))
	assertNoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", liveflux.MediaTypeAnswer)
	resp, err := f.srv.Client().Do(req)
	assertNoError(t, err)
	defer resp.Body.Close()
	var a struct {
		HTML    string          `json:"html"`
		Streams json.RawMessage `json:"streams"`
	}
	assertNoError(t, json.NewDecoder(resp.Body).Decode(&a))
	ops, err := wire.ParseStreamOps(a.Streams)
	assertNoError(t, err)
	assertEqual(t, keysOf(ops), "i1 i2 i3", "items in the answer")
	got, _ := streamsOf(t, w.before(), id)
	assertEqual(t, keysOf(got), "i1 i2 i3", "items the watcher got")
}

// A client that starts watching gets what Streams streams, and nobody
// else does: a page that reconnects gets a consistent list.
func TestStreamsForAClientThatConnects(t *testing.T) {
	t.Parallel()
	f := feedFixture(t)
	id := f.mount(t, "feed", nil)
	first := f.dial(t)
	first.init(id)
	first.before()
	for range 5 {
		first.sendAction(id, "add", nil)
	}
	first.before()
	late := f.dial(t)
	late.sendInit(id)
	msgs := late.before()
	if len(msgs) != 2 || msgs[0].Type != liveflux.MessageUpdate {
		t.Fatalf("init answered with %v, want the update and one stream frame", msgs)
	}
	ops, _ := streamsOf(t, msgs, id)
	lists := map[string][]wire.StreamItem{"items": {{Key: "stale", HTML: "<li>gone</li>"}}}
	wire.ApplyStreamOps(lists, ops)
	var keys []string
	for _, it := range lists["items"] {
		keys = append(keys, it.Key)
	}
	assertEqual(t, strings.Join(keys, " "), "i3 i4 i5", "the list after connecting")
	if got, frames := streamsOf(t, first.before(), id); frames != 0 {
		t.Fatalf("another watcher was sent the new client's streams: %v", got)
	}
}

// What a failed action streamed is not sent; bad items are refused with
// a reason; items over the write limit are refused with ErrTooLarge; a
// long list is cut into frames within the write limit, in order.
func TestStreamBounds(t *testing.T) {
	t.Parallel()
	const limit = 32 << 10 // a client may have 4 times as much queued
	f := feedFixture(t, liveflux.WithWebSocketWriteLimit(limit))
	id := f.mount(t, "feed", nil)
	w := f.dial(t)
	w.init(id)
	w.before()
	w.sendAction(id, "fail", nil)
	msgs := w.before()
	if len(msgs) != 1 || msgs[0].Type != liveflux.MessageError || msgs[0].Code != http.StatusConflict {
		t.Fatalf("failed action: got %v, want its error only", msgs)
	}
	for _, bad := range []struct{ key, html, why string }{
		{"", "<li>x</li>", "a key has 1 to 256 bytes"},
		{strings.Repeat("k", 257), "<li>x</li>", "a key has 1 to 256 bytes"},
		{"k", "text", "starts with no tag"},
		{"k", "<li>a</li><li>b</li> ", ""}, // ends as one element: the client takes the first
		{"k", "<li>a</li> tail", "does not end with </li>"},
	} {
		w.sendAction(id, "bad", map[string]string{"key": bad.key, "html": bad.html})
		msgs := w.before()
		if bad.why == "" {
			if _, frames := streamsOf(t, msgs, id); frames != 1 {
				t.Fatalf("%q refused: %v", bad.html, msgs)
			}
			continue
		}
		if len(msgs) != 1 || msgs[0].Code != http.StatusBadRequest || !strings.Contains(msgs[0].Message, bad.why) {
			t.Fatalf("item %q under key %q: got %v, want an error saying %q", bad.html, bad.key, msgs, bad.why)
		}
	}
	w.sendAction(id, "big", map[string]string{"n": strconv.Itoa(limit)})
	if msgs := w.before(); len(msgs) != 1 || msgs[0].Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("an item over the write limit: %v", msgs)
	}
	w.sendAction(id, "add", map[string]string{"n": "1000"})
	msgs = w.before()
	ops, frames := streamsOf(t, msgs, id)
	if len(ops) != 1000 || frames < 3 {
		t.Fatalf("%d operations in %d frames, want 1,000 cut into several", len(ops), frames)
	}
	for i, o := range ops {
		if o.Key != "i"+strconv.Itoa(i+1) {
			t.Fatalf("operation %d is %s, out of order", i, o.Key)
		}
	}
	for _, m := range msgs {
		if len(m.raw) > limit {
			t.Fatalf("a frame of %d bytes, over the write limit %d", len(m.raw), limit)
		}
	}
}

// A topic message that streams without changing the rendering sends the
// stream frame alone.
func TestStreamFromATopic(t *testing.T) {
	t.Parallel()
	f := feedFixture(t)
	id := f.mount(t, "feed", map[string]string{"topic": "news"})
	w := f.dial(t)
	w.init(id)
	w.before()
	assertNoError(t, f.h.Publish(context.Background(), "news", "<b>hi</b>"))
	m := w.nextMsg()
	if m.Type != liveflux.MessageStream {
		t.Fatalf("got %s, want the stream frame alone", m.raw)
	}
	ops, _ := streamsOf(t, []serverMsg{m}, id)
	assertEqual(t, ops[0].HTML, `<li `+liveflux.AttrKey+`="i1" class="item" data-n="1">&lt;b&gt;hi&lt;/b&gt;</li>`, "item")
}

// What one node streams reaches the watchers of the other node that speak
// liveflux.v2, after the update it goes with.
func TestStreamAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _ := twoNodes(t, bus.New())
	for _, f := range []*fixture{a, b} {
		assertNoError(t, f.reg.Register("feed", func() liveflux.Component { return &feed{} }))
	}
	id := a.mount(t, "feed", nil)
	v2, plain, actor := b.dial(t), b.dialPlain(t), a.dial(t)
	for _, c := range []*wsClient{v2, plain, actor} {
		c.init(id)
		c.before()
	}
	actor.sendAction(id, "title", map[string]string{"title": "Both"})
	var msgs []serverMsg
	waitFor(t, "the stream frame on the other node", func() bool {
		msgs = append(msgs, v2.before()...)
		_, frames := streamsOf(t, msgs, id)
		return frames == 1
	})
	if msgs[0].Type != liveflux.MessageUpdate {
		t.Fatalf("the other node sent %v, want the update first", msgs)
	}
	ops, _ := streamsOf(t, msgs, id)
	assertEqual(t, keysOf(ops), "i1", "items on the other node")
	var got []serverMsg
	waitFor(t, "the update on the other node, for the client of the first version", func() bool {
		got = append(got, plain.before()...)
		return len(got) > 0
	})
	if _, frames := streamsOf(t, append(got, plain.before()...), id); frames != 0 {
		t.Fatalf("a client without liveflux.v2 got a stream frame: %v", got)
	}
}
