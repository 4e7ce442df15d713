package liveflux

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
)

// result is what mounting or acting produced.
type result struct {
	id       string
	kind     string // the instance's kind, set by act (for metrics)
	html     []byte // the rendering, root element included
	rev      uint64 // its revision
	redirect string
	reply    any        // what a direct action returned (HandleWS)
	origin   peer       // the peer that acted, if one did
	direct   bool       // the action ran direct instead of Handle
	events   []Event    // what the component emitted for the page
	streams  []streamOp // what it streamed (see StreamAppend)
	patch    *urlPatch  // the page's URL changed (PatchURL, tagged fields)
	topic    bool       // a topic message or the Watching hook produced it
	local    bool       // for this node's watchers only
}

// mountRequest says what to mount, on whose behalf.
type mountRequest struct {
	kind         string
	params       map[string]string
	owner, quota string
	url          string // the page's URL, if known (FieldURL, Handler.Mount)
	sealed       string // sealed parameters a client sent back (FieldSealed)
	trusted      bool   // params come from the server (Handler.Mount): any may be sealed
}

func (h *Handler) mount(ctx context.Context, m mountRequest) (result, error) {
	kind, params, owner, quota := m.kind, m.params, m.owner, m.quota
	if err := h.checkParams(params); err != nil {
		return result{}, err
	}
	c, err := h.registry.New(kind)
	if err != nil {
		return result{}, err
	}
	root, err := h.mountParams(c, &m)
	if err != nil {
		return result{}, err
	}
	params = m.params
	if h.session != nil {
		b, ok := c.(baser)
		if !ok {
			return result{}, fmt.Errorf("liveflux: kind %q: session binding needs a component embedding liveflux.Base", kind)
		}
		b.base().owner = owner
	}
	if b, ok := c.(baser); ok {
		b.base().quota = quota
	}
	c.SetID(rand.Text())
	ctx, sc := withScope(ctx, h, c)
	sc.mounting = true
	if err := h.call(ctx, c, "Mount", func() error { return c.Mount(ctx, params) }); err != nil {
		return result{}, err
	}
	if _, err := h.applyURL(ctx, c, m.url); err != nil {
		return result{}, err
	}
	html, err := h.render(ctx, c, root)
	if err != nil {
		return result{}, err
	}
	if len(sc.streams) > 0 {
		if html, err = spliceStreams(html, sc.streams); err != nil {
			h.logger.ErrorContext(ctx, "liveflux: component failed", "kind", kind, "id", c.GetID(), "method", "Mount", "err", err)
			return result{}, err
		}
	}
	id, redirect := c.GetID(), takeRedirect(c)
	// The instance becomes visible to others only now, fully rendered;
	// from now on it is touched only through the store.
	if err := h.store.Set(ctx, c); err != nil {
		return result{}, fmt.Errorf("liveflux: store %s: %w", kind, err)
	}
	if len(sc.subs) > 0 {
		h.topics.subscribe(id, sc.subs)
	}
	return result{id: id, html: html, redirect: redirect, events: sc.events}, nil
}

// actRequest says what to do to an instance, on whose behalf.
type actRequest struct {
	kind   string // must match the instance's; "" matches any
	id     string
	action string // "" only re-renders
	data   url.Values
	// direct, when set, may run instead of Handle (a WebSocketComponent's
	// HandleWS, over WebSocket): it reports whether it did, and what to
	// reply. The instance is then not rendered.
	direct func(ctx context.Context, c Component) (reply any, ran bool, err error)
	owner  string // the caller's session digest (see ownerOf)
	server bool   // server code (Refresh): trusted, no session check
	url    string // the page's URL (FieldURL, MessageURL), applied first
	// urlOnly: the request only says the page's URL (MessageURL); an
	// instance that saw it already is not rendered.
	urlOnly bool
	// watcher, when set, starts watching the instance once the caller is
	// known to be allowed to use it, before the action, while the instance
	// is held; an error it returns fails the request.
	watcher watcher
	// streams calls the instance's Streams method (StreamComponent) before
	// rendering it: the watcher starts watching it.
	streams bool
}

// act runs one action on an instance and renders it, unless req.direct
// ran instead of Handle.
func (h *Handler) act(ctx context.Context, req actRequest) (result, error) {
	id := req.id
	res := result{id: id}
	err := h.store.Update(ctx, id, func(c Component) error {
		ctx, sc := withScope(ctx, h, c)
		res.kind = c.GetKind()
		defer func() { res.events, res.streams = sc.events, sc.streams }()
		if req.kind != "" && c.GetKind() != req.kind {
			return notFound(id)
		}
		if h.session != nil && !req.server && subtle.ConstantTimeCompare([]byte(ownerOf(c)), []byte(req.owner)) != 1 {
			return notFound(id) // the same answer as for an unknown ID
		}
		if req.watcher != nil {
			if err := req.watcher.watch(c); err != nil {
				return err
			}
		}
		if req.direct != nil {
			reply, ran, err := req.direct(ctx, c)
			if ran {
				res.direct, res.reply = true, reply
				if err == nil {
					res.redirect = takeRedirect(c)
				}
				return err
			}
		}
		if changed, err := h.applyURL(ctx, c, req.url); err != nil || (req.urlOnly && !changed) {
			return err
		}
		if req.action != "" {
			if err := h.call(ctx, c, "Handle", func() error { return c.Handle(ctx, req.action, req.data) }); err != nil {
				return err
			}
		}
		if s, ok := c.(StreamComponent); ok && req.streams {
			if err := h.call(ctx, c, "Streams", func() error { return s.Streams(ctx) }); err != nil {
				return err
			}
		}
		patch, err := h.syncURL(ctx, c, sc)
		if err != nil {
			return err
		}
		res.patch = patch
		html, err := h.render(ctx, c, nil)
		if err != nil {
			return err
		}
		res.html, res.rev = html, revision(c)
		res.redirect = takeRedirect(c)
		return nil
	})
	if err != nil {
		return result{id: id, kind: res.kind}, err
	}
	return res, nil
}

