package fluxtest

import (
	"fmt"
	"sort"

	"golang.org/x/net/html"
)

// page is a document as a browser shows it: the markup, what the user
// changed in its controls, and what a DOM event does there, default
// actions included (a click toggles a checkbox, activates a label's
// control, submits a form after checking its required fields). The
// client's listeners (rules.go) run where a browser would run them.
type page struct {
	doc *html.Node
	controls
	bindings map[*html.Node]*binding    // data-flux-on, by element
	touched  map[*html.Node][]string    // the fields touched, by form, in order
	confirm  func(question string) bool // answers data-flux-confirm; nil: yes
	// sticky: what client commands set, by element (see setSticky).
	sticky map[*html.Node]map[string]*string
}

// event is one DOM event.
type event struct {
	typ       string
	target    *html.Node
	submitter *html.Node      // submit events: the button that submitted
	key       string          // keyboard events
	mods      map[string]bool // modifier keys held: ctrl, shift, alt, meta
	// defaultPrevented: a page handler that ran before the client's
	// listener prevented the default (the client then leaves the event).
	defaultPrevented bool
	stopped          bool // a listener stopped its propagation
}

// bubbles reports whether events of type typ reach a listener on document
// in the bubbling phase.
func bubbles(typ string) bool {
	switch typ {
	case "focus", "blur", "mouseenter", "mouseleave", "load", "scroll":
		return false
	}
	return true
}

// sent is one action the client sends.
type sent struct {
	root    *html.Node // the component's root
	carrier *html.Node // the element that named the action
	event   string
	action  string
	fields  *fieldList
	files   []entry // sent as multipart, over HTTP
	live    bool    // sent while the user types (see trigger)
}

// dispatch is what one user gesture made the client do: the actions it
// sent, and notes saying why it sent nothing where it did not, or what the
// browser did instead (a native form submission, a refused one).
type dispatch struct {
	sent  []sent
	notes []string
	// navigates is set when the browser would leave the page: a form
	// submitted without the client, a link followed.
	navigates string
	// invalid is the control that kept a form from being submitted.
	invalid *html.Node
	// asked are the data-flux-confirm questions the user was asked.
	asked []string
	// ran: client commands ran, or a link changed the URL or the page,
	// so the gesture did something without an action.
	ran bool
	// focus is the element a command focused; fails, the commands that
	// could not run (the client reports them as liveflux:error).
	focus *html.Node
	fails []string
	// patch is the URL a data-flux-patch link changes the page's to
	// (replace: without a new history entry); visit, the page a link
	// loads without a reload.
	patch, visit string
	replace      bool
}

