package liveflux

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"
)

type plain struct{ Base }

func (*plain) Mount(context.Context, map[string]string) error   { return nil }
func (*plain) Handle(context.Context, string, url.Values) error { return nil }
func (*plain) Render(context.Context, io.Writer) error          { return nil }

type tagged struct {
	Base
	Q string `url:"q"`
	N int    `url:"n,push"`
	B bool   `url:"b"`
	//lint:ignore U1000 an unexported field with a tag: the test checks it is never bound
	skip string  `url:"skip"`
	F    float64 `url:"f"`
}

func (*tagged) Mount(context.Context, map[string]string) error   { return nil }
func (*tagged) Handle(context.Context, string, url.Values) error { return nil }
func (*tagged) Render(context.Context, io.Writer) error          { return nil }

// PatchURL refuses a component that does not live in the URL, and targets
// that are not paths of this site; the URL it asks for waits in the scope.
func TestPatchURLChecks(t *testing.T) {
	h := NewHandler(nil)
	ctx, _ := withScope(context.Background(), h, &plain{})
	if err := PatchURL(ctx, "/x"); err == nil {
		t.Error("PatchURL from a component that does not live in the URL succeeded")
	}
	ctx, sc := withScope(context.Background(), h, &tagged{})
	for _, bad := range []string{"", "https://evil.example/", "//evil.example", "/\\\\evil", "javascript:alert(1)", "/a\\tb"} {
		if err := PatchURL(ctx, bad); !errors.Is(err, ErrUnsafeRedirect) {
			t.Errorf("PatchURL(%q): %v, want ErrUnsafeRedirect", bad, err)
		}
	}
	if err := ReplaceURL(ctx, "/ok?x=1"); err != nil || sc.patch != "/ok?x=1" || !sc.replace {
		t.Errorf("ReplaceURL: %v, scope %q %v", err, sc.patch, sc.replace)
	}
}

// Tags bind exported string, integer and bool fields of the struct
// itself; the others are left out.
func TestURLTags(t *testing.T) {
	fs := fieldsInURL(&tagged{})
	var names []string
	for _, f := range fs {
		names = append(names, f.name)
	}
	if got := len(fs); got != 3 || names[0] != "q" || names[1] != "n" || !fs[1].push || names[2] != "b" {
		t.Fatalf("bound fields %v", names)
	}
	h := NewHandler(nil)
	c := &tagged{Q: "x", N: 4}
	if _, err := h.applyURL(context.Background(), c, "/p?q=go&n=oops&b=true"); err != nil {
		t.Fatal(err)
	}
	if c.Q != "go" || c.N != 0 || !c.B {
		t.Errorf("applied: %+v, want q=go, n=0 (does not parse), b=true", c)
	}
	ctx, sc := withScope(context.Background(), h, c)
	c.N = 2
	p, err := h.syncURL(ctx, c, sc)
	if err != nil || p == nil || p.URL != "/p?b=true&n=2&q=go" || p.Replace {
		t.Errorf("after n changed: %+v %v, want a push of /p?b=true&n=2&q=go", p, err)
	}
	c.Q, c.B = "", false
	p, err = h.syncURL(ctx, c, sc)
	if err != nil || p == nil || p.URL != "/p?n=2" || !p.Replace {
		t.Errorf("after q and b went to zero: %+v %v, want a replace of /p?n=2", p, err)
	}
	if p, _ := h.syncURL(ctx, c, sc); p != nil {
		t.Errorf("nothing changed, and yet a patch %+v", p)
	}
	// An instance that never saw the page's URL patches none.
	fresh := &tagged{N: 3}
	if p, err := h.syncURL(ctx, fresh, sc); p != nil || err != nil {
		t.Errorf("an instance without a URL: patch %+v, %v", p, err)
	}
}

// Flash kinds are plain words.
func TestFlashKinds(t *testing.T) {
	ctx, sc := withScope(context.Background(), NewHandler(nil), &plain{})
	for _, bad := range []string{"", "a:b", "a b", "a.b", strings.Repeat("k", 41)} {
		if err := Flash(ctx, bad, "x"); err == nil {
			t.Errorf("Flash kind %q accepted", bad)
		}
	}
	if err := Flash(ctx, "error-2", "x"); err != nil || len(sc.events) != 1 {
		t.Errorf("Flash: %v, events %v", err, sc.events)
	}
}