// watcher is a client that watches the instances it acts on.
type watcher interface {
	watch(c Component) error
}

// updateSink receives every rendering an action or a Refresh produced
// (whichever transport carried the action), after the store released the
// instance, to send it to the clients watching it.
type updateSink interface {
	rendered(ctx context.Context, res result)
	// publishTopic hands msg, a topic message published on this node, to
	// the other nodes.
	publishTopic(msg *TopicMessage)
	// gone forgets instance id, which the store no longer has.
	gone(id string)
	// watched reports whether any client may be watching instance id, on
	// this node or another.
	watched(id string) bool
}

// nobodyWatches is the updateSink of an HTTP-only Handler: one process,
// no watchers.
type nobodyWatches struct{}

func (nobodyWatches) rendered(context.Context, result) {}
func (nobodyWatches) publishTopic(*TopicMessage)       {}
func (nobodyWatches) gone(string)                      {}
func (nobodyWatches) watched(string) bool              { return false }

// publish hands what an action produced (a rendering, what it streamed,
// and the events of a topic message) to the update sink.
func (h *Handler) publish(ctx context.Context, res result) {
	if res.html != nil || len(res.streams) > 0 || (res.topic && len(res.events) > 0) {
		h.updates.rendered(ctx, res)
	}
}

// render writes c inside its root element and, on success, records the new
// revision on c. root, on mount, holds what the client needs to mount the
// component again (see mountParams).
func (h *Handler) render(ctx context.Context, c Component, root *rootExtras) ([]byte, error) {
	buf := getBuffer()
	defer putBuffer(buf)
	var rev uint64 // 0 without Base: clients apply it whatever they show
	if _, ok := c.(baser); ok {
		rev = revision(c) + 1
	}
	writeRootOpen(buf, c.GetKind(), c.GetID(), rev, root)
	if err := h.call(ctx, c, "Render", func() error { return c.Render(ctx, buf) }); err != nil {
		return nil, err
	}
	buf.WriteString("</div>")
	html := buf.Bytes()
	if h.maxRender > 0 && len(html) > h.maxRender {
		h.record(Measure{Kind: MeasureDropped, Reason: ReasonTooLarge, Bytes: len(html), Component: c.GetKind()})
		h.logger.ErrorContext(ctx, "liveflux: rendering over the write limit refused", "kind", c.GetKind(), "id", c.GetID(), "bytes", len(html), "limit", h.maxRender)
		return nil, &Error{Status: http.StatusInternalServerError, Message: fmt.Sprintf("rendering over %d bytes", h.maxRender)}
	}
	setRevision(c, rev)
	if b, ok := c.(baser); ok {
		b.base().sum = bodySum(rootBody(html))
	}
	return append([]byte(nil), html...), nil
}

// rerender renders c again after the server called it on its own (a topic
// message, the Watching hook), and reports whether the rendering differs
// from the previous one, whatever made that one; when it does not, the
// instance keeps its revision and nothing is sent. (An instance decoded by
// a store outside the process does not know its last rendering: its first
// rendering there counts as new.)
func (h *Handler) rerender(ctx context.Context, c Component) ([]byte, bool, error) {
	b, ok := c.(baser)
	if !ok {
		html, err := h.render(ctx, c, nil)
		return html, err == nil, err
	}
	before, rev := b.base().sum, b.base().rev
	html, err := h.render(ctx, c, nil)
	if err != nil {
		return nil, false, err
	}
	if b.base().sum == before {
		b.base().rev = rev // unchanged: the clients hold it
		return nil, false, nil
	}
	return html, true, nil
}

// call runs one of c's methods, turns a panic into an error wrapping
// ErrPanic, and logs failures with ctx (an HTTP action's carries its
// request's values, for handlers that log trace IDs).
func (h *Handler) call(ctx context.Context, c Component, method string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("liveflux: %s.%s: %w: %v", c.GetKind(), method, ErrPanic, p)
			h.logger.ErrorContext(ctx, "liveflux: component panicked",
				"kind", c.GetKind(), "id", c.GetID(), "method", method,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	err = fn()
	if err != nil {
		var e *Error
		level := slog.LevelError
		if errors.As(err, &e) {
			level = slog.LevelInfo // the component chose to tell the client
		}
		h.logger.Log(ctx, level, "liveflux: component failed",
			"kind", c.GetKind(), "id", c.GetID(), "method", method, "err", err)
	}
	return err
}

// background is the context of work the handler does on its own (topic
// deliveries): canceled by a WebSocketHandler's Shutdown.
func (h *Handler) background() context.Context {
	if h.ctx != nil {
		return h.ctx
	}
	return context.Background()
}
