package liveflux_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// pageRequest is a request for the page at target (a path and query).
func pageRequest(target string) *http.Request {
	r := sessionRequest("")
	r.URL, _ = url.Parse(target)
	r.RequestURI = target
	return r
}

// urlPatch is the patch of a JSON answer.
type urlPatch struct {
	URL     string `json:"url"`
	Replace bool   `json:"replace"`
}

// patchOf decodes a JSON answer's rendering and patch.
func patchOf(tb testing.TB, body string) (string, *urlPatch) {
	tb.Helper()
	var a struct {
		HTML  string    `json:"html"`
		Patch *urlPatch `json:"patch"`
	}
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		tb.Fatalf("answer %q: %v", body, err)
	}
	return a.HTML, a.Patch
}

// postJSON posts form asking for a JSON answer.
func postJSON(h http.Handler, form url.Values) (int, string) {
	req := httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", liveflux.MediaTypeAnswer)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// A deep link renders the URL's state on first paint: HandleURL sees the
// request's path, tagged fields its query; the root says the component
// lives in the URL.
func TestURLDeepLink(t *testing.T) {
	h := newTestHandler(t)
	html, err := h.Mount(pageRequest("/archive?page=3&q=go"), "pager", nil)
	assertNoError(t, err)
	for _, want := range []string{"tab=archive page=3 q=go seen=1", liveflux.AttrURL} {
		if !strings.Contains(string(html), want) {
			t.Errorf("first paint %s lacks %q", html, want)
		}
	}
	// A component that does not live in the URL is not marked.
	html, err = h.Mount(pageRequest("/archive?page=3"), "counter", nil)
	assertNoError(t, err)
	if strings.Contains(string(html), liveflux.AttrURL) {
		t.Errorf("a counter is marked as living in the URL: %s", html)
	}
}

// Over HTTP the page's URL rides with an action (FieldURL) and is applied
// first, once per change; a client mounting a placeholder sends it too;
// an action that changes a tagged field, or patches the URL, answers
// with the patch: a push for fields tagged push and PatchURL, a replace
// otherwise.
func TestURLOverHTTP(t *testing.T) {
	h := newTestHandler(t)
	code, body := postJSON(h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldURL: {"/inbox?page=2"}})
	assertEqual(t, code, http.StatusOK, "mount")
	html, _ := patchOf(t, body)
	if !strings.Contains(html, "tab=inbox page=2 q= seen=1") {
		t.Fatalf("mount at /inbox?page=2: %s", html)
	}
	id := idOf(t, html)
	act := func(action string, pageURL string, fields ...string) (string, *urlPatch) {
		t.Helper()
		form := url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}}
		if action != "" {
			form.Set(liveflux.FieldAction, action)
		}
		if pageURL != "" {
			form.Set(liveflux.FieldURL, pageURL)
		}
		for i := 0; i+1 < len(fields); i += 2 {
			form.Set(fields[i], fields[i+1])
		}
		code, body := postJSON(h, form)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", action, code, body)
		}
		return patchOf(t, body)
	}
	html, p := act("", "/inbox?page=2")
	if !strings.Contains(html, "seen=1") || p != nil {
		t.Errorf("the same URL again: %s, patch %+v; want HandleURL not run, no patch", html, p)
	}
	html, p = act("next", "/inbox?page=2")
	if !strings.Contains(html, "page=3") || p == nil || p.URL != "/inbox?page=3" || p.Replace {
		t.Errorf("next: %s, patch %+v; want a push of /inbox?page=3", html, p)
	}
	html, p = act("search", "/inbox?page=3", "q", "a b")
	if !strings.Contains(html, "q=a b") || p == nil || p.URL != "/inbox?page=3&q=a+b" || !p.Replace {
		t.Errorf("search: %s, patch %+v; want a replace of /inbox?page=3&q=a+b", html, p)
	}
	html, p = act("tab", "/inbox?page=3&q=a+b", "tab", "sent")
	if !strings.Contains(html, "tab=sent page=0 q= seen=2") || p == nil || p.URL != "/sent" || p.Replace {
		t.Errorf("tab: %s, patch %+v; want HandleURL run with /sent and a push", html, p)
	}
	_, p = act("tabReplace", "", "tab", "drafts")
	if p == nil || p.URL != "/drafts" || !p.Replace {
		t.Errorf("tabReplace: patch %+v; want a replace of /drafts", p)
	}
	// Back: the client re-renders with the URL it went back to.
	html, p = act("", "/inbox?page=2")
	if !strings.Contains(html, "tab=inbox page=2 q= seen=4") || p != nil {
		t.Errorf("back to /inbox?page=2: %s, patch %+v", html, p)
	}
	// A text/html client (the first protocol) is answered as before.
	rec := post(h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"next"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "page=3") {
		t.Errorf("next as text/html: %d %s", rec.Code, rec.Body)
	}
}

