package fluxtest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/fluxtest"
)

// Mount a component by kind with params; read text, attributes, values.
func TestMountAndRead(t *testing.T) {
	t.Parallel()
	v := serve(t).Client(t).Mount("counter", map[string]string{"start": "5"})
	v.AssertText(".count", "5")
	v.AssertCount("button", 2)
	v.AssertAttr("button:first-of-type", "data-flux-action", "inc")
	if v.Kind() != "counter" || len(v.ID()) != 26 {
		t.Errorf("kind %q, id %q", v.Kind(), v.ID())
	}
	f := serve(t).Client(t).Mount("signup", nil)
	f.AssertValue("select", "free")
	f.Fill("input[name=name]", "Ada")
	f.AssertValue("input[name=name]", "Ada")
	if f.Checked("input[name=agree]") {
		t.Error("agree is checked before anyone checked it")
	}
}

// A mount that fails: the status and message the component chose.
func TestMountError(t *testing.T) {
	t.Parallel()
	c := serve(t).Client(t)
	c.ExpectError(http.StatusBadRequest).Mount("counter", map[string]string{"start": "many"})
	c.ExpectError(http.StatusNotFound).Mount("no such kind", nil)
}

// Clicks send actions over the socket, updates come back as diffs, and
// the page applies them.
func TestClickOverWebSocketWithDiffs(t *testing.T) {
	t.Parallel()
	c := serve(t).Client(t)
	v := c.Mount("counter", nil)
	for range 3 {
		if out := v.Click("button[data-flux-action=inc]"); out.Transport != "websocket" {
			t.Fatalf("sent over %s", out.Transport)
		}
	}
	v.AssertText(".count", "3")
	diffs := 0
	for _, m := range c.Messages() {
		if m.Type == liveflux.MessageUpdate && strings.Contains(string(m.Data), `"edits"`) {
			diffs++
		}
	}
	if diffs == 0 {
		t.Error("no diff update received: the client did not ask for diffs, or the server sent none")
	}
}

// A client of the protocol's first version gets full renderings.
func TestWithoutDiffs(t *testing.T) {
	t.Parallel()
	c := serve(t).Client(t, fluxtest.WithoutDiffs())
	v := c.Mount("counter", nil)
	v.Click("button[data-flux-action=inc]")
	v.AssertText(".count", "1")
	for _, m := range c.Messages() {
		if strings.Contains(string(m.Data), `"diff"`) {
			t.Fatalf("diff sent to a client that did not ask: %s", m.Raw)
		}
	}
}

// Forms: values by name, checkboxes, selects, the submitter; required
// fields keep the browser from submitting.
func TestSubmit(t *testing.T) {
	t.Parallel()
	v := serve(t).Client(t).Mount("signup", nil)
	out := v.Submit("form", map[string]string{"name": "Ada", "email": "ada@example.org", "plan": "pro", "agree": "yes"})
	v.AssertText(".saved", "Ada ada@example.org pro true")
	if got := out.Sent[0].Fields["liveflux_touched"]; len(got) != 4 {
		t.Errorf("liveflux_touched %q, want every field of the form", got)
	}
	v.Check("input[name=agree]")
	v.Click("button")
	v.AssertText(".saved", "Ada ada@example.org pro true")
}

// Files go over HTTP as multipart, as the client sends them, with the
// form's other fields.
func TestSubmitFiles(t *testing.T) {
	t.Parallel()
	reg := liveflux.NewRegistry()
	reg.Register("upload", func() liveflux.Component { return &Upload{} })
	v := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg), quiet)).Client(t).Mount("upload", nil)
	v.SetFiles("input[type=file]", fluxtest.File{Name: "notes.txt", ContentType: "text/plain", Content: []byte("hello")})
	out := v.Click("button")
	if out.Transport != "http" || len(out.Sent[0].Files["doc"]) != 1 || out.Sent[0].Files["doc"][0].Name != "notes.txt" {
		t.Errorf("sent over %s: %+v, want the file over http", out.Transport, out.Sent)
	}
	v.AssertText("p", "with a file")
}

