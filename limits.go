package liveflux

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
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
	sum := sha256.Sum256([]byte(h.clientAddr(r)))
	return "ip:" + hex.EncodeToString(sum[:16])
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
	wait := h.posts.allow(h.clientAddr(r), h.now())
	if wait <= 0 {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	http.Error(w, "too many requests", http.StatusTooManyRequests)
	h.record(Measure{Kind: MeasureDropped, Reason: ReasonRateLimit, Transport: TransportHTTP})
	h.logger.DebugContext(r.Context(), "liveflux: POST rate limited", "remote", r.RemoteAddr, "retry_after", wait)
	return true
}

// tooLarge is the error of a store that refuses an instance over limit
// bytes.
func tooLarge(limit int64) error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("component state over %d bytes", limit)}
}
