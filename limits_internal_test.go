package liveflux

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestQuotaKeys(t *testing.T) {
	t.Parallel()
	req := func(remote, sid string) (*Handler, string) {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = remote
		h := NewHandler(nil)
		if sid != "-" {
			h = NewHandler(nil, WithSessionKey(func(*http.Request) string { return sid }))
		}
		owner := h.ownerOf(r)
		return h, h.quotaOf(r, owner)
	}
	_, ipA := req("192.0.2.1:1", "-")
	_, ipA2 := req("192.0.2.1:2", "-")
	_, ipB := req("192.0.2.2:1", "-")
	if ipA != ipA2 || ipA == ipB || !strings.HasPrefix(ipA, "ip:") || strings.Contains(ipA, "192.0.2") {
		t.Errorf("address quotas: %q %q %q", ipA, ipA2, ipB)
	}
	// A session's quota is its owner digest, whatever its address; visitors
	// without a session get their address's.
	h, alice := req("192.0.2.1:1", "alice")
	if r := httptest.NewRequest("POST", "/", nil); alice != h.ownerOf(r) {
		t.Errorf("session quota %q, owner %q", alice, h.ownerOf(r))
	}
	if _, anon := req("192.0.2.1:1", ""); anon != ipA {
		t.Errorf("anonymous visitor's quota %q, want its address's %q", anon, ipA)
	}
}