// Bad page URLs and patches are refused with clear errors, and the
// instance keeps its state.
func TestURLBadInput(t *testing.T) {
	h := newTestHandler(t)
	html, err := h.Mount(pageRequest("/inbox"), "pager", nil)
	assertNoError(t, err)
	id := idOf(t, string(html))
	for _, u := range []string{"https://evil.example/", "//evil.example/x", "inbox", "/\\evil", "/x\ny"} {
		rec := post(h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}, liveflux.FieldURL: {u}})
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "the page's URL must be a path of this site") {
			t.Errorf("URL %q: %d %q, want 400", u, rec.Code, rec.Body)
		}
	}
	rec := post(h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"away"}})
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("a patch to another site: %d %s, want the action to fail", rec.Code, rec.Body)
	}
	rec = post(h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}, liveflux.FieldURL: {"/bad"}})
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no such tab") {
		t.Errorf("HandleURL's error: %d %q", rec.Code, rec.Body)
	}
	rec = post(h, url.Values{liveflux.FieldKind: {"pager"}, liveflux.FieldID: {id}})
	if !strings.Contains(rec.Body.String(), "tab=inbox page=0 q= seen=1") {
		t.Errorf("after the failures: %s, want the state kept", rec.Body)
	}
}

// PatchURL outside a component's method has no scope.
func TestPatchURLOutsideMethods(t *testing.T) {
	if err := liveflux.PatchURL(t.Context(), "/x"); !errors.Is(err, liveflux.ErrNoScope) {
		t.Errorf("PatchURL: %v, want ErrNoScope", err)
	}
	if err := liveflux.Flash(t.Context(), "info", "x"); !errors.Is(err, liveflux.ErrNoScope) {
		t.Errorf("Flash: %v, want ErrNoScope", err)
	}
}

// Over WebSocket a page says its URL with a url message: nothing is sent
// while the instance saw that URL already; a new one is applied and every
// watcher gets the rendering. Patches go only to connections that sent
// their URL, after the update.
func TestURLOverWebSocket(t *testing.T) {
	f := newFixture(t)
	html, err := f.h.Mount(pageRequest("/inbox"), "pager", nil)
	assertNoError(t, err)
	id := idOf(t, string(html))
	c1, c2 := f.dial(t), f.dial(t)
	c1.init(id)
	c2.init(id)
	urlMsg := func(u string) map[string]any {
		return map[string]any{"type": liveflux.MessageURL, "componentID": id, "data": map[string]string{"url": u}}
	}
	c1.send(urlMsg("/inbox"))
	if got := c1.before(); len(got) != 0 {
		t.Errorf("the URL the instance saw: got %v, want nothing", got)
	}
	c1.send(urlMsg("/sent?page=2"))
	if h := c1.nextUpdate(id); !strings.Contains(h, "tab=sent page=2 q= seen=2") {
		t.Errorf("after a url message: %s", h)
	}
	if h := c2.nextUpdate(id); !strings.Contains(h, "tab=sent page=2") {
		t.Errorf("the other watcher: %s", h)
	}
	c1.sendAction(id, "next", nil)
	c1.nextUpdate(id)
	if m := c1.nextMsg(); m.Type != liveflux.MessagePatch || m.ComponentID != id || string(m.Data) != `{"url":"/sent?page=3"}` {
		t.Errorf("after next: %s, want a patch to /sent?page=3", m)
	}
	c2.nextUpdate(id)
	c2.sendAction(id, "next", nil)
	c2.nextUpdate(id)
	for _, m := range c2.before() {
		if m.Type == liveflux.MessagePatch {
			t.Errorf("a connection that never sent its URL got %s", m)
		}
	}
	c1.nextUpdate(id)
	for _, bad := range []any{map[string]any{"type": "url", "componentID": id}, map[string]any{"type": "url", "componentID": id, "data": map[string]string{"url": "https://evil.example/"}}} {
		c1.send(bad)
		assertErrorMsg(t, c1.nextMsg(), id, http.StatusBadRequest)
	}
}

// HandleURL may redirect on a url message too: the client is told, after
// the update, as after an action.
func TestURLMessageThatRedirects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	html, err := f.h.Mount(pageRequest("/inbox"), "pager", nil)
	assertNoError(t, err)
	id := idOf(t, string(html))
	c := f.dial(t)
	c.init(id)
	c.send(map[string]any{"type": liveflux.MessageURL, "componentID": id, "data": map[string]string{"url": "/old"}})
	c.nextUpdate(id)
	assertEqual(t, string(c.next()), `{"type":"redirect","componentID":"`+id+`","data":{"url":"/inbox"}}`, "after the update")
}
