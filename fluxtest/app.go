package fluxtest

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/go-liveflux/liveflux"
	"golang.org/x/net/html"
)

// What makes components an application, as js/commands.js and js/url.js
// do it: client commands (data-flux-do), the page's URL and its history
// (components that live in the URL, data-flux-patch links, Back and
// Forward), pages loaded without a reload (data-flux-navigate), and the
// regions that show an action's error (data-flux-error).

// A command is one entry of data-flux-do.
type command struct {
	verb string
	args []string
	to   string
}

// parseCommands parses data-flux-do as js/grammar.js parseCommands does.
func parseCommands(spec string) []command {
	var out []command
	for _, c := range strings.Split(spec, ";") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		head, to, _ := strings.Cut(c, " ")
		parts := strings.Split(head, ".")
		out = append(out, command{verb: parts[0], args: parts[1:], to: strings.TrimSpace(to)})
	}
	return out
}

// set sets attribute key of el to *v (nil: removes it), or for a key
// ".NAME" the class NAME when *v is "1"; and remembers it, so that the
// morphs of later updates keep it (sticky).
func (p *page) setSticky(el *html.Node, key string, v *string) {
	applySticky(el, key, v)
	if p.sticky == nil {
		p.sticky = map[*html.Node]map[string]*string{}
	}
	if p.sticky[el] == nil {
		p.sticky[el] = map[string]*string{}
	}
	p.sticky[el][key] = v
}

func applySticky(el *html.Node, key string, v *string) {
	if name, ok := strings.CutPrefix(key, "."); ok {
		classes := strings.Fields(attrOr(el, "class", ""))
		i := slices.Index(classes, name)
		switch {
		case *v == "1" && i < 0:
			classes = append(classes, name)
		case *v != "1" && i >= 0:
			classes = slices.Delete(classes, i, i+1)
		default:
			return
		}
		setAttr(el, "class", strings.Join(classes, " "))
		return
	}
	if v == nil {
		removeAttr(el, key)
	} else {
		setAttr(el, key, *v)
	}
}

// reapply gives el, just morphed, what commands set on it.
func (p *page) reapply(el *html.Node) {
	for key, v := range p.sticky[el] {
		applySticky(el, key, v)
	}
}

func ptr(s string) *string { return &s }

// run runs el's commands (js/commands.js run). Transitions are not
// simulated: show and hide take effect at once.
func (p *page) run(el *html.Node, spec string, d *dispatch) {
	for _, c := range parseCommands(spec) {
		var targets []*html.Node
		switch {
		case c.to == "":
			targets = []*html.Node{el}
		case strings.HasPrefix(c.to, "closest "):
			sel, err := compile(strings.TrimPrefix(c.to, "closest "))
			if err != nil {
				d.failf("data-flux-do: cannot run %q: %v", c.verb+" "+c.to, err)
				continue
			}
			if n := closest(el, sel); n != nil {
				targets = []*html.Node{n}
			}
		default:
			sel, err := compile(c.to)
			if err != nil {
				d.failf("data-flux-do: cannot run %q: %v", c.verb+" "+c.to, err)
				continue
			}
			targets = queryAll(p.doc, sel)
		}
		arg := func(i int) string {
			if i < len(c.args) {
				return c.args[i]
			}
			return ""
		}
		for _, t := range targets {
			switch c.verb {
			case "show":
				p.setSticky(t, "hidden", nil)
			case "hide":
				p.setSticky(t, "hidden", ptr(""))
			case "toggle":
				if hasAttr(t, "hidden") {
					p.setSticky(t, "hidden", nil)
				} else {
					p.setSticky(t, "hidden", ptr(""))
				}
			case "add-class", "remove-class", "toggle-class":
				for _, n := range c.args {
					on := c.verb == "add-class" || (c.verb == "toggle-class" && !slices.Contains(strings.Fields(attrOr(t, "class", "")), n))
					p.setSticky(t, "."+n, ptr(map[bool]string{true: "1", false: "0"}[on]))
				}
			case "set-attr":
				p.setSticky(t, arg(0), ptr(strings.Join(c.args[min(1, len(c.args)):], ".")))
			case "remove-attr":
				p.setSticky(t, arg(0), nil)
			case "focus":
				d.focus = t
			case "dispatch":
				p.fire(&event{typ: arg(0), target: t}, d)
			default:
				d.failf("data-flux-do: cannot run %q: unknown command", c.verb+" "+c.to)
			}
			if c.verb == "focus" {
				break
			}
		}
	}
	d.ran = true
}

// followLink is the client's click listener for links (js/url.js): a
// data-flux-patch link changes the page's URL, a link in a
// data-flux-navigate region (not "false") loads its page without a reload.
func (p *page) followLink(ev *event, d *dispatch) {
	if ev.defaultPrevented || ev.typ != "click" {
		return
	}
	a := closest(ev.target, selLink)
	if a == nil {
		return
	}
	href := attrOr(a, "href", "")
	if mode, ok := getAttr(a, liveflux.AttrPatch); ok {
		ev.defaultPrevented = true
		d.patch, d.replace, d.ran = href, mode == "replace", true
		return
	}
	region := closest(a, selNavigate)
	if region == nil || attrOr(region, liveflux.AttrNavigate, "") == "false" || hasAttr(a, "download") || !slices.Contains([]string{"", "_self"}, attrOr(a, "target", "")) {
		return
	}
	ev.defaultPrevented = true
	d.visit, d.ran = href, true
}

