package fluxtest

import (
	"strconv"
	"strings"

	"github.com/andybalholm/cascadia"
	"github.com/go-liveflux/liveflux"
	"golang.org/x/net/html"
)

// The client's rules: which DOM events make the JS client (js/triggers.js,
// js/actions.js, js/grammar.js) send an action, which element names it,
// which component runs it and with which fields. The default listeners
// are rows of a table and the trigger grammar is data (its flags and key
// aliases), so that what the client gains is a row or an entry here. The
// cases in testdata/client/actions.json, which the client's own tests
// replay too, check both sides against one source.

// A defaultRule is one of the listeners the client installs on document
// for elements without data-flux-on.
type defaultRule struct {
	event string // the DOM event type listened to
	// carrier selects the element that sends: with closest, the event
	// target's nearest ancestor-or-self matching it; without, the target
	// itself when it matches.
	carrier string
	what    string // the carrier, as a failure names it
	closest bool
	// skip: a carrier matching it is left alone.
	skip string
	// keepDefault: a carrier matching it keeps the event's default action
	// (a checkbox keeps its new state); the client prevents every other.
	keepDefault string
}

var defaultRules = []defaultRule{
	{
		event:       "click",
		carrier:     "[" + attrAction + "]" + live + ", [" + liveflux.AttrDo + "]" + live,
		what:        "[" + attrAction + "]",
		closest:     true,
		skip:        "form, [" + attrOn + "]",
		keepDefault: boxSelector,
	},
	{
		event:   "submit",
		carrier: "form[" + attrAction + "]:not([" + attrOn + "])" + live + ", form[" + liveflux.AttrDo + "]:not([" + attrOn + "])" + live,
		what:    "form[" + attrAction + "]:not([" + attrOn + "])",
	},
}

// touchEvents are the events after which the client counts a form field
// as touched (liveflux_touched).
var touchEvents = []string{"input", "change", "blur"}

// boxSelector matches what the client calls a box (el.type is checkbox or
// radio): it keeps its new state when clicked, and sends its own field
// only when checked.
const boxSelector = `input[type=checkbox i], input[type=radio i]`

// The trigger grammar of data-flux-on (js/grammar.js).
var (
	// triggerFlags are the modifiers that are flags.
	triggerFlags = map[string]bool{"changed": true, "once": true, "prevent": true, "stop": true, "window": true,
		"document": true, "ctrl": true, "shift": true, "alt": true, "meta": true}
	// keyModifiers are the flags a key filter checks.
	keyModifiers = []string{"ctrl", "shift", "alt", "meta"}
	// keyAliases name keys whose KeyboardEvent.key is awkward in markup.
	keyAliases = map[string]string{"space": " ", "esc": "escape"}
)

// Defaults of the grammar, in ms.
const (
	defaultWait  = 300
	defaultEvery = 2000
)

// A trigger is one entry of data-flux-on: an event and its modifiers.
type trigger struct {
	event              string
	debounce, throttle int // ms; 0: none
	every              int // ms, for the "every" event
	key                string
	flags              map[string]bool
}

// parseTriggers parses data-flux-on as js/grammar.js parseTriggers does.
func parseTriggers(spec string) []trigger {
	var out []trigger
	for _, part := range strings.Split(spec, ",") {
		words := strings.Split(strings.TrimSpace(part), ".")
		if words[0] == "" {
			continue
		}
		t := trigger{event: words[0], flags: map[string]bool{}}
		mods := words[1:]
		if t.event == "every" {
			t.every = defaultEvery
			if len(mods) > 0 {
				if d, ok := parseDuration(mods[0]); ok && d > 0 {
					t.every = d
				}
			}
		}
		for i := 0; i < len(mods); i++ {
			m := mods[i]
			switch {
			case m == "debounce" || m == "throttle":
				d := defaultWait
				if i+1 < len(mods) {
					if x, ok := parseDuration(mods[i+1]); ok {
						d = x
						i++
					}
				}
				if m == "debounce" {
					t.debounce = d
				} else {
					t.throttle = d
				}
			case triggerFlags[m]:
				t.flags[m] = true
			default:
				if _, ok := parseDuration(m); m != "" && !ok {
					t.key = strings.ToLower(m)
				}
			}
		}
		out = append(out, t)
	}
	return out
}

