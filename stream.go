package liveflux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Streams are lists whose items a component renders once and sends, and
// does not keep: a chat's messages, a feed, the rows of an infinite
// scroll. The page holds the items, in an element of the component's
// rendering marked data-flux-stream="NAME" (the stream's container); the
// component only says what changes, with StreamAppend, StreamPrepend,
// StreamInsert, StreamDelete, StreamReset and StreamLimit, from any of its
// methods. Updates of the component leave the container's children alone.
//
// Each item is one element, which the server marks with its key
// (data-flux-key="KEY"): an item inserted with a key the container holds
// already replaces that one where it stands, so inserting is also how an
// item is updated, and a message that reaches a page twice changes nothing.
//
// What a method streams reaches the page with what it rendered:
//
//   - from Mount: inside the first rendering, so the page shows the items
//     on first paint (the container must be in that rendering);
//   - from Handle, HandleWS, HandleTopic and Watching: every client
//     watching the instance over WebSocket gets the operations (a stream
//     message, after the update), and the client that sent an action over
//     HTTP gets them in the answer;
//   - from Streams (see StreamComponent): only the client that starts
//     watching.
//
// A page that mounts the component again (a reload, a lost instance)
// starts from Mount's items. A client that reconnects keeps the items it
// shows, and missed what was streamed while it was away: a component
// whose streams change while clients may be away implements
// StreamComponent, whose Streams method resets them and streams what they
// should show, for that client only (the page keeps the elements of the
// items streamed again, with their focus, scroll position and state).
// Stream operations go to clients that speak SubprotocolV2 (the JS client
// does); older clients do not see the items.

// Renderer renders markup: a component, a templ.Component, or a
// RenderFunc.
type Renderer interface {
	Render(ctx context.Context, w io.Writer) error
}

// RenderFunc is a function that renders markup.
type RenderFunc func(ctx context.Context, w io.Writer) error

// Render calls f.
func (f RenderFunc) Render(ctx context.Context, w io.Writer) error { return f(ctx, w) }

// StreamComponent is implemented by components whose streams must be
// consistent for a client that connects again.
type StreamComponent interface {
	Component
	// Streams is called, with the instance held, each time a client
	// starts watching it over WebSocket: when the page first connects,
	// and every time it reconnects. What it streams is sent to that
	// client only, after the rendering; it usually resets each stream
	// (StreamReset) and streams what the page should show. Its other
	// changes to the instance are kept, as an action's are. It is also
	// called when messages from another node were lost (see
	// WithBackplane): then what it streams goes to every client watching
	// the instance on this node.
	Streams(ctx context.Context) error
}

// ErrNoStream is returned by a Mount that streamed into a stream whose
// container is not in its rendering, and by the Stream functions for a
// bad stream name or key. Test for it with errors.Is.
var ErrNoStream = errors.New("liveflux: no such stream")

// Bounds of stream operations.
const (
	// maxStreamKey bounds a key, in bytes.
	maxStreamKey = 256
	// maxStreamOps bounds the operations of one call.
	maxStreamOps = 1 << 16
)

// streamOp is one operation on a stream.
type streamOp struct {
	op   string // streamInsert, streamDelete, streamReset, streamLimit
	name string
	key  string
	n    int    // insert: the index (-1: at the end); limit: the limit
	html []byte // insert: the item, marked with its key
	enc  []byte // the operation as the wire has it (encodeOp)
}

// Operations, as the wire names them.
const (
	streamInsert = "insert"
	streamDelete = "delete"
	streamReset  = "reset"
	streamLimit  = "limit"
)

// StreamAppend adds item at the end of stream, under key (or replaces the
// item of that key where it stands). item must render one element.
func StreamAppend(ctx context.Context, stream, key string, item Renderer) error {
	return StreamInsert(ctx, stream, key, -1, item)
}

// StreamPrepend adds item at the start of stream, under key (or replaces
// the item of that key where it stands).
func StreamPrepend(ctx context.Context, stream, key string, item Renderer) error {
	return StreamInsert(ctx, stream, key, 0, item)
}

