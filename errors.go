package liveflux

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrNotFound reports an unknown or expired component ID.
	ErrNotFound = errors.New("component not found")
	// ErrUnknownKind reports a kind nobody registered.
	ErrUnknownKind = errors.New("unknown component kind")
	// ErrEmptyKind reports an attempt to register the empty kind.
	ErrEmptyKind = errors.New("empty component kind")
	// ErrDuplicateKind reports a kind registered twice.
	ErrDuplicateKind = errors.New("component kind already registered")
	// ErrPanic wraps a panic recovered from a component's method.
	ErrPanic = errors.New("component panicked")
	// ErrClosed reports use of a WebSocketHandler after Close or Shutdown.
	ErrClosed = errors.New("liveflux: handler closed")
	// ErrTooLarge reports a message over the write limit
	// (WithWebSocketWriteLimit).
	ErrTooLarge = errors.New("liveflux: message over the write limit")
)

// Error is an error a component returns from Mount or Handle to tell the
// client why an action failed. Its Status is the HTTP status (and the code
// of the WebSocket error message); its Message is shown to the client as is.
// Any other error a component returns is reported as a 500 whose details are
// only logged.
type Error struct {
	Status  int
	Message string
}

// NewError returns an *Error with the given status and message.
func NewError(status int, message string) error {
	return &Error{Status: status, Message: message}
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

// clientError maps an error to what a client may be told: a status and a
// short message that leaks no internals.
func clientError(err error) (status int, message string) {
	var e *Error
	switch {
	case errors.As(err, &e):
		if e.Status < 400 || e.Status > 599 {
			return http.StatusInternalServerError, e.Message // not an error status
		}
		return e.Status, e.Message
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "component not found"
	case errors.Is(err, ErrUnknownKind):
		return http.StatusNotFound, "unknown component kind"
	default:
		return http.StatusInternalServerError, "component failed"
	}
}
