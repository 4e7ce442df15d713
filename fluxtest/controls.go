package fluxtest

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// A File is a file the test puts in an <input type=file>.
type File struct {
	Name        string
	ContentType string
	Content     []byte
}

// controls holds what a user changed in a page's form controls: the
// "dirty" value, checkedness and selectedness the DOM keeps as properties
// apart from the markup's attributes, and files. A control the user never
// touched shows what its markup says. Morphing a component drops the state
// of the elements it replaces, as morphdom does for every control but the
// focused one.
type controls struct {
	state map[*html.Node]*control
}

type control struct {
	value    *string
	checked  *bool
	selected *bool // an <option>'s selectedness
	files    []File
}

func (cs *controls) of(n *html.Node) *control {
	if cs.state == nil {
		cs.state = map[*html.Node]*control{}
	}
	c := cs.state[n]
	if c == nil {
		c = &control{}
		cs.state[n] = c
	}
	return c
}

// inputType returns the type property of an <input>: its type attribute,
// lowercased, or "text" when missing or unknown.
func inputType(n *html.Node) string {
	t := strings.ToLower(attrOr(n, "type", ""))
	switch t {
	case "hidden", "text", "search", "tel", "url", "email", "password", "date", "month", "week", "time",
		"datetime-local", "number", "range", "color", "checkbox", "radio", "file", "submit", "image", "reset", "button":
		return t
	}
	return "text"
}

// typeOf returns an element's type property, "" where it has none the
// client looks at.
func typeOf(n *html.Node) string {
	switch tag(n) {
	case "input":
		return inputType(n)
	case "button":
		switch t := strings.ToLower(attrOr(n, "type", "")); t {
		case "button", "reset":
			return t
		}
		return "submit"
	case "select":
		if hasAttr(n, "multiple") {
			return "select-multiple"
		}
		return "select-one"
	case "textarea":
		return "textarea"
	}
	return ""
}

// isBox reports whether n is a checkbox or radio button.
func isBox(n *html.Node) bool {
	t := typeOf(n)
	return tag(n) == "input" && (t == "checkbox" || t == "radio")
}

// isSubmitButton reports whether n submits its form when activated.
func isSubmitButton(n *html.Node) bool {
	switch tag(n) {
	case "button":
		return typeOf(n) == "submit"
	case "input":
		t := inputType(n)
		return t == "submit" || t == "image"
	}
	return false
}

// checked returns the checkedness of a checkbox or radio button.
func (cs *controls) checked(n *html.Node) bool {
	if c := cs.state[n]; c != nil && c.checked != nil {
		return *c.checked
	}
	return hasAttr(n, "checked")
}

// setChecked sets a box's checkedness; checking a radio button unchecks
// the others of its group.
func (cs *controls) setChecked(n *html.Node, on bool) {
	on2 := on
	cs.of(n).checked = &on2
	if on && inputType(n) == "radio" {
		for _, o := range radioGroup(n) {
			if o != n {
				off := false
				cs.of(o).checked = &off
			}
		}
	}
}

// radioGroup returns the radio buttons of n's group: same name, same form
// owner, same tree (n included).
func radioGroup(n *html.Node) []*html.Node {
	name, _ := getAttr(n, "name")
	if name == "" {
		return []*html.Node{n}
	}
	doc := n
	for doc.Parent != nil {
		doc = doc.Parent
	}
	owner := formOwner(n)
	var out []*html.Node
	for d := range doc.Descendants() {
		if tag(d) == "input" && inputType(d) == "radio" && attrOr(d, "name", "") == name && formOwner(d) == owner {
			out = append(out, d)
		}
	}
	return out
}

