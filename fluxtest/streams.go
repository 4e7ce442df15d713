package fluxtest

import (
	"github.com/go-liveflux/liveflux/internal/wire"
	"golang.org/x/net/html"
)

// applyStreams applies ops to the stream containers of instance id, as
// js/stream.js applyStreams does: an insert with a key the container
// holds morphs that item where it stands; a reset keeps the items aside
// until the end of ops, and an item streamed again takes its element back.
// An operation on a container the component lacks is a problem of the
// page. c.mu is held.
func (s *state) applyStreams(id string, ops []wire.StreamOp) {
	root := s.findRoot(id)
	if root == nil || len(ops) == 0 {
		return
	}
	type list struct {
		el    *html.Node
		keys  map[string]*html.Node
		stale map[string]*html.Node
	}
	lists := map[string]*list{}
	for _, o := range ops {
		l := lists[o.Stream]
		if l == nil {
			l = &list{keys: map[string]*html.Node{}, stale: map[string]*html.Node{}}
			for _, el := range queryAll(root, selLive) {
				if attrOr(el, attrStream, "\x00") == o.Stream && rootOf(el) == root {
					l.el = el
					break
				}
			}
			if l.el == nil {
				s.problems = append(s.problems, "a stream operation on "+o.Stream+", which component "+id+" does not render (no "+attrStream+"=\""+o.Stream+"\")")
			} else {
				for c := l.el.FirstChild; c != nil; c = c.NextSibling {
					if k, ok := getAttr(c, attrKey); ok && c.Type == html.ElementNode {
						l.keys[k] = c
					}
				}
			}
			lists[o.Stream] = l
		}
		if l.el == nil {
			continue
		}
		switch o.Op {
		case "insert":
			next := parseIn(o.HTML, l.el) // in its container: a <tr> in a <tbody>
			if next == nil {
				continue
			}
			if old := l.keys[o.Key]; old != nil {
				s.morphElement(old, next, root)
				continue
			}
			node := next
			if old := l.stale[o.Key]; old != nil {
				delete(l.stale, o.Key)
				s.morphElement(old, next, root)
				node = old
			}
			// Placed among the items streamed since a reset; the stale
			// ones are removed at the end.
			var live []*html.Node
			for c := l.el.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c != node && l.stale[attrOr(c, attrKey, "")] != c {
					live = append(live, c)
				}
			}
			if node.Parent != nil {
				node.Parent.RemoveChild(node)
			}
			switch {
			case o.At >= 0 && o.At < len(live):
				l.el.InsertBefore(node, live[o.At])
			case len(live) > 0 && live[len(live)-1].NextSibling != nil:
				l.el.InsertBefore(node, live[len(live)-1].NextSibling)
			case len(live) > 0:
				l.el.AppendChild(node)
			default:
				l.el.InsertBefore(node, l.el.FirstChild)
			}
			l.keys[o.Key] = node
		case "delete":
			if old := l.keys[o.Key]; old != nil {
				l.el.RemoveChild(old)
				delete(l.keys, o.Key)
			}
		case "reset":
			for k, c := range l.keys {
				l.stale[k] = c
			}
			clear(l.keys)
		case "limit":
			var items []*html.Node
			for c := l.el.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && l.keys[attrOr(c, attrKey, "")] == c {
					items = append(items, c)
				}
			}
			var cut []*html.Node
			if o.N > 0 && len(items) > o.N {
				cut = items[o.N:]
			} else if o.N < 0 && len(items) > -o.N {
				cut = items[:len(items)+o.N]
			}
			for _, c := range cut {
				delete(l.keys, attrOr(c, attrKey, ""))
				l.el.RemoveChild(c)
			}
		}
	}
	for _, l := range lists {
		for _, c := range l.stale {
			l.el.RemoveChild(c)
		}
	}
	if s.focused != nil && !contains(s.page.doc, s.focused) {
		s.focused = nil
	}
	s.signal()
}