var (
	selLink     = mustCompile("a[href]" + live)
	selNavigate = mustCompile("[" + liveflux.AttrNavigate + "]" + live)
	selError    = mustCompile("[" + liveflux.AttrError + "]" + live)
)

// URL returns the page's URL: its path, query and fragment.
func (c *Client) URL() string {
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.here()
}

func here(u, origin string) string { return strings.TrimPrefix(u, origin) }

// here is the page's URL as the server is told it. c.mu is held.
func (s *state) here() string { return here(s.pageURL.String(), s.origin()) }

// Back goes back one entry in the page's history, as the browser's Back
// button does: the components that live in the URL are told the URL of
// that entry. Only the entries the page made (patches) are known: Back
// past the page's first fails the test.
func (c *Client) Back() { c.t.Helper(); c.go_(-1) }

// Forward goes forward one entry in the page's history (see Back).
func (c *Client) Forward() { c.t.Helper(); c.go_(1) }

func (c *Client) go_(delta int) {
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	at := c.at + delta
	if at < 0 || at >= len(c.history) {
		c.mu.Unlock()
		c.fatalf(nil, "no history entry there (%d of %d): fluxtest knows only the entries a page made", at, len(c.history))
	}
	c.at = at
	c.pageURL, _ = c.pageURL.Parse(c.history[at])
	c.mu.Unlock()
	c.tell()
	c.settle()
}

// patchURL changes the page's URL to href, a new history entry unless
// replace, and tells the components that live in the URL (js/url.js
// patch); a target on another origin is refused, as the client refuses
// it, and reported as a problem.
func (c *Client) patchURL(href string, replace bool) {
	c.mu.Lock()
	u, ok := c.resolve(href)
	if !ok || !c.sameOrigin(u) {
		c.problems = append(c.problems, "refused URL patch: "+href)
		c.mu.Unlock()
		return
	}
	if u.String() == c.pageURL.String() {
		c.mu.Unlock()
		return
	}
	if len(c.history) == 0 {
		c.history = []string{c.here()}
	}
	if !replace {
		c.history = append(c.history[:c.at+1], "")
		c.at++
	}
	c.history[c.at] = here(u.String(), c.origin())
	c.pageURL = u
	c.mu.Unlock()
	c.tell()
}

// tell tells every component of the page that lives in the URL what it is
// now: a url message over the socket, else a re-render over HTTP that
// carries it.
func (c *Client) tell() {
	c.mu.Lock()
	var over []string
	for id, v := range c.views {
		if !v.url {
			continue
		}
		if c.sock != nil {
			c.write(c.sock, c.urlMessage(id))
		} else {
			over = append(over, id)
		}
	}
	c.mu.Unlock()
	for _, id := range over {
		c.mu.Lock()
		root := c.findRoot(id)
		c.mu.Unlock()
		if root != nil {
			c.send(sent{root: root, fields: &fieldList{}}, &Outcome{})
		}
	}
}

// urlMessage tells instance id the page's URL. c.mu is held.
func (s *state) urlMessage(id string) map[string]any {
	return map[string]any{"type": liveflux.MessageURL, "componentID": id, "data": map[string]string{"url": s.here()}}
}

// paintError shows instance id's last error in its data-flux-error
// regions (js/view.js paint), "" hiding them. c.mu is held.
func (s *state) paintError(id, msg string) {
	root := s.findRoot(id)
	if root == nil {
		return
	}
	for _, el := range queryAll(root, selError) {
		if rootOf(el) != root {
			continue
		}
		for ch := el.FirstChild; ch != nil; ch = el.FirstChild {
			el.RemoveChild(ch)
		}
		if msg != "" {
			el.AppendChild(&html.Node{Type: html.TextNode, Data: msg})
			removeAttr(el, "hidden")
		} else {
			setAttr(el, "hidden", "")
		}
	}
}

// patchData is the patch of a JSON answer or a patch frame.
type patchData struct {
	URL     string `json:"url"`
	Replace bool   `json:"replace"`
}

func decodePatch(raw json.RawMessage) *patchData {
	var p patchData
	if json.Unmarshal(raw, &p) != nil || p.URL == "" {
		return nil
	}
	return &p
}

// setAttr sets attribute name of n to v.
func setAttr(n *html.Node, name, v string) {
	for i := range n.Attr {
		if n.Attr[i].Key == name && n.Attr[i].Namespace == "" {
			n.Attr[i].Val = v
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: name, Val: v})
}

// removeAttr removes attribute name of n.
func removeAttr(n *html.Node, name string) {
	n.Attr = slices.DeleteFunc(n.Attr, func(a html.Attribute) bool { return a.Key == name && a.Namespace == "" })
}

// follow follows what a gesture's links asked for, once its actions went:
// a URL patch, or another page (Open).
func (c *Client) follow(d *dispatch) {
	c.t.Helper()
	switch {
	case d.patch != "":
		c.patchURL(d.patch, d.replace)
		c.settle()
	case d.visit != "":
		c.mu.Lock()
		u, ok := c.resolve(d.visit)
		ok = ok && c.sameOrigin(u)
		origin := c.origin()
		c.mu.Unlock()
		if ok {
			c.Open(here(u.String(), origin))
		}
	}
}
