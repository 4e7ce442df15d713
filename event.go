package liveflux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Event is an event a component emitted for the page (see Emit).
type Event struct {
	Name   string          `json:"name"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// Bounds of the events a component emits, so that events never cost the
// answer they travel with.
const (
	// MaxEventBytes bounds one event: its name and its detail encoded as
	// JSON.
	MaxEventBytes = 64 << 10
	// MaxEventsBytes bounds the events of one call of a component's method
	// (an action, a mount, a topic message) together.
	MaxEventsBytes = 1 << 20
	// maxEventsInHeader bounds the events that travel in the HeaderEvents
	// header, to a client that did not ask for them in the body: proxies
	// refuse responses with large headers (nginx's default buffer for all
	// of them is 4 KiB), and a refused response loses the rendering too.
	maxEventsInHeader = 2 << 10
	// maxEvents bounds how many events one call may emit.
	maxEvents = 32
)

// ErrEventTooLarge is returned by Emit for an event over MaxEventBytes, or
// one that would take the events of the call over what their answer can
// carry. Test for it with errors.Is.
var ErrEventTooLarge = errors.New("liveflux: event too large")

// Emit emits the event name, with detail encoded as JSON, from the
// component whose method ctx was given to (Handle, HandleWS, HandleTopic).
// The client that sent the action dispatches it in the page as a bubbling
// DOM CustomEvent named name, whose detail is detail, on the component's
// root: another component listens for it with
// data-flux-on="NAME.document" and runs its action. For an event emitted
// while handling a topic message, every client watching the instance gets
// it. To reach components in other pages and tabs, publish to a topic
// instead.
//
// An event may take MaxEventBytes (64 KiB) and the events of one call
// MaxEventsBytes (1 MiB) together, name and JSON detail; over HTTP, a
// client that does not ask for events in the body of the answer (the JS
// client does) can be sent only 2 KiB of them, in a header. Past a bound
// Emit returns an error wrapping ErrEventTooLarge and emits nothing; the
// answer and the events emitted before still go out.
func Emit(ctx context.Context, name string, detail any) error {
	sc := scopeOf(ctx)
	if sc == nil {
		return ErrNoScope
	}
	if !validEventName(name) {
		return fmt.Errorf("liveflux: event name %q: use letters, digits, '-', '_' and ':'", name)
	}
	d, err := encodeJSON(detail)
	if err != nil {
		return fmt.Errorf("liveflux: emit %s: %w", name, err)
	}
	if len(sc.events) >= maxEvents {
		return errors.New("liveflux: too many events from one action")
	}
	e := Event{Name: name, Detail: d}
	if n := eventSize(e, false); n > MaxEventBytes {
		return fmt.Errorf("%w: %s is %d bytes, over MaxEventBytes (%d)", ErrEventTooLarge, name, n, MaxEventBytes)
	}
	budget, inHeader := MaxEventsBytes, ctx.Value(eventsInHeader{}) != nil
	if inHeader {
		budget = maxEventsInHeader
	}
	total := 1 + eventSize(e, inHeader) // "[" and the event
	for _, old := range sc.events {
		total += eventSize(old, inHeader)
	}
	if total > budget {
		if inHeader {
			return fmt.Errorf("%w: %s would take the events of this action to %d bytes, over the %d a client can be sent in the %s header (a client that names %s in Accept is sent them in the body)",
				ErrEventTooLarge, name, total, budget, HeaderEvents, MediaTypeAnswer)
		}
		return fmt.Errorf("%w: %s would take the events of this call to %d bytes, over MaxEventsBytes (%d)", ErrEventTooLarge, name, total, budget)
	}
	sc.events = append(sc.events, e)
	return nil
}

func validEventName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		// No '.': data-flux-on="NAME.document" splits on it.
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// eventSize is the bytes e takes in an encoded array of events, with the
// comma or bracket after it; ascii: with every other character escaped,
// as encodeEvents writes them.
func eventSize(e Event, ascii bool) int {
	n := len(`{"name":"","detail":},`) + len(e.Name) + len(e.Detail) // names need no escapes
	if ascii {
		for _, r := range string(e.Detail) {
			switch {
			case r < utf8.RuneSelf:
			case r > 0xFFFF:
				n += 12 - utf8.RuneLen(r)
			default:
				n += 6 - utf8.RuneLen(r)
			}
		}
	}
	return n
}

// eventsInHeader marks the context of an HTTP action whose events go in
// the HeaderEvents header.
type eventsInHeader struct{}

func withEventsInHeader(ctx context.Context) context.Context {
	return context.WithValue(ctx, eventsInHeader{}, true)
}

// encodeEvents is the value of the HeaderEvents header: JSON in ASCII,
// since browsers read header values as Latin-1.
func encodeEvents(events []Event) string {
	b, err := encodeJSON(events)
	if err != nil { // cannot happen: names are checked, details are JSON
		return "[]"
	}
	var out strings.Builder
	for _, r := range string(b) {
		switch {
		case r < utf8.RuneSelf:
			out.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.String()
}

// encodeAnswer encodes res as an answer. It cannot fail: names are
// checked and details are JSON. It writes the rendering and the stream
// operations itself, as encodeUpdate does (encoding/json would copy the
// rendering into a string and scan the operations again):
// {"html", "events" (omitted when none), "streams" (idem), "patch" (idem)}.
func encodeAnswer(res result) []byte {
	b := make([]byte, 0, len(res.html)+64)
	b = append(b, `{"html":`...)
	b = appendJSONString(b, res.html)
	if len(res.events) > 0 {
		b = append(b, `,"events":`...)
		b = appendEncoded(b, res.events)
	}
	if len(res.streams) > 0 {
		b = append(b, `,"streams":`...)
		b = appendOps(b, res.streams)
	}
	if res.patch != nil {
		b = append(b, `,"patch":`...)
		b = appendEncoded(b, res.patch)
	}
	return append(b, '}')
}

// appendEncoded appends v as encodeJSON encodes it; v cannot fail.
func appendEncoded(dst []byte, v any) []byte {
	e, err := encodeJSON(v)
	if err != nil {
		panic("liveflux: encoding an answer: " + err.Error())
	}
	return append(dst, e...)
}
