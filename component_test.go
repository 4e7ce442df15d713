package liveflux_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// Targets a page must never be sent to: each would run script in the
// page's origin (or leave for a non-web scheme) if a client followed it.
var unsafeRedirects = []string{
	"javascript:alert(1)",
	"JAVASCRIPT:alert(1)",
	"JavaScript:alert(document.cookie)",
	" javascript:alert(1)",
	"\tjavascript:alert(1)",
	"\njavascript:alert(1)",
	"\x00javascript:alert(1)",
	"java\tscript:alert(1)",
	"java\nscript:alert(1)",
	"javascript\r:alert(1)",
	"\x7fjavascript:alert(1)",
	"javascript://%0aalert(1)",
	"data:text/html,<script>alert(1)</script>",
	"DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
	"vbscript:msgbox(1)",
	"file:///etc/passwd",
	"ftp://example.com/",
	"blob:https://example.com/1",
	"about:blank",
	"mailto:someone@example.com",
	"\u00a0javascript:alert(1)", // a no-break space is not stripped, but not worth telling apart
}

// Paths of the site: Redirect accepts them.
var localRedirects = []string{
	"/done",
	"/done?from=Zo%C3%AB",
	"/",
	"/a/b?c=d#e",
	"/%C3%A9t%C3%A9",
	"/search?q=a b",
	"/a//b",
	"/a?next=//elsewhere.example",
}

// Targets that look like paths of the site, or that a "return to" check
// for a leading "/" lets through, but that a browser takes elsewhere (or
// that a server decoding them before redirecting would): Redirect refuses
// them all.
var offSiteRedirects = []string{
	"//evil.example/",
	"///evil.example/",
	"/\\evil.example/",
	"\\\\evil.example",
	"\\/evil.example",
	"https:evil.example",
	"HTTPS:evil.example",
	"http://evil.example/",
	"https://evil.example",
	"HtTpS://evil.example",
	"/%2F%2Fevil.example",
	"/%2f/evil.example",
	"/%5Cevil.example",
	"/%5cevil.example",
	"/%252F%252Fevil.example",
	"/%09/evil.example",
	"/\t/evil.example",
	"/ /evil.example",
	" //evil.example",
	"\t//evil.example",
	"//evil.example/\n",
	"/%",
	"/%zz",
	// Not elsewhere, but not paths either: the rule is one leading "/".
	"evil.example",
	"?x=1",
	"#top",
	"../up",
}

// Absolute http(s) URLs: RedirectExternal accepts them.
var externalRedirects = []string{
	"http://example.com/",
	"https://example.com/a?b=c#d",
	"HTTPS://EXAMPLE.COM/",
	"https://example.com:8443",
}

func TestRedirectStaysOnSite(t *testing.T) {
	t.Parallel()
	checkRedirects(t, "Redirect", (*liveflux.Base).Redirect, append(append(unsafeRedirects, offSiteRedirects...), externalRedirects...), localRedirects)
}

func TestRedirectExternal(t *testing.T) {
	t.Parallel()
	refused := append([]string{"//example.com/path", "https:example.com", "https:/example.com", "https:///example.com", "https://example.com\\@evil.example", "/done", "example.com"}, unsafeRedirects...)
	checkRedirects(t, "RedirectExternal", (*liveflux.Base).RedirectExternal, refused, externalRedirects)
}

// checkRedirects checks that redirect (Base.Redirect or RedirectExternal)
// refuses every target of refused with ErrUnsafeRedirect and accepts every
// one of accepted, and the empty target.
func checkRedirects(t *testing.T, name string, redirect func(*liveflux.Base, string) error, refused, accepted []string) {
	t.Helper()
	for _, target := range refused {
		if err := redirect(&liveflux.Base{}, target); !errors.Is(err, liveflux.ErrUnsafeRedirect) {
			t.Errorf("%s(%q) = %v, want ErrUnsafeRedirect", name, target, err)
		}
	}
	for _, target := range append(accepted, "") {
		if err := redirect(&liveflux.Base{}, target); err != nil {
			t.Errorf("%s(%q) = %v, want nil", name, target, err)
		}
	}
}

