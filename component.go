package liveflux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// Component is a piece of UI whose state lives on the server.
//
// The framework creates an instance with the factory registered for its
// kind, assigns its kind and ID, calls Mount once, and then Handle for every
// action a client sends. After Mount and after every successful action it
// calls Render and sends the HTML to the client, wrapped in a root element
// that carries the instance's kind and ID.
//
// Mount, Handle and Render of one instance never run concurrently: the Store
// serializes them. Different instances run in parallel.
//
// Embed Base to get GetKind, SetKind, GetID, SetID and Redirect.
type Component interface {
	GetKind() string
	SetKind(kind string)
	GetID() string
	SetID(id string)

	// Mount initializes a new instance from the parameters the page gave
	// (data-flux-param-* attributes, or the params of Handler.Mount).
	Mount(ctx context.Context, params map[string]string) error
	// Handle runs an action sent by a client with the fields it sent.
	// When it returns an error the instance keeps the state it had before.
	Handle(ctx context.Context, action string, data url.Values) error
	// Render writes the component's markup (without the root element).
	// It has the method shape of templ.Component.
	Render(ctx context.Context, w io.Writer) error
}

// Base gives a component its identity. Embed it (by value) in every
// component:
//
//	type Counter struct {
//		liveflux.Base
//		Count int
//	}
type Base struct {
	kind     string
	id       string
	rev      uint64
	owner    string     // digest of the session that mounted it (WithSessionKey)
	quota    string     // whose share of the store it takes (see Handler.quotaOf)
	sum      uint64     // a hash of its last rendering's body (see rerender)
	tracks   []tracking // the presence lists it is in while watched (Track)
	redirect string
}

// GetKind returns the kind the instance was registered under.
func (b *Base) GetKind() string { return b.kind }

// SetKind is called by the framework; components do not call it.
func (b *Base) SetKind(kind string) { b.kind = kind }

// GetID returns the instance's unique ID.
func (b *Base) GetID() string { return b.id }

// SetID is called by the framework; components do not call it.
func (b *Base) SetID(id string) { b.id = id }

// ErrUnsafeRedirect is returned by Base.Redirect for a target that is
// neither a relative URL nor an http or https one. Test for it with
// errors.Is.
var ErrUnsafeRedirect = errors.New("liveflux: redirect target is not a relative or http(s) URL")

// Redirect asks the client to navigate to target once the current Mount or
// Handle (or HandleWS) returns successfully. The empty target cancels a
// redirect asked for earlier in the same call.
//
// The target must be a relative URL ("/done", "?page=2", "next") or an
// absolute http or https one. Any other target — javascript:, data:,
// vbscript: and every other scheme, or a string with control characters —
// is refused: Redirect returns an error wrapping ErrUnsafeRedirect and
// changes nothing, so a "return to" value taken from the request can never
// run script in the page. Return the error to fail the action, or ignore it:
// the client then gets no redirect (or the one asked for before). Redirect
// does not check the host: if a target comes from the request and must stay
// on your site, check that yourself.
func (b *Base) Redirect(target string) error {
	if err := checkRedirect(target); err != nil {
		return err
	}
	b.redirect = target
	return nil
}

// checkRedirect accepts the empty string, relative URLs and absolute http(s)
// URLs. It refuses every control character (browsers drop tabs and line
// breaks anywhere in a URL and trim other leading ones, so that
// "\tjava\nscript:…" is a javascript: URL to them) and whatever url.Parse
// rejects, such as " javascript:…" (a colon in the first path segment).
func checkRedirect(target string) error {
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character in %q", ErrUnsafeRedirect, target)
		}
	}
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsafeRedirect, err)
	}
	switch u.Scheme { // url.Parse lowercases it
	case "", "http", "https":
		return nil
	}
	return fmt.Errorf("%w: scheme %q in %q", ErrUnsafeRedirect, u.Scheme, target)
}

// base returns the embedded Base; it lets the framework reach the fields
// below through the Component interface.
func (b *Base) base() *Base { return b }

// baser is implemented by every component that embeds Base.
type baser interface{ base() *Base }

// takeRedirect returns and clears the pending redirect of c, if any.
func takeRedirect(c Component) string {
	b, ok := c.(baser)
	if !ok {
		return ""
	}
	u := b.base().redirect
	b.base().redirect = ""
	return u
}

// revision returns the instance's render revision (0 without Base).
func revision(c Component) uint64 {
	if b, ok := c.(baser); ok {
		return b.base().rev
	}
	return 0
}

// setRevision records the revision of the latest successful render.
func setRevision(c Component, rev uint64) {
	if b, ok := c.(baser); ok {
		b.base().rev = rev
	}
}

// ownerOf returns the digest of the session an instance is bound to.
func ownerOf(c Component) string {
	if b, ok := c.(baser); ok {
		return b.base().owner
	}
	return ""
}

// quotaOf returns the key of the quota an instance counts toward: its
// session's digest, or its client's address digest ("" when unknown).
func quotaOf(c Component) string {
	if b, ok := c.(baser); ok {
		return b.base().quota
	}
	return ""
}
