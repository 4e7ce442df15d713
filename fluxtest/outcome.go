package fluxtest

import (
	"encoding/json"
	"fmt"
	"reflect"
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
