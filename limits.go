package liveflux

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultMaxParamBytes is how many bytes of mount parameters (names and
// values together) a Handler accepts by default.
const DefaultMaxParamBytes = 64 << 10

// anonymousOwner is ownerOf's digest of the empty session key, which every
// visitor without a session shares.
var anonymousOwner = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// quotaOf returns the key of the quota the instances that r mounts count
// toward (see WithMaxInstancesPerSession), given owner, r's ownerOf digest.
// It is the session's digest when r has a session, and a digest of r's
// client address otherwise: visitors without a session, whom
// WithSessionKey lumps into one anonymous session, still get a quota each.
func (h *Handler) quotaOf(r *http.Request, owner string) string {
	if h.session != nil && owner != anonymousOwner {
		return owner
	}
	sum := sha256.Sum256([]byte(h.clientAddr(r)))
	return "ip:" + hex.EncodeToString(sum[:16])
}

// checkParams refuses mount parameters over h.maxParams bytes with 413.
func (h *Handler) checkParams(params map[string]string) error {
	n := 0
	for k, v := range params {
		n += len(k) + len(v)
	}
	if n > h.maxParams {
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("mount parameters over %d bytes", h.maxParams)}
	}
	return nil
}

// rateLimited answers 429 with Retry-After and returns true when r's client
// has used up its POSTs (WithHTTPRateLimit).
func (h *Handler) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	if h.posts == nil {
		return false
	}
	wait := h.posts.allow(h.clientAddr(r), h.now())
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	http.Error(w, "too many requests", http.StatusTooManyRequests)
	return true
}

// tooLarge is the error of a store that refuses an instance over limit
// bytes.
func tooLarge(limit int64) error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("component state over %d bytes", limit)}
}

// entryOverhead is what MemoryStore spends on an instance whatever its
// state: its entry, lock, list elements, map slot and ID (measured with
// TestInstanceSizeIsHonest).
const entryOverhead = 480

// instanceSize estimates the bytes an instance holds in a MemoryStore:
// entryOverhead, its Base metadata, the component value itself, and
// everything its exported fields reach — string bytes, slice backing
// arrays, map slots, the values pointers and interfaces point to — that is,
// the state EncodeComponent would write. Unexported fields count for
// their own size but are not followed: they hold what the factory injects
// (clients, caches, loggers), which instances share. Each pointer is
// followed once, so cycles and shared values count once (maps and slices
// reached twice count twice).
//
// The cost is proportional to the number of values reached, like
// encoding the state would be.
func instanceSize(c Component) int64 {
	n := int64(entryOverhead + len(c.GetID()) + len(ownerOf(c)) + len(quotaOf(c)))
	v := reflect.ValueOf(c)
	switch {
	case !v.IsValid():
		return n
	case v.Kind() == reflect.Pointer && !v.IsNil():
		v = v.Elem()
	}
	n += int64(v.Type().Size()) // the component, or its box in the interface
	if !follows(v.Type()) {
		return n
	}
	w := walkers.Get().(*sizeWalker)
	if v.CanAddr() {
		w.first(v.Addr().Pointer()) // the root: a cycle back to it counts nothing
	}
	n += w.walk(v)
	w.reset()
	return n
}

// sizeWalker adds up the memory values reach beyond their own size.
type sizeWalker struct {
	stack []reflect.Value
	high  int                  // the most values stack held
	few   []uintptr            // pointers already counted, the first ones
	seen  map[uintptr]struct{} // and the others, once there are many
}

// walkers keeps sizeWalkers for reuse, so that measuring a small instance
// allocates nothing.
var walkers = sync.Pool{New: func() any {
	return &sizeWalker{stack: make([]reflect.Value, 0, 32), few: make([]uintptr, 0, 16)}
}}

// reset forgets what the last walk saw and returns w to walkers, unless it
// grew large.
func (w *sizeWalker) reset() {
	if cap(w.stack) > 1024 || w.seen != nil {
		return // let the collector have it
	}
	clear(w.stack[:w.high]) // hold on to nothing of the instance
	w.stack, w.high, w.few = w.stack[:0], 0, w.few[:0]
	walkers.Put(w)
}

// walk returns the bytes v references (not v's own size, which its
// container counts).
func (w *sizeWalker) walk(v reflect.Value) int64 {
	var n int64
	w.stack = append(w.stack[:0], v)
	for len(w.stack) > 0 {
		w.high = max(w.high, len(w.stack))
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		switch v.Kind() {
		case reflect.String:
			n += int64(v.Len())
		case reflect.Slice:
			if v.IsNil() {
				continue
			}
			et := v.Type().Elem()
			n += int64(v.Cap()) * int64(et.Size())
			if follows(et) {
				for i := range v.Len() {
					w.stack = append(w.stack, v.Index(i))
				}
			}
		case reflect.Array:
			if follows(v.Type().Elem()) {
				for i := range v.Len() {
					w.stack = append(w.stack, v.Index(i))
				}
			}
		case reflect.Map:
			if v.IsNil() {
				continue
			}
			t := v.Type()
			// Slots of key and value, a control byte each, at most 7/8 full.
			n += 48 + int64(v.Len())*int64(t.Key().Size()+t.Elem().Size()+1)*8/7
			if follows(t.Key()) || follows(t.Elem()) {
				for it := v.MapRange(); it.Next(); {
					w.stack = append(w.stack, it.Key(), it.Value())
				}
			}
		case reflect.Pointer:
			if v.IsNil() || !w.first(v.Pointer()) {
				continue
			}
			e := v.Elem()
			n += int64(e.Type().Size())
			if follows(e.Type()) {
				w.stack = append(w.stack, e)
			}
		case reflect.Interface:
			if v.IsNil() {
				continue
			}
			e := v.Elem()
			switch e.Kind() {
			case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
				// Stored in the interface word itself.
			default:
				n += int64(e.Type().Size())
			}
			w.stack = append(w.stack, e)
		case reflect.Struct:
			t := v.Type()
			for i := range t.NumField() {
				f := t.Field(i)
				if (f.IsExported() || f.Anonymous) && follows(f.Type) {
					w.stack = append(w.stack, v.Field(i))
				}
			}
		}
	}
	return n
}

// first reports whether the pointer p is seen for the first time.
func (w *sizeWalker) first(p uintptr) bool {
	if w.seen == nil {
		if slices.Contains(w.few, p) {
			return false
		}
		if len(w.few) < 16 {
			w.few = append(w.few, p)
			return true
		}
		w.seen = make(map[uintptr]struct{}, 32)
		for _, q := range w.few {
			w.seen[q] = struct{}{}
		}
	}
	if _, ok := w.seen[p]; ok {
		return false
	}
	w.seen[p] = struct{}{}
	return true
}

// followsCache memoizes follows by type.
var followsCache sync.Map // reflect.Type → bool

// follows reports whether a value of type t may reference memory that
// sizeWalker counts: strings, slices, maps, pointers or interfaces, in
// itself or in the exported fields (and embedded structs) of its structs.
func follows(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface:
		return true
	case reflect.Array:
		return t.Len() > 0 && follows(t.Elem())
	case reflect.Struct:
	default:
		return false
	}
	if b, ok := followsCache.Load(t); ok {
		return b.(bool)
	}
	// A struct cannot contain itself by value, so this recursion ends.
	b := false
	for i := range t.NumField() {
		f := t.Field(i)
		if (f.IsExported() || f.Anonymous) && follows(f.Type) {
			b = true
			break
		}
	}
	followsCache.Store(t, b)
	return b
}