// parseDuration reads "300ms" or "2s" as ms.
func parseDuration(s string) (int, bool) {
	num, unit := strings.TrimSuffix(s, "ms"), 1
	if num == s {
		num, unit = strings.TrimSuffix(s, "s"), 1000
		if num == s {
			return 0, false
		}
	}
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n * unit, err == nil
}

// keyMatches reports whether ev passes t's key filter: with a key, the
// modifier keys held must be exactly those listed; without one, those
// listed must be held.
func keyMatches(t trigger, ev *event) bool {
	if t.key == "" {
		for _, m := range keyModifiers {
			if t.flags[m] && !ev.mods[m] {
				return false
			}
		}
		return true
	}
	k := t.key
	if a, ok := keyAliases[k]; ok {
		k = a
	}
	if k != strings.ToLower(ev.key) {
		return false
	}
	for _, m := range keyModifiers {
		if t.flags[m] != ev.mods[m] {
			return false
		}
	}
	return true
}

// A binding is what the client set up for one element's data-flux-on.
type binding struct {
	spec     string
	triggers []*boundTrigger
}

type boundTrigger struct {
	trigger
	last     string // el.value when bound, for .changed
	hasValue bool
	done     bool // sent once, for .once
}

// Compiled selectors.
var (
	selRoot        = mustCompile("[" + attrKind + "][" + attrID + "]" + live)
	selPlaceholder = mustCompile("[" + attrKind + "]:not([" + attrID + "])" + live)
	selLive        = mustCompile(live)
	selOn          = mustCompile("[" + attrOn + "]")
	selBox         = mustCompile(boxSelector)
	selControls    = mustCompile("input, select, textarea")
	selSecret      = mustCompile("input[type=password i], input[type=hidden i]")
	compiledRules  = compileRules(defaultRules)
	formFieldNames = map[string]bool{"button": true, "fieldset": true, "input": true, "object": true, "output": true, "select": true, "textarea": true}
)

type compiledRule struct {
	defaultRule
	carrier, skip, keepDefault cascadia.Matcher
}

func compileRules(rules []defaultRule) []compiledRule {
	out := make([]compiledRule, len(rules))
	for i, r := range rules {
		out[i] = compiledRule{defaultRule: r, carrier: mustCompile(r.carrier)}
		if r.skip != "" {
			out[i].skip = mustCompile(r.skip)
		}
		if r.keepDefault != "" {
			out[i].keepDefault = mustCompile(r.keepDefault)
		}
	}
	return out
}

// bind sets up the triggers of live elements (isLive) whose data-flux-on
// is new or changed, and forgets elements that are no longer live, as
// js/triggers.js bind does; a load trigger sends as it is set up.
func (p *page) bind(d *dispatch) {
	if p.bindings == nil {
		p.bindings = map[*html.Node]*binding{}
	}
	for el := range p.bindings {
		if !contains(p.doc, el) || !isLive(el) {
			delete(p.bindings, el)
		}
	}
	for _, el := range queryAll(p.doc, selOn) {
		spec, _ := getAttr(el, attrOn)
		if b := p.bindings[el]; (b != nil && b.spec == spec) || !isLive(el) {
			continue
		}
		b := &binding{spec: spec}
		v, ok := p.value(el)
		for _, t := range parseTriggers(spec) {
			b.triggers = append(b.triggers, &boundTrigger{trigger: t, last: v, hasValue: ok})
		}
		p.bindings[el] = b
		for _, t := range b.triggers {
			if t.event == "load" {
				p.fireTrigger(el, t, nil, d)
			}
		}
	}
}

// tick fires the triggers of el (every one on the page when nil) for
// event, "every" or "visible": what a timer or an IntersectionObserver
// does in a browser.
func (p *page) tick(el *html.Node, event string, d *dispatch) int {
	p.bind(d)
	n := 0
	for _, x := range queryAll(p.doc, selOn) {
		if (el != nil && x != el) || p.bindings[x] == nil {
			continue
		}
		for _, t := range p.bindings[x].triggers {
			if t.event == event {
				p.fireTrigger(x, t, nil, d)
				n++
			}
		}
	}
	return n
}

