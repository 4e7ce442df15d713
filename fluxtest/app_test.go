package fluxtest_test

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// Inbox lives in the URL: its folder is the path (HandleURL), its page
// the query parameter "page" (a tagged field). It takes a sealed mount
// parameter, user.
type Inbox struct {
	liveflux.Base
	User   string
	Folder string
	Page   int `url:"page,push"`
	Open   bool
}

func (b *Inbox) SealedParams() []string { return []string{"user"} }

func (b *Inbox) Mount(_ context.Context, p map[string]string) error {
	b.User = p["user"]
	return nil
}

func (b *Inbox) HandleURL(_ context.Context, u *url.URL) error {
	b.Folder = strings.TrimPrefix(u.Path, "/")
	return nil
}

func (b *Inbox) Handle(ctx context.Context, action string, data url.Values) error {
	switch action {
	case "next":
		b.Page++
	case "archive":
		return liveflux.PatchURL(ctx, "/archive")
	case "fail":
		return liveflux.NewError(http.StatusConflict, "nothing to archive")
	case "clear":
	case "opened":
		b.Open = true
	}
	return nil
}

var inboxView = template.Must(template.New("inbox").Parse(`
<p class="where">{{.User}}: {{.Folder}} page {{.Page}}</p>
<a class="sent" href="/sent" data-flux-patch>sent</a>
<a class="drafts" href="/drafts" data-flux-patch="replace">drafts</a>
<button class="next" data-flux-action="next">next</button>
<button class="archive" data-flux-action="archive">archive</button>
<button class="fail" data-flux-action="fail">fail</button>
<p class="error" data-flux-error hidden></p>
<button class="menu" data-flux-do="toggle #menu; add-class.on; set-attr.aria-expanded.true">menu</button>
<ul id="menu" hidden><li>item</li></ul>
<button class="ping" data-flux-do="dispatch.inbox-ping; focus .q">ping</button>
<div class="hear" data-flux-action="opened" data-flux-on="inbox-ping.document">{{if .Open}}opened{{end}}</div>
<input class="q" name="q" data-flux-action="clear" data-flux-on="keydown.escape">
<button class="bad" data-flux-do="explode">bad</button>`))

func (b *Inbox) Render(_ context.Context, w io.Writer) error { return inboxView.Execute(w, b) }

// inboxServer serves pages (any path but the endpoint) that show an inbox
// for user ada at their URL.
func inboxServer(t *testing.T) (*fluxtest.Server, *liveflux.WebSocketHandler) {
	reg := liveflux.NewRegistry()
	reg.Register("inbox", func() liveflux.Component { return &Inbox{} })
	h := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg))
	mux := http.NewServeMux()
	mux.Handle("/liveflux", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html, err := h.Mount(r, "inbox", map[string]string{"user": "ada"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "<!doctype html><body>", html, liveflux.Script(liveflux.ClientOptions{UseWebSocket: true}), "</body>")
	})
	return fluxtest.Serve(t, mux), h
}

// URL state: a page shown at a URL renders it; patch links, a tagged
// field and PatchURL change the page's URL; Back and Forward bring the
// component back to each; over WebSocket and over HTTP.
func TestURLState(t *testing.T) {
	for _, httpOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("httpOnly=%v", httpOnly), func(t *testing.T) {
			srv, _ := inboxServer(t)
			var opts []fluxtest.Option
			if httpOnly {
				opts = append(opts, fluxtest.HTTPOnly())
			}
			c := srv.Client(t, opts...)
			v := c.Open("/inbox?page=2")[0]
			v.AssertText(".where", "ada: inbox page 2")
			v.Click(".sent")
			v.AssertText(".where", "ada: sent page 0")
			if got := c.URL(); got != "/sent" {
				t.Errorf("URL %q, want /sent", got)
			}
			v.Click(".next")
			v.AssertText(".where", "ada: sent page 1")
			if got := c.URL(); got != "/sent?page=1" {
				t.Errorf("URL %q, want /sent?page=1", got)
			}
			v.Click(".archive")
			v.AssertText(".where", "ada: archive page 0")
			v.Click(".drafts")
			v.AssertText(".where", "ada: drafts page 0")
			c.Back()
			v.AssertText(".where", "ada: sent page 1")
			c.Back()
			v.AssertText(".where", "ada: sent page 0")
			c.Forward()
			v.AssertText(".where", "ada: sent page 1")
			if got := c.URL(); got != "/sent?page=1" {
				t.Errorf("URL %q after Forward, want /sent?page=1", got)
			}
		})
	}
}

// Client commands change the page as the JS client does, and what they
// set stays through updates; dispatch reaches data-flux-on listeners;
// focus moves the focus, so that Escape in that field lets the server
// empty it; an action's error shows in data-flux-error until the next
// action; a command the client does not know fails the test.
func TestClientCommands(t *testing.T) {
	srv, _ := inboxServer(t)
	c := srv.Client(t)
	v := c.Open("/")[0]
	out := v.Click(".menu")
	if len(out.Sent) != 0 {
		t.Errorf("commands alone sent %v", out.Sent)
	}
	check := func(when string) {
		t.Helper()
		if _, hidden := v.Attr("#menu", "hidden"); hidden {
			t.Errorf("%s: the menu is hidden", when)
		}
		if cls, _ := v.Attr(".menu", "class"); cls != "menu on" {
			t.Errorf("%s: class %q", when, cls)
		}
		if x, _ := v.Attr(".menu", "aria-expanded"); x != "true" {
			t.Errorf("%s: aria-expanded %q", when, x)
		}
	}
	check("after the click")
	v.Click(".next")
	check("after an update")

	out = v.Click(".ping")
	if len(out.Sent) != 1 || out.Sent[0].Name != "opened" {
		t.Errorf("dispatch sent %v, want the listener's opened", out.Sent)
	}
	v.AssertText(".hear", "opened")
	v.Fill(".q", "typed")
	v.KeyDown(".q", "Escape")
	if got := v.Value(".q"); got != "" {
		t.Errorf("after Escape the field holds %q, want the server's empty value", got)
	}

	v.ExpectError(http.StatusConflict).Click(".fail")
	v.AssertText(".error", "nothing to archive")
	if _, hidden := v.Attr(".error", "hidden"); hidden {
		t.Error("the error region stays hidden")
	}
	v.Click(".next")
	v.AssertText(".error", "")
	if _, hidden := v.Attr(".error", "hidden"); !hidden {
		t.Error("the error region is shown after a successful action")
	}
}

// A sealed mount parameter reaches the page only sealed; when the server
// lost the instance, the page mounts it again with it.
func TestSealedParamsRemount(t *testing.T) {
	srv, h := inboxServer(t)
	c := srv.Client(t)
	v := c.Open("/")[0]
	if html := c.HTML(); strings.Contains(html, `"ada"`) {
		t.Fatalf("the page shows the sealed parameter: %s", html)
	}
	id := v.ID()
	h.Store().Delete(context.Background(), id)
	out := v.ExpectError(http.StatusNotFound).Click(".next")
	if !out.Remounted || v.ID() == id {
		t.Fatalf("not mounted again: %+v", out)
	}
	v.AssertText(".where", "ada: page 0") // the user came back from the sealed parameters
	c.ExpectError(http.StatusBadRequest).Mount("inbox", map[string]string{"user": "mallory"})
}