// StreamInsert adds item to stream under key, before the item at index at
// (counted from 0 among the container's children; -1, or past the end:
// at the end), or replaces the item of that key where it stands. item is
// rendered now, and must render one element (a <li>, a <tr>, a <div>…):
// the server marks it with data-flux-key="KEY". The key is any non-empty
// text of at most 256 bytes, unique in the stream: a row's ID in the
// database, a message's number.
//
// On a WebSocketHandler, an item over the write limit is refused with an
// error wrapping ErrTooLarge.
func StreamInsert(ctx context.Context, stream, key string, at int, item Renderer) error {
	sc, err := streamScope(ctx, stream)
	if err != nil {
		return err
	}
	if err := checkKey(stream, key); err != nil {
		return err
	}
	if at < -1 {
		return fmt.Errorf("liveflux: stream %s: index %d: use -1 for the end", stream, at)
	}
	var buf bytes.Buffer
	if err := item.Render(sc, &buf); err != nil {
		return fmt.Errorf("liveflux: stream %s: rendering item %q: %w", stream, key, err)
	}
	html, err := markItem(buf.Bytes(), key)
	if err != nil {
		return fmt.Errorf("liveflux: stream %s: item %q: %w", stream, key, err)
	}
	o := streamOp{op: streamInsert, name: stream, key: key, n: at, html: html}
	o.enc = encodeOp(o)
	if limit := sc.h.maxRender; limit > 0 && len(o.enc)+streamMessageOverhead > limit {
		return fmt.Errorf("%w: stream %s: item %q takes %d bytes encoded, over the write limit (%d)", ErrTooLarge, stream, key, len(o.enc), limit)
	}
	sc.streams = append(sc.streams, o)
	return nil
}

// StreamDelete removes the item of key from stream, if the page has it.
func StreamDelete(ctx context.Context, stream, key string) error {
	sc, err := streamScope(ctx, stream)
	if err != nil {
		return err
	}
	if err := checkKey(stream, key); err != nil {
		return err
	}
	sc.stream(streamOp{op: streamDelete, name: stream, key: key})
	return nil
}

// StreamReset removes every item of stream; items streamed after it in
// the same call take their place (an item streamed again keeps its
// element).
func StreamReset(ctx context.Context, stream string) error {
	sc, err := streamScope(ctx, stream)
	if err != nil {
		return err
	}
	sc.stream(streamOp{op: streamReset, name: stream})
	return nil
}

// StreamLimit trims stream in the page to n items: the first n for n > 0
// (after prepending), the last -n for n < 0 (after appending). It applies
// once, where it stands among the operations: call it after each batch of
// inserts.
func StreamLimit(ctx context.Context, stream string, n int) error {
	sc, err := streamScope(ctx, stream)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("liveflux: stream %s: a limit of 0 keeps nothing: use StreamReset", stream)
	}
	sc.stream(streamOp{op: streamLimit, name: stream, n: n})
	return nil
}

func streamScope(ctx context.Context, stream string) (*scope, error) {
	sc := scopeOf(ctx)
	if sc == nil {
		return nil, ErrNoScope
	}
	if !validEventName(stream) {
		return nil, fmt.Errorf("%w: stream name %q: use letters, digits, '-', '_' and ':'", ErrNoStream, stream)
	}
	if len(sc.streams) >= maxStreamOps {
		return nil, fmt.Errorf("liveflux: stream %s: over %d operations in one call", stream, maxStreamOps)
	}
	return sc, nil
}

func checkKey(stream, key string) error {
	if key == "" || len(key) > maxStreamKey {
		return fmt.Errorf("%w: stream %s: a key has 1 to %d bytes, not %d", ErrNoStream, stream, maxStreamKey, len(key))
	}
	return nil
}

// markItem checks that html is one element and returns it marked with
// key: data-flux-key="KEY" right after its tag name (a key attribute of
// its own comes after, and the browser keeps the first).
func markItem(html []byte, key string) ([]byte, error) {
	html = bytes.TrimSpace(html)
	name := tagName(html)
	if name == "" {
		return nil, errors.New("an item must be one element; it starts with no tag")
	}
	if !bytes.HasSuffix(html, []byte("</"+name+">")) && !bytes.HasSuffix(html, []byte("/>")) && !voidElement(name) {
		return nil, fmt.Errorf("an item must be one element: it does not end with </%s>", name)
	}
	out := make([]byte, 0, len(html)+len(key)+len(AttrKey)+16)
	out = append(out, html[:1+len(name)]...)
	out = append(out, ' ')
	out = append(out, AttrKey...)
	out = append(out, `="`...)
	out = appendAttrEscaped(out, key)
	out = append(out, '"')
	return append(out, html[1+len(name):]...), nil
}

// tagName returns the name of the tag html starts with, or "".
func tagName(html []byte) string {
	if len(html) < 2 || html[0] != '<' {
		return ""
	}
	i := 1
	for i < len(html) && (isLetter(html[i]) || i > 1 && (html[i] == '-' || '0' <= html[i] && html[i] <= '9')) {
		i++
	}
	if i == 1 || i == len(html) || !(html[i] == '>' || html[i] == '/' || html[i] == ' ' || html[i] == '\t' || html[i] == '\n' || html[i] == '\r' || html[i] == '\f') {
		return ""
	}
	return string(html[1:i])
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func voidElement(name string) bool {
	switch name {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr":
		return true
	}
	return false
}

// appendAttrEscaped appends s escaped for a double-quoted attribute value.
func appendAttrEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&#34;"...)
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// encodeOp returns o as an element of a stream message's data.ops.
func encodeOp(o streamOp) []byte {
	b := make([]byte, 0, 24+len(o.name)+len(o.key)+len(o.html)*9/8)
	b = append(b, `["`...)
	b = append(b, o.op...)
	b = append(b, `",`...)
	b = appendJSONString(b, []byte(o.name))
	switch o.op {
	case streamInsert:
		b = append(b, ',')
		b = appendJSONString(b, []byte(o.key))
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(o.n), 10)
		b = append(b, ',')
		b = appendJSONString(b, o.html)
	case streamDelete:
		b = append(b, ',')
		b = appendJSONString(b, []byte(o.key))
	case streamLimit:
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(o.n), 10)
	}
	return append(b, ']')
}

