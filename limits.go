package liveflux

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// DefaultMaxParamBytes is how many bytes of mount parameters (names and
// values together) a Handler accepts by default.
const DefaultMaxParamBytes = 64 << 10

// anonymousOwner is ownerOf's digest of the empty session key, which every
// visitor without a session shares.
var anonymousOwner = func() string {
	sum := sha256.Sum256(nil)
	return hex.EncodeToString(sum[:])
}()

// quotaOf returns the key of the quota the instances that r mounts count
// toward (see WithMaxInstancesPerSession), given owner, r's ownerOf digest.
// It is the session's digest when r has a session, and a digest of r's
// client address otherwise: visitors without a session, whom
// WithSessionKey lumps into one anonymous session, still get a quota each.
func (h *Handler) quotaOf(r *http.Request, owner string) string {
	if h.session != nil && owner != anonymousOwner {
		return owner
	}
	sum := sha256.Sum256([]byte(clientAddr(r)))
	return "ip:" + hex.EncodeToString(sum[:16])
}

// clientAddr identifies the client that sent r for quotas and HTTP rate
// limits: its IP address as the connection gives it (X-Forwarded-For and
// the like are not trusted), or for IPv6 its /64 network, since one
// client usually holds a whole /64.
func clientAddr(r *http.Request) string {
	ip := clientIP(r)
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// checkParams refuses mount parameters over h.maxParams bytes with 413.
func (h *Handler) checkParams(params map[string]string) error {
	n := 0
	for k, v := range params {
		n += len(k) + len(v)
	}
	if n > h.maxParams {
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("mount parameters over %d bytes", h.maxParams)}
	}
	return nil
}

// rateLimited answers 429 with Retry-After and returns true when r's client
// has used up its POSTs (WithHTTPRateLimit).
func (h *Handler) rateLimited(w http.ResponseWriter, r *http.Request) bool {
	if h.posts == nil {
		return false
	}
	wait := h.posts.allow(clientAddr(r), h.now())
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	http.Error(w, "too many requests", http.StatusTooManyRequests)
	return true
}

// tooLarge is the error of a store that refuses an instance over limit
// bytes.
func tooLarge(limit int64) error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("component state over %d bytes", limit)}
}
