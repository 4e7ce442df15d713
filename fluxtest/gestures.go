package fluxtest

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/net/html"
)

// A user's gestures on a View. Each one is what a browser does for it
// (events, default actions) with the JS client's listeners, so the client
// sends exactly the actions it would, over the transport it would. Each
// waits for the server's answers and returns what came of it; an action
// that fails fails the test, unless ExpectError said it must.

// Click clicks the element selector matches: a button or link with
// data-flux-action sends its action, a checkbox toggles, a submit button
// submits its form, a label clicks its control. It fails the test when the
// click sends no action (the markup names none, or names one only an
// element that does not get the click).
func (v *View) Click(selector string) *Outcome {
	v.c.t.Helper()
	return v.gesture("click on "+selector, true, selector, func(p *page, el *html.Node, d *dispatch) error {
		if isFocusable(el) {
			v.c.focused = el
		}
		p.click(el, false, d)
		return nil
	})
}

// Submit fills in the form selector matches (or the form of the element
// it matches) with values, by field name, then submits it as a browser
// does (required fields checked first). A name no field of the form has
// fails the test; a checkbox or radio button is checked when its value is
// given. It fails the test when the submission sends no action. To submit
// with a button, Click the button.
func (v *View) Submit(selector string, values map[string]string) *Outcome {
	v.c.t.Helper()
	return v.gesture("submit of "+selector, true, selector, func(p *page, el *html.Node, d *dispatch) error {
		form := el
		if tag(el) != "form" {
			if form = formOwner(el); form == nil {
				return fmt.Errorf("%s is not a form and is in none", describe(el))
			}
		}
		names := make([]string, 0, len(values))
		for n := range values {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			if err := fillByName(p, form, name, values[name]); err != nil {
				return err
			}
		}
		p.submit(form, nil, false, d)
		return nil
	})
}

// fillByName puts value into the field of form named name.
func fillByName(p *page, form *html.Node, name, value string) error {
	var fields []*html.Node
	for _, c := range formElements(form) {
		if attrOr(c, "name", "") == name && tag(c) != "button" && !(tag(c) == "input" && isButtonType(inputType(c))) {
			fields = append(fields, c)
		}
	}
	if len(fields) == 0 {
		return fmt.Errorf("%s has no field named %q", describe(form), name)
	}
	for _, f := range fields {
		if disabled(f) || hasAttr(f, "readonly") {
			return fmt.Errorf("%s is disabled or read-only: a user cannot fill it in", describe(f))
		}
		if isBox(f) {
			v, _ := p.value(f)
			if v == value {
				p.setChecked(f, true)
				return nil
			}
			continue
		}
		return p.fill(f, value)
	}
	return fmt.Errorf("%s has no checkbox or radio button %q with value %q", describe(form), name, value)
}

// Fill puts value into the field selector matches, as if the user had
// typed it or chosen it before, without the events typing sends (use
// Input or Change for those).
func (v *View) Fill(selector, value string) {
	v.c.t.Helper()
	v.gesture("fill of "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if err := userCanEdit(el); err != nil {
			return err
		}
		v.c.focused = el
		return p.fill(el, value)
	})
}

// Input types text into the field selector matches: its value becomes
// text and an input event fires (data-flux-on="input" sends).
func (v *View) Input(selector, text string) *Outcome {
	v.c.t.Helper()
	return v.gesture("input into "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if err := userCanEdit(el); err != nil {
			return err
		}
		v.c.focused = el
		if err := p.fill(el, text); err != nil {
			return err
		}
		p.fire(&event{typ: "input", target: el}, d)
		return nil
	})
}

// Change sets the value of the field selector matches and commits it: an
// input event, then a change event (data-flux-on="change" sends).
func (v *View) Change(selector, value string) *Outcome {
	v.c.t.Helper()
	return v.gesture("change of "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if err := userCanEdit(el); err != nil {
			return err
		}
		v.c.focused = el
		if err := p.fill(el, value); err != nil {
			return err
		}
		p.fire(&event{typ: "input", target: el}, d)
		p.fire(&event{typ: "change", target: el}, d)
		return nil
	})
}

// Select chooses the options with values in the select selector matches
// (exactly those), then an input and a change event fire.
func (v *View) Select(selector string, values ...string) *Outcome {
	v.c.t.Helper()
	return v.gesture("select in "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if tag(el) != "select" {
			return fmt.Errorf("%s is not a select", describe(el))
		}
		if err := userCanEdit(el); err != nil {
			return err
		}
		if err := p.fill(el, values); err != nil {
			return err
		}
		p.fire(&event{typ: "input", target: el}, d)
		p.fire(&event{typ: "change", target: el}, d)
		return nil
	})
}

