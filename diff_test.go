package liveflux_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
)

// diffOf is the diff of the diff update msg.
func diffOf(tb testing.TB, msg []byte) wire.Diff {
	tb.Helper()
	d, ok := parseDiff(parseMsg(tb, msg))
	if !ok {
		tb.Fatalf("not a diff update: %s", msg)
	}
	return d
}

func TestDiffUpdateRoundTrips(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("<li>row</li>", 50)
	tests := []struct{ name, prev, next string }{
		{"one value", long + "<b>1</b>" + long, long + "<b>2</b>" + long},
		{"insert", long + long, long + "<i>new</i>" + long},
		{"delete", long + "<i>old</i>" + long, long + long},
		{"multi-byte around the change", long + "é€😀a😀€é" + long, long + "é€😀b😀€é" + long},
		{"multi-byte changed", long + "€" + long, long + "😀" + long},
		{"same leading byte", long + "é" + long, long + "è" + long},
		{"escapes", long + `"` + long, long + "\"\\\n\t\u2028<&>\x01" + long},
		{"no change", long, long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := liveflux.AppendDiffUpdate(nil, "ID", 8, 7, []byte(tt.prev), []byte(tt.next))
			if !ok {
				t.Fatalf("no diff for a small change")
			}
			if !json.Valid(msg) {
				t.Fatalf("invalid JSON: %s", msg)
			}
			if got := applyDiff(t, tt.prev, diffOf(t, msg)); got != tt.next {
				t.Fatalf("diff applied gives\n%q\nwant\n%q", got, tt.next)
			}
			if !strings.HasPrefix(string(msg), `{"type":"update","componentID":"ID","data":{"rev":8,"base":7,"diff":[`) {
				t.Fatalf("envelope: %s", msg)
			}
		})
	}
	if _, ok := liveflux.AppendDiffUpdate(nil, "ID", 2, 1, []byte("abcdefgh"), []byte("12345678")); ok {
		t.Errorf("diff sent although it is not smaller than the rendering")
	}
}

func TestRootBody(t *testing.T) {
	t.Parallel()
	if got := string(liveflux.RootBody([]byte(`<div a="&gt;" b="1">x<p>y</p></div>`))); got != "x<p>y</p>" {
		t.Fatalf("RootBody = %q", got)
	}
	if liveflux.RootBody([]byte(`<div`)) != nil {
		t.Fatal("rootBody of garbage")
	}
}

// Guards against: diff of renderings with invalid UTF-8 diverges from the full rendering.
func TestDiffOfInvalidUTF8RebuildsTheRendering(t *testing.T) {
	t.Parallel()
	steps := [][]byte{
		[]byte("<p>Zo\xc3</p>"),              // name truncated mid-rune by bytes
		[]byte("<p>Zo\xc3\xab</p>"),          // now whole: "Zoë"
		[]byte("<p>Zo\xc3\xab</p><i>ok</i>"), // something appended
	}
	// What a browser holds after JSON.parse of a full update.
	full := func(b []byte) string {
		var s string
		x, _ := json.Marshal(string(b))
		assertNoError(t, json.Unmarshal(x, &s))
		return s
	}
	client := full(steps[0])
	for i := 1; i < len(steps); i++ {
		msg, ok := liveflux.AppendDiffUpdate(nil, "ID", uint64(i+1), uint64(i), steps[i-1], steps[i])
		if !ok { // a full update: the client takes the rendering as is
			client = full(steps[i])
			continue
		}
		client = applyDiff(t, client, diffOf(t, msg))
		if want := full(steps[i]); client != want {
			t.Errorf("step %d: client body %q, full rendering %q", i, client, want)
		}
	}
}

// TestUpdatesAreDiffs checks that a one-value change in a large component
// reaches watchers as a diff of at most 120 bytes that rebuilds exactly
// the rendering an HTTP request gets.
func TestUpdatesAreDiffs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "rows", nil)
	cs := f.watchers(t, id, 2)
	a, b := cs[0], cs[1]
	full := a.views[id].Body
	if len(full) < 5000 {
		t.Fatalf("rendering only %d bytes", len(full))
	}
	a.sendAction(id, "bump", nil) // the first update after two inits is full
	a.nextUpdate(id)
	b.nextUpdate(id)
	for hot := 2; hot <= 4; hot++ {
		a.sendAction(id, "bump", nil)
		want := rowsBody(hot)
		for _, c := range []*wsClient{a, b} {
			m := c.nextMsg()
			if len(m.raw) > 120 {
				t.Fatalf("update of one value is %d bytes: %s", len(m.raw), m.raw)
			}
			t.Logf("update of one value in a %d-byte rendering: %d bytes", len(full), len(m.raw))
			got := c.update(m, id)
			if body := bodyOf(got); body != want {
				t.Fatalf("diff rebuilt another rendering:\n%s\nwant\n%s", body, want)
			}
		}
	}
}

// Guards against: every watcher got diff updates, which a client written
// from the first version of the protocol (update with data.html) cannot
// apply. Diffs go only to clients that ask for them in the handshake, in
// the form they ask for: one span (liveflux.diff.v1), or edits
// (liveflux.v2, chosen when a client offers both).
func TestWebSocketDiffsOnlyForClientsThatAsk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.mount(t, "rows", nil)
	// Six watchers: from four on, messages are framed once for all.
	plain := []*wsClient{f.dialPlain(t), f.dialPlain(t)}
	spans := []*wsClient{f.dialSpeaking(t, liveflux.SubprotocolDiff), f.dialSpeaking(t, liveflux.SubprotocolDiff)}
	edits := []*wsClient{f.dial(t), f.dial(t)}
	assertEqual(t, plain[0].ws.Subprotocol(), "", "subprotocol of a client that did not ask")
	assertEqual(t, spans[0].ws.Subprotocol(), liveflux.SubprotocolDiff, "subprotocol of a client that asked for diffs of one span")
	assertEqual(t, edits[0].ws.Subprotocol(), liveflux.SubprotocolV2, "subprotocol of a client that offered both")
	all := append(append(append([]*wsClient{}, plain...), spans...), edits...)
	for _, c := range all {
		c.init(id)
	}
	for hot := 1; hot <= 3; hot++ {
		edits[0].sendAction(id, "bump", nil)
		want := rowsBody(hot)
		for i, c := range all {
			m := c.nextMsg()
			_, span := parseDiff(m)
			got := map[bool]string{true: "a diff of one span", false: "edits"}[span]
			if !span && !isEdits(m) {
				got = "a full rendering"
			}
			wants := map[int]string{0: "a full rendering", 1: "a diff of one span", 2: "edits"}[i/2]
			if hot == 1 { // the first update after the inits is full
				wants = "a full rendering"
			}
			if got != wants {
				t.Fatalf("client %d got %s, want %s: %s", i, got, wants, m.raw)
			}
			if body := bodyOf(c.update(m, id)); body != want {
				t.Fatalf("client %d holds another rendering:\n%s\nwant\n%s", i, body, want)
			}
		}
	}
}
