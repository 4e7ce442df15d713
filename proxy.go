package liveflux

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Who sent a request, and where it was sent to.
//
// Without WithTrustedProxies a request is what its connection says: the
// client is the direct peer (RemoteAddr), the site the Host header, the
// scheme https when the connection is TLS. Headers a client can write
// itself (X-Forwarded-For and the like) are ignored, so that nobody
// escapes a rate limit or a quota by sending one.
//
// With it, a request whose direct peer is a trusted proxy is taken for what
// the proxy says about it:
//
//   - the client is the rightmost address of X-Forwarded-For that is not a
//     trusted proxy (the hop the first trusted proxy heard from; whatever a
//     client wrote to the left of it is ignored). When every hop is trusted
//     the leftmost is the client; a hop that is not an IP address ends the
//     walk, and the last trusted hop before it is the client.
//   - the site is the first value of X-Forwarded-Host (else Host), its port
//     the first value of X-Forwarded-Port when the host names none, and its
//     scheme the first value of X-Forwarded-Proto (else as without proxies).
//
// RFC 7239's Forwarded header is not read: every common proxy can set the
// X-Forwarded-* headers, and reading both would let a client pick the one
// its proxy does not overwrite.

// trustedProxies are the networks of the proxies whose forwarding headers
// are believed.
type trustedProxies []netip.Prefix

// WithTrustedProxies makes the handler believe the forwarding headers
// (X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Port)
// of requests whose direct peer is in one of cidrs ("10.0.0.0/8",
// "2001:db8::/32", or a single address such as "127.0.0.1"). The HTTP
// rate limit, the per-address quotas, the handshake rate limit, the
// same-origin checks of POSTs and WebSocket handshakes and
// WithWebSocketRequireTLS then see the client and the site as the proxy
// reports them. Requests from any other peer are judged by their
// connection, whatever headers they carry. List only proxies you run, and
// have them overwrite (nginx: proxy_set_header) or append to those headers:
// a proxy that passes a client's own X-Forwarded-Host on lets it choose the
// site its requests are checked against. Defaults to none: forwarding
// headers are ignored.
//
// It panics on an entry that is neither a CIDR nor an IP address.
func WithTrustedProxies(cidrs ...string) HandlerOption {
	nets := make(trustedProxies, 0, len(cidrs))
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				panic(fmt.Sprintf("liveflux: WithTrustedProxies: %q is neither a CIDR nor an IP address", s))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		nets = append(nets, p.Masked())
	}
	return func(h *Handler) { h.proxies = append(h.proxies, nets...) }
}

// contains reports whether a is in one of the trusted networks.
func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of r's direct peer, as its connection gives it.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// viaProxy reports whether r comes from a trusted proxy.
func (h *Handler) viaProxy(r *http.Request) bool {
	if len(h.proxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(peerAddr(r))
	return err == nil && h.proxies.contains(a)
}

// clientIP is the address of the client that sent r (see above).
func (h *Handler) clientIP(r *http.Request) string {
	client := peerAddr(r)
	if !h.viaProxy(r) {
		return client
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		line := hops[i]
		for line != "" {
			var hop string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, hop = line[:j], line[j+1:]
			} else {
				line, hop = "", line
			}
			a, ok := parseHop(strings.TrimSpace(hop))
			if !ok {
				return client
			}
			client = a.String()
			if !h.proxies.contains(a) {
				return client
			}
		}
	}
	return client
}

// parseHop parses one X-Forwarded-For entry: an address, with a port or
// not ("192.0.2.1", "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

// clientAddr identifies the client that sent r for quotas and rate limits:
// its IP address (clientIP), or for IPv6 its /64 network, since one client
// usually holds a whole /64.
func (h *Handler) clientAddr(r *http.Request) string {
	ip := h.clientIP(r)
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

// firstValue is the first entry of a comma-separated forwarding header.
func firstValue(r *http.Request, name string) string {
	v, _, _ := strings.Cut(r.Header.Get(name), ",")
	return strings.TrimSpace(v)
}

// secure reports whether the client reached the site over TLS.
func (h *Handler) secure(r *http.Request) bool {
	if _, scheme := h.site(r); scheme != "" {
		return scheme == "https"
	}
	return r.TLS != nil
}

// site returns the host[:port] the client sent r to and, when a trusted
// proxy says so, its scheme in lower case ("" otherwise).
func (h *Handler) site(r *http.Request) (host, scheme string) {
	if !h.viaProxy(r) {
		return r.Host, ""
	}
	host = r.Host
	if fh := firstValue(r, "X-Forwarded-Host"); fh != "" {
		host = fh
	}
	if port := firstValue(r, "X-Forwarded-Port"); port != "" {
		if _, _, err := net.SplitHostPort(host); err != nil { // no port in host
			host = net.JoinHostPort(strings.Trim(host, "[]"), port)
		}
	}
	return host, strings.ToLower(firstValue(r, "X-Forwarded-Proto"))
}

// sameOrigin reports whether origin (an Origin header's value) is the site
// r was sent to: the same host and port, and the same scheme when a
// trusted proxy gave it. A port that is the scheme's default counts as
// none, as browsers write origins.
func (h *Handler) sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null"
	}
	host, scheme := h.site(r)
	if scheme != "" && scheme != strings.ToLower(u.Scheme) {
		return false
	}
	return strings.EqualFold(canonicalHost(u.Scheme, u.Host), canonicalHost(u.Scheme, host))
}

// canonicalHost drops from host[:port] a port that is scheme's default.
func canonicalHost(scheme, host string) string {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		return host
	}
	if (port == "443" && strings.EqualFold(scheme, "https")) || (port == "80" && strings.EqualFold(scheme, "http")) {
		if strings.Contains(name, ":") {
			return "[" + name + "]"
		}
		return name
	}
	return host
}

// asSent returns r with the Host its client sent it with, as a trusted
// proxy reports it (see site), for checks that compare Origin with Host
// (http.CrossOriginProtection); r itself when there is no such proxy.
func (h *Handler) asSent(r *http.Request) *http.Request {
	if !h.viaProxy(r) {
		return r
	}
	host, scheme := h.site(r)
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	if host = canonicalHost(scheme, host); host == r.Host {
		return r
	}
	r2 := r.WithContext(r.Context())
	r2.Host = host
	return r2
}