// SetFiles puts files in the file input selector matches, then an input
// and a change event fire. A form's action sends them (over HTTP, as
// multipart), as the client does.
func (v *View) SetFiles(selector string, files ...File) *Outcome {
	v.c.t.Helper()
	return v.gesture("files for "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if err := userCanEdit(el); err != nil {
			return err
		}
		if err := p.fill(el, files); err != nil {
			return err
		}
		p.fire(&event{typ: "input", target: el}, d)
		p.fire(&event{typ: "change", target: el}, d)
		return nil
	})
}

// Check clicks the checkbox or radio button selector matches unless it
// is checked already; Uncheck clicks a checkbox unless it is not.
func (v *View) Check(selector string) *Outcome {
	v.c.t.Helper()
	return v.setBox(selector, true)
}

// Uncheck clicks the checkbox selector matches unless it is unchecked.
func (v *View) Uncheck(selector string) *Outcome {
	v.c.t.Helper()
	return v.setBox(selector, false)
}

func (v *View) setBox(selector string, on bool) *Outcome {
	v.c.t.Helper()
	return v.gesture("check of "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if !isBox(el) {
			return fmt.Errorf("%s is not a checkbox or radio button", describe(el))
		}
		if p.checked(el) != on {
			v.c.focused = el
			p.click(el, false, d)
		}
		return nil
	})
}

// Focus moves the focus to the element selector matches: focus and
// focusin fire.
func (v *View) Focus(selector string) *Outcome {
	v.c.t.Helper()
	return v.gesture("focus of "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		v.c.focused = el
		p.fire(&event{typ: "focus", target: el}, d)
		p.fire(&event{typ: "focusin", target: el}, d)
		return nil
	})
}

// Blur leaves the element selector matches: blur and focusout fire
// (data-flux-on="blur" sends; the field counts as touched).
func (v *View) Blur(selector string) *Outcome {
	v.c.t.Helper()
	return v.gesture("blur of "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if v.c.focused == el {
			v.c.focused = nil
		}
		p.fire(&event{typ: "blur", target: el}, d)
		p.fire(&event{typ: "focusout", target: el}, d)
		return nil
	})
}

// KeyDown presses key (a KeyboardEvent key: "Enter", "Escape", "a") on
// the element selector matches, with modifiers among "ctrl", "shift",
// "alt" and "meta". Enter in a form's text field submits the form, as
// browsers do.
func (v *View) KeyDown(selector, key string, modifiers ...string) *Outcome {
	v.c.t.Helper()
	return v.key("keydown", selector, key, modifiers)
}

// KeyUp releases key on the element selector matches (see KeyDown).
func (v *View) KeyUp(selector, key string, modifiers ...string) *Outcome {
	v.c.t.Helper()
	return v.key("keyup", selector, key, modifiers)
}

func (v *View) key(typ, selector, key string, modifiers []string) *Outcome {
	v.c.t.Helper()
	return v.gesture(typ+" "+key+" on "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		mods := map[string]bool{}
		for _, m := range modifiers {
			if !keyModifierNames[m] {
				return fmt.Errorf("unknown modifier %q: use ctrl, shift, alt or meta", m)
			}
			mods[m] = true
		}
		v.c.focused = el
		ev := &event{typ: typ, target: el, key: key, mods: mods}
		if p.fire(ev, d) || typ != "keydown" || key != "Enter" || len(mods) > 0 {
			return nil
		}
		p.implicitSubmit(el, d)
		return nil
	})
}

var keyModifierNames = map[string]bool{"ctrl": true, "shift": true, "alt": true, "meta": true}

// Trigger fires event on the element selector matches: any DOM event
// type, dispatched bubbling (but focus and blur), or "every" or "visible"
// to run the element's data-flux-on timer or visibility trigger once, as
// its timer or the browser's IntersectionObserver would.
func (v *View) Trigger(selector, eventType string) *Outcome {
	v.c.t.Helper()
	return v.gesture(eventType+" on "+selector, false, selector, func(p *page, el *html.Node, d *dispatch) error {
		if eventType == "every" || eventType == "visible" || eventType == "load" {
			if p.tick(el, eventType, d) == 0 {
				return fmt.Errorf("%s has no %q trigger", describe(el), eventType)
			}
			return nil
		}
		p.fire(&event{typ: eventType, target: el}, d)
		return nil
	})
}