// fireTrigger runs trigger t of el for ev (nil for load, every, visible),
// as the listener js/triggers.js listen sets up does.
func (p *page) fireTrigger(el *html.Node, t *boundTrigger, ev *event, d *dispatch) {
	if !contains(p.doc, el) || !isLive(el) {
		return
	}
	if ev != nil {
		if ev.defaultPrevented {
			d.notef("%s on %s: a handler prevented its default, so the trigger %q of %s does not send", ev.typ, describe(ev.target), t.event, describe(el))
			return
		}
		if !keyMatches(t.trigger, ev) {
			d.notef("%s with key %q on %s: not the key trigger %q of %s waits for", ev.typ, ev.key, describe(ev.target), t.key, describe(el))
			return
		}
		if t.flags["prevent"] || ev.typ == "submit" || (ev.typ == "click" && !selBox.Match(el)) {
			ev.defaultPrevented = true
		}
		if t.flags["stop"] {
			ev.stopped = true
		}
	}
	if t.flags["changed"] {
		v, ok := p.value(el)
		if v == t.last && ok == t.hasValue {
			d.notef("the trigger %q of %s sends only when its value changed, and it is still %q", t.event, describe(el), v)
			return
		}
		t.last, t.hasValue = v, ok
	}
	// Timers are not simulated: a debounced or throttled trigger sends at
	// once, as after the user paused.
	if t.flags["once"] && t.done {
		d.notef("the trigger %q of %s sends once, and it did", t.event, describe(el))
		return
	}
	t.done = true
	p.trigger(el, ev, t.key != "", d)
}

// listenDefault runs default listener r for ev.
func (p *page) listenDefault(r compiledRule, ev *event, d *dispatch) {
	var el *html.Node
	if r.closest {
		el = closest(ev.target, r.carrier)
	} else if ev.target.Type == html.ElementNode && r.carrier.Match(ev.target) {
		el = ev.target
	}
	switch {
	case el == nil:
		d.notef("%s on %s: no %s there%s", ev.typ, describe(ev.target), r.defaultRule.what, map[bool]string{true: " or above", false: ""}[r.closest])
		return
	case r.skip != nil && r.skip.Match(el):
		if !hasAttr(el, attrOn) {
			d.notef("%s on %s: %s does not send on %s", ev.typ, describe(ev.target), describe(el), ev.typ)
		}
		return
	case ev.defaultPrevented:
		d.notef("%s on %s: a handler prevented its default, so the client leaves it", ev.typ, describe(ev.target))
		return
	case !isLive(el):
		d.notef("%s on %s: %s is in no component: markup outside components never sends", ev.typ, describe(ev.target), describe(el))
		return
	}
	if r.keepDefault == nil || !r.keepDefault.Match(el) {
		ev.defaultPrevented = true
	}
	p.trigger(el, ev, false, d)
}

// touch notes that the user touched the form field ev is about.
func (p *page) touch(ev *event) {
	c := ev.target
	if !formFieldNames[tag(c)] {
		return
	}
	f, name := formOwner(c), attrOr(c, "name", "")
	if f == nil || name == "" {
		return
	}
	if p.touched == nil {
		p.touched = map[*html.Node][]string{}
	}
	for _, n := range p.touched[f] {
		if n == name {
			return
		}
	}
	p.touched[f] = append(p.touched[f], name)
}

