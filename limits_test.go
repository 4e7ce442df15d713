package liveflux_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// TestHandlerFloodEvictsOnlyItsOwn: one client mounting far more instances
// than the whole store holds evicts only its own oldest ones; another
// client's instance keeps working.
func TestHandlerFloodEvictsOnlyItsOwn(t *testing.T) {
	t.Parallel()
	const victimAddr, floodAddr, other = "198.51.100.7:40000", "192.0.2.1:1234", "203.0.113.5:5555"
	for _, tt := range []struct {
		name                  string
		opts                  []liveflux.HandlerOption
		victimSid, floodSid   string
		victimFrom, floodFrom string
	}{
		{name: "anonymous", victimFrom: victimAddr, floodFrom: floodAddr},
		// Sessions have a quota each, even on one address.
		{name: "sessions", opts: []liveflux.HandlerOption{liveflux.WithSessionKey(sessionOf)}, victimSid: "alice", floodSid: "mallory", victimFrom: floodAddr, floodFrom: floodAddr},
		// Visitors without a session get their address's quota.
		{name: "no session", opts: []liveflux.HandlerOption{liveflux.WithSessionKey(sessionOf)}, victimFrom: victimAddr, floodFrom: floodAddr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := liveflux.NewMemoryStore(liveflux.WithMaxInstances(1000)) // 10 per client
			h := newStoreHandler(t, store, tt.opts...)
			mountAs := func(addr, sid string) string {
				rec := postFrom(h, addr, sid, url.Values{liveflux.FieldKind: {"counter"}})
				if rec.Code != http.StatusOK {
					t.Fatalf("mount: %d %s", rec.Code, rec.Body)
				}
				return idOf(t, rec.Body.String())
			}
			victim := mountAs(tt.victimFrom, tt.victimSid)
			bystander := mountAs(other, "")
			first := mountAs(tt.floodFrom, tt.floodSid)
			var last string
			for range 3000 {
				last = mountAs(tt.floodFrom, tt.floodSid)
			}
			act := func(addr, sid, id string) int {
				return postFrom(h, addr, sid, url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}}).Code
			}
			if code := act(tt.victimFrom, tt.victimSid, victim); code != http.StatusOK {
				t.Fatalf("the victim's instance after the flood: %d, want 200", code)
			}
			if code := act(other, "", bystander); code != http.StatusOK {
				t.Fatalf("a bystander's instance after the flood: %d, want 200", code)
			}
			if code := act(tt.floodFrom, tt.floodSid, last); code != http.StatusOK {
				t.Fatalf("the flood's newest instance: %d, want 200", code)
			}
			if code := act(tt.floodFrom, tt.floodSid, first); code != http.StatusNotFound {
				t.Fatalf("the flood's oldest instance: %d, want 404 (evicted)", code)
			}
			if n := store.Len(); n != 12 {
				t.Fatalf("store holds %d instances, want 12 (10 of the flood's, 2 others)", n)
			}
		})
	}
}

// TestHandlerMountParamLimit: mount parameters are bounded, whatever the
// body limit; the 1 MB parameter of issue 10 is refused.
func TestHandlerMountParamLimit(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	form := url.Values{liveflux.FieldKind: {"counter"}, "p": {strings.Repeat("x", 1_000_000)}}
	if rec := post(h, form); rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "mount parameters over 65536 bytes") {
		t.Fatalf("1 MB parameter: %d %s", rec.Code, rec.Body)
	}
	form.Set("p", strings.Repeat("x", liveflux.DefaultMaxParamBytes-len("p")))
	if rec := post(h, form); rec.Code != http.StatusOK {
		t.Fatalf("parameters at the limit: %d %s", rec.Code, rec.Body)
	}
	form.Set("p", form.Get("p")+"x")
	if rec := post(h, form); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("parameters a byte over the limit: %d %s", rec.Code, rec.Body)
	}
	_, err := h.Mount(httptest.NewRequest("GET", "/", nil), "counter", map[string]string{"p": strings.Repeat("x", 1<<20)})
	var e *liveflux.Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("Handler.Mount with a 1 MiB parameter: %v", err)
	}
	h = newTestHandler(t, liveflux.WithMaxParamBytes(10))
	if rec := post(h, url.Values{liveflux.FieldKind: {"counter"}, "start": {"123456"}}); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("WithMaxParamBytes(10), 11 bytes: %d", rec.Code)
	}
}

