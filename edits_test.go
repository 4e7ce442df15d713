package liveflux_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
)

// table renders n rows of two cells; cells[i] overrides row i's second
// cell.
func table(n int, cells map[int]string) string {
	var b strings.Builder
	b.WriteString("<table>")
	for i := range n {
		v := fmt.Sprint(i * 7)
		if c, ok := cells[i]; ok {
			v = c
		}
		fmt.Fprintf(&b, `<tr id="r%d"><td class="name">row %d</td><td class="v">%s</td></tr>`, i, i, v)
	}
	b.WriteString("</table>")
	return b.String()
}

// applyEdits applies the edits update msg to body as a client does.
func applyEdits(tb testing.TB, body string, msg []byte) string {
	tb.Helper()
	f, err := wire.Parse(msg)
	assertNoError(tb, err)
	u, err := wire.ParseUpdate(f.Data)
	assertNoError(tb, err)
	if u.Edits == nil {
		tb.Fatalf("not an edits update: %s", msg)
	}
	out, ok := wire.ApplyEdits(body, u.Edits)
	if !ok {
		tb.Fatalf("edits %s do not fit the body", msg)
	}
	return out
}

// An update costs what changed, wherever it is: two cells 280 rows apart
// in a 300-row table are two small edits (a diff of one span runs from
// one to the other: 49,297 B for a 49,279 B rendering).
func TestEditsCostWhatChanged(t *testing.T) {
	t.Parallel()
	prev := table(300, nil)
	for _, tc := range []struct {
		name  string
		next  string
		limit int
	}{
		{"two cells 280 rows apart", table(300, map[int]string{10: "changed", 290: "also"}), 400},
		{"one cell", table(300, map[int]string{150: "x"}), 114},
		{"a row inserted", strings.Replace(prev, `<tr id="r100">`, `<tr id="new"><td>new</td></tr><tr id="r100">`, 1), 200},
		{"a row removed", strings.Replace(prev, `<tr id="r200"><td class="name">row 200</td><td class="v">1400</td></tr>`, "", 1), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, ok := liveflux.AppendEditsUpdate(nil, "ID", 2, 1, []byte(prev), []byte(tc.next))
			if !ok {
				t.Fatal("no edits for a small change")
			}
			if len(msg) > tc.limit {
				t.Fatalf("%d bytes, want at most %d: %s", len(msg), tc.limit, msg)
			}
			if got := applyEdits(t, prev, msg); got != tc.next {
				t.Fatalf("edits rebuild another body")
			}
			t.Logf("%s: %d B for a %d B rendering", tc.name, len(msg), len(tc.next))
		})
	}
	// A list of short names in repeated markup (who is online): 200 names
	// joined 800 spread through it. The names alone are under a quarter
	// of the body; the markup between them is kept too.
	before, after := onlineList(1000, 5), onlineList(1000, 0)
	msg, ok := liveflux.AppendEditsUpdate(nil, "ID", 2, 1, []byte(before), []byte(after))
	if !ok || len(msg) > len(after)*2/5 {
		t.Fatalf("200 names joined a list of 800: edits %v, %d B for a %d B rendering", ok, len(msg), len(after))
	}
	if got := applyEdits(t, before, msg); got != after {
		t.Fatal("edits rebuild another list")
	}
	t.Logf("200 names joined a list of 800: %d B for a %d B rendering", len(msg), len(after))

	// A small rendering's one change is an edit, as it is a diff of one
	// span: the full update would carry the root element too.
	small, smaller := []byte("total=0 count=0 last=0"), []byte("total=1 count=1 last=1")
	if _, ok := liveflux.AppendEditsUpdate(nil, "ID", 2, 1, small, smaller); !ok {
		t.Error("no edits for a 22-byte rendering whose numbers changed")
	}
	if _, ok := liveflux.AppendDiffUpdate(nil, "ID", 2, 1, small, smaller); !ok {
		t.Error("no diff of one span for a 22-byte rendering whose numbers changed")
	}

	// A diff of one span would run from one cell to the other: not worth
	// sending, the rendering goes in full.
	if _, ok := liveflux.AppendDiffUpdate(nil, "ID", 2, 1, []byte(prev), []byte(table(300, map[int]string{10: "changed", 290: "also"}))); ok {
		t.Error("a diff of one span was worth sending for two cells 280 rows apart")
	}
}

// Edits rebuild the next body exactly, whatever the change: random edits
// of markup with multi-byte characters, characters outside the BMP (two
// UTF-16 units), and rows moved, dropped and added.
func TestEditsRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "é", "😀", "<b>", "</b>", "<li>", "</li>", "x y", "\"q\"", "\n", "€", "<br/>", "text"}
	body := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(`<li data-k="%d">%s%s</li>`, rng.IntN(50), words[rng.IntN(len(words))], words[rng.IntN(len(words))])
		}
		return out
	}
	tried := 0
	for i := range 300 {
		a := body(20 + rng.IntN(200))
		b := append([]string(nil), a...)
		for range 1 + rng.IntN(8) {
			switch j := rng.IntN(len(b)); rng.IntN(5) {
			case 0:
				b[j] = body(1)[0]
			case 4: // a value changed in place: the same shape
				b[j] = fmt.Sprintf(`<li data-k="%d">%s</li>`, rng.IntN(50), words[rng.IntN(len(words))])
			case 1:
				b = append(b[:j], b[j+1:]...)
			case 2:
				b = append(b[:j], append(body(1+rng.IntN(3)), b[j:]...)...)
			default:
				k := rng.IntN(len(b))
				b[j], b[k] = b[k], b[j]
			}
			if len(b) == 0 {
				b = body(1)
			}
		}
		prev, next := strings.Join(a, ""), strings.Join(b, "")
		msg, ok := liveflux.AppendEditsUpdate(nil, "ID", 2, 1, []byte(prev), []byte(next))
		if !ok {
			continue // a full rendering is cheaper: nothing to check
		}
		tried++
		if !json.Valid(msg) {
			t.Fatalf("case %d: invalid JSON %s", i, msg)
		}
		if got := applyEdits(t, prev, msg); got != next {
			t.Fatalf("case %d: edits rebuild\n%q\nwant\n%q\nfrom\n%q\nwith %s", i, got, next, prev, msg)
		}
	}
	if tried < 200 {
		t.Fatalf("edits were worth sending in %d of 300 cases only", tried)
	}
}

// A log that keeps its last 40 lines, one more: every line's place shows
// another line (the same shape, other text), but one line went and one
// came, and the edits say so.
func TestEditsOfAShiftedLog(t *testing.T) {
	t.Parallel()
	log := func(from int) string {
		var b strings.Builder
		b.WriteString("<ol>")
		for i := from; i < from+40; i++ {
			fmt.Fprintf(&b, "<li>message %d, lorem ipsum dolor sit amet</li>", i)
		}
		b.WriteString("</ol>")
		return b.String()
	}
	prev, next := log(1), log(2)
	msg, ok := liveflux.AppendEditsUpdate(nil, "ID", 2, 1, []byte(prev), []byte(next))
	if !ok || len(msg) > 200 {
		t.Fatalf("%d bytes (worth sending: %v), want at most 200: %s", len(msg), ok, msg)
	}
	if got := applyEdits(t, prev, msg); got != next {
		t.Fatalf("edits rebuild another body")
	}
}
