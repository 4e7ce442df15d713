package fluxtest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
)

// fieldList is the JavaScript object the client collects an action's
// fields in: name → one value, or an array of values once a name repeats
// (js/dom.js addField). Its names enumerate as a JavaScript object's do:
// array indexes ("0", "7") first, ascending, then the others in the order
// they were added. That order is what a HandleWS component sees in the
// message's data.
type fieldList struct {
	names []string
	vals  map[string][]string
	multi map[string]bool // the value is an array
}

// set is fields[name] = value.
func (f *fieldList) set(name, value string) {
	f.init(name)
	f.vals[name] = []string{value}
	delete(f.multi, name)
}

// add is addField(fields, name, value).
func (f *fieldList) add(name, value string) {
	if f.init(name) {
		f.vals[name] = []string{value}
		return
	}
	f.vals[name] = append(f.vals[name], value)
	f.multi[name] = true
}

// init adds name if new and reports whether it was.
func (f *fieldList) init(name string) bool {
	if f.vals == nil {
		f.vals, f.multi = map[string][]string{}, map[string]bool{}
	}
	if _, ok := f.vals[name]; ok {
		return false
	}
	f.names = append(f.names, name)
	f.vals[name] = nil
	return true
}

// ordered returns the names in JavaScript enumeration order.
func (f *fieldList) ordered() []string {
	var idx, rest []string
	for _, n := range f.names {
		if isArrayIndex(n) {
			idx = append(idx, n)
		} else {
			rest = append(rest, n)
		}
	}
	sort.Slice(idx, func(i, j int) bool {
		a, _ := strconv.ParseUint(idx[i], 10, 64)
		b, _ := strconv.ParseUint(idx[j], 10, 64)
		return a < b
	})
	return append(idx, rest...)
}

// isArrayIndex reports whether a property name is an array index: the
// canonical decimal form of an integer below 2³²−1.
func isArrayIndex(s string) bool {
	n, err := strconv.ParseUint(s, 10, 64)
	return err == nil && n < 1<<32-1 && strconv.FormatUint(n, 10) == s
}

// values returns the fields as the server's Handle gets them.
func (f *fieldList) values() url.Values {
	out := url.Values{}
	for _, n := range f.names {
		out[n] = append([]string(nil), f.vals[n]...)
	}
	return out
}

// json encodes the fields as the client's action message carries them.
func (f *fieldList) json() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range f.ordered() {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		b.Write(k)
		b.WriteByte(':')
		var v []byte
		if f.multi[n] {
			v, _ = json.Marshal(f.vals[n])
		} else {
			v, _ = json.Marshal(f.vals[n][0])
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// form encodes the fields as a URLSearchParams body: each value of each
// name, names in enumeration order.
func (f *fieldList) form() string {
	var b bytes.Buffer
	for _, n := range f.ordered() {
		for _, v := range f.vals[n] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(n))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// clone returns a copy of f.
func (f *fieldList) clone() *fieldList {
	g := &fieldList{}
	for _, n := range f.names {
		g.init(n)
		g.vals[n] = append([]string(nil), f.vals[n]...)
		if f.multi[n] {
			g.multi[n] = true
		}
	}
	return g
}

// setAll is fields[name] = values: an array, whatever its length.
func (f *fieldList) setAll(name string, values []string) {
	f.init(name)
	f.vals[name] = append([]string(nil), values...)
	f.multi[name] = true
}
