package liveflux

import "testing"

// The container is found by its attribute, not by text that ends with
// it, and its start tag ends at the first > outside quotes.
func TestContainerEnd(t *testing.T) {
	for _, tc := range []struct {
		html string
		want int // -1, or the offset just after the start tag
	}{
		{`<div><ul data-flux-stream="items"></ul></div>`, len(`<div><ul data-flux-stream="items">`)},
		{`<div><ul data-flux-stream="items" title="a>b"></ul></div>`, len(`<div><ul data-flux-stream="items" title="a>b">`)},
		{`<div><ul xdata-flux-stream="items"></ul></div>`, -1},
		{`<div><ul data-flux-stream="itemsx"></ul></div>`, -1},
		{`<div><ul data-flux-stream="other"></ul><ol class="x" data-flux-stream="items"></ol></div>`, len(`<div><ul data-flux-stream="other"></ul><ol class="x" data-flux-stream="items">`)},
		{`<div><ul data-flux-stream="items"`, -1},
	} {
		if got := containerEnd([]byte(tc.html), "items"); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.html, got, tc.want)
		}
	}
}

func TestMarkItem(t *testing.T) {
	for _, tc := range []struct{ html, key, want string }{
		{"<li>x</li>", "a", `<li data-flux-key="a">x</li>`},
		{"  <tr class=\"r\"><td>1</td></tr>\n", `"<&>`, `<tr data-flux-key="&#34;&lt;&amp;&gt;" class="r"><td>1</td></tr>`},
		{`<img src="x">`, "k", `<img data-flux-key="k" src="x">`},
		{`<my-card/>`, "k", `<my-card data-flux-key="k"/>`},
	} {
		got, err := markItem([]byte(tc.html), tc.key)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %s, %v; want %s", tc.html, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "x", "<", "<1a>x</1a>", "<li>x</li>y", "<li>x"} {
		if got, err := markItem([]byte(bad), "k"); err == nil {
			t.Errorf("%q accepted as %s", bad, got)
		}
	}
}
