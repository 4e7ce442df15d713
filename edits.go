package liveflux

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// An edits update (for clients of SubprotocolV2) turns a component's
// previous body into the next with any number of edits, each a run of the
// old body kept, a run of it dropped and text put in its place:
//
//	[keep, drop, "text", keep, drop, "text", …]
//
// keep and drop count UTF-16 code units of the old body, as JavaScript
// strings do; what follows the last edit is kept. So an update costs what
// changed, wherever it is: two cells far apart in a long table are two
// small edits, where the single span of a v1 diff would run from one to
// the other.
//
// The edits come from a patience diff of the two bodies cut into tokens
// (tags, and the text between them): tokens that occur once in each body
// anchor the match, the longest run of anchors in the same order is kept,
// and the same is done again between anchors. Moved rows become a drop
// and an insert.

// edit is a run of the old body (from a to b) replaced by new[c:d], byte
// offsets.
type edit struct{ a, b, c, d int }

// editTokens bounds the tokens of the changed part of a body that are
// compared; beyond it the changed part is one edit.
const editTokens = 1 << 16

// diffSeed seeds the tokens' hashes: they are compared within one process.
var diffSeed = maphash.MakeSeed()

// appendEditsUpdate appends an update message that turns prev (the body at
// revision base) into next (the body at revision rev) with edits, or
// reports false when the edits would hardly be smaller than next.
func appendEditsUpdate(dst []byte, id string, rev, base uint64, prev, next []byte) ([]byte, bool) {
	if !utf8.Valid(prev) || !utf8.Valid(next) {
		return dst, false // the client holds U+FFFD where the bytes are invalid
	}
	edits := diffBodies(prev, next)
	// Worth it when the text it carries, and the numbers of the edits past
	// the first, are well under the body, as for a diff of one span (the
	// full update carries the root element and the envelope on top: a
	// small rendering's one change is worth an edit).
	size := 0
	for _, e := range edits {
		size += e.d - e.c + 24
	}
	if size-24 > len(next)*9/10 {
		return dst, false
	}
	dst = appendDiffHead(dst, id, rev, base, "edits", size)
	at := 0
	for i, e := range edits {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(utf16Len(prev[at:e.a])), 10)
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, int64(utf16Len(prev[e.a:e.b])), 10)
		dst = append(dst, ',')
		dst = appendJSONString(dst, next[e.c:e.d])
		at = e.b
	}
	return append(dst, "]}}"...), true
}

// diffBodies returns the edits that turn prev into next, in order; edits
// closer than a few bytes are merged.
func diffBodies(prev, next []byte) []edit {
	p := commonPrefix(prev, next)
	s := commonSuffix(prev[p:], next[p:])
	a, b := prev[p:len(prev)-s], next[p:len(next)-s]
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	whole := []edit{{p, p + len(a), p, p + len(b)}}
	if len(a) < 64 || len(b) < 64 {
		return whole
	}
	if edits, ok := inPlace(a, b, p); ok {
		return coalesce(edits)
	}
	tp := tokenLists.Get().(*[2][]token)
	defer tokenLists.Put(tp)
	ta, tb := tokenize(tp[0][:0], a, p), tokenize(tp[1][:0], b, p)
	tp[0], tp[1] = ta, tb // kept for the next diff, grown
	if len(ta) > editTokens || len(tb) > editTokens {
		return whole
	}
	// Anchors that keep too little of the body make edits larger than
	// the body: not worth the diff.
	anchors := uniqueMatches(prev, next, ta, tb)
	if keptBy(prev, next, ta, tb, anchors) < len(b)/4 {
		return whole
	}
	var edits []edit
	patienceWith(prev, next, ta, tb, anchors, &edits, 0)
	return coalesce(edits)
}

// keptBy returns how many bytes of the old body the anchors keep: the
// anchors themselves, and the tokens that match on from each anchor and
// back from the next, as patience then finds them. (Counting the anchors
// alone, a list of short unique names in repeated markup, <li>…</li>,
// looked hopeless and went whole whatever changed in it.)
func keptBy(prev, next []byte, ta, tb []token, anchors [][2]int) int {
	kept := 0
	i, j := 0, 0 // where the gap before the next anchor begins
	for k := 0; k <= len(anchors); k++ {
		ei, ej := len(ta), len(tb) // the gap ends at the next anchor, or the end
		if k < len(anchors) {
			ei, ej = anchors[k][0], anchors[k][1]
		}
		for i < ei && j < ej && same(prev, next, ta[i], tb[j]) {
			kept += ta[i].end - ta[i].off
			i, j = i+1, j+1
		}
		for x, y := ei-1, ej-1; x >= i && y >= j && same(prev, next, ta[x], tb[y]); x, y = x-1, y-1 {
			kept += ta[x].end - ta[x].off
		}
		if k < len(anchors) {
			kept += ta[ei].end - ta[ei].off
			i, j = ei+1, ej+1
		}
	}
	return kept
}

