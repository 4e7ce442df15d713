package liveflux

import (
	"bytes"
	"hash/maphash"
	"html/template"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Placeholder returns an empty root element that the client runtime mounts
// (with one POST) once the page has loaded. Use it for components that need
// not be in the first paint; use Handler.Mount for those that must.
//
// Parameter names become attribute names: use lowercase letters, digits,
// '-' and '_' (others are skipped).
func Placeholder(kind string, params map[string]string) template.HTML {
	var buf bytes.Buffer
	buf.WriteString(`<div ` + AttrKind + `="`)
	template.HTMLEscape(&buf, []byte(kind))
	buf.WriteByte('"')
	writeParams(&buf, params)
	buf.WriteString("></div>")
	return template.HTML(buf.String())
}

// rootExtras are the attributes a root carries on mount: the mount
// parameters the page may see, the sealed ones, and whether the component
// lives in the URL.
type rootExtras struct {
	params map[string]string
	sealed string
	url    bool
}

// writeRootOpen writes the opening tag of a component's root element.
func writeRootOpen(buf *bytes.Buffer, kind, id string, rev uint64, root *rootExtras) {
	buf.WriteString(`<div ` + AttrKind + `="`)
	writeEscaped(buf, kind)
	buf.WriteString(`" ` + AttrID + `="`)
	writeEscaped(buf, id)
	buf.WriteString(`" ` + AttrRev + `="`)
	var num [20]byte
	buf.Write(strconv.AppendUint(num[:0], rev, 10))
	buf.WriteByte('"')
	if root != nil {
		writeParams(buf, root.params)
		if root.sealed != "" {
			buf.WriteString(" " + AttrSealed + `="` + root.sealed + `"`) // base64url: no escape needed
		}
		if root.url {
			buf.WriteString(" " + AttrURL)
		}
	}
	buf.WriteByte('>')
}

// writeParams writes params as data-flux-param-* attributes, sorted by name.
func writeParams(buf *bytes.Buffer, params map[string]string) {
	if len(params) == 0 {
		return
	}
	names := make([]string, 0, len(params))
	for k := range params {
		if validParamName(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		buf.WriteString(" " + AttrParamPrefix + k + `="`)
		writeEscaped(buf, params[k])
		buf.WriteByte('"')
	}
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// writeEscaped writes s as an attribute value: as template.HTMLEscape
// does, without copying s when it needs no escape (an ID never does).
func writeEscaped(buf *bytes.Buffer, s string) {
	if strings.ContainsAny(s, "<>&'\"\x00") {
		template.HTMLEscape(buf, []byte(s))
		return
	}
	buf.WriteString(s)
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 { // let the GC have unusually large buffers
		return
	}
	b.Reset()
	bufferPool.Put(b)
}

// sumSeed seeds bodySum: sums are compared within one process only.
var sumSeed = maphash.MakeSeed()

// bodySum hashes a rendering's body; never 0.
func bodySum(body []byte) uint64 { return maphash.Bytes(sumSeed, body) | 1 }