func (d *dispatch) notef(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

func (d *dispatch) failf(format string, args ...any) {
	d.fails = append(d.fails, fmt.Sprintf(format, args...))
}

// fire dispatches ev to the client's listeners in the order a browser
// calls them, and reports whether its default was prevented, by a page
// handler or by the client: the capturing listeners on document (which
// note touched fields), the data-flux-on triggers of the target and, for
// an event that bubbles, of its ancestors, then the listeners on document
// (the default ones first, installed at start) and on window.
func (p *page) fire(ev *event, d *dispatch) bool {
	p.bind(d)
	for _, typ := range touchEvents {
		if typ == ev.typ {
			p.touch(ev)
		}
	}
	type at struct {
		el *html.Node
		t  *boundTrigger
	}
	var onDocument, onWindow []at
	for el, b := range p.bindings {
		for _, t := range b.triggers {
			if t.event != ev.typ {
				continue
			}
			switch {
			case t.flags["window"]:
				onWindow = append(onWindow, at{el, t})
			case t.flags["document"]:
				onDocument = append(onDocument, at{el, t})
			}
		}
	}
	for n := ev.target; n != nil && !ev.stopped; n = n.Parent {
		if n != ev.target && !bubbles(ev.typ) {
			break
		}
		if b := p.bindings[n]; b != nil {
			for _, t := range b.triggers {
				if t.event == ev.typ && !t.flags["window"] && !t.flags["document"] {
					p.fireTrigger(n, t, ev, d)
				}
			}
		}
	}
	if ev.stopped || !bubbles(ev.typ) {
		return ev.defaultPrevented
	}
	for _, r := range compiledRules {
		if r.event == ev.typ {
			p.listenDefault(r, ev, d)
		}
	}
	p.followLink(ev, d)
	sortByDocument(p.doc, onDocument, func(a at) *html.Node { return a.el })
	sortByDocument(p.doc, onWindow, func(a at) *html.Node { return a.el })
	for _, a := range onDocument {
		if !ev.stopped {
			p.fireTrigger(a.el, a.t, ev, d)
		}
	}
	for _, a := range onWindow {
		if !ev.stopped {
			p.fireTrigger(a.el, a.t, ev, d)
		}
	}
	return ev.defaultPrevented
}

// sortByDocument sorts xs by the document order of their elements (the
// order bind set their listeners up in).
func sortByDocument[T any](doc *html.Node, xs []T, el func(T) *html.Node) {
	if len(xs) < 2 {
		return
	}
	order := map[*html.Node]int{}
	i := 0
	for n := range doc.Descendants() {
		order[n] = i
		i++
	}
	sort.SliceStable(xs, func(a, b int) bool { return order[el(xs[a])] < order[el(xs[b])] })
}

// click is a user's click on target (HTMLElement.click()): the click event
// and its default action.
func (p *page) click(target *html.Node, pagePrevents bool, d *dispatch) {
	if t := tag(target); (t == "button" || t == "input" || t == "select" || t == "textarea") && disabled(target) {
		d.notef("click on %s: it is disabled, so browsers send no click", describe(target))
		return
	}
	act := activationTarget(target)
	// Legacy pre-activation: a box changes before the listeners run, and
	// changes back when the click is canceled.
	var restore func()
	changed := false
	if isBox(act) {
		group := []*html.Node{act}
		if inputType(act) == "radio" {
			group = radioGroup(act)
		}
		saved := make([]*bool, len(group))
		for i, n := range group {
			if c := p.state[n]; c != nil {
				saved[i] = c.checked
			}
		}
		was := p.checked(act)
		restore = func() {
			for i, n := range group {
				p.of(n).checked = saved[i]
			}
		}
		if inputType(act) == "checkbox" {
			p.setChecked(act, !was)
			changed = true
		} else {
			p.setChecked(act, true)
			changed = !was
		}
	}
	if p.fire(&event{typ: "click", target: target, defaultPrevented: pagePrevents}, d) {
		if restore != nil {
			restore()
		}
		return
	}
	// Activation behavior.
	switch {
	case isBox(act):
		if changed {
			p.fire(&event{typ: "input", target: act}, d)
			p.fire(&event{typ: "change", target: act}, d)
		}
	case isSubmitButton(act):
		if form := formOwner(act); form != nil {
			p.submit(form, act, false, d)
		}
	case tag(act) == "button" && typeOf(act) == "reset", tag(act) == "input" && inputType(act) == "reset":
		if form := formOwner(act); form != nil {
			p.reset(form)
		}
	case tag(act) == "label":
		if ctl := labeledControl(act); ctl != nil && !contains(ctl, target) {
			p.click(ctl, false, d)
		}
	case tag(act) == "a" && hasAttr(act, "href"):
		d.navigates = "follows the link to " + attrOr(act, "href", "")
	}
}

// activationTarget returns the element whose activation behavior a click on
// target runs: target or its nearest ancestor that has one.
func activationTarget(target *html.Node) *html.Node {
	for n := target; n != nil; n = n.Parent {
		switch tag(n) {
		case "input", "button", "label":
			return n
		case "a", "area":
			if hasAttr(n, "href") {
				return n
			}
		}
	}
	return target
}

// submit submits form as a browser does when submitter is activated, or
// as form.requestSubmit(submitter) does: the required fields are checked
// (unless novalidate or formnovalidate), then the submit event is fired;
// when nobody prevents it, the browser navigates.
func (p *page) submit(form, submitter *html.Node, pagePrevents bool, d *dispatch) {
	noValidate := hasAttr(form, "novalidate") || (submitter != nil && hasAttr(submitter, "formnovalidate"))
	if !noValidate {
		if n := p.invalid(form); n != nil {
			d.invalid = n
			d.notef("the browser does not submit %s: %s is required and has no value", describe(form), describe(n))
			return
		}
	}
	if !p.fire(&event{typ: "submit", target: form, submitter: submitter, defaultPrevented: pagePrevents}, d) {
		d.navigates = "submits " + describe(form) + " without the client"
	}
}

// requestSubmit is form.requestSubmit(submitter).
func (p *page) requestSubmit(form, submitter *html.Node, pagePrevents bool, d *dispatch) error {
	if tag(form) != "form" {
		return fmt.Errorf("%s is not a form", describe(form))
	}
	if submitter != nil && (!isSubmitButton(submitter) || formOwner(submitter) != form) {
		return fmt.Errorf("%s is not a submit button of %s", describe(submitter), describe(form))
	}
	p.submit(form, submitter, pagePrevents, d)
	return nil
}

// fill puts v into control n as a user would: a string into a text field
// or a drop-down (the option with that value), a bool into a checkbox or
// radio button, strings into a multiple select (exactly those options) or
// a file input (files of those names), Files into a file input.
func (p *page) fill(n *html.Node, v any) error {
	switch {
	case isBox(n):
		on, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s is a %s: give it true or false, not %v", describe(n), inputType(n), v)
		}
		p.setChecked(n, on)
	case tag(n) == "select":
		var vals []string
		switch v := v.(type) {
		case string:
			vals = []string{v}
		case []string:
			vals = v
		default:
			return fmt.Errorf("%s is a select: give it an option's value, not %v", describe(n), v)
		}
		if len(vals) > 1 && !hasAttr(n, "multiple") {
			return fmt.Errorf("%s takes one value, not %q", describe(n), vals)
		}
		if missing := p.selectValues(n, vals); len(missing) > 0 {
			return fmt.Errorf("%s has no option with value %q", describe(n), missing)
		}
	case tag(n) == "input" && inputType(n) == "file":
		var files []File
		switch v := v.(type) {
		case []File:
			files = v
		case []string:
			for _, name := range v {
				files = append(files, File{Name: name, ContentType: "application/octet-stream"})
			}
		default:
			return fmt.Errorf("%s is a file input: give it files, not %v", describe(n), v)
		}
		if len(files) > 1 && !hasAttr(n, "multiple") {
			return fmt.Errorf("%s takes one file, not %d", describe(n), len(files))
		}
		p.of(n).files = files
	case tag(n) == "textarea" || (tag(n) == "input" && !isButtonType(inputType(n))):
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s takes text, not %v", describe(n), v)
		}
		p.setValue(n, s)
	default:
		return fmt.Errorf("%s is not a field a user can fill in", describe(n))
	}
	return nil
}

func isButtonType(t string) bool {
	return t == "submit" || t == "image" || t == "reset" || t == "button"
}