// implicitSubmit is what Enter in a form field does: a click on the
// form's first submit button, or, without one, the form's submission when
// the field is its only text field.
func (p *page) implicitSubmit(el *html.Node, d *dispatch) {
	if tag(el) != "input" || !blocksImplicitSubmission(inputType(el)) {
		return
	}
	form := formOwner(el)
	if form == nil {
		return
	}
	var fields int
	for _, c := range formElements(form) {
		if isSubmitButton(c) {
			if !disabled(c) {
				p.click(c, false, d)
			}
			return
		}
		if tag(c) == "input" && blocksImplicitSubmission(inputType(c)) {
			fields++
		}
	}
	if fields == 1 {
		p.submit(form, nil, false, d)
	}
}

func blocksImplicitSubmission(t string) bool {
	switch t {
	case "text", "search", "url", "tel", "email", "password", "date", "month", "week", "time", "datetime-local", "number":
		return true
	}
	return false
}

func isFocusable(n *html.Node) bool {
	switch tag(n) {
	case "input", "select", "textarea", "button":
		return true
	case "a":
		return hasAttr(n, "href")
	}
	return false
}

// userCanEdit refuses fields a user cannot change.
func userCanEdit(el *html.Node) error {
	switch {
	case disabled(el):
		return fmt.Errorf("%s is disabled: a user cannot change it", describe(el))
	case hasAttr(el, "readonly") && tag(el) != "select":
		return fmt.Errorf("%s is read-only: a user cannot change it", describe(el))
	}
	return nil
}

// gesture runs do on the element selector matches, under the page's lock,
// then sends what the client sends and waits for the answers.
func (v *View) gesture(what string, mustSend bool, selector string, do func(*page, *html.Node, *dispatch) error) *Outcome {
	c := v.c
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	if c.navigated != "" {
		to := c.navigated
		c.mu.Unlock()
		c.fatalf(nil, "%s: the page has left for %s (a redirect); Open a page to go on", what, to)
	}
	el, why := v.find(selector)
	if el == nil {
		c.mu.Unlock()
		c.t.Fatalf("fluxtest: %s: %s", what, why)
	}
	d := &dispatch{}
	c.page.confirm = nil
	err := do(&c.page, el, d)
	c.signal()
	c.mu.Unlock()
	if err != nil {
		c.fatalf(v, "%s: %v", what, err)
	}
	if d.focus != nil {
		c.mu.Lock()
		c.focused = d.focus
		c.mu.Unlock()
	}
	for _, f := range d.fails {
		c.errorf(v, "%s: %s", what, f)
	}
	out := &Outcome{v: v, Asked: d.asked}
	defer c.follow(d)
	if len(d.sent) == 0 {
		switch {
		case d.ran && v.expect == nil:
		case d.invalid != nil:
			c.fatalf(v, "%s: %s", what, strings.Join(d.notes, "; "))
		case mustSend || v.expect != nil:
			why := strings.Join(d.notes, "\n\t")
			if d.navigates != "" {
				why += "\n\tthe browser then " + d.navigates
			}
			c.fatalf(v, "%s sends no action:\n\t%s", what, why)
		}
		return out
	}
	for _, s := range d.sent {
		one := &Outcome{v: v}
		c.send(s, one)
		out.Sent = append(out.Sent, one.Sent...)
		out.Transport = one.Transport
		out.Replies = append(out.Replies, one.Replies...)
		out.Events = append(out.Events, one.Events...)
		if one.Redirect != "" {
			out.Redirect = one.Redirect
		}
		out.Remounted = out.Remounted || one.Remounted
		if out.Status == 0 && one.Status != 0 {
			out.Status, out.Message = one.Status, one.Message
		}
	}
	c.settle()
	switch {
	case v.expect != nil && !v.expect.matches(out.Status):
		if out.Status == 0 {
			c.fatalf(v, "%s: action %q succeeded, want it to fail with %s", what, out.Sent[0].Name, v.expect)
		}
		c.fatalf(v, "%s: action %q failed with %d %s, want %s", what, out.Sent[0].Name, out.Status, out.Message, v.expect)
	case v.expect == nil && out.Status != 0:
		c.fatalf(v, "%s: action %q failed: %d %s", what, failedAction(out), out.Status, out.Message)
	}
	return out
}

func failedAction(o *Outcome) string {
	if len(o.Sent) == 0 {
		return ""
	}
	return o.Sent[len(o.Sent)-1].Name
}
