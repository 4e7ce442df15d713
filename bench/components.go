package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/go-liveflux/liveflux"
)

// Counter is the README's counter: one button showing a number.
type Counter struct {
	liveflux.Base
	Count int
}

func (c *Counter) Mount(context.Context, map[string]string) error { return nil }

func (c *Counter) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "inc" {
		c.Count++
	}
	return nil
}

func (c *Counter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<button data-flux-action="inc">Clicked %d times</button>`, c.Count)
	return err
}

// ListRows is how many rows List renders.
const ListRows = 300

// List renders ListRows rows of about 23 bytes each (≈7 KB). Action "set"
// with fields row and value changes the value shown in one row.
type List struct {
	liveflux.Base
	Values []int
}

func (l *List) Mount(context.Context, map[string]string) error {
	l.Values = make([]int, ListRows)
	for i := range l.Values {
		l.Values[i] = 10000 + i
	}
	return nil
}

func (l *List) Handle(_ context.Context, action string, data url.Values) error {
	if action != "set" {
		return nil
	}
	row, err := strconv.Atoi(data.Get("row"))
	if err != nil || row < 0 || row >= len(l.Values) {
		return liveflux.NewError(400, "bad row")
	}
	v, err := strconv.Atoi(data.Get("value"))
	if err != nil {
		return liveflux.NewError(400, "bad value")
	}
	// A new slice: the store's rollback copy is shallow.
	vals := append([]int(nil), l.Values...)
	vals[row] = v
	l.Values = vals
	return nil
}

func (l *List) Render(_ context.Context, w io.Writer) error {
	buf := make([]byte, 0, 24*len(l.Values)+16)
	buf = append(buf, "<ul>"...)
	for i, v := range l.Values {
		buf = append(buf, `<li>row `...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ": "...)
		buf = strconv.AppendInt(buf, int64(v), 10)
		buf = append(buf, "</li>"...)
	}
	buf = append(buf, "</ul>"...)
	_, err := w.Write(buf)
	return err
}

// newRegistry returns a registry holding the benchmark's components.
func newRegistry() *liveflux.Registry {
	r := liveflux.NewRegistry()
	r.Register("counter", func() liveflux.Component { return &Counter{} })
	r.Register("list", func() liveflux.Component { return &List{} })
	r.Register("feed", func() liveflux.Component { return &Counter{} })
	return r
}

// idOf extracts the component ID from a rendering.
func idOf(html string) string {
	const attr = liveflux.AttrID + `="`
	for i := 0; i+len(attr) <= len(html); i++ {
		if html[i:i+len(attr)] == attr {
			rest := html[i+len(attr):]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '"' {
					return rest[:j]
				}
			}
		}
	}
	return ""
}