// trigger runs el's commands and sends its action for ev (js/actions.js
// trigger; keyed: the trigger names a key): once the user accepted
// data-flux-confirm, with el's fields, to its component or to those
// data-flux-target names. An element with commands sends only if it names
// an action.
func (p *page) trigger(el *html.Node, ev *event, keyed bool, d *dispatch) {
	if q, ok := getAttr(el, attrConfirm); ok && q != "" {
		d.asked = append(d.asked, q)
		if p.confirm != nil && !p.confirm(q) {
			d.notef("the user declined %q", q)
			return
		}
	}
	if cmds, ok := getAttr(el, liveflux.AttrDo); ok {
		p.run(el, cmds, d)
		if !hasAttr(el, attrAction) {
			return
		}
	}
	fields, files := p.fieldsOf(el, ev)
	roots := []*html.Node{el}
	if to, ok := getAttr(el, attrTarget); ok && to != "" {
		roots = nil
		for n := range p.doc.Descendants() {
			if isRoot(n) && (attrOr(n, attrID, "") == to || attrOr(n, attrKind, "") == to) {
				roots = append(roots, n)
			}
		}
		if len(roots) == 0 {
			d.notef("%s names %s %q, and no component on the page has that ID or kind", describe(el), attrTarget, to)
		}
	}
	action, _ := getAttr(el, attrAction)
	typ := "load"
	if ev != nil {
		typ = ev.typ
	}
	// Live: sent while the user types (not by a submit, a click, Enter or
	// a trigger that names a key), so the focused field keeps what was
	// typed since.
	live := typ != "submit" && typ != "click" && (ev == nil || ev.key != "Enter") && !keyed
	for _, r := range roots {
		root := closest(r, selRoot)
		if root == nil {
			d.notef("%s on %s: it is in no component", typ, describe(el))
			continue
		}
		d.sent = append(d.sent, sent{root: root, carrier: el, event: typ, action: action, fields: fields.clone(), files: files, live: live})
	}
}

// fieldsOf returns the fields and files el's action sends for ev
// (js/actions.js fieldsOf): its data-flux-value-*; a control's name as
// liveflux_trigger; a form's fields, or those of the form of a control,
// with liveflux_touched; else its own; and the fields of the controls
// data-flux-include selects, or holds: none in a data-flux-inert region,
// and a password or hidden field outside el's component only when
// selected itself.
func (p *page) fieldsOf(el *html.Node, ev *event) (*fieldList, []entry) {
	fields := attrsWithPrefix(el, attrValuePrefix)
	var files []entry
	var form *html.Node
	switch tag(el) {
	case "form":
		form = el
	case "input", "select", "textarea":
		form = formOwner(el)
		if n := attrOr(el, "name", ""); n != "" {
			fields.set(liveflux.FieldTrigger, n)
		}
	}
	if form != nil {
		for _, e := range p.entries(form) {
			switch {
			case e.file == nil:
				fields.add(e.name, e.value)
			case e.file.Name != "":
				files = append(files, e)
			}
		}
		if ev != nil && ev.submitter != nil {
			if name := attrOr(ev.submitter, "name", ""); name != "" {
				v, _ := p.value(ev.submitter)
				fields.add(name, v)
			}
		}
		var names []string
		if ev != nil && ev.typ == "submit" {
			seen := map[string]bool{}
			for _, c := range formElements(form) {
				if n := attrOr(c, "name", ""); n != "" && !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		} else {
			names = p.touched[form]
		}
		if len(names) > 0 {
			fields.setAll(liveflux.FieldTouched, names)
		}
	} else {
		p.addOwn(fields, el)
	}
	if inc, ok := getAttr(el, attrInclude); ok && inc != "" {
		if sel, err := compile(inc); err == nil {
			own := closest(el, selRoot)
			for _, x := range queryAll(p.doc, sel) {
				cs := []*html.Node{x}
				if !selControls.Match(x) {
					cs = queryAll(x, selControls)
				}
				for _, c := range cs {
					if selLive.Match(c) && (c == x || !selSecret.Match(c) || closest(c, selRoot) == own) {
						p.addOwn(fields, c)
					}
				}
			}
		}
	}
	return fields, files
}

// addOwn adds a control's own field: its name and value (a box only when
// checked; files never).
func (p *page) addOwn(fields *fieldList, c *html.Node) {
	name := attrOr(c, "name", "")
	if name == "" || (isBox(c) && !p.checked(c)) || (tag(c) == "input" && inputType(c) == "file") {
		return
	}
	v, ok := p.value(c)
	if !ok {
		v = attrOr(c, "value", "")
	}
	fields.add(name, v)
}

// formElements returns form.elements: the listed elements whose form
// owner is form (image buttons excepted), in tree order.
func formElements(form *html.Node) []*html.Node {
	doc := form
	for doc.Parent != nil {
		doc = doc.Parent
	}
	var out []*html.Node
	for d := range doc.Descendants() {
		if formFieldNames[tag(d)] && !(tag(d) == "input" && inputType(d) == "image") && formOwner(d) == form {
			out = append(out, d)
		}
	}
	return out
}
