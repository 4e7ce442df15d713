// Package wire is the Liveflux wire protocol (PROTOCOL.md) as a Go client
// reads it: the frames a server sends, and how a client applies an update
// to what it shows, by the rules the JS client follows. The tests of every
// module, fluxtest and the load program read the protocol through it, so
// that there is one Go reading of it; each keeps its own transport.
package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-liveflux/liveflux"
)

// Frame is the envelope of a frame the server sends.
type Frame struct {
	Type        string          `json:"type"`
	ComponentID string          `json:"componentID"`
	Action      string          `json:"action,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Message     string          `json:"message,omitempty"`
	Code        int             `json:"code,omitempty"`
}

// Parse decodes a frame's envelope.
func Parse(raw []byte) (Frame, error) {
	var f Frame
	err := json.Unmarshal(raw, &f)
	return f, err
}

// Update is the data of an update frame: a full rendering (HTML), or a
// diff (of one span: Diff; or edits: Edits) of revision Base into revision
// Rev.
type Update struct {
	HTML  *string `json:"html"`
	Rev   uint64  `json:"rev"`
	Base  uint64  `json:"base"`
	Diff  *Diff   `json:"diff"`
	Edits Edits   `json:"edits"`
}

// Edits are [keep, drop, "text", …]: runs of the old body (in UTF-16
// code units) kept, then dropped and replaced by text; the rest is kept.
type Edits []Edit

// Edit is one edit of Edits.
type Edit struct {
	Keep, Drop int
	Text       string
}

// UnmarshalJSON decodes the flat array form of edits.
func (e *Edits) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts)%3 != 0 {
		return errors.New("edits are [keep, drop, text, …]")
	}
	out := make(Edits, len(parts)/3)
	for i := range out {
		p := parts[3*i:]
		if json.Unmarshal(p[0], &out[i].Keep) != nil || json.Unmarshal(p[1], &out[i].Drop) != nil || json.Unmarshal(p[2], &out[i].Text) != nil {
			return errors.New("edits are [keep, drop, text, …]")
		}
	}
	*e = out
	return nil
}

// IsDiff reports whether u is a diff (of either form), not a full
// rendering.
func (u Update) IsDiff() bool { return u.Diff != nil || u.Edits != nil }

// ApplyTo applies the diff u to body, or reports false when it does not
// fit.
func (u Update) ApplyTo(body string) (string, bool) {
	if u.Edits != nil {
		return ApplyEdits(body, u.Edits)
	}
	return ApplyDiff(body, *u.Diff)
}

// Diff is [p, s, text]: the new body is the first P and the last S UTF-16
// code units of the old one with Text between them.
type Diff struct {
	P, S int
	Text string
}

// UnmarshalJSON decodes the array form of a diff.
func (d *Diff) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 3 {
		return errors.New("a diff is [prefix, suffix, text]")
	}
	if json.Unmarshal(parts[0], &d.P) != nil || json.Unmarshal(parts[1], &d.S) != nil || json.Unmarshal(parts[2], &d.Text) != nil {
		return errors.New("a diff is [prefix, suffix, text]")
	}
	return nil
}

// ParseUpdate decodes the data of an update frame.
func ParseUpdate(data json.RawMessage) (Update, error) {
	var u Update
	if err := json.Unmarshal(data, &u); err != nil {
		return u, err
	}
	if u.HTML == nil && !u.IsDiff() {
		return u, errors.New("an update without html, diff or edits")
	}
	return u, nil
}

// View is what a client shows of one component: the kind, revision and
// body (the markup inside the root element) of the rendering it applied.
type View struct {
	Kind string
	Rev  uint64
	Body string
}

// HTML is the rendering v shows of component id, root element included.
func (v View) HTML(id string) string { return RootHTML(v.Kind, id, v.Rev, v.Body) }

// Outcome says what a client did with an update.
type Outcome int

const (
	// Applied: the client shows the update's rendering now.
	Applied Outcome = iota
	// Stale: the update is older than what the client shows; ignored.
	Stale
	// NeedsInit: a diff against a rendering the client does not hold; it
	// asks for the full rendering (init) instead.
	NeedsInit
)

// Apply applies the update u of component id to v, what the client shows
// (held: whether it shows anything yet), as js/rules.js does, and returns
// what it shows after.
func Apply(v View, held bool, id string, u Update) (View, Outcome, error) {
	if !u.IsDiff() {
		kind, rootID, rev, body, ok := Root(*u.HTML)
		if !ok || rootID != id {
			return v, 0, fmt.Errorf("update of %s is not a rendering of it: %.120q", id, *u.HTML)
		}
		if held && rev != 0 && rev < v.Rev {
			return v, Stale, nil
		}
		return View{kind, rev, body}, Applied, nil
	}
	if held && u.Rev <= v.Rev {
		return v, Stale, nil
	}
	if !held || v.Rev != u.Base {
		return v, NeedsInit, nil
	}
	body, ok := u.ApplyTo(v.Body)
	if !ok {
		return v, 0, fmt.Errorf("diff of %s does not fit the body of revision %d", id, v.Rev)
	}
	return View{v.Kind, u.Rev, body}, Applied, nil
}

// ApplyEdits applies edits to body, or reports false when they do not fit
// it.
func ApplyEdits(body string, edits Edits) (string, bool) {
	var b strings.Builder
	b.Grow(len(body))
	at := 0 // bytes of body done
	for _, e := range edits {
		if e.Keep < 0 || e.Drop < 0 {
			return body, false
		}
		keep, ok := unitsToBytes(body[at:], e.Keep)
		if !ok {
			return body, false
		}
		drop, ok := unitsToBytes(body[at+keep:], e.Drop)
		if !ok {
			return body, false
		}
		b.WriteString(body[at : at+keep])
		b.WriteString(e.Text)
		at += keep + drop
	}
	b.WriteString(body[at:])
	return b.String(), true
}

// unitsToBytes returns how many bytes of s hold its first n UTF-16 code
// units, or false when s is shorter or that splits a surrogate pair.
func unitsToBytes(s string, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(s) {
			return 0, false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if n -= utf16.RuneLen(r); n < 0 {
			return 0, false
		}
		i += size
	}
	return i, true
}

// ApplyDiff applies d to body, or reports false when d does not fit it.
// It counts UTF-16 code units as JavaScript strings do, without converting
// body (a client may apply thousands of diffs to long bodies).
func ApplyDiff(body string, d Diff) (string, bool) {
	if d.P < 0 || d.S < 0 {
		return body, false
	}
	head, ok := unitsToBytes(body, d.P)
	if !ok {
		return body, false
	}
	tail := len(body) // where the last d.S units begin
	for n := d.S; n > 0; {
		if tail <= head {
			return body, false
		}
		r, size := utf8.DecodeLastRuneInString(body[:tail])
		n -= utf16.RuneLen(r)
		if n < 0 {
			return body, false
		}
		tail -= size
	}
	return body[:head] + d.Text + body[tail:], true
}

// Root takes a rendering apart: the kind, ID and revision its root element
// carries, and its body.
func Root(s string) (kind, id string, rev uint64, body string, ok bool) {
	end := strings.IndexByte(s, '>')
	if !strings.HasPrefix(s, "<div ") || end < 0 || !strings.HasSuffix(s, "</div>") || len(s) < end+1+len("</div>") {
		return "", "", 0, "", false
	}
	tag := s[:end]
	kind, id = attr(tag, liveflux.AttrKind), attr(tag, liveflux.AttrID)
	rev, _ = strconv.ParseUint(attr(tag, liveflux.AttrRev), 10, 64)
	return kind, id, rev, s[end+1 : len(s)-len("</div>")], id != ""
}

// attr returns the value of attribute name in an opening tag written by
// the server (values in double quotes, escaped).
func attr(tag, name string) string {
	i := strings.Index(tag, " "+name+`="`)
	if i < 0 {
		return ""
	}
	v := tag[i+len(name)+3:]
	if j := strings.IndexByte(v, '"'); j >= 0 {
		v = v[:j]
	}
	return html.UnescapeString(v)
}

