package liveflux_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// keyedTable renders the keyed rows of order, three cells each.
func keyedTable(order []int) string {
	var b strings.Builder
	b.WriteString("<table><tbody>")
	for _, r := range order {
		fmt.Fprintf(&b, `<tr data-flux-key="%d"><td>%d</td><td>row %d</td><td class="v">%d</td></tr>`, r, r, r, r*7)
	}
	b.WriteString("</tbody></table>")
	return b.String()
}

// BenchmarkUpdateForms measures an update in each form a watcher may take:
// the bytes of the frame sent (B/update; a diff not worth sending goes in
// full) and the server's time to make it from the two renderings (the
// rendering itself is the same for all). full: a client of the first
// version; span: a diff of one span (liveflux.diff.v1, the only diff
// before edits); edits: liveflux.v2.
//
//	go test -run '^$' -bench BenchmarkUpdateForms .
func BenchmarkUpdateForms(b *testing.B) {
	order := make([]int, 1000)
	for i := range order {
		order[i] = i
	}
	reversed := slices.Clone(order)
	slices.Reverse(reversed)
	cases := []struct{ name, prev, next string }{
		{"one cell of 300 rows", table(300, nil), table(300, map[int]string{150: "changed"})},
		{"two cells 280 rows apart", table(300, nil), table(300, map[int]string{10: "changed", 290: "also"})},
		{"a row inserted in 300", table(300, nil), strings.Replace(table(300, nil), `<tr id="r100">`, `<tr id="new"><td class="name">new</td><td class="v">0</td></tr><tr id="r100">`, 1)},
		{"1,000 keyed rows reversed", keyedTable(order), keyedTable(reversed)},
		{"200 names joined 800", onlineList(1000, 5), onlineList(1000, 0)},
	}
	forms := []struct {
		name string
		make func(dst []byte, prev, next []byte) []byte
	}{
		{"full", func(dst, _, next []byte) []byte { return liveflux.EncodeUpdate("ID", next) }},
		{"span", func(dst, prev, next []byte) []byte {
			if m, ok := liveflux.AppendDiffUpdate(dst, "ID", 2, 1, prev, next); ok {
				return m
			}
			return liveflux.EncodeUpdate("ID", next)
		}},
		{"edits", func(dst, prev, next []byte) []byte {
			if m, ok := liveflux.AppendEditsUpdate(dst, "ID", 2, 1, prev, next); ok {
				return m
			}
			return liveflux.EncodeUpdate("ID", next)
		}},
	}
	for _, c := range cases {
		for _, f := range forms {
			b.Run(c.name+"/"+f.name, func(b *testing.B) {
				prev, next := []byte(c.prev), []byte(c.next)
				var msg []byte
				for b.Loop() {
					msg = f.make(msg[:0], prev, next)
				}
				b.ReportMetric(float64(len(msg)), "B/update")
				b.ReportMetric(float64(len(next)), "B/rendering")
			})
		}
	}
}

// onlineList renders a list of n short names, as the chat example lists
// who is online, without every skip-th name (none when skip is 0).
func onlineList(n, skip int) string {
	var b strings.Builder
	b.WriteString(`<aside><h2>online</h2><ul class="online">`)
	for i := range n {
		if skip == 0 || i%skip != 0 {
			fmt.Fprintf(&b, "\n      <li>m-%d</li>", i)
		}
	}
	b.WriteString("\n    </ul></aside>")
	return b.String()
}