// appendOps appends ops as a JSON array.
func appendOps(dst []byte, ops []streamOp) []byte {
	dst = append(dst, '[')
	for i, o := range ops {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, o.enc...)
	}
	return append(dst, ']')
}

// streamMessageOverhead is the bytes a stream message takes around its
// operations, with room for any instance ID.
const streamMessageOverhead = 256

// encodeStreams encodes ops, what instance id streamed, as stream
// messages of at most limit bytes each (one message when limit is 0): the
// operations apply in order, so a long list is cut between two.
func encodeStreams(id string, ops []streamOp, limit int) [][]byte {
	var msgs [][]byte
	for len(ops) > 0 {
		n, size := 0, streamMessageOverhead
		for n < len(ops) && (n == 0 || limit <= 0 || size+len(ops[n].enc)+1 <= limit) {
			size += len(ops[n].enc) + 1
			n++
		}
		b := make([]byte, 0, size)
		b = append(b, `{"type":"`+MessageStream+`","componentID":`...)
		b = appendJSONString(b, []byte(id))
		b = append(b, `,"data":{"ops":`...)
		b = appendOps(b, ops[:n])
		msgs = append(msgs, append(b, "}}"...))
		ops = ops[n:]
	}
	return msgs
}

// stream adds o, encoded, to what the call streamed.
func (sc *scope) stream(o streamOp) {
	o.enc = encodeOp(o)
	sc.streams = append(sc.streams, o)
}

// spliceStreams returns html, a first rendering, with the items ops put
// in their containers, in the order the operations leave them. A stream
// whose container html lacks is an error wrapping ErrNoStream.
func spliceStreams(html []byte, ops []streamOp) ([]byte, error) {
	type item struct {
		key  string
		html []byte
	}
	lists := map[string][]item{}
	keys := map[string]map[string]bool{} // the keys each list holds
	var names []string
	for _, o := range ops {
		l, seen := lists[o.name]
		if !seen {
			names = append(names, o.name)
			keys[o.name] = map[string]bool{}
		}
		has := keys[o.name]
		switch o.op {
		case streamInsert:
			i := len(l)
			if has[o.key] {
				i = 0
				for l[i].key != o.key {
					i++
				}
			}
			has[o.key] = true
			switch {
			case i < len(l):
				l[i].html = o.html
			case o.n < 0 || o.n >= len(l):
				l = append(l, item{o.key, o.html})
			default:
				l = append(l[:o.n], append([]item{{o.key, o.html}}, l[o.n:]...)...)
			}
		case streamDelete:
			if !has[o.key] {
				break
			}
			delete(has, o.key)
			for i := range l {
				if l[i].key == o.key {
					l = append(l[:i], l[i+1:]...)
					break
				}
			}
		case streamReset:
			l = nil
			clear(has)
		case streamLimit:
			var cut []item
			if o.n > 0 && len(l) > o.n {
				l, cut = l[:o.n], l[o.n:]
			} else if o.n < 0 && len(l) > -o.n {
				l, cut = l[len(l)+o.n:], l[:len(l)+o.n]
			}
			for _, it := range cut {
				delete(has, it.key)
			}
		}
		lists[o.name] = l
	}
	for _, name := range names {
		at := containerEnd(html, name)
		if at < 0 {
			return nil, fmt.Errorf("%w: %s: its items were streamed from Mount, and the rendering has no element with %s=%q to hold them", ErrNoStream, name, AttrStream, name)
		}
		var items []byte
		for _, it := range lists[name] {
			items = append(items, it.html...)
		}
		html = append(html[:at:at], append(items, html[at:]...)...)
	}
	return html, nil
}

// containerEnd returns the offset in html just after the start tag of the
// element with data-flux-stream="name", or -1.
func containerEnd(html []byte, name string) int {
	attr := []byte(AttrStream + `="` + name + `"`)
	for from := 0; ; {
		i := bytes.Index(html[from:], attr)
		if i < 0 {
			return -1
		}
		i += from
		from = i + len(attr)
		if c := html[max(i-1, 0)]; c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			continue // the end of another attribute's name
		}
		var quote byte
		for j := from; j < len(html); j++ {
			switch c := html[j]; {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return j + 1
			}
		}
		return -1
	}
}