// RootHTML returns a rendering with the given root and body (js/rules.js
// rootHTML).
func RootHTML(kind, id string, rev uint64, body string) string {
	q := html.EscapeString
	return fmt.Sprintf(`<div %s="%s" %s="%s" %s="%d">%s</div>`, liveflux.AttrKind, q(kind), liveflux.AttrID, q(id), liveflux.AttrRev, rev, body)
}

// Batch encodes what a node publishes on the backplane (PROTOCOL.md,
// "Between nodes"): from node, its messages numbered from first, signed
// with key unless it is nil. entries are channel, message pairs.
func Batch(node string, first uint64, key []byte, entries ...string) []byte {
	field := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	b := field([]byte{1, 0}, node)
	b = binary.AppendUvarint(b, first)
	for i := 0; i+1 < len(entries); i += 2 {
		b = field(field(b, entries[i]), entries[i+1])
	}
	if key != nil {
		b[1] |= 1
		mac := hmac.New(sha256.New, key)
		mac.Write(b)
		b = mac.Sum(b)
	}
	return b
}

// StreamOp is one operation of a stream frame's data.ops (PROTOCOL.md,
// "Streams"): Op is insert (Key, At, HTML), delete (Key), reset, or limit
// (N).
type StreamOp struct {
	Op, Stream, Key, HTML string
	At, N                 int
}

