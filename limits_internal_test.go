package liveflux

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
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

type sized struct {
	Base
	Text   string
	List   []string
	Map    map[string][]byte
	Ptr    *sized
	Any    any
	hidden []byte // unexported: not followed
}

func (s *sized) Mount(_ context.Context, p map[string]string) error { s.Text = p["text"]; return nil }
func (*sized) Handle(context.Context, string, url.Values) error     { return nil }
func (*sized) Render(context.Context, io.Writer) error              { return nil }

func TestInstanceSize(t *testing.T) {
	t.Parallel()
	base := instanceSize(&sized{})
	if base < entryOverhead {
		t.Fatalf("empty instance: %d bytes", base)
	}
	const mb = 1 << 20
	blob := strings.Repeat("x", mb)
	for name, c := range map[string]*sized{
		"string": {Text: blob},
		"slice":  {List: []string{blob[:mb/2], blob[mb/2:]}},
		"map":    {Map: map[string][]byte{"k": []byte(blob)}},
		"ptr":    {Ptr: &sized{Text: blob}},
		"any":    {Any: blob},
	} {
		if n := instanceSize(c); n < base+mb {
			t.Errorf("%s: %d bytes for a 1 MB value", name, n)
		}
	}
	if n := instanceSize(&sized{hidden: []byte(blob)}); n != base {
		t.Errorf("an unexported field was followed: %d bytes, want %d", n, base)
	}
	// Cycles end, and a value reached twice counts once.
	c := &sized{Text: blob}
	c.Ptr = c
	c.Any = c
	if n := instanceSize(c); n < base+mb || n > base+mb+1024 {
		t.Errorf("cycle: %d bytes", n)
	}
}

// TestInstanceSizeIsHonest compares the estimate with what the heap grows by
// when a store fills with small and with large instances. Not parallel: it
// measures the heap.
func TestInstanceSizeIsHonest(t *testing.T) {
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	for _, tt := range []struct {
		name string
		n    int
		text int
	}{{"small", 20_000, 0}, {"60KiB", 200, 60 << 10}} {
		s := NewMemoryStore(WithMaxInstancesPerSession(DefaultMaxInstances), WithMaxBytesPerSession(DefaultMaxBytes))
		reg := NewRegistry()
		must(t, reg.Register("sized", func() Component { return &sized{} }))
		h := NewHandler(s, WithRegistry(reg), WithLogger(slog.New(slog.DiscardHandler)))
		r := httptest.NewRequest("GET", "/", nil)
		before := heap()
		for range tt.n {
			// A fresh value each time, as every request brings its own.
			params := map[string]string{"text": strings.Repeat("t", tt.text)}
			if _, err := h.Mount(r, "sized", params); err != nil {
				t.Fatal(err)
			}
		}
		grew := heap() - before
		est := s.Bytes()
		t.Logf("%s: heap grew %d B per instance, estimated %d", tt.name, grew/int64(tt.n), est/int64(tt.n))
		if est < grew*3/4 || est > grew*2 {
			t.Errorf("%s: estimate %d bytes, heap grew %d", tt.name, est, grew)
		}
		runtime.KeepAlive(s)
	}
}
