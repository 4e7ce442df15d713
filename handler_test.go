package liveflux_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-liveflux/liveflux"
)

func TestHandlerMountAndAct(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	rec := post(h, url.Values{liveflux.FieldKind: {"counter"}, "start": {"5"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("mount: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(body, `<div data-flux-component-kind="counter" data-flux-component-id="`) || !strings.HasSuffix(body, "</div>") {
		t.Errorf("root wrapper missing: %s", body)
	}
	if !strings.Contains(body, `data-flux-param-start="5"`) {
		t.Errorf("mount params not kept on the root: %s", body)
	}
	id := idOf(t, body)
	if len(id) < 26 {
		t.Errorf("id %q shorter than 128 bits of base32", id)
	}
	if got := countOf(t, body); got != 5 {
		t.Fatalf("count after mount = %d, want 5", got)
	}
	rev1 := revOf(t, body)

	rec = action(h, id, "inc")
	if rec.Code != http.StatusOK || countOf(t, rec.Body.String()) != 6 {
		t.Fatalf("inc: %d %s", rec.Code, rec.Body)
	}
	rev2 := revOf(t, rec.Body.String())
	if rev2 <= rev1 {
		t.Errorf("revision did not grow: %d then %d", rev1, rev2)
	}
	if strings.Contains(rec.Body.String(), "data-flux-param-") {
		t.Errorf("action rendering repeats mount params: %s", rec.Body)
	}
	rec = action(h, id, "echo", "v", "a", "v", "b")
	if !strings.Contains(rec.Body.String(), `<span class="echo">a,b</span>`) {
		t.Errorf("fields not passed to Handle: %s", rec.Body)
	}
	if n := count(t, h, id); n != 6 {
		t.Errorf("re-render without action changed state: %d", n)
	}
	// Two instances are independent.
	other := mount(t, h)
	action(h, other, "dec")
	if a, b := count(t, h, id), count(t, h, other); a != 6 || b != -1 {
		t.Errorf("counts = %d, %d; want 6, -1", a, b)
	}
}

func TestHandlerBadInput(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, liveflux.WithMaxBodyBytes(1024))
	id := mount(t, h)
	tests := []struct {
		name   string
		method string
		body   string
		ctype  string
		header map[string]string
		status int
		want   string
	}{
		{"wrong method", http.MethodPut, "", "", nil, 405, "method not allowed"},
		{"missing kind", "POST", "liveflux_component_id=" + id, "", nil, 400, "missing liveflux_component_kind"},
		{"unknown kind", "POST", "liveflux_component_kind=nope", "", nil, 404, "unknown component kind"},
		{"empty id", "POST", "liveflux_component_kind=counter&liveflux_component_id=", "", nil, 400, "empty liveflux_component_id"},
		{"two ids", "POST", "liveflux_component_kind=counter&liveflux_component_id=" + id + "&liveflux_component_id=" + id, "", nil, 400, "empty liveflux_component_id"},
		{"unknown id", "POST", "liveflux_component_kind=counter&liveflux_component_id=ABCDEFGHIJKLMNOPQRSTUVWXYZ&liveflux_action=inc", "", nil, 404, "component not found"},
		{"kind does not match id", "POST", "liveflux_component_kind=other&liveflux_component_id=" + id + "&liveflux_action=inc", "", nil, 404, "component not found"},
		{"malformed form", "POST", "liveflux_component_kind=%zz", "", nil, 400, "malformed form body"},
		{"body too large", "POST", "liveflux_component_kind=counter&x=" + strings.Repeat("a", 2000), "", nil, 413, "request body over 1024 bytes"},
		{"cross-site post", "POST", "liveflux_component_kind=counter", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "cross-origin request refused"},
		{"cross-origin post", "POST", "liveflux_component_kind=counter", "", map[string]string{"Origin": "http://evil.example"}, 403, "cross-origin request refused"},
		{"unknown action", "POST", "liveflux_component_kind=counter&liveflux_component_id=" + id + "&liveflux_action=nope", "", nil, 400, "unknown action"},
		{"component user error", "POST", "liveflux_component_kind=counter&liveflux_component_id=" + id + "&liveflux_action=usererr", "", nil, 409, "already taken"},
		{"component error", "POST", "liveflux_component_kind=counter&liveflux_component_id=" + id + "&liveflux_action=fail", "", nil, 500, "component failed"},
		{"handle panic", "POST", "liveflux_component_kind=counter&liveflux_component_id=" + id + "&liveflux_action=panic", "", nil, 500, "component failed"},
		{"render panic", "POST", "liveflux_component_kind=counter&liveflux_component_id=" + id + "&liveflux_action=panicrender", "", nil, 500, "component failed"},
		{"mount user error", "POST", "liveflux_component_kind=counter&start=x", "", nil, 422, "start must be a number"},
		{"mount error", "POST", "liveflux_component_kind=counter&mode=fail", "", nil, 500, "component failed"},
		{"mount panic", "POST", "liveflux_component_kind=counter&mode=panic", "", nil, 500, "component failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://example.com/liveflux", strings.NewReader(tt.body))
			ctype := tt.ctype
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ctype)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("internal error leaked to the client: %s", rec.Body)
			}
		})
	}
	if rec := action(h, id, "nope"); rec.Header().Get("Allow") != "" {
		t.Errorf("Allow header on a POST error")
	}
	// Every failed action left the instance as it was.
	if n := count(t, h, id); n != 0 {
		t.Fatalf("failed actions changed the state: count = %d", n)
	}
	// And the handler keeps serving.
	if rec := action(h, id, "inc"); countOf(t, rec.Body.String()) != 1 {
		t.Fatalf("handler broken after failures: %s", rec.Body)
	}
}

func TestHandlerAllowHeader(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	newTestHandler(t).ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/liveflux", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("DELETE: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}
}

func TestHandlerMultipartForm(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	id := mount(t, h)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{liveflux.FieldKind, "counter"}, {liveflux.FieldID, id}, {liveflux.FieldAction, "echo"}, {"v", "multi"}} {
		mw.WriteField(kv[0], kv[1])
	}
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/liveflux", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<span class="echo">multi</span>`) {
		t.Fatalf("multipart action: %d %s", rec.Code, rec.Body)
	}
}

func TestHandlerRedirect(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	id := mount(t, h)
	rec := action(h, id, "go")
	if rec.Code != 200 || rec.Header().Get(liveflux.HeaderRedirect) != "/next" {
		t.Fatalf("redirect: %d %q", rec.Code, rec.Header().Get(liveflux.HeaderRedirect))
	}
	if rec := action(h, id, "inc"); rec.Header().Get(liveflux.HeaderRedirect) != "" {
		t.Fatalf("redirect repeated on the next action")
	}
	rec = post(h, url.Values{liveflux.FieldKind: {"counter"}, "mode": {"redirect"}})
	if rec.Header().Get(liveflux.HeaderRedirect) != "/welcome" {
		t.Fatalf("mount redirect: %q", rec.Header().Get(liveflux.HeaderRedirect))
	}
}

// Guards against: the multipart media type matched only in lower case
// (Multipart/Form-Data was refused); bodies over WithMaxBodyBytes, of
// either encoding, are refused with 413.
func TestHTTPEdgeCases(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithMaxBodyBytes(1000))
	multipart := func(ctype, extra string) response {
		t.Helper()
		body := "--XX\r\nContent-Disposition: form-data; name=\"liveflux_component_kind\"\r\n\r\ncounter\r\n" + extra + "--XX--\r\n"
		r, err := f.request("", ctype, body)
		assertNoError(t, err)
		return r
	}
	big := strings.Repeat("a", 5000)
	if r := multipart("multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"big\"\r\n\r\n"+big+"\r\n"); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("multipart over limit: %d %s", r.status, r.body)
	}
	r, err := f.tryPostAs("", url.Values{liveflux.FieldKind: {"counter"}, "big": {big}})
	assertNoError(t, err)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("urlencoded over limit: %d %s", r.status, r.body)
	}
	if r := multipart("Multipart/Form-Data; boundary=XX", ""); r.status != http.StatusOK {
		t.Errorf("Multipart/Form-Data: %d %s", r.status, r.body)
	}
}