// inPlaceTokens bounds the tokens that may differ for inPlace: past a few,
// a patience diff finds better edits (a list that shifted by a row changes
// every row in place, but is one row dropped and one added).
const inPlaceTokens = 8

// inPlace returns the edits that turn a into b (the changed parts of two
// bodies, from byte base) when b is a with some of its tokens replaced,
// each by one token, at the same places: values that changed in a
// rendering of the same shape, the most common update. It reads each body
// once, without hashing, and reports false as soon as the shapes differ
// or too many tokens do.
func inPlace(a, b []byte, base int) ([]edit, bool) {
	var edits []edit
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ei, ej := tokenEnd(a, i), tokenEnd(b, j)
		if (a[i] == '<') != (b[j] == '<') {
			return nil, false // a tag where the other has text
		}
		if !bytes.Equal(a[i:ei], b[j:ej]) {
			if len(edits) == inPlaceTokens {
				return nil, false
			}
			edits = append(edits, edit{base + i, base + ei, base + j, base + ej})
		}
		i, j = ei, ej
	}
	return edits, i == len(a) && j == len(b)
}

// tokenEnd returns where the token of s that starts at i ends: after its
// '>' for a tag, before the next '<' for text.
func tokenEnd(s []byte, i int) int {
	if s[i] == '<' {
		if k := bytes.IndexByte(s[i:], '>'); k >= 0 {
			return i + k + 1
		}
		return len(s)
	}
	if k := bytes.IndexByte(s[i:], '<'); k >= 0 {
		return i + k
	}
	return len(s)
}

// token is a tag, or the text between two tags, of a body: its bytes at
// off, and their hash.
type token struct {
	off, end int
	sum      uint64
}

// tokenize cuts s, which starts at byte base of its body, into tokens.
func tokenize(out []token, s []byte, base int) []token {
	out = slices.Grow(out, 2*bytes.Count(s, []byte{'<'})+1) // a tag, and the text after it
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			if i > start {
				out = append(out, token{base + start, base + i, maphash.Bytes(diffSeed, s[start:i])})
				start = i
			}
		case '>':
			out = append(out, token{base + start, base + i + 1, maphash.Bytes(diffSeed, s[start:i+1])})
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, token{base + start, base + len(s), maphash.Bytes(diffSeed, s[start:])})
	}
	return out
}

// same reports whether token x of prev and token y of next hold the same
// bytes.
func same(prev, next []byte, x, y token) bool {
	return x.sum == y.sum && bytes.Equal(prev[x.off:x.end], next[y.off:y.end])
}

// patience appends to edits those that turn the tokens ta of prev into the
// tokens tb of next.
func patience(prev, next []byte, ta, tb []token, edits *[]edit, depth int) {
	// The common ends first.
	for len(ta) > 0 && len(tb) > 0 && same(prev, next, ta[0], tb[0]) {
		ta, tb = ta[1:], tb[1:]
	}
	for len(ta) > 0 && len(tb) > 0 && same(prev, next, ta[len(ta)-1], tb[len(tb)-1]) {
		ta, tb = ta[:len(ta)-1], tb[:len(tb)-1]
	}
	switch {
	case len(ta) == 0 && len(tb) == 0:
		return
	case len(ta) == 0 || len(tb) == 0 || depth > 64:
		*edits = append(*edits, span(ta, tb))
		return
	}
	patienceWith(prev, next, ta, tb, uniqueMatches(prev, next, ta, tb), edits, depth)
}

// patienceWith is patience once the anchors of ta and tb are known.
func patienceWith(prev, next []byte, ta, tb []token, anchors [][2]int, edits *[]edit, depth int) {
	if len(anchors) == 0 {
		*edits = append(*edits, span(ta, tb))
		return
	}
	i, j := 0, 0
	for _, m := range anchors {
		patience(prev, next, ta[i:m[0]], tb[j:m[1]], edits, depth+1)
		i, j = m[0]+1, m[1]+1
	}
	patience(prev, next, ta[i:], tb[j:], edits, depth+1)
}

