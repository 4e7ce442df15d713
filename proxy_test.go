package liveflux_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// postVia posts form to h from the direct peer remote ("host:port"), with
// the forwarding headers hdr (name, value, …).
func postVia(h http.Handler, remote string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Behind a trusted proxy every user has their own rate limit: one user's
// sixth POST in a minute gets 429, another's first does not (issue: with
// the proxy's address as everybody's, the second user got 429 too).
// Whatever a user writes into X-Forwarded-For before the proxy appends
// the address it saw does not get them a fresh limit.
func TestTrustedProxyRateLimit(t *testing.T) {
	t.Parallel()
	const proxy = "10.0.0.2:5000"
	mountForm := url.Values{liveflux.FieldKind: {"counter"}}
	h := newTestHandler(t, liveflux.WithHTTPRateLimit(5, time.Minute), liveflux.WithTrustedProxies("10.0.0.0/8"))
	for i := range 5 {
		if rec := postVia(h, proxy, mountForm, "X-Forwarded-For", "203.0.113.1"); rec.Code != http.StatusOK {
			t.Fatalf("user 1, POST %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if rec := postVia(h, proxy, mountForm, "X-Forwarded-For", "203.0.113.1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("user 1, POST 6: %d, want 429", rec.Code)
	}
	if rec := postVia(h, proxy, mountForm, "X-Forwarded-For", "198.51.100.9, 203.0.113.1"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("user 1 with a forged hop of its own: %d, want 429", rec.Code)
	}
	if rec := postVia(h, proxy, mountForm, "X-Forwarded-For", "203.0.113.2"); rec.Code != http.StatusOK {
		t.Fatalf("user 2, POST 1: %d %s, want 200", rec.Code, rec.Body)
	}

	// A client that reaches the handler directly is its own address,
	// whatever X-Forwarded-For it sends.
	for i := range 5 {
		postVia(h, "192.0.2.50:1", mountForm, "X-Forwarded-For", "203.0.113.1"+strings.Repeat("0", i))
	}
	if rec := postVia(h, "192.0.2.50:1", mountForm, "X-Forwarded-For", "203.0.113.99"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a direct client forging X-Forwarded-For, POST 6: %d, want 429", rec.Code)
	}
}

// Without WithTrustedProxies forwarding headers are ignored: every user
// behind a proxy is the proxy.
func TestForwardingHeadersIgnoredByDefault(t *testing.T) {
	t.Parallel()
	mountForm := url.Values{liveflux.FieldKind: {"counter"}}
	h := newTestHandler(t, liveflux.WithHTTPRateLimit(1, time.Minute))
	postVia(h, "10.0.0.2:5000", mountForm, "X-Forwarded-For", "203.0.113.1")
	if rec := postVia(h, "10.0.0.2:5000", mountForm, "X-Forwarded-For", "203.0.113.2"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("another X-Forwarded-For from the same peer: %d, want 429", rec.Code)
	}
}

// The same-origin checks see the site as the trusted proxy reports it:
// behind nginx's "proxy_set_header Host $host" the Host header has lost
// the port of https://app.example:8443, which X-Forwarded-Host (or
// X-Forwarded-Port) still has.
func TestTrustedProxyOrigin(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example:8443"
	behindProxy := func(more ...string) http.Header {
		h := http.Header{"Host": {"app.example"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"203.0.113.1"}}
		for i := 0; i+1 < len(more); i += 2 {
			h.Set(more[i], more[i+1])
		}
		return h
	}
	ok, forbidden := http.StatusSwitchingProtocols, http.StatusForbidden
	t.Run("trusted", func(t *testing.T) {
		t.Parallel()
		f, id := counterFixture(t, liveflux.WithTrustedProxies("127.0.0.0/8", "::1"))
		for _, c := range []handshakeCase{
			{name: "X-Forwarded-Host with the port", origin: origin, header: behindProxy("X-Forwarded-Host", "app.example:8443"), want: ok},
			{name: "X-Forwarded-Port", origin: origin, header: behindProxy("X-Forwarded-Port", "8443"), want: ok},
			{name: "several hosts: the first", origin: origin, header: behindProxy("X-Forwarded-Host", "app.example:8443, internal:80"), want: ok},
			{name: "the default port", origin: "https://app.example", header: behindProxy("X-Forwarded-Port", "443"), want: ok},
			{name: "no port anywhere: the default one", origin: origin, header: behindProxy(), want: forbidden},
			{name: "another scheme", origin: "http://app.example:8443", header: behindProxy("X-Forwarded-Host", "app.example:8443"), want: forbidden},
			{name: "cross-site", origin: "https://evil.example", header: behindProxy("X-Forwarded-Host", "app.example:8443"), want: forbidden},
		} {
			t.Run(c.name, func(t *testing.T) { checkHandshake(t, f, id, c) })
		}
	})
	t.Run("not trusted", func(t *testing.T) {
		t.Parallel()
		f, id := counterFixture(t, liveflux.WithTrustedProxies("10.0.0.0/8"))
		checkHandshake(t, f, id, handshakeCase{origin: origin, header: behindProxy("X-Forwarded-Host", "app.example:8443"), want: forbidden})
		checkHandshake(t, f, id, handshakeCase{origin: "http://" + f.host(), header: http.Header{"X-Forwarded-Host": {"evil.example"}}, want: ok})
	})
	// A POST from a browser that sends no Sec-Fetch-Site is checked by
	// http.CrossOriginProtection against the Host the client sent.
	t.Run("POST", func(t *testing.T) {
		t.Parallel()
		form := url.Values{liveflux.FieldKind: {"counter"}}
		post := func(h http.Handler, origin string) int {
			req := httptest.NewRequest(http.MethodPost, "http://app.example/liveflux", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = "10.0.0.2:5000"
			req.Header.Set("Origin", origin)
			req.Header.Set("X-Forwarded-Host", "app.example:8443")
			req.Header.Set("X-Forwarded-Proto", "https")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code
		}
		trusting := newTestHandler(t, liveflux.WithTrustedProxies("10.0.0.0/8"))
		assertEqual(t, post(trusting, origin), http.StatusOK, "same origin behind a trusted proxy")
		assertEqual(t, post(trusting, "https://evil.example"), http.StatusForbidden, "cross-site behind a trusted proxy")
		assertEqual(t, post(newTestHandler(t), origin), http.StatusForbidden, "same origin behind an untrusted proxy")
	})
}

// WithWebSocketRequireTLS takes the scheme a trusted proxy reports, and
// the handshake rate limit its users one by one.
func TestTrustedProxyTLSAndHandshakes(t *testing.T) {
	t.Parallel()
	f, id := counterFixture(t, liveflux.WithTrustedProxies("127.0.0.1", "::1"), liveflux.WithWebSocketRequireTLS(true), liveflux.WithWebSocketRateLimit(2, time.Minute))
	user := func(ip, proto string) http.Header {
		return http.Header{"X-Forwarded-For": {ip}, "X-Forwarded-Proto": {proto}}
	}
	checkHandshake(t, f, id, handshakeCase{header: user("203.0.113.1", "https"), want: http.StatusSwitchingProtocols})
	checkHandshake(t, f, id, handshakeCase{header: user("203.0.113.1", "http"), want: http.StatusForbidden})
	checkHandshake(t, f, id, handshakeCase{header: user("203.0.113.1", "https"), want: http.StatusSwitchingProtocols})
	checkHandshake(t, f, id, handshakeCase{header: user("203.0.113.1", "https"), want: http.StatusTooManyRequests})
	checkHandshake(t, f, id, handshakeCase{header: user("203.0.113.2", "https"), want: http.StatusSwitchingProtocols})

	plain, id2 := counterFixture(t, liveflux.WithTrustedProxies("10.0.0.0/8"), liveflux.WithWebSocketRequireTLS(true))
	checkHandshake(t, plain, id2, handshakeCase{header: user("203.0.113.1", "https"), want: http.StatusForbidden})
}
