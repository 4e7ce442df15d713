package fluxtest

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/go-liveflux/liveflux"
)

// Outcome is what came of a user's gesture: the actions the client sent
// and what the server answered.
type Outcome struct {
	// Sent are the actions the client sent, in order.
	Sent []Action
	// Transport is "websocket" or "http": how the last action went.
	Transport string
	// Status and Message are the error the server answered with (the
	// component's liveflux.NewError, 404 for a lost instance, …); Status is
	// 0 when every action succeeded, -1 for a network failure and
	// RefusedRedirect for a redirect the client refused to follow.
	Status  int
	Message string
	// Redirect is the URL the server asked the client to visit.
	Redirect string
	// Remounted: the server had lost the instance (404), and the client
	// mounted it again from its original parameters. The action is lost.
	Remounted bool
	// Replies are the messages a WebSocketComponent's HandleWS returned,
	// as received.
	Replies []Message
	// Events are the events the component emitted for the page
	// (liveflux.Emit), from the event frames or the events header. They
	// are recorded, not dispatched in the page.
	Events []liveflux.Event
	// Asked are the data-flux-confirm questions the user was asked (and
	// accepted).
	Asked []string

	v *View
}

// AssertRedirect fails the test unless the server asked the client to go
// to url.
func (o *Outcome) AssertRedirect(url string) {
	o.v.c.t.Helper()
	if o.Redirect != url {
		o.v.c.errorf(o.v, "redirect to %q, want %q", o.Redirect, url)
	}
}

// AssertEvent fails the test unless the component emitted the event name
// with a detail equal, as JSON, to detail (nil: any detail).
func (o *Outcome) AssertEvent(name string, detail any) {
	o.v.c.t.Helper()
	var want any
	if detail != nil {
		w, err := json.Marshal(detail)
		if err != nil {
			o.v.c.fatalf(o.v, "AssertEvent: %v", err)
		}
		json.Unmarshal(w, &want)
	}
	var got []string
	for _, e := range o.Events {
		var d any
		json.Unmarshal(e.Detail, &d)
		if e.Name == name && (detail == nil || reflect.DeepEqual(d, want)) {
			return
		}
		got = append(got, fmt.Sprintf("%s %s", e.Name, e.Detail))
	}
	o.v.c.errorf(o.v, "no event %s with detail %v; events: %q", name, detail, got)
}

// Reply decodes the last HandleWS reply into v.
func (o *Outcome) Reply(v any) {
	o.v.c.t.Helper()
	if len(o.Replies) == 0 {
		o.v.c.fatalf(o.v, "no HandleWS reply (sent over %s)", o.Transport)
	}
	if err := o.Replies[len(o.Replies)-1].Decode(v); err != nil {
		o.v.c.fatalf(o.v, "decoding the reply: %v", err)
	}
}

// AssertReply fails the test unless the last HandleWS reply equals want as
// JSON.
func (o *Outcome) AssertReply(want any) {
	o.v.c.t.Helper()
	w, err := json.Marshal(want)
	if err != nil {
		o.v.c.fatalf(o.v, "AssertReply: %v", err)
	}
	var a, b any
	json.Unmarshal(w, &b)
	if len(o.Replies) == 0 {
		o.v.c.errorf(o.v, "no HandleWS reply, want %s", w)
		return
	}
	last := o.Replies[len(o.Replies)-1].Raw
	json.Unmarshal(last, &a)
	if !reflect.DeepEqual(a, b) {
		o.v.c.errorf(o.v, "HandleWS replied %s, want %s", last, w)
	}
}

// expectation is what ExpectError asked for.
type expectation struct {
	status int // 0: any failure
}

func (e *expectation) matches(status int) bool {
	return status != 0 && (e.status == 0 || e.status == status)
}

func (e *expectation) String() string {
	if e.status == 0 {
		return "an error"
	}
	return fmt.Sprintf("status %d", e.status)
}
