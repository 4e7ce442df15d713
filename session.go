package liveflux

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

// WithSessionKey binds every component instance to the session that
// mounted it: key returns the session of a request (for example the value
// of your session cookie, or a user ID), and a request from any other
// session that names the instance gets the same 404 as an unknown ID, over
// HTTP and WebSocket alike. key must return a non-empty, unguessable value
// for every visitor; requests for which it returns "" share one anonymous
// session. Binding requires components to embed Base.
//
// Without this option (the default) knowing a component's 128-bit random ID
// is what allows driving it, so IDs must not leak to other users.
func WithSessionKey(key func(*http.Request) string) HandlerOption {
	return func(h *Handler) { h.session = key }
}

// ownerOf returns the digest of r's session, or "" without WithSessionKey.
// Stores keep the digest, never the session key itself.
func (h *Handler) ownerOf(r *http.Request) string {
	if h.session == nil {
		return ""
	}
	sum := sha256.Sum256([]byte(h.session(r)))
	return hex.EncodeToString(sum[:])
}