// ParseStreamOps decodes data.ops of a stream frame, or the streams of an
// answer: an array of arrays.
func ParseStreamOps(raw json.RawMessage) ([]StreamOp, error) {
	var arrays [][]json.RawMessage
	if err := json.Unmarshal(raw, &arrays); err != nil {
		return nil, err
	}
	ops := make([]StreamOp, 0, len(arrays))
	for _, a := range arrays {
		var o StreamOp
		fields := map[string][]any{
			"insert": {&o.Op, &o.Stream, &o.Key, &o.At, &o.HTML},
			"delete": {&o.Op, &o.Stream, &o.Key},
			"reset":  {&o.Op, &o.Stream},
			"limit":  {&o.Op, &o.Stream, &o.N},
		}
		if len(a) == 0 || json.Unmarshal(a[0], &o.Op) != nil || fields[o.Op] == nil {
			return nil, fmt.Errorf("stream operation %s: unknown", a)
		}
		if len(a) != len(fields[o.Op]) {
			return nil, fmt.Errorf("stream operation %s: %d elements, want %d", a, len(a), len(fields[o.Op]))
		}
		for i, dst := range fields[o.Op] {
			if err := json.Unmarshal(a[i], dst); err != nil {
				return nil, fmt.Errorf("stream operation %s: %w", a, err)
			}
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// StreamItem is an item of a stream as a page holds it.
type StreamItem struct{ Key, HTML string }

// ApplyStreamOps applies ops to lists (stream name → items, in order) as
// the JS client applies them to its containers: an insert with a key the
// list holds replaces that item where it stands, else goes before index At
// (-1, or past the end: at the end); a limit keeps the first N items (N >
// 0) or the last -N.
func ApplyStreamOps(lists map[string][]StreamItem, ops []StreamOp) {
	// A list is copied once, when an operation first touches it (the
	// caller's slices are never changed), then changed in place.
	copied := make(map[string]bool)
	for _, o := range ops {
		l := lists[o.Stream]
		if !copied[o.Stream] {
			l, copied[o.Stream] = slices.Clone(l), true
		}
		switch o.Op {
		case "insert":
			switch at := indexOfKey(l, o.Key); {
			case at >= 0:
				l[at].HTML = o.HTML
			case o.At < 0 || o.At >= len(l):
				l = append(l, StreamItem{o.Key, o.HTML})
			default:
				l = slices.Insert(l, o.At, StreamItem{o.Key, o.HTML})
			}
		case "delete":
			if at := indexOfKey(l, o.Key); at >= 0 {
				l = slices.Delete(l, at, at+1)
			}
		case "reset":
			l = nil
		case "limit":
			if o.N > 0 && len(l) > o.N {
				l = l[:o.N]
			} else if o.N < 0 && len(l) > -o.N {
				l = l[len(l)+o.N:]
			}
		}
		lists[o.Stream] = l
	}
}

// indexOfKey returns the index of the item of l with key, or -1.
func indexOfKey(l []StreamItem, key string) int {
	return slices.IndexFunc(l, func(it StreamItem) bool { return it.Key == key })
}
