package liveflux

import (
	"context"
	"fmt"
	"strings"
)

// Flash shows a flash message, text, of kind ("info", "error", …: letters,
// digits, '-' and '_'), from the component whose method ctx was given to.
// The page shows it in its data-flux-flash regions (those of that kind,
// and those that name none), as text; a region outside every component
// (a layout's) is the usual place. A flash emitted with a redirect
// (Base.Redirect) or before the page loads another page without a reload
// survives the move: the client shows it in the next page's regions.
//
// It travels as the event EventFlash ("liveflux:flash", detail {"kind",
// "text"}), with the bounds of Emit: a page's own scripts can listen for
// it too.
func Flash(ctx context.Context, kind, text string) error {
	if kind == "" || len(kind) > 40 || !validEventName(kind) || strings.Contains(kind, ":") {
		return fmt.Errorf("liveflux: flash kind %q: use letters, digits, '-' and '_'", kind)
	}
	return Emit(ctx, EventFlash, flashDetail{kind, text})
}

type flashDetail struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}
