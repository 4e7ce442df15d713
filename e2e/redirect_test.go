package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/go-liveflux/liveflux"
)

// redirector redirects where its actions say, over HTTP or the WebSocket:
// "redirect" through Base.Redirect and "external" through
// Base.RedirectExternal (whose errors it returns: the server's checks),
// "raw-redirect" through the test server, which sends the target without
// any check (see serveLiveflux). "bump" only counts.
type redirector struct {
	liveflux.Base
	N int
}

func (r *redirector) Mount(ctx context.Context, params map[string]string) error { return nil }

func (r *redirector) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "redirect":
		r.N++
		return r.Redirect(data.Get("to"))
	case "external":
		r.N++
		return r.RedirectExternal(data.Get("to"))
	case "raw-redirect", "bump":
		r.N++
		return nil
	}
	return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
}

func (r *redirector) Render(ctx context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<output class="n">%d</output>`, r.N)
	return err
}

// replier is a redirector whose WebSocket actions run HandleWS: "reply"
// answers with a redirect frame to "to", which the server passes on
// verbatim, unchecked, as it does every HandleWS reply.
type replier struct{ redirector }

func (r *replier) HandleWS(ctx context.Context, m *liveflux.WebSocketMessage) (any, error) {
	var data struct {
		To string `json:"to"`
	}
	if err := json.Unmarshal(m.Data, &data); err != nil {
		return nil, liveflux.NewError(http.StatusBadRequest, err.Error())
	}
	if m.Action != "reply" {
		return nil, liveflux.NewError(http.StatusBadRequest, "unknown action "+m.Action)
	}
	return map[string]any{"type": "redirect", "componentID": r.GetID(), "data": map[string]string{"url": data.To}}, nil
}

// unsafeTarget is a redirect target that would run script in the page,
// leave it for something that is not a web page, or for another site while
// looking like a path of this one, if the client followed it. Its script
// tells the server (/pwned) and the page (__pwned).
type unsafeTarget struct {
	to       string
	inHeader bool // survives an HTTP header unchanged, as far as a browser tells
}

func unsafeTargets(base string) []unsafeTarget {
	js := fmt.Sprintf(`void(window.__pwned=1,navigator.sendBeacon(%q))`, base+"/pwned")
	return []unsafeTarget{
		{"javascript:" + js, true},
		{"JAVASCRIPT:" + js, true},
		{"JavaScript:" + js, true},
		{" javascript:" + js, true},
		{"\tjavascript:" + js, true},
		{"\njavascript:" + js, true}, // net/http sends a space
		{"\x00javascript:" + js, false},
		{" \x01\x1f javascript:" + js, false},
		{"java\tscript:" + js, true},
		{"java\nscript:" + js, false}, // "java script:" in a header: a relative URL
		{fmt.Sprintf("data:text/html,<script>fetch(%q)</script>", base+"/pwned"), true},
		{"vbscript:msgbox(1)", true},
		{"about:blank", true},
		{"//evil.example/", true},
		{"///evil.example/", true},
		{"/\\evil.example/", true},
		{"\\\\evil.example", true},
		{"https:evil.example", true}, // the page is http: another scheme, another site
		{" //evil.example", false},
		{"/\t/evil.example", false},
	}
}

// A redirect to anything but an http(s) URL, or to another site by a
// target that looks like a path of this one, is never followed, whichever
// way it reaches the page, and is reported as a liveflux:error; paths of
// the site and absolute http(s) redirects are followed.
func TestRedirectOnlyToHTTP(t *testing.T) {
	needBrowser(t)
	action := func(name string) func(*tab, *server, string, string) {
		return func(tb *tab, s *server, id, to string) {
			tb.t.Helper()
			arg, _ := json.Marshal(map[string]string{"to": to})
			tb.do("sending action "+name, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`void Liveflux.action(%q, %q, %s)`, id, name, arg)))
		}
	}
	broadcast := func(tb *tab, s *server, id, to string) {
		tb.t.Helper()
		frame := map[string]any{"type": "redirect", "componentID": id, "data": map[string]string{"url": to}}
		if err := s.handler().Broadcast(id, frame); err != nil {
			tb.t.Fatalf("Broadcast: %v", err)
		}
	}
	for _, p := range []struct {
		name   string
		ws     bool
		kind   string
		send   func(tb *tab, s *server, id, to string)
		header bool   // the target travels in an HTTP header
		status int    // of the liveflux:error events
		safe   string // a target the page follows; "BASE" stands for the server's URL
	}{
		// The server refuses the target: Redirect fails the action.
		{"http server check", false, "redirector", action("redirect"), false, 500, "/done?from=http+server+check"},
		{"websocket server check", true, "redirector", action("redirect"), false, 500, "/?x=1#nowhere"},
		{"http external server check", false, "redirector", action("external"), false, 500, "BASE/done?from=http+external+server+check"},
		// The target reaches the client, which refuses it.
		{"http unchecked header", false, "redirector", action("raw-redirect"), true, 0, "done?from=http+unchecked+header"},
		{"websocket HandleWS reply", true, "replier", action("reply"), false, 0, "/done?from=websocket+HandleWS+reply"},
		{"websocket Broadcast", true, "redirector", broadcast, false, 0, "BASE/done?from=websocket+Broadcast"},
	} {
		t.Run(p.name, func(t *testing.T) {
			s := newServer(t)
			s.page("/{$}", liveflux.ClientOptions{UseWebSocket: p.ws}, func(r *http.Request) template.HTML {
				return `<section id="r">` + s.mount(r, p.kind, nil) + `</section>`
			})
			opts := []tabOption{expectLivefluxErrors()}
			if p.status == 500 && !p.ws {
				opts = append(opts, allowBrowserError(`Failed to load resource: the server responded with a status of 500 \(Internal Server Error\) \[http://127\.0\.0\.1:\d+/liveflux\]`))
			}
			tb := newTab(t, opts...)
			tb.navigate(s.URL)
			if p.ws {
				tb.waitSynced(1)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("requests to /pwned: %d", s.pwned.Load())
				}
			})
			id := tb.id(rootSel("r"))
			tb.do("marking the document", chromedp.Evaluate[chromedp.Void](`window.__stay = 1`))

			sent := 0
			for _, u := range unsafeTargets(s.URL) {
				if p.header && !u.inHeader {
					continue
				}
				p.send(tb, s, id, u.to)
				sent++
				tb.waitFor(fmt.Sprintf("a liveflux:error for the redirect to %q", u.to),
					fmt.Sprintf(`window.__e2e.errors.length === %d && window.__stay === 1`, sent),
					`[location.href, window.__pwned ?? null, window.__e2e.errors]`)
				tb.waitIdle()
			}
			// Give whatever a navigation might have queued time to run.
			tb.do("starting a timer", chromedp.Evaluate[chromedp.Void](`window.__settled = false; setTimeout(() => { window.__settled = true; }, 300)`))
			tb.waitFor("300 ms to pass", `window.__settled === true`, `location.href`)
			if got := eval[string](tb, `JSON.stringify([location.pathname, window.__stay, window.__pwned ?? null])`); got != `["/",1,null]` {
				t.Fatalf("[path, __stay, __pwned] = %s, want the page unchanged and no script run", got)
			}
			if n := s.pwned.Load(); n != 0 {
				t.Fatalf("a refused target's script ran %d times", n)
			}
			for _, e := range eval[[]map[string]any](tb, `window.__e2e.errors`) {
				if e["status"] != float64(p.status) || e["componentID"] != id {
					t.Errorf("liveflux:error %v, want status %d for %s", e, p.status, id)
				}
				if p.status == 0 && (e["message"] != "refused redirect to an unsafe URL" || e["kind"] != p.kind) {
					t.Errorf("liveflux:error %v, want the refused redirect of a %s", e, p.kind)
				}
			}

			// A safe target, the same way: the page goes there.
			safe := strings.Replace(p.safe, "BASE", s.URL, 1)
			want, _ := url.Parse(s.URL + "/")
			want, _ = want.Parse(safe)
			p.send(tb, s, id, safe)
			tb.waitFor("the redirect to "+safe, fmt.Sprintf(`location.href === %q && window.__stay === undefined`, want), `location.href`)
			if want.Path == "/done" {
				tb.waitText("#from", want.Query().Get("from"))
			}
		})
	}
}