// span is the edit that replaces the tokens ta by the tokens tb; one of
// them may be empty, but not both. An empty side is placed at the other
// side's position, found through the neighbors the caller stripped: it is
// where the other begins.
func span(ta, tb []token) edit {
	switch {
	case len(ta) == 0:
		return edit{-1, -1, tb[0].off, tb[len(tb)-1].end}
	case len(tb) == 0:
		return edit{ta[0].off, ta[len(ta)-1].end, -1, -1}
	}
	return edit{ta[0].off, ta[len(ta)-1].end, tb[0].off, tb[len(tb)-1].end}
}

// matchSlot is a slot of uniqueMatches' open-addressed table of ta's
// hashes: for each, the token's index in ta (-1: in ta more than once)
// and, once seen in tb, its index there (-2: more than once). (A map costs
// twice as much here.)
type matchSlot struct {
	sum  uint64
	a, b int32
	used bool
}

// tokenLists are diffBodies' lists of tokens, reused.
var tokenLists = sync.Pool{New: func() any { return new([2][]token) }}

// matchTables are uniqueMatches' tables, reused: a body of 5,000 tokens
// takes 384 KB.
var matchTables = sync.Pool{New: func() any { return new([]matchSlot) }}

// uniqueMatches returns the pairs (index in ta, index in tb) of the tokens
// that occur once in each, the longest run of them in the same order in
// both.
func uniqueMatches(prev, next []byte, ta, tb []token) [][2]int {
	size := 1
	for size < 2*len(ta) {
		size <<= 1
	}
	tp := matchTables.Get().(*[]matchSlot)
	defer matchTables.Put(tp)
	if cap(*tp) < size {
		*tp = make([]matchSlot, size)
	}
	table := (*tp)[:size]
	clear(table)
	find := func(sum uint64) *matchSlot {
		for i := int(sum) & (size - 1); ; i = (i + 1) & (size - 1) {
			if s := &table[i]; !s.used || s.sum == sum {
				return s
			}
		}
	}
	for i, t := range ta {
		if s := find(t.sum); s.used {
			s.a = -1
		} else {
			*s = matchSlot{t.sum, int32(i), -1, true}
		}
	}
	for j, t := range tb {
		if s := find(t.sum); s.used && s.a >= 0 {
			if s.b == -1 {
				s.b = int32(j)
			} else {
				s.b = -2
			}
		}
	}
	// In tb's order: the longest run whose indexes in ta increase too.
	var pairs [][2]int
	for j, t := range tb {
		if s := find(t.sum); s.used && s.a >= 0 && int(s.b) == j && same(prev, next, ta[s.a], t) {
			pairs = append(pairs, [2]int{int(s.a), j})
		}
	}
	return longestIncreasing(pairs)
}

// longestIncreasing returns the longest subsequence of pairs (sorted by
// their second) whose firsts increase too (patience sorting).
func longestIncreasing(pairs [][2]int) [][2]int {
	if len(pairs) == 0 {
		return nil
	}
	tails := make([]int, 0, len(pairs)) // index in pairs of the smallest tail of each length
	prev := make([]int, len(pairs))
	for i, p := range pairs {
		k, _ := slices.BinarySearchFunc(tails, p[0], func(t, v int) int { return pairs[t][0] - v })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	out := make([][2]int, len(tails))
	for i, k := len(tails)-1, tails[len(tails)-1]; i >= 0; i, k = i-1, prev[k] {
		out[i] = pairs[k]
	}
	return out
}

// coalesce fills in the positions of edits with an empty side and merges
// edits that touch or are a few bytes apart: each edit costs its own
// numbers on the wire.
func coalesce(edits []edit) []edit {
	// An insertion goes where the old text after the previous edit ends
	// and the next kept run begins: the new bytes before it are kept ones,
	// as long in both bodies.
	lastA, lastC := 0, 0
	out := edits[:0]
	for _, e := range edits {
		switch {
		case e.a < 0: // insertion: old position where the new c is
			e.a = lastA + (e.c - lastC)
			e.b = e.a
		case e.c < 0: // deletion
			e.c = lastC + (e.a - lastA)
			e.d = e.c
		}
		if n := len(out); n > 0 && e.a-out[n-1].b <= 8 {
			out[n-1].b, out[n-1].d = e.b, e.d
		} else {
			out = append(out, e)
		}
		lastA, lastC = e.b, e.d
	}
	return out
}
