package fluxtest

import (
	"fmt"
	"strings"

	"golang.org/x/net/html"
)

// maxContext bounds the HTML a failure message shows.
const maxContext = 4000

// fatalf fails the test now, showing v's rendering (or the page's).
func (c *Client) fatalf(v *View, format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s", c.message(v, "", format, args...))
}

// errorf fails the test and lets it go on.
func (c *Client) errorf(v *View, format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("%s", c.message(v, "", format, args...))
}

// message formats a failure with the HTML it is about.
func (c *Client) message(v *View, selector, format string, args ...any) string {
	msg := "fluxtest: " + fmt.Sprintf(format, args...)
	if v == nil {
		return msg
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return msg + "\n" + c.context(v.root, selector)
}

// context shows scope's HTML around selector: the element matched by the
// longest leading part of selector that matches (where the selector went
// wrong), else all of scope. c.mu is held.
func (c *Client) context(scope *html.Node, selector string) string {
	parts := splitSelector(selector)
	for k := len(parts) - 1; k > 0; k-- {
		prefix := strings.Join(parts[:k], " ")
		sel, err := compile(prefix)
		if err != nil {
			continue
		}
		if found := queryAll(scope, sel); len(found) > 0 {
			return fmt.Sprintf("%q matches %d element(s), the first is:\n%s", prefix, len(found), clip(pretty(found[0])))
		}
	}
	what := "the page"
	if isRoot(scope) {
		what = fmt.Sprintf("component %s %s (revision %s)", attrOr(scope, attrKind, ""), attrOr(scope, attrID, ""), attrOr(scope, attrRev, "?"))
	}
	return what + ":\n" + clip(pretty(scope))
}

func clip(s string) string {
	if len(s) <= maxContext {
		return s
	}
	return s[:maxContext] + fmt.Sprintf("\n\t… (%d more bytes)", len(s)-maxContext)
}

// splitSelector splits a selector at its top-level blanks and
// combinators, keeping the combinators with the part after them.
func splitSelector(s string) []string {
	var parts []string
	var cur strings.Builder
	depth, quote := 0, rune(0)
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			parts = append(parts, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	pendingComb := ""
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '[' || r == '(':
			depth++
		case r == ']' || r == ')':
			depth--
		case depth == 0 && (r == ' ' || r == '\t' || r == '\n'):
			flush()
			continue
		case depth == 0 && (r == '>' || r == '+' || r == '~'):
			flush()
			pendingComb = string(r) + " "
			continue
		case depth == 0 && r == ',':
			return []string{s} // a list: no leading parts
		}
		if pendingComb != "" && cur.Len() == 0 {
			cur.WriteString(pendingComb)
			pendingComb = ""
		}
		cur.WriteRune(r)
	}
	flush()
	return parts
}

// pretty renders n with one element per line, indented, and text trimmed.
func pretty(n *html.Node) string {
	var b strings.Builder
	var walk func(n *html.Node, depth int)
	walk = func(n *html.Node, depth int) {
		ind := "\t" + strings.Repeat("  ", depth)
		switch n.Type {
		case html.TextNode:
			if t := collapse(n.Data); t != "" {
				b.WriteString(ind + t + "\n")
			}
		case html.ElementNode:
			open := describe(n)
			if n.FirstChild == nil {
				b.WriteString(ind + open + "\n")
				return
			}
			if n.FirstChild.NextSibling == nil && n.FirstChild.Type == html.TextNode {
				b.WriteString(ind + open + collapse(n.FirstChild.Data) + "</" + n.Data + ">\n")
				return
			}
			b.WriteString(ind + open + "\n")
			for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
				walk(ch, depth+1)
			}
			b.WriteString(ind + "</" + n.Data + ">\n")
		default:
			for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
				walk(ch, depth)
			}
		}
	}
	walk(n, 0)
	return strings.TrimRight(b.String(), "\n")
}