// heapInUse returns the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestHandlerByteCapUnderLargeParams: mounts and actions that make
// instances hold about 1 MB each keep the store within its byte caps, and
// the client sending them evicts only its own instances.
func TestHandlerByteCapUnderLargeParams(t *testing.T) {
	t.Parallel()
	store := liveflux.NewMemoryStore()
	h := newStoreHandler(t, store, liveflux.WithMaxParamBytes(liveflux.DefaultMaxBodyBytes))
	const victimAddr, floodAddr = "198.51.100.7:40000", "192.0.2.1:1234"
	rec := postFrom(h, victimAddr, "", url.Values{liveflux.FieldKind: {"note"}, "text": {"hello"}})
	victim := idOf(t, rec.Body.String())
	before := heapInUse()
	mb := strings.Repeat("x", 1_000_000)
	for range 40 {
		if rec := postFrom(h, floodAddr, "", url.Values{liveflux.FieldKind: {"note"}, "text": {mb}}); rec.Code != http.StatusOK {
			t.Fatalf("mount: %d %s", rec.Code, rec.Body)
		}
	}
	// Actions that grow instances count too: each echo stores ~900 KB.
	for range 10 {
		rec := postFrom(h, floodAddr, "", url.Values{liveflux.FieldKind: {"counter"}})
		id := idOf(t, rec.Body.String())
		form := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"echo"}, "v": {mb[:900_000]}}
		if rec := postFrom(h, floodAddr, "", form); rec.Code != http.StatusOK {
			t.Fatalf("echo: %d %s", rec.Code, rec.Body)
		}
	}
	after := heapInUse()
	t.Logf("store: %d instances, %d bytes; heap in use %d → %d bytes", store.Len(), store.Bytes(), before, after)
	if b := store.Bytes(); b > liveflux.DefaultMaxBytesPerSession+64<<10 {
		t.Fatalf("store holds %d bytes; one client may hold %d", b, liveflux.DefaultMaxBytesPerSession)
	}
	if b := store.Bytes(); b < 3_000_000 {
		t.Fatalf("store counts %d bytes for instances holding about 1 MB each", b)
	}
	if n := store.Len(); n > 5 {
		t.Fatalf("store holds %d instances of about 1 MB", n)
	}
	if code := postFrom(h, victimAddr, "", url.Values{liveflux.FieldKind: {"note"}, liveflux.FieldID: {victim}}).Code; code != http.StatusOK {
		t.Fatalf("the victim's instance after the flood: %d, want 200", code)
	}
}

// TestHandlerHTTPRateLimit: past its budget a client gets 429 with
// Retry-After, for mounts and actions alike; other clients are not
// affected.
func TestHandlerHTTPRateLimit(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, liveflux.WithHTTPRateLimit(3, time.Minute))
	const a, b = "192.0.2.1:1234", "198.51.100.7:40000"
	mountForm := url.Values{liveflux.FieldKind: {"counter"}}
	id := idOf(t, postFrom(h, a, "", mountForm).Body.String())
	for range 2 {
		if rec := postFrom(h, a, "", url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}}); rec.Code != http.StatusOK {
			t.Fatalf("within the limit: %d %s", rec.Code, rec.Body)
		}
	}
	for _, form := range []url.Values{mountForm, {liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"inc"}}} {
		rec := postFrom(h, a, "", form)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("over the limit: %d %s", rec.Code, rec.Body)
		}
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
		}
	}
	// Another address of the same IPv6 /64 is the same client; other
	// clients are not limited.
	for range 3 {
		postFrom(h, "[2001:db8::1]:1", "", mountForm)
	}
	if rec := postFrom(h, "[2001:db8::2]:1", "", mountForm); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d", rec.Code)
	}
	if rec := postFrom(h, b, "", mountForm); rec.Code != http.StatusOK {
		t.Fatalf("another client: %d %s", rec.Code, rec.Body)
	}
	// The option limits the POSTs a WebSocketHandler serves too.
	ws := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(testRegistry(t)), liveflux.WithLogger(discardLogger), liveflux.WithHTTPRateLimit(1, time.Minute))
	t.Cleanup(func() { ws.Close() })
	postFrom(ws, a, "", mountForm)
	if rec := postFrom(ws, a, "", mountForm); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("WebSocketHandler over the limit: %d", rec.Code)
	}
}

// BenchmarkAnonymousMounts mounts b.N instances over HTTP from one client
// address, as issue 10's flood did (-benchtime=100000x), and checks that
// another client's instance survived it.
func BenchmarkAnonymousMounts(b *testing.B) {
	store := liveflux.NewMemoryStore()
	h := newStoreHandler(b, store)
	victim := idOf(b, postFrom(h, "198.51.100.7:40000", "", url.Values{liveflux.FieldKind: {"counter"}}).Body.String())
	form := url.Values{liveflux.FieldKind: {"counter"}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if rec := post(h, form); rec.Code != http.StatusOK {
			b.Fatalf("mount: %d", rec.Code)
		}
	}
	b.StopTimer()
	if code := action(h, victim, "inc").Code; code != http.StatusOK {
		b.Fatalf("another client's instance after %d mounts: %d", b.N, code)
	}
	b.ReportMetric(float64(store.Len()), "instances")
}

// BenchmarkLargeParamMounts sends 1,200 mounts carrying a 1 MB parameter
// per op, as issue 10 did, and reports the heap in use afterwards, the
// process's resident memory (Linux) and what the store holds: with the
// default parameter limit (refused with 413), and with parameters allowed
// up to the body limit (the store's byte caps hold).
func BenchmarkLargeParamMounts(b *testing.B) {
	for _, tt := range []struct {
		name string
		opts []liveflux.HandlerOption
	}{
		{"default", nil},
		{"params-allowed", []liveflux.HandlerOption{liveflux.WithMaxParamBytes(liveflux.DefaultMaxBodyBytes)}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			store := liveflux.NewMemoryStore()
			h := newStoreHandler(b, store, tt.opts...)
			body := url.Values{liveflux.FieldKind: {"note"}, "text": {strings.Repeat("x", 1_000_000)}}.Encode()
			for range b.N {
				for range 1200 {
					req := httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(heapInUse())/(1<<20), "heap-MiB")
			b.ReportMetric(float64(store.Bytes())/(1<<20), "store-MiB")
			b.ReportMetric(float64(store.Len()), "instances")
			if rss, hwm, ok := residentMemory(); ok {
				b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
				b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
			}
		})
	}
}

// residentMemory returns the process's resident and peak resident memory
// in bytes, from /proc (Linux only).
func residentMemory() (rss, peak uint64, ok bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n << 10
		case "VmHWM:":
			peak = n << 10
		}
	}
	return rss, peak, rss > 0
}