func TestHandlerServesRuntime(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	get := func(header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/liveflux", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/javascript") {
		t.Fatalf("GET: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), liveflux.ClientRuntime()) || len(liveflux.ClientRuntime()) < 1000 {
		t.Fatalf("GET served %d bytes, not the runtime", rec.Body.Len())
	}
	etag := rec.Header().Get("ETag")
	if etag == "" || etag[0] != '"' {
		t.Fatalf("ETag = %q", etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		if rec := get("If-None-Match", inm); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: %d, %d bytes", inm, rec.Code, rec.Body.Len())
		}
	}
	if rec := get("If-None-Match", `"stale"`); rec.Code != 200 {
		t.Errorf("stale ETag: %d", rec.Code)
	}
	rec = get("Accept-Encoding", "br, gzip")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip not served")
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !bytes.Equal(plain, liveflux.ClientRuntime()) {
		t.Fatalf("gzip body differs from the runtime")
	}
	if rec := get("Accept-Encoding", "gzip;q=0"); rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip served despite q=0")
	}
}

func TestHandlerConcurrentActionsLoseNothing(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	id := mount(t, h)
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if rec := action(h, id, "inc"); rec.Code != 200 {
					t.Errorf("inc: %d", rec.Code)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := count(t, h, id); n != 10_000 {
		t.Fatalf("count = %d, want 10000", n)
	}
}

func TestHandlerEvictedInstance(t *testing.T) {
	t.Parallel()
	store := liveflux.NewMemoryStore(liveflux.WithMaxInstances(1))
	h := newStoreHandler(t, store)
	first := mount(t, h)
	mount(t, h) // evicts first
	if rec := action(h, first, "inc"); rec.Code != http.StatusNotFound {
		t.Fatalf("action on evicted instance: %d", rec.Code)
	}
}

func TestHandlerMountForFirstPaint(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	html, err := h.Mount(httptest.NewRequest("GET", "/", nil), "counter", map[string]string{"start": "3"})
	if err != nil {
		t.Fatal(err)
	}
	id := idOf(t, string(html))
	if n := count(t, h, id); n != 3 {
		t.Fatalf("server-rendered instance not stored: count = %d", n)
	}
	if _, err := h.Mount(httptest.NewRequest("GET", "/", nil), "nope", nil); !errors.Is(err, liveflux.ErrUnknownKind) {
		t.Fatalf("Mount unknown kind: %v", err)
	}
}

func TestPlaceholderAndScript(t *testing.T) {
	t.Parallel()
	got := string(liveflux.Placeholder(`a"b`, map[string]string{"start": `<1>`, "Bad Name": "x", "z": "2"}))
	want := `<div data-flux-component-kind="a&#34;b" data-flux-param-start="&lt;1&gt;" data-flux-param-z="2"></div>`
	if got != want {
		t.Errorf("Placeholder =\n%s\nwant\n%s", got, want)
	}
	s := string(liveflux.Script(liveflux.ClientOptions{Headers: map[string]string{"X-CSRF-Token": `t"<`}, UseWebSocket: true}))
	for _, part := range []string{`src="/liveflux"`, `&#34;endpoint&#34;:&#34;/liveflux&#34;`, `&#34;useWebSocket&#34;:true`, `X-CSRF-Token`, ` defer>`} {
		if !strings.Contains(s, part) {
			t.Errorf("Script() lacks %s: %s", part, s)
		}
	}
	if strings.Contains(s, `t"<`) {
		t.Errorf("Script() does not escape header values: %s", s)
	}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	r := liveflux.NewRegistry()
	f := func() liveflux.Component { return &counter{} }
	if err := r.Register("", f); !errors.Is(err, liveflux.ErrEmptyKind) {
		t.Errorf("empty kind: %v", err)
	}
	if err := r.Register("x", nil); err == nil {
		t.Errorf("nil factory accepted")
	}
	if err := r.Register("x", f); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("x", f); !errors.Is(err, liveflux.ErrDuplicateKind) {
		t.Errorf("duplicate kind: %v", err)
	}
	c, err := r.New("x")
	if err != nil || c.GetKind() != "x" {
		t.Fatalf("New: %v %v", c, err)
	}
	if _, err := r.New("y"); !errors.Is(err, liveflux.ErrUnknownKind) {
		t.Errorf("New unknown: %v", err)
	}
}
