package liveflux

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// A diff update replaces the middle of a component's previous body (its
// rendering without the root element) with new text:
//
//	new = old[:p] + text + old[len(old)-s:]
//
// p and s count UTF-16 code units, as JavaScript strings do.
//
// rootBody returns the body of a rendering made by Handler.render: what
// lies between the root's opening tag (whose attribute values are escaped,
// so its first '>' ends it) and the final "</div>".
func rootBody(html []byte) []byte {
	i := bytes.IndexByte(html, '>')
	if i < 0 || len(html) < i+1+len("</div>") {
		return nil
	}
	return html[i+1 : len(html)-len("</div>")]
}

// rootRevision returns the data-flux-rev of a rendering's root element.
func rootRevision(html []byte) (uint64, bool) {
	end := bytes.IndexByte(html, '>')
	if end < 0 {
		return 0, false
	}
	const attr = " " + AttrRev + `="`
	i := bytes.Index(html[:end], []byte(attr))
	if i < 0 {
		return 0, false
	}
	v := html[i+len(attr) : end]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		v = v[:j]
	}
	rev, err := strconv.ParseUint(string(v), 10, 64)
	return rev, err == nil
}

// appendDiffUpdate appends an update message that turns prev (the body
// at revision base) into next (the body at revision rev), or reports false
// when a diff would hardly be smaller than the full rendering.
func appendDiffUpdate(dst []byte, id string, rev, base uint64, prev, next []byte) ([]byte, bool) {
	if !utf8.Valid(prev) || !utf8.Valid(next) {
		// The client decodes the rendering with U+FFFD for invalid bytes,
		// so byte offsets would not match what it holds.
		return dst, false
	}
	p := commonPrefix(prev, next)
	s := commonSuffix(prev[p:], next[p:])
	text := next[p : len(next)-s]
	if len(text) > len(next)*9/10 {
		return dst, false // hardly smaller than the rendering itself
	}
	dst = appendDiffHead(dst, id, rev, base, "diff", len(text))
	dst = strconv.AppendInt(dst, int64(utf16Len(prev[:p])), 10)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, int64(utf16Len(prev[len(prev)-s:])), 10)
	dst = append(dst, ',')
	dst = appendJSONString(dst, text)
	return append(dst, "]}}"...), true
}

// commonPrefix returns the length of the longest common prefix of a and b
// that ends on a rune boundary.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	for i > 0 && i < len(a) && !utf8.RuneStart(a[i]) {
		i--
	}
	return i
}

// commonSuffix returns the length of the longest common suffix of a and b
// that starts on a rune boundary.
func commonSuffix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	for i > 0 && !utf8.RuneStart(a[len(a)-i]) {
		i--
	}
	return i
}

// utf16Len returns how many UTF-16 code units encode the UTF-8 text b.
func utf16Len(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// appendDiffHead appends the start of a diff update message of id, from
// revision base to rev, up to the opening bracket of its field (diff or
// edits), making room for about size bytes more when dst is nil.
func appendDiffHead(dst []byte, id string, rev, base uint64, field string, size int) []byte {
	if dst == nil {
		dst = make([]byte, 0, len(`{"type":"update","componentID":"","data":{"rev":,"base":,"":[]}}`)+len(field)+len(id)+size+64)
	}
	dst = append(dst, `{"type":"`+MessageUpdate+`","componentID":`...)
	dst = appendJSONString(dst, []byte(id))
	dst = append(dst, `,"data":{"rev":`...)
	dst = strconv.AppendUint(dst, rev, 10)
	dst = append(dst, `,"base":`...)
	dst = strconv.AppendUint(dst, base, 10)
	dst = append(dst, `,"`...)
	dst = append(dst, field...)
	return append(dst, `":[`...)
}

// appendJSONString appends s as a JSON string. Like encoding/json it
// writes invalid UTF-8 as U+FFFD; unlike it, it leaves <, > and & alone.
// Runs of bytes that need no escape are copied at once.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for len(s) > 0 {
		i := 0
		for i < len(s) && plainJSON[s[i]] {
			i++
		}
		dst = append(dst, s[:i]...)
		s = s[i:]
		if len(s) == 0 {
			break
		}
		c := s[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			default: // other control characters
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			s = s[1:]
			continue
		}
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return append(dst, '"')
}

// plainJSON holds the ASCII bytes a JSON string takes as they are.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()
