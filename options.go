package liveflux

import (
	"net/http"
	"strings"
	"time"
)

// Defaults of a WebSocketHandler's connections.
const (
	// DefaultReadLimit is the largest message a client may send, in bytes.
	// A larger one closes the connection with 1009 (message too big).
	DefaultReadLimit = 64 << 10
	// DefaultPingInterval is how often the server pings an idle client.
	DefaultPingInterval = 54 * time.Second
	// DefaultWriteTimeout bounds the time one write to a client may take; a
	// client that does not read for that long is disconnected.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultSendQueue is how many messages may wait for one client: four
	// for each component a connection may watch, so that the burst a page
	// of many components causes when it connects never overflows it (what
	// they hold is bounded apart: four times the write limit). A client
	// that falls further behind is disconnected (close 1013) and catches
	// up when it reconnects.
	DefaultSendQueue = 4 * DefaultMaxWatched
	// DefaultMaxWatched is how many components one connection may watch;
	// an init or action for one more is answered with error 400.
	DefaultMaxWatched = 1024
	// DefaultWriteLimit is the largest message the server sends a client,
	// in bytes (see WithWebSocketWriteLimit).
	DefaultWriteLimit = 1 << 20
	// CompressMin is the smallest message the server compresses, in
	// bytes, on a connection that negotiated compression (see
	// WithWebSocketCompression): below it, compressing costs more than it
	// saves.
	CompressMin = 512
)

// WebSocketOption configures a WebSocketHandler. The With… functions of
// this file return one; every HandlerOption is one too.
type WebSocketOption interface {
	applyWebSocket(*WebSocketHandler)
}

type wsOption func(*WebSocketHandler)

func (o wsOption) applyWebSocket(h *WebSocketHandler) { o(h) }

// WithWebSocketAllowedOrigins allows WebSocket handshakes from exactly
// these origins ("scheme://host[:port]", compared case-insensitively);
// any other Origin gets 403. Without this option only same-origin
// handshakes (Origin host equal to the request's Host, or behind a proxy
// listed in WithTrustedProxies the host it forwards) and clients that send
// no Origin (non-browser clients) are accepted.
func WithWebSocketAllowedOrigins(origins ...string) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if h.allowedOrigins == nil {
			h.allowedOrigins = make(map[string]bool, len(origins))
		}
		for _, o := range origins {
			h.allowedOrigins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
		}
	})
}

// WithWebSocketCSRFCheck runs check on every handshake request before the
// upgrade; an error refuses it with 403. The JS client sends
// ClientOptions.Headers as query parameters of the WebSocket URL, so check
// can compare r.URL.Query() with the session's token. Defaults to no check.
func WithWebSocketCSRFCheck(check func(*http.Request) error) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) { h.csrfCheck = check })
}

// WithWebSocketRequireTLS refuses plaintext handshakes (r.TLS == nil) with
// 403 when require is true. Defaults to false. Behind a proxy that
// terminates TLS, list it in WithTrustedProxies (its X-Forwarded-Proto then
// counts), or enforce HTTPS at the proxy.
func WithWebSocketRequireTLS(require bool) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) { h.requireTLS = require })
}

// WithWebSocketRateLimit allows each client address (an IPv4 address, or an
// IPv6 /64, as for WithHTTPRateLimit) at most max handshakes per
// window (more get 429 with Retry-After), and each connection at most max
// messages per window (more get an error message with code 429; a
// connection that keeps sending past another max rejected messages is
// closed with 1008). Bursts of up to max are allowed. Off by default.
func WithWebSocketRateLimit(max int, window time.Duration) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if max > 0 && window > 0 {
			h.rateMax, h.rateWindow = max, window
		}
	})
}

// WithWebSocketMessageValidator runs validate on every decoded message
// before it is dispatched; an error drops the message and answers with an
// error message with code 400, and the connection keeps working. Defaults
// to no validator.
func WithWebSocketMessageValidator(validate func(*WebSocketMessage) error) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) { h.validator = validate })
}

// WithWebSocketReadLimit sets the largest message a client may send.
// Defaults to DefaultReadLimit (64 KiB).
func WithWebSocketReadLimit(n int64) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if n > 0 {
			h.readLimit = n
		}
	})
}

// WithWebSocketWriteLimit sets the largest message the server sends a
// client, so that one large message never holds up the others on a
// connection for long: a rendering over it fails its action (the client
// gets error 500 "rendering over N bytes", the instance keeps its state,
// the log says which component), a HandleWS reply over it is answered
// with that error instead, and Broadcast of a larger payload returns an
// error wrapping ErrTooLarge. A connection's queue holds at most four
// times as many bytes. Defaults to DefaultWriteLimit (1 MiB).
func WithWebSocketWriteLimit(n int) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if n > 0 {
			h.writeLimit = n
		}
	})
}

// WithWebSocketCompression says whether the handler negotiates
// permessage-deflate (RFC 7692, without context takeover) with clients
// that offer it, as browsers do. On a connection that negotiated it, each
// message of CompressMin bytes or more is compressed (a message for many
// connections once for all), and what the client compresses is read.
// Compression holds no memory per idle connection: its compressors are
// shared and taken only while a message is written or read. A
// decompressed message over the read limit closes the connection with
// 1009, as an uncompressed one does. Enabled by default.
func WithWebSocketCompression(on bool) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) { h.compress = on })
}

// WithWebSocketPingInterval sets how often idle clients are pinged; a
// client that answers nothing for 10/9 of it (and for at least a second
// more than it) is disconnected. Defaults to DefaultPingInterval.
func WithWebSocketPingInterval(d time.Duration) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if d > 0 {
			h.pingInterval = d
		}
	})
}

// WithWebSocketWriteTimeout bounds each write to a client. Defaults to
// DefaultWriteTimeout. A write gets at least three quarters of d: the
// socket's deadline is moved only when less than that is left, which
// spares a timer update per message when many clients are written to.
func WithWebSocketWriteTimeout(d time.Duration) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if d > 0 {
			h.writeTimeout = d
		}
	})
}

// WithWebSocketSendQueue sets how many messages may wait for one client
// before it is disconnected as too slow. Defaults to DefaultSendQueue.
func WithWebSocketSendQueue(n int) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if n > 0 {
			h.sendQueue = n
		}
	})
}

// WithPresenceInterval sets how often a node tells the other nodes, through
// the backplane, who is present on it (see Track); a node not heard from
// for three intervals is taken for dead and its entries leave every
// presence list. Defaults to DefaultPresenceInterval.
func WithPresenceInterval(d time.Duration) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if d > 0 {
			h.presenceInterval = d
		}
	})
}

// WithWebSocketMaxWatched sets how many components one connection may
// watch. Defaults to DefaultMaxWatched.
func WithWebSocketMaxWatched(n int) WebSocketOption {
	return wsOption(func(h *WebSocketHandler) {
		if n > 0 {
			h.maxWatched = n
		}
	})
}
