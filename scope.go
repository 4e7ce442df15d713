package liveflux

import (
	"context"
	"errors"
)

// ErrNoScope is returned by Subscribe, Unsubscribe, Track and Emit when ctx
// is not the context of a component's method, and by Publish when it is
// not and names no handler either.
var ErrNoScope = errors.New("liveflux: context of no component method")

// scope is the context a component's method is given: its parent, plus
// what the method can reach through it (the handler, the instance) and
// what it emitted. Being the context itself, it costs one allocation.
type scope struct {
	context.Context
	h      *Handler
	c      Component
	events []Event
	// While Mount runs, subscriptions wait until the store has the
	// instance: a message published meanwhile must not find it missing.
	mounting bool
	subs     []string
	streams  []streamOp // what the method streamed (see StreamAppend)
	// The page's URL an action asked for (PatchURL, ReplaceURL).
	patch   string
	replace bool
}

type scopeKey struct{}

func (sc *scope) Value(key any) any {
	if key == (scopeKey{}) {
		return sc
	}
	return sc.Context.Value(key)
}

func withScope(ctx context.Context, h *Handler, c Component) (context.Context, *scope) {
	sc := &scope{Context: ctx, h: h, c: c}
	return sc, sc
}

func scopeOf(ctx context.Context) *scope {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	return sc
}

// HandlerOf returns the handler whose component method ctx was given to
// (Mount, Handle, HandleWS, HandleTopic, Watching, Render), or nil.
func HandlerOf(ctx context.Context) *Handler {
	if sc := scopeOf(ctx); sc != nil {
		return sc.h
	}
	return nil
}
