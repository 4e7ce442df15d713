package fluxtest

import (
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// View is one component a Client's page shows: read its rendering, act
// on it as a user, assert what it shows. A View follows its component
// through updates and through a re-mount (when the server lost the
// instance, its ID changes).
//
// Selectors are CSS selectors, matched inside the component's root (the
// root itself excluded), as root.querySelectorAll does. Methods that act
// on or read one element fail the test unless the selector matches exactly
// one, and show the rendering around where the selector stopped matching.
type View struct {
	c      *Client
	root   *html.Node
	expect *expectation
	frozen bool // read without settling (inside WaitFor)
}

// ID returns the instance's ID.
func (v *View) ID() string { return v.attr(attrID) }

// Kind returns the component's kind.
func (v *View) Kind() string { return v.attr(attrKind) }

// Rev returns the revision of the rendering shown.
func (v *View) Rev() uint64 {
	v.read()
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return revOf(v.root)
}

func (v *View) attr(name string) string {
	v.read()
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return attrOr(v.root, name, "")
}

// read brings the page up to date before a read.
func (v *View) read() {
	v.c.t.Helper()
	if !v.frozen {
		v.c.settle()
	}
}

// HTML returns the rendering shown, root included.
func (v *View) HTML() string {
	v.c.t.Helper()
	v.read()
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return outerHTML(v.root)
}

// ExpectError returns v for one gesture whose action must fail with
// status (0: any failure); the gesture then fails the test if it
// succeeds.
func (v *View) ExpectError(status int) *View {
	return &View{c: v.c, root: v.root, expect: &expectation{status: status}}
}

// find returns the one element selector matches. c.mu is held.
func (v *View) find(selector string) (*html.Node, string) {
	sel, err := compile(selector)
	if err != nil {
		return nil, err.Error()
	}
	found := queryAll(v.root, sel)
	switch len(found) {
	case 1:
		return found[0], ""
	case 0:
		return nil, fmt.Sprintf("no element matches %q in component %s; %s", selector, attrOr(v.root, attrKind, ""), v.c.context(v.root, selector))
	}
	var b strings.Builder
	for i, n := range found {
		if i == 5 {
			fmt.Fprintf(&b, "\t… and %d more\n", len(found)-5)
			break
		}
		b.WriteString("\t" + describe(n) + "\n")
	}
	return nil, fmt.Sprintf("%q matches %d elements in component %s, want one:\n%s", selector, len(found), attrOr(v.root, attrKind, ""), b.String())
}

// element returns the one element selector matches, failing the test
// otherwise.
func (v *View) element(selector string) *html.Node {
	v.c.t.Helper()
	v.c.mu.Lock()
	n, why := v.find(selector)
	v.c.mu.Unlock()
	if n == nil {
		v.c.t.Fatalf("fluxtest: %s", why)
	}
	return n
}

// Text returns the text of the element selector matches (of the whole
// component for ""), with white space collapsed.
func (v *View) Text(selector string) string {
	v.c.t.Helper()
	v.read()
	n := v.root
	if selector != "" {
		n = v.element(selector)
	}
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return collapse(textContent(n))
}

// Attr returns an attribute of the element selector matches, and whether
// it has it.
func (v *View) Attr(selector, name string) (string, bool) {
	v.c.t.Helper()
	v.read()
	n := v.element(selector)
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return getAttr(n, name)
}

// Value returns the value of the control selector matches, as the page
// shows it: what the user typed or chose, else what the markup says.
func (v *View) Value(selector string) string {
	v.c.t.Helper()
	v.read()
	n := v.element(selector)
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	s, ok := v.c.page.value(n)
	if !ok {
		s = attrOr(n, "value", "")
	}
	return s
}

// Checked reports whether the checkbox or radio button selector matches
// is checked.
func (v *View) Checked(selector string) bool {
	v.c.t.Helper()
	v.read()
	n := v.element(selector)
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return v.c.page.checked(n)
}

// Count returns how many elements selector matches.
func (v *View) Count(selector string) int {
	v.c.t.Helper()
	v.read()
	sel, err := compile(selector)
	if err != nil {
		v.c.t.Fatalf("fluxtest: %v", err)
	}
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return len(queryAll(v.root, sel))
}

// AssertText fails the test unless the text of the element selector
// matches (white space collapsed) is want.
func (v *View) AssertText(selector, want string) {
	v.c.t.Helper()
	if got := v.Text(selector); got != want {
		v.c.t.Errorf("%s", v.c.message(v, selector, "text of %q is %q, want %q", selector, got, want))
	}
}

// AssertSee fails the test unless the component's text (white space
// collapsed) contains text.
func (v *View) AssertSee(text string) {
	v.c.t.Helper()
	if got := v.Text(""); !strings.Contains(got, collapse(text)) {
		v.c.errorf(v, "the component does not show %q", text)
	}
}

// AssertNotSee fails the test if the component's text contains text.
func (v *View) AssertNotSee(text string) {
	v.c.t.Helper()
	if got := v.Text(""); strings.Contains(got, collapse(text)) {
		v.c.errorf(v, "the component shows %q", text)
	}
}

// AssertCount fails the test unless selector matches n elements.
func (v *View) AssertCount(selector string, n int) {
	v.c.t.Helper()
	if got := v.Count(selector); got != n {
		v.c.t.Errorf("%s", v.c.message(v, selector, "%q matches %d elements, want %d", selector, got, n))
	}
}

// AssertAttr fails the test unless the element selector matches has
// attribute name with value want.
func (v *View) AssertAttr(selector, name, want string) {
	v.c.t.Helper()
	got, ok := v.Attr(selector, name)
	if !ok || got != want {
		v.c.t.Errorf("%s", v.c.message(v, selector, "attribute %s of %q is %q (present: %v), want %q", name, selector, got, ok, want))
	}
}

// AssertValue fails the test unless the control selector matches has
// value want.
func (v *View) AssertValue(selector, want string) {
	v.c.t.Helper()
	if got := v.Value(selector); got != want {
		v.c.t.Errorf("%s", v.c.message(v, selector, "value of %q is %q, want %q", selector, got, want))
	}
}

// WaitText waits until the text of the element selector matches is want:
// for updates the server pushes at its own pace (a Refresh from a
// goroutine, another node through a backplane).
func (v *View) WaitText(selector, want string) {
	v.c.t.Helper()
	v.WaitFor(fmt.Sprintf("text of %q to be %q", selector, want), func(w *View) bool {
		w.c.mu.Lock()
		defer w.c.mu.Unlock()
		sel, err := compile(selector)
		if err != nil {
			return false
		}
		found := queryAll(w.root, sel)
		return len(found) == 1 && collapse(textContent(found[0])) == want
	})
}

// WaitFor waits until cond holds, checking it each time the page changes,
// for at most the client's timeout; what says what it waits for in the
// failure message. cond reads the view as it is (v's methods do not wait
// for the server inside it).
func (v *View) WaitFor(what string, cond func(*View) bool) {
	v.c.t.Helper()
	c := v.c
	frozen := &View{c: c, root: v.root, frozen: true}
	deadline := time.NewTimer(c.cfg.timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		c.handleLost()
		c.scan()
		if cond(frozen) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			if cond(frozen) {
				return
			}
			c.fatalf(v, "waited %v for %s", c.cfg.timeout, what)
		}
	}
}
