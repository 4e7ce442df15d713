package liveflux

import (
	"net/http/httptest"
	"testing"
)

// The client a request counts as: its direct peer, unless that is a
// trusted proxy; then the rightmost hop of X-Forwarded-For that is not
// one, so that nothing a client writes into the header itself counts.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusting := NewHandler(nil, WithTrustedProxies("10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.7"))
	plain := NewHandler(nil)
	for _, tt := range []struct {
		name       string
		h          *Handler
		remote     string
		xff        []string // X-Forwarded-For lines
		want       string
		fromHeader bool // without the header the answer differs
	}{
		{"an IPv4 peer", plain, "192.0.2.1:1234", nil, "192.0.2.1", false},
		{"an IPv4-mapped peer", plain, "[::ffff:192.0.2.1]:1234", nil, "192.0.2.1", false},
		{"an IPv6 peer: its /64", plain, "[2001:db8:1:2:aaaa::1]:443", nil, "2001:db8:1:2::/64", false},
		{"another address of that /64", plain, "[2001:db8:1:2:bbbb:cccc:dddd:eeee]:443", nil, "2001:db8:1:2::/64", false},
		{"a zone", plain, "[fe80::1%eth0]:80", nil, "fe80::/64", false},
		{"not an address", plain, "@", nil, "@", false},
		{"without the option the header is ignored", plain, "192.0.2.1:1", []string{"203.0.113.9"}, "192.0.2.1", false},
		{"a peer that is no trusted proxy: the header is ignored", trusting, "198.51.100.1:1", []string{"203.0.113.9"}, "198.51.100.1", false},
		{"a trusted proxy: the hop it heard from", trusting, "10.0.0.2:1", []string{"203.0.113.9"}, "203.0.113.9", true},
		{"a single trusted address", trusting, "192.0.2.7:1", []string{"203.0.113.9"}, "203.0.113.9", true},
		{"a spoofed hop left of the real one is ignored", trusting, "10.0.0.2:1", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9", true},
		{"trusted hops are skipped, right to left", trusting, "10.0.0.2:1", []string{"6.6.6.6, 203.0.113.9, 10.1.1.1", "10.0.0.3"}, "203.0.113.9", true},
		{"every hop trusted: the leftmost", trusting, "10.0.0.2:1", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9", true},
		{"a hop with a port", trusting, "10.0.0.2:1", []string{"203.0.113.9:4711"}, "203.0.113.9", true},
		{"an IPv6 hop: its /64", trusting, "10.0.0.2:1", []string{"[2001:db8:5:6::9]:4711"}, "2001:db8:5:6::/64", true},
		{"an IPv6 proxy", trusting, "[2001:db8:ffff::2]:1", []string{"203.0.113.9"}, "203.0.113.9", true},
		{"garbage ends the walk at the last trusted hop", trusting, "10.0.0.2:1", []string{"203.0.113.9, unknown, 10.1.1.1"}, "10.1.1.1", true},
		{"garbage right of the proxy: the proxy", trusting, "10.0.0.2:1", []string{"unknown"}, "10.0.0.2", false},
		{"no header: the proxy", trusting, "10.0.0.2:1", nil, "10.0.0.2", false},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := tt.h.clientAddr(r); got != tt.want {
			t.Errorf("%s: clientAddr(%s, %q) = %q, want %q", tt.name, tt.remote, tt.xff, got, tt.want)
		}
		r.Header.Del("X-Forwarded-For")
		if got := tt.h.clientAddr(r); (got != tt.want) != tt.fromHeader {
			t.Errorf("%s: without the header clientAddr = %q; the header counted: %v, want %v", tt.name, got, got != tt.want, tt.fromHeader)
		}
	}
}

func TestWithTrustedProxiesPanicsOnBadInput(t *testing.T) {
	t.Parallel()
	defer func() {
		if p := recover(); p == nil {
			t.Error("WithTrustedProxies(\"10.0.0.0/33\") did not panic")
		}
	}()
	WithTrustedProxies("10.0.0.0/8", "10.0.0.0/33")
}