// value returns an element's value property as the client reads it
// (el.value), and false for elements without one, where the client falls
// back to the value attribute.
func (cs *controls) value(n *html.Node) (string, bool) {
	switch tag(n) {
	case "input":
		if c := cs.state[n]; c != nil && c.value != nil {
			return *c.value, true
		}
		t := inputType(n)
		v, ok := getAttr(n, "value")
		switch t {
		case "checkbox", "radio":
			if !ok {
				return "on", true
			}
			return v, true
		case "submit", "image", "reset", "button", "hidden":
			return v, true
		case "file":
			if c := cs.state[n]; c != nil && len(c.files) > 0 {
				return `C:\fakepath\` + c.files[0].Name, true
			}
			return "", true
		}
		return sanitize(t, v, n), true
	case "button", "data", "param":
		return attrOr(n, "value", ""), true
	case "textarea":
		if c := cs.state[n]; c != nil && c.value != nil {
			return *c.value, true
		}
		return normalizeNewlines(textContent(n)), true
	case "select":
		for _, o := range cs.options(n) {
			if cs.selected(o) {
				return optionValue(o), true
			}
		}
		return "", true
	case "option":
		return optionValue(n), true
	case "output":
		return textContent(n), true
	case "li":
		i, err := strconv.ParseInt(strings.TrimSpace(attrOr(n, "value", "0")), 10, 32)
		if err != nil {
			i = 0
		}
		return strconv.FormatInt(i, 10), true
	}
	return "", false
}

// setValue sets a text control's value, sanitized for its type.
func (cs *controls) setValue(n *html.Node, v string) {
	if tag(n) == "input" {
		v = sanitize(inputType(n), v, n)
	} else {
		v = normalizeNewlines(v)
	}
	cs.of(n).value = &v
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

var (
	reNumber = regexp.MustCompile(`^-?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$`)
	reColor  = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	reDate   = regexp.MustCompile(`^\d{4,}-\d\d-\d\d$`)
	reMonth  = regexp.MustCompile(`^\d{4,}-\d\d$`)
	reWeek   = regexp.MustCompile(`^\d{4,}-W\d\d$`)
	reTime   = regexp.MustCompile(`^\d\d:\d\d(:\d\d(\.\d{1,3})?)?$`)
	reLocal  = regexp.MustCompile(`^\d{4,}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d{1,3})?)?$`)
)

// sanitize applies an input type's value sanitization algorithm (HTML
// §4.10.5.1), for the types whose values the client sends as typed.
func sanitize(t, v string, n *html.Node) string {
	stripNewlines := func(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }
	switch t {
	case "text", "search", "tel", "password":
		return stripNewlines(v)
	case "url", "email":
		return strings.Trim(stripNewlines(v), " \t\n\f\r")
	case "number":
		return matchOrEmpty(reNumber, v)
	case "range":
		lo := floatAttr(n, "min", 0)
		hi := floatAttr(n, "max", 100)
		if hi < lo {
			hi = lo
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !reNumber.MatchString(v) {
			f = lo + (hi-lo)/2
		}
		f = math.Min(math.Max(f, lo), hi)
		return strconv.FormatFloat(f, 'f', -1, 64)
	case "color":
		if reColor.MatchString(v) {
			return strings.ToLower(v)
		}
		return "#000000"
	case "date":
		return matchOrEmpty(reDate, v)
	case "month":
		return matchOrEmpty(reMonth, v)
	case "week":
		return matchOrEmpty(reWeek, v)
	case "time":
		return matchOrEmpty(reTime, v)
	case "datetime-local":
		if reLocal.MatchString(v) {
			return strings.Replace(v, " ", "T", 1)
		}
		return ""
	}
	return v
}

func matchOrEmpty(re *regexp.Regexp, v string) string {
	if re.MatchString(v) {
		return v
	}
	return ""
}

func floatAttr(n *html.Node, name string, def float64) float64 {
	if f, err := strconv.ParseFloat(attrOr(n, name, ""), 64); err == nil {
		return f
	}
	return def
}

// options returns a <select>'s list of options: its <option> children
// and those of its <optgroup> children.
func (cs *controls) options(sel *html.Node) []*html.Node {
	var out []*html.Node
	for c := sel.FirstChild; c != nil; c = c.NextSibling {
		switch tag(c) {
		case "option":
			out = append(out, c)
		case "optgroup":
			for o := c.FirstChild; o != nil; o = o.NextSibling {
				if tag(o) == "option" {
					out = append(out, o)
				}
			}
		}
	}
	return out
}

// selectOf returns the <select> an option belongs to.
func selectOf(o *html.Node) *html.Node {
	p := o.Parent
	if tag(p) == "optgroup" {
		p = p.Parent
	}
	if tag(p) == "select" {
		return p
	}
	return nil
}

// selected returns an option's selectedness: what the user chose, else
// what the markup says, with a single-choice select's rules (the last
// option marked selected wins, and without one the first option that is
// not disabled is).
func (cs *controls) selected(o *html.Node) bool {
	sel := selectOf(o)
	if sel == nil {
		if c := cs.state[o]; c != nil && c.selected != nil {
			return *c.selected
		}
		return hasAttr(o, "selected")
	}
	opts := cs.options(sel)
	dirty := false
	for _, x := range opts {
		if c := cs.state[x]; c != nil && c.selected != nil {
			dirty = true
		}
	}
	pick := func(x *html.Node) bool {
		if dirty {
			c := cs.state[x]
			return c != nil && c.selected != nil && *c.selected
		}
		return hasAttr(x, "selected")
	}
	if hasAttr(sel, "multiple") {
		return pick(o)
	}
	var chosen *html.Node
	for _, x := range opts {
		if pick(x) {
			chosen = x
		}
	}
	if chosen == nil && displaySize(sel) == 1 {
		for _, x := range opts {
			if !optionDisabled(x) {
				chosen = x
				break
			}
		}
	}
	return chosen == o
}

// displaySize is a select's display size: 1 for a drop-down.
func displaySize(sel *html.Node) int {
	if n, err := strconv.Atoi(attrOr(sel, "size", "")); err == nil && n > 0 {
		return n
	}
	if hasAttr(sel, "multiple") {
		return 4
	}
	return 1
}

// selectValues makes exactly the options of sel whose values are in vals
// selected (the first one only, unless sel is multiple), and reports the
// values no option has.
func (cs *controls) selectValues(sel *html.Node, vals []string) (missing []string) {
	want := map[string]bool{}
	for _, v := range vals {
		want[v] = true
	}
	found := map[string]bool{}
	one := false
	for _, o := range cs.options(sel) {
		v := optionValue(o)
		on := want[v] && !(one && !hasAttr(sel, "multiple"))
		if on {
			found[v], one = true, true
		}
		cs.of(o).selected = &on
	}
	for _, v := range vals {
		if !found[v] {
			missing = append(missing, v)
		}
	}
	return missing
}

// optionValue is an option's value: its value attribute, else its text
// with white space collapsed.
func optionValue(o *html.Node) string {
	if v, ok := getAttr(o, "value"); ok {
		return v
	}
	return collapse(textContent(o))
}

func optionDisabled(o *html.Node) bool {
	return hasAttr(o, "disabled") || (tag(o.Parent) == "optgroup" && hasAttr(o.Parent, "disabled"))
}

// formOwner returns the form a control belongs to: the form its form
// attribute names, else its nearest form ancestor.
func formOwner(n *html.Node) *html.Node {
	if id, ok := getAttr(n, "form"); ok {
		if f := elementByID(n, id); tag(f) == "form" {
			return f
		}
		return nil
	}
	for p := n.Parent; p != nil; p = p.Parent {
		if tag(p) == "form" {
			return p
		}
	}
	return nil
}

// isFormControl reports whether n is a control that can be disabled.
func isFormControl(n *html.Node) bool {
	switch tag(n) {
	case "button", "input", "select", "textarea", "fieldset", "optgroup", "option":
		return true
	}
	return false
}

// disabled reports whether a form control is disabled: by its own
// attribute, or by a disabled fieldset it is in (outside that fieldset's
// first legend).
func disabled(n *html.Node) bool {
	if !isFormControl(n) {
		return false
	}
	if hasAttr(n, "disabled") {
		return true
	}
	if tag(n) == "option" {
		return optionDisabled(n)
	}
	child := n
	for p := n.Parent; p != nil; child, p = p, p.Parent {
		if tag(p) != "fieldset" || !hasAttr(p, "disabled") {
			continue
		}
		if tag(child) == "legend" && child == firstLegend(p) {
			continue
		}
		return true
	}
	return false
}

func firstLegend(fs *html.Node) *html.Node {
	for c := fs.FirstChild; c != nil; c = c.NextSibling {
		if tag(c) == "legend" {
			return c
		}
	}
	return nil
}

// submittable returns, in tree order, the controls whose form owner is
// form and that can be submitted with it.
func submittable(form *html.Node) []*html.Node {
	doc := form
	for doc.Parent != nil {
		doc = doc.Parent
	}
	var out []*html.Node
	for d := range doc.Descendants() {
		switch tag(d) {
		case "button", "input", "select", "textarea", "object":
			if formOwner(d) == form {
				out = append(out, d)
			}
		}
	}
	return out
}

// entry is one name/value pair of a form's entry list; a file entry has
// file set.
type entry struct {
	name, value string
	file        *File
}

// entries constructs a form's entry list as new FormData(form) does (HTML
// §4.10.21.4): no submitter, so no button.
func (cs *controls) entries(form *html.Node) []entry {
	var out []entry
	for _, n := range submittable(form) {
		if hasDatalistAncestor(n) || disabled(n) || tag(n) == "button" || tag(n) == "object" {
			continue
		}
		t := typeOf(n)
		if tag(n) == "input" && (t == "submit" || t == "image" || t == "reset" || t == "button") {
			continue // buttons count only as the submitter
		}
		if isBox(n) && !cs.checked(n) {
			continue
		}
		name, _ := getAttr(n, "name")
		if name == "" {
			continue
		}
		switch {
		case tag(n) == "select":
			for _, o := range cs.options(n) {
				if cs.selected(o) && !optionDisabled(o) {
					out = append(out, entry{name: name, value: optionValue(o)})
				}
			}
		case isBox(n):
			v, _ := cs.value(n)
			out = append(out, entry{name: name, value: v})
		case t == "file":
			files := cs.files(n)
			if len(files) == 0 {
				out = append(out, entry{name: name, file: &File{ContentType: "application/octet-stream"}})
			}
			for i := range files {
				out = append(out, entry{name: name, file: &files[i]})
			}
		default:
			v, _ := cs.value(n)
			if t == "hidden" && strings.EqualFold(name, "_charset_") {
				v = "UTF-8"
			}
			out = append(out, entry{name: name, value: v})
		}
		if dn, ok := getAttr(n, "dirname"); ok && dn != "" && (tag(n) == "textarea" || isTextLike(t)) {
			out = append(out, entry{name: dn, value: direction(n)})
		}
	}
	return out
}

func isTextLike(t string) bool {
	switch t {
	case "text", "search", "tel", "url", "email", "password":
		return true
	}
	return false
}

// direction returns an element's directionality, "ltr" or "rtl", from the
// nearest dir attribute.
func direction(n *html.Node) string {
	for ; n != nil; n = n.Parent {
		switch strings.ToLower(attrOr(n, "dir", "")) {
		case "rtl":
			return "rtl"
		case "ltr":
			return "ltr"
		}
	}
	return "ltr"
}

func hasDatalistAncestor(n *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if tag(p) == "datalist" {
			return true
		}
	}
	return false
}

func (cs *controls) files(n *html.Node) []File {
	if c := cs.state[n]; c != nil {
		return c.files
	}
	return nil
}

// reset restores every control of form to what its markup says.
func (cs *controls) reset(form *html.Node) {
	for _, n := range submittable(form) {
		delete(cs.state, n)
		if tag(n) == "select" {
			for _, o := range cs.options(n) {
				delete(cs.state, o)
			}
		}
	}
}

// invalid returns the first control of form that suffers from a missing
// value (the required attribute), which keeps a browser from submitting
// it; nil when there is none. Other constraints (pattern, min, max, type
// mismatch) are not checked.
func (cs *controls) invalid(form *html.Node) *html.Node {
	for _, n := range submittable(form) {
		if !hasAttr(n, "required") || disabled(n) || hasDatalistAncestor(n) {
			continue
		}
		switch tag(n) {
		case "textarea":
			if v, _ := cs.value(n); v == "" && !hasAttr(n, "readonly") {
				return n
			}
		case "select":
			if cs.selectMissing(n) {
				return n
			}
		case "input":
			switch t := inputType(n); t {
			case "checkbox":
				if !cs.checked(n) {
					return n
				}
			case "radio":
				any := false
				for _, o := range radioGroup(n) {
					any = any || cs.checked(o)
				}
				if !any {
					return n
				}
			case "file":
				if len(cs.files(n)) == 0 {
					return n
				}
			case "hidden", "range", "color", "submit", "image", "reset", "button":
			default:
				if v, _ := cs.value(n); v == "" && !hasAttr(n, "readonly") {
					return n
				}
			}
		}
	}
	return nil
}

// selectMissing reports whether a required select has no value: nothing
// selected, or only its placeholder option (a first option with the empty
// value in a drop-down).
func (cs *controls) selectMissing(sel *html.Node) bool {
	opts := cs.options(sel)
	var chosen []*html.Node
	for _, o := range opts {
		if cs.selected(o) {
			chosen = append(chosen, o)
		}
	}
	if len(chosen) == 0 {
		return true
	}
	if hasAttr(sel, "multiple") || displaySize(sel) != 1 || len(chosen) != 1 {
		return false
	}
	o := chosen[0]
	return o == opts[0] && o.Parent == sel && optionValue(o) == ""
}

// labeledControl returns the control a <label> is for.
func labeledControl(label *html.Node) *html.Node {
	if id, ok := getAttr(label, "for"); ok {
		if n := elementByID(label, id); isLabelable(n) {
			return n
		}
		return nil
	}
	for d := range label.Descendants() {
		if isLabelable(d) {
			return d
		}
	}
	return nil
}

func isLabelable(n *html.Node) bool {
	switch tag(n) {
	case "button", "meter", "output", "progress", "select", "textarea":
		return true
	case "input":
		return inputType(n) != "hidden"
	}
	return false
}
