package liveflux_test

import (
	"net/http"
	"testing"
)

// Guards against: an Error with an invalid status (NewError(0, …)) was
// written as that status; the client is told 500.
func TestComponentErrorWithInvalidStatus(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t)
	r, err := f.tryPostAs("", actionForm(id, "badstatus"))
	if err != nil {
		t.Fatalf("NewError(0, ...): request failed: %v", err)
	}
	if r.status != http.StatusInternalServerError {
		t.Fatalf("NewError(0, ...): status %d, want 500", r.status)
	}
	// Over WebSocket too, and the failed action changed nothing.
	c := f.dial(t)
	c.init(id)
	c.sendAction(id, "badstatus", nil)
	assertErrorMsg(t, c.nextMsg(), id, http.StatusInternalServerError)
	assertEqual(t, countOf(t, c.init(id)), 0, "count")
}
