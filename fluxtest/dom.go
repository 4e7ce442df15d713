package fluxtest

import (
	"fmt"
	"strings"

	"github.com/andybalholm/cascadia"
	"github.com/go-liveflux/liveflux"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The names of the markup, from the protocol's one source (protocol.json).
const (
	attrKind        = liveflux.AttrKind
	attrID          = liveflux.AttrID
	attrRev         = liveflux.AttrRev
	attrAction      = liveflux.AttrAction
	attrParamPrefix = liveflux.AttrParamPrefix
	attrValuePrefix = liveflux.AttrValuePrefix
	attrOn          = liveflux.AttrOn
	attrInclude     = liveflux.AttrInclude
	attrTarget      = liveflux.AttrTarget
	attrConfirm     = liveflux.AttrConfirm
	attrIgnore      = liveflux.AttrIgnore
	attrInert       = liveflux.AttrInert
	attrKey         = liveflux.AttrKey
	attrStream      = liveflux.AttrStream
	attrConfig      = "data-liveflux-config" // on the <script> Script writes
)

// The DOM is golang.org/x/net/html's node tree: parsed as browsers parse
// (attribute names lowercased, the first of duplicate attributes kept), and
// queried with CSS selectors by cascadia. What the user changed (values,
// checkedness, selection, files) lives beside it, in a page's controls.

// newDocument returns a document whose body holds fragment.
func newDocument(fragment string) (*html.Node, error) {
	return html.Parse(strings.NewReader("<!doctype html><html><head></head><body>" + fragment + "</body></html>"))
}

// parseRoot parses a rendering and returns its first element, as the client
// does with a <template>; nil when there is none.
func parseRoot(s string) *html.Node {
	return parseIn(s, &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
}

// parseIn parses markup as the children of ctx (a <tr> in a <tbody>) and
// returns its first element, or nil.
func parseIn(s string, ctx *html.Node) *html.Node {
	nodes, err := html.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return nil
	}
	for _, n := range nodes {
		if n.Type == html.ElementNode {
			return n
		}
	}
	return nil
}

// compile parses a CSS selector (a selector list, as querySelector takes).
func compile(selector string) (cascadia.SelectorGroup, error) {
	sel, err := cascadia.ParseGroup(selector)
	if err != nil {
		return nil, fmt.Errorf("bad selector %q: %v", selector, err)
	}
	return sel, nil
}

// mustCompile is compile for the selectors of this package.
func mustCompile(selector string) cascadia.SelectorGroup {
	sel, err := compile(selector)
	if err != nil {
		panic(err)
	}
	return sel
}

// queryAll returns the descendants of scope (not scope itself) matching
// sel, in document order, as scope.querySelectorAll does: the whole
// document counts for the selector's ancestors.
func queryAll(scope *html.Node, sel cascadia.Matcher) []*html.Node {
	var out []*html.Node
	for n := range scope.Descendants() {
		if n.Type == html.ElementNode && sel.Match(n) {
			out = append(out, n)
		}
	}
	return out
}

// closest returns n or its nearest ancestor element matching sel.
func closest(n *html.Node, sel cascadia.Matcher) *html.Node {
	for ; n != nil; n = n.Parent {
		if n.Type == html.ElementNode && sel.Match(n) {
			return n
		}
	}
	return nil
}

// getAttr returns n's attribute name, as getAttribute does.
func getAttr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func hasAttr(n *html.Node, name string) bool {
	_, ok := getAttr(n, name)
	return ok
}

func attrOr(n *html.Node, name, def string) string {
	if v, ok := getAttr(n, name); ok {
		return v
	}
	return def
}

// attrsWithPrefix returns the attributes of n named prefix+NAME as
// NAME → value, in the element's order (js/dom.js attrsWithPrefix).
func attrsWithPrefix(n *html.Node, prefix string) *fieldList {
	out := &fieldList{}
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.HasPrefix(a.Key, prefix) {
			out.set(a.Key[len(prefix):], a.Val)
		}
	}
	return out
}

func paramsOf(n *html.Node) map[string]string {
	params := map[string]string{}
	for _, a := range n.Attr {
		if a.Namespace == "" && strings.HasPrefix(a.Key, attrParamPrefix) {
			params[a.Key[len(attrParamPrefix):]] = a.Val
		}
	}
	return params
}

// tag returns n's element name ("" for other nodes).
func tag(n *html.Node) string {
	if n == nil || n.Type != html.ElementNode {
		return ""
	}
	return n.Data
}

// live is the selector of elements outside every data-flux-inert region
// (js/constants.js LIVE): only their data-flux-* attributes count.
const live = ":not([" + attrInert + "],[" + attrInert + "] *)"

// isRoot reports whether n is a mounted component's root.
func isRoot(n *html.Node) bool {
	return n.Type == html.ElementNode && selRoot.Match(n)
}

// isLive reports whether el's data-flux-* attributes count, as js/dom.js
// live says: it is in a component and in no data-flux-inert region.
func isLive(el *html.Node) bool {
	return selLive.Match(el) && closest(el, selRoot) != nil
}

// rootOf returns the component root n is in (n itself included).
func rootOf(n *html.Node) *html.Node {
	for ; n != nil; n = n.Parent {
		if isRoot(n) {
			return n
		}
	}
	return nil
}

// textContent returns the text of n and its descendants, as textContent
// does.
func textContent(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// collapse trims s and replaces each run of white space with one space.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// outerHTML renders n.
func outerHTML(n *html.Node) string {
	var b strings.Builder
	html.Render(&b, n)
	return b.String()
}

// describe names an element for messages: its opening tag.
func describe(n *html.Node) string {
	if n == nil {
		return "nothing"
	}
	if n.Type != html.ElementNode {
		return fmt.Sprintf("%q", textContent(n))
	}
	var b strings.Builder
	b.WriteString("<" + n.Data)
	for _, a := range n.Attr {
		fmt.Fprintf(&b, " %s=\"%s\"", a.Key, html.EscapeString(a.Val))
	}
	b.WriteString(">")
	return b.String()
}

// replaceChildren moves the children of from into n, in place of n's.
func replaceChildren(n, from *html.Node) {
	for c := n.FirstChild; c != nil; c = n.FirstChild {
		n.RemoveChild(c)
	}
	for c := from.FirstChild; c != nil; c = from.FirstChild {
		from.RemoveChild(c)
		n.AppendChild(c)
	}
}

// body returns the document's <body>.
func body(doc *html.Node) *html.Node {
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.DataAtom == atom.Body {
			return n
		}
	}
	return doc
}

// contains reports whether n is a or one of its descendants.
func contains(a, n *html.Node) bool {
	for ; n != nil; n = n.Parent {
		if n == a {
			return true
		}
	}
	return false
}

// elementByID returns the first element with id in the document of n.
func elementByID(n *html.Node, id string) *html.Node {
	doc := n
	for doc.Parent != nil {
		doc = doc.Parent
	}
	for d := range doc.Descendants() {
		if d.Type == html.ElementNode && attrOr(d, "id", "\x00") == id {
			return d
		}
	}
	return nil
}
