package liveflux_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

var sealedPattern = regexp.MustCompile(liveflux.AttrSealed + `="([^"]+)"`)

// A sealed parameter never reaches the page in plain: Handler.Mount seals
// it; the client sends it back as it is to mount the component again,
// and Mount gets it. A client cannot set it, forge it, or take it to
// another session or kind.
func TestSealedParams(t *testing.T) {
	h := newTestHandler(t, liveflux.WithSessionKey(sessionOf))
	html, err := h.Mount(sessionRequest("s1"), "vault", map[string]string{"user": "u-42", "note": "hi"})
	assertNoError(t, err)
	page := string(html)
	if strings.Contains(page, "u-42\"") || strings.Contains(page, liveflux.AttrParamPrefix+"user") || !strings.Contains(page, liveflux.AttrParamPrefix+`note="hi"`) {
		t.Fatalf("first paint %s: want user sealed, note plain", page)
	}
	m := sealedPattern.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s in %s", liveflux.AttrSealed, page)
	}
	sealed := m[1]
	remount := func(sid string, form url.Values) (int, string) {
		t.Helper()
		rec := postFrom(h, "", sid, form)
		return rec.Code, rec.Body.String()
	}
	code, body := remount("s1", url.Values{liveflux.FieldKind: {"vault"}, "note": {"hi"}, liveflux.FieldSealed: {sealed}})
	if code != http.StatusOK || !strings.Contains(body, "user=u-42 note=hi") || !strings.Contains(body, sealed) {
		t.Errorf("re-mount: %d %s", code, body)
	}
	for name, tc := range map[string]struct {
		sid  string
		form url.Values
		want string
	}{
		"plain":         {"s1", url.Values{liveflux.FieldKind: {"vault"}, "user": {"admin"}}, `mount parameter "user" of vault is sealed`},
		"plain too":     {"s1", url.Values{liveflux.FieldKind: {"vault"}, "user": {"admin"}, liveflux.FieldSealed: {sealed}}, "is sealed"},
		"other session": {"s2", url.Values{liveflux.FieldKind: {"vault"}, liveflux.FieldSealed: {sealed}}, "sealed parameters do not open"},
		"altered":       {"s1", url.Values{liveflux.FieldKind: {"vault"}, liveflux.FieldSealed: {sealed[:len(sealed)-2] + "AA"}}, "do not open"},
		"garbage":       {"s1", url.Values{liveflux.FieldKind: {"vault"}, liveflux.FieldSealed: {"!!"}}, "do not open"},
	} {
		if code, body := remount(tc.sid, tc.form); code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want 400 %q", name, code, body, tc.want)
		}
	}
	// Another handler, another key: the sealed values do not open there,
	// unless both share keys (WithParamKey); a key listed second opens.
	other := newTestHandler(t, liveflux.WithSessionKey(sessionOf))
	if rec := postFrom(other, "", "s1", url.Values{liveflux.FieldKind: {"vault"}, liveflux.FieldSealed: {sealed}}); rec.Code != http.StatusBadRequest {
		t.Errorf("another handler's key: %d %s", rec.Code, rec.Body)
	}
	oldKey, newKey := []byte(strings.Repeat("k", 32)), []byte(strings.Repeat("n", 32))
	a := newTestHandler(t, liveflux.WithParamKey(oldKey))
	html, err = a.Mount(sessionRequest(""), "vault", map[string]string{"user": "u-7"})
	assertNoError(t, err)
	sealed = sealedPattern.FindStringSubmatch(string(html))[1]
	b := newTestHandler(t, liveflux.WithParamKey(newKey, oldKey))
	if rec := post(b, url.Values{liveflux.FieldKind: {"vault"}, liveflux.FieldSealed: {sealed}}); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "user=u-7") {
		t.Errorf("a shared key: %d %s", rec.Code, rec.Body)
	}
	// A component without sealed parameters ignores the field.
	if rec := post(b, url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldSealed: {"x"}}); rec.Code != http.StatusOK {
		t.Errorf("a counter with a sealed field: %d %s", rec.Code, rec.Body)
	}
	defer func() {
		if recover() == nil {
			t.Error("WithParamKey took a short key")
		}
	}()
	liveflux.WithParamKey([]byte("short"))
}