// redirector redirects to the "to" field of action "go", returning what
// Redirect returned; action "ignore" asks for "/kept" first and drops the
// error of redirecting to "to".
type redirector struct {
	liveflux.Base
	N int
}

func (r *redirector) Mount(_ context.Context, p map[string]string) error {
	if to, ok := p["to"]; ok {
		return r.Redirect(to)
	}
	return nil
}

func (r *redirector) Handle(_ context.Context, action string, data url.Values) error {
	r.N++
	switch action {
	case "go":
		if err := r.Redirect("/first"); err != nil {
			return err
		}
		return r.Redirect(data.Get("to"))
	case "ignore":
		r.Redirect("/kept")
		r.Redirect(data.Get("to"))
	}
	return nil
}

func (r *redirector) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<span>count=%d</span>", r.N)
	return err
}

// Over HTTP: a refused target fails the action (500, no redirect header, the
// instance unchanged) or, when the component ignores the error, the action
// succeeds with the redirect asked for before, if any. Paths of the site
// reach the header unchanged, for mounts and actions.
func TestHandlerRedirectStaysOnSite(t *testing.T) {
	t.Parallel()
	reg := testRegistry(t)
	assertNoError(t, reg.Register("redirector", func() liveflux.Component { return &redirector{} }))
	h := liveflux.NewHandler(liveflux.NewMemoryStore(), liveflux.WithRegistry(reg), liveflux.WithLogger(discardLogger))
	send := func(id, action, to string) (int, string, string) {
		rec := post(h, url.Values{liveflux.FieldKind: {"redirector"}, liveflux.FieldID: {id}, liveflux.FieldAction: {action}, "to": {to}})
		return rec.Code, rec.Header().Get(liveflux.HeaderRedirect), rec.Body.String()
	}
	rec := post(h, url.Values{liveflux.FieldKind: {"redirector"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("mount: %d %s", rec.Code, rec.Body)
	}
	id := idOf(t, rec.Body.String())
	n := 0
	for _, to := range append(unsafeRedirects, offSiteRedirects...) {
		code, hdr, _ := send(id, "go", to)
		if code != http.StatusInternalServerError || hdr != "" {
			t.Errorf("action redirecting to %q: %d, %s %q; want 500 and no redirect", to, code, liveflux.HeaderRedirect, hdr)
		}
		code, hdr, body := send(id, "ignore", to)
		n++
		if code != http.StatusOK || hdr != "/kept" || countOf(t, body) != n {
			t.Errorf("action ignoring the refusal of %q: %d, %s %q, %s; want 200, the earlier redirect kept, count %d", to, code, liveflux.HeaderRedirect, hdr, body, n)
		}
		rec := post(h, url.Values{liveflux.FieldKind: {"redirector"}, "to": {to}})
		if rec.Code != http.StatusInternalServerError || rec.Header().Get(liveflux.HeaderRedirect) != "" {
			t.Errorf("mount redirecting to %q: %d, %s %q", to, rec.Code, liveflux.HeaderRedirect, rec.Header().Get(liveflux.HeaderRedirect))
		}
	}
	for _, to := range localRedirects {
		code, hdr, _ := send(id, "go", to)
		n++
		if code != http.StatusOK || hdr != to {
			t.Errorf("action redirecting to %q: %d, %s %q", to, code, liveflux.HeaderRedirect, hdr)
		}
		rec := post(h, url.Values{liveflux.FieldKind: {"redirector"}, "to": {to}})
		if rec.Code != http.StatusOK || rec.Header().Get(liveflux.HeaderRedirect) != to {
			t.Errorf("mount redirecting to %q: %d, %s %q", to, rec.Code, liveflux.HeaderRedirect, rec.Header().Get(liveflux.HeaderRedirect))
		}
	}
	// Redirect("") cancels the redirect asked for before it.
	if code, hdr, _ := send(id, "go", ""); code != http.StatusOK || hdr != "" {
		t.Errorf("Redirect(\"\") after Redirect(\"/first\"): %d, %s %q; want no redirect", code, liveflux.HeaderRedirect, hdr)
	}
}