// Validation on blur: data-flux-on="blur" sends with the touched fields.
func TestBlurTrigger(t *testing.T) {
	t.Parallel()
	v := serve(t).Client(t).Mount("signup", nil)
	v.Fill("input[name=email]", "nope")
	out := v.Blur("input[name=email]")
	if len(out.Sent) != 1 || out.Sent[0].Name != "validate" || liveflux.Trigger(out.Sent[0].Fields) != "email" {
		t.Fatalf("blur sent %+v", out.Sent)
	}
	v.AssertText(".error", "not an email address")
}

// Errors with status, and redirects.
func TestErrorsAndRedirects(t *testing.T) {
	t.Parallel()
	reg := liveflux.NewRegistry()
	reg.Register("buttons", func() liveflux.Component {
		return &Markup{HTML: `<button data-flux-action="forbidden">x</button><button data-flux-action="leave">go</button>`}
	})
	for _, httpOnly := range []bool{false, true} {
		var opts []fluxtest.Option
		if httpOnly {
			opts = append(opts, fluxtest.HTTPOnly())
		}
		srv := fluxtest.Serve(t, liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(reg), quiet))
		c := srv.Client(t, opts...)
		v := c.Mount("buttons", nil)
		out := v.ExpectError(http.StatusForbidden).Click("button[data-flux-action=forbidden]")
		if out.Message != "not yours" {
			t.Errorf("message %q", out.Message)
		}
		v.Click("button[data-flux-action=leave]").AssertRedirect("/done")
		if c.Navigated() != "/done" {
			t.Errorf("navigated to %q", c.Navigated())
		}
	}
}

// A WebSocketComponent's HandleWS reply reaches the acting client.
func TestHandleWSReply(t *testing.T) {
	t.Parallel()
	v := serve(t).Client(t).Mount("echo", nil)
	out := v.Click("button")
	out.AssertReply(map[string]any{"type": "echo", "data": map[string]any{"text": "hi"}})
	var reply struct{ Data struct{ Text string } }
	out.Reply(&reply)
	if reply.Data.Text != "hi" {
		t.Errorf("reply %+v", reply)
	}
}

// Broadcast payloads reach every client watching.
func TestBroadcast(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	c := srv.Client(t)
	v := c.Mount("counter", nil)
	payload := map[string]any{"type": "notice", "text": "deployed"}
	if err := srv.Handler.Broadcast(v.ID(), payload); err != nil {
		t.Fatal(err)
	}
	c.AssertReceived(payload)
	m := c.WaitMessage("a notice", func(m fluxtest.Message) bool { return m.Type == "notice" })
	var got struct{ Text string }
	if err := json.Unmarshal(m.Raw, &got); err != nil || got.Text != "deployed" {
		t.Errorf("%s: %v", m.Raw, err)
	}
}

// The focused field keeps what the user typed through updates that
// answer typing, and takes the server's value after a submit: a message
// box is emptied once sent (Enter submits its form, as in browsers).
func TestFocusedField(t *testing.T) {
	t.Parallel()
	for _, opts := range [][]fluxtest.Option{nil, {fluxtest.HTTPOnly()}} {
		v := serve(t).Client(t, opts...).Mount("chat", nil)
		v.Fill("input[name=msg]", "hello")
		v.KeyDown("input[name=msg]", "Enter")
		v.AssertText("li", "hello")
		v.AssertValue("input[name=msg]", "")
		v.Input("input[name=q]", "go")
		v.AssertText(".query", "go")
		v.AssertValue("input[name=q]", "go") // not the server's "go (server)"
		v.Blur("input[name=q]")
		v.Click("button")
		v.AssertValue("input[name=q]", "go (server)")
	}
}

// load sends once, when the element appears (not again after updates,
// which keep the element); every and visible run when the test says;
// .changed remembers the value it last sent through updates.
func TestLoadEveryChangedTriggers(t *testing.T) {
	t.Parallel()
	v := serve(t).Client(t).Mount("poll", nil)
	v.AssertText(".count", "1")
	v.Trigger("span", "every")
	v.AssertText(".count", "2")
	v.Input("input", "a")
	v.KeyUp("input", "a")
	v.AssertText(".count", "3")
	if out := v.KeyUp("input", "Shift"); len(out.Sent) != 0 {
		t.Errorf("keyup.changed sent %+v with the value unchanged", out.Sent)
	}
	v.AssertText(".count", "3")
}
