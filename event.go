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

// Emit emits the event name, with detail encoded as JSON, from the
// component whose method ctx was given to (Handle, HandleWS, HandleTopic).
// The client that sent the action dispatches it in the page as a bubbling
// DOM CustomEvent named name, whose detail is detail, on the component's
// root: another component listens for it with
// data-flux-on="NAME.document" and runs its action. For an event emitted
// while handling a topic message, every client watching the instance gets
// it. To reach components in other pages and tabs, publish to a topic
// instead.
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
	sc.events = append(sc.events, Event{Name: name, Detail: d})
	return nil
}

// maxEvents bounds the events one action may emit.
const maxEvents = 32

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
