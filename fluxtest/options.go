package fluxtest

import (
	"net/http"
	"time"
)

// DefaultTimeout is how long a client waits for the server, in any one
// wait, before it fails the test.
const DefaultTimeout = 10 * time.Second

// An Option configures a Client.
type Option func(*config)

type config struct {
	httpOnly bool
	noDiffs  bool
	cookies  []*http.Cookie
	headers  map[string]string
	timeout  time.Duration
}

// HTTPOnly makes the client send every action over HTTP POST, as the JS
// client does without ClientOptions.UseWebSocket: no socket, no push.
func HTTPOnly() Option { return func(c *config) { c.httpOnly = true } }

// WithoutDiffs makes the client's socket ask for no diff updates, as a
// client of the protocol's first version: every update has data.html.
func WithoutDiffs() Option { return func(c *config) { c.noDiffs = true } }

// WithCookie gives the browser a cookie for the server, sent with every
// request and handshake (a session, for liveflux.WithSessionKey).
func WithCookie(name, value string) Option {
	return func(c *config) { c.cookies = append(c.cookies, &http.Cookie{Name: name, Value: value, Path: "/"}) }
}

// WithHeader adds a header to ClientOptions.Headers: sent with every POST,
// and as a query parameter of the socket's URL, as the JS client sends it.
func WithHeader(name, value string) Option {
	return func(c *config) {
		if c.headers == nil {
			c.headers = map[string]string{}
		}
		c.headers[name] = value
	}
}

// WithTimeout sets how long one wait may take. Defaults to DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}
