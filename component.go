package liveflux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
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
// Embed Base to get GetKind, SetKind, GetID, SetID, Redirect and
// RedirectExternal.
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
	url      string     // the page's URL it last saw, if it lives in the URL (url.go)
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

// ErrUnsafeRedirect is returned by Base.Redirect for a target that is not
// a path on this site, and by Base.RedirectExternal for one that is not an
// absolute http or https URL. Test for it with errors.Is.
var ErrUnsafeRedirect = errors.New("liveflux: unsafe redirect target")

// Redirect asks the client to navigate to path, a page of this site, once
// the current Mount or Handle (or HandleWS) returns successfully. The empty
// path cancels a redirect asked for earlier in the same call.
//
// path must start with a single "/" ("/done", "/search?q=go#top"). Whatever
// a browser could take for another site is refused: "//evil.example/",
// "/\evil.example/", "\\evil.example", "https:evil.example", any scheme,
// their percent-encoded forms ("/%2F%2Fevil.example"), backslashes and
// control characters anywhere (browsers drop tabs and line breaks inside a
// URL, and read "\" as "/"), leading blanks. Redirect then returns an error
// wrapping ErrUnsafeRedirect and changes nothing, so a "return to" value
// taken from the request keeps the user on the site. Return the error to
// fail the action, or ignore it: the client then gets no redirect (or the
// one asked for before). The JS client checks too: it follows a target that
// does not start with http:// or https:// only within the page's origin.
//
// To send the user to another site, use RedirectExternal.
func (b *Base) Redirect(path string) error { return b.setRedirect(path, checkLocal) }

// RedirectExternal asks the client to navigate to url, an absolute http or
// https URL ("https://pay.example/checkout"), which may be on another site,
// as Redirect does for paths of this one. Anything else is refused with an
// error wrapping ErrUnsafeRedirect: javascript:, data: and every other
// scheme, scheme-relative and relative URLs, URLs without a host, control
// characters and backslashes. Call it only with targets you chose, never
// with a "return to" value taken from the request: that is what Redirect
// is for.
func (b *Base) RedirectExternal(url string) error { return b.setRedirect(url, checkExternal) }

// setRedirect records target, the empty string or one that passes
// checkChars and check.
func (b *Base) setRedirect(target string, check func(string) error) error {
	if target != "" {
		if err := checkChars(target); err != nil {
			return err
		}
		if err := check(target); err != nil {
			return err
		}
	}
	b.redirect = target
	return nil
}

// checkLocal accepts paths of this site (see Redirect).
func checkLocal(path string) error {
	if path[0] != '/' {
		return fmt.Errorf("%w: %q is not a path on this site (it must start with \"/\"; use RedirectExternal for another site)", ErrUnsafeRedirect, path)
	}
	// What follows the first "/", decoded as often as it takes: some
	// servers decode a path before redirecting to it.
	d := path
	for strings.HasPrefix(d, "/%") {
		u, err := url.PathUnescape(d)
		if err != nil || u == d {
			return fmt.Errorf("%w: %q: malformed escape", ErrUnsafeRedirect, path)
		}
		d = u
	}
	if len(d) > 1 && (d[1] == '/' || d[1] == '\\' || d[1] <= ' ' || d[1] == 0x7f) {
		return fmt.Errorf("%w: %q could lead to another site", ErrUnsafeRedirect, path)
	}
	if u, err := url.Parse(path); err != nil || u.Scheme != "" || u.Host != "" {
		return fmt.Errorf("%w: %q is not a path on this site", ErrUnsafeRedirect, path)
	}
	return nil
}

// checkExternal accepts absolute http(s) URLs with a host, spelled with
// "http://" or "https://" as the client expects them.
func checkExternal(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsafeRedirect, err)
	}
	lower := strings.ToLower(target)
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasPrefix(lower, u.Scheme+"://") {
		return fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrUnsafeRedirect, target)
	}
	return nil
}

// checkChars refuses control characters and backslashes anywhere in a
// redirect target: browsers drop tabs and line breaks anywhere in a URL
// and trim other leading ones (so that "\tjava\nscript:…" is a
// javascript: URL to them), and read "\" as "/" in http(s) URLs.
func checkChars(target string) error {
	for i := 0; i < len(target); i++ {
		switch c := target[i]; {
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("%w: control character in %q", ErrUnsafeRedirect, target)
		case c == '\\':
			return fmt.Errorf("%w: backslash in %q", ErrUnsafeRedirect, target)
		}
	}
	return nil
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
