package fluxtest

import (
	"encoding/json"
	"net/url"

	"github.com/go-liveflux/liveflux"
	"golang.org/x/net/html"
)

// settle brings the page up to date: everything the server sent so far is
// received and applied, lost components are mounted again, new
// placeholders mounted, load triggers sent, and the socket watches what
// the page shows. It is what a browser does between two user gestures.
func (c *Client) settle() {
	c.t.Helper()
	for range 50 {
		c.sync()
		did := c.handleLost()
		did = c.handlePatches() || did
		did = c.scan() || did
		c.mu.Lock()
		waiting := len(c.awaiting) > 0 && c.sock != nil
		problems := c.problems
		c.problems = nil
		c.mu.Unlock()
		for _, p := range problems {
			c.errorf(nil, "%s", p)
		}
		if !did && !waiting {
			return
		}
	}
	c.fatalf(nil, "the page does not settle: it keeps mounting, re-mounting or waiting for renderings")
}

// handlePatches follows the URL patches the server sent; it reports
// whether there were any.
func (c *Client) handlePatches() bool {
	c.mu.Lock()
	q := c.patchQ
	c.patchQ = nil
	c.mu.Unlock()
	for _, p := range q {
		c.patchURL(p.URL, p.Replace)
	}
	return len(q) > 0
}

// handleLost handles the errors the server sent (js/http.js lost): a
// component it lost (404) is mounted again from its original parameters.
// It reports whether it mounted one.
func (c *Client) handleLost() bool {
	c.mu.Lock()
	q := c.lostQ
	c.lostQ = nil
	c.mu.Unlock()
	did := false
	for _, l := range q {
		if c.lost(l) {
			did = true
		}
	}
	return did
}

// lost re-mounts instance l.id when the server lost it; it reports whether
// it did.
func (c *Client) lost(l lostInstance) bool {
	c.mu.Lock()
	root := c.findRoot(l.id)
	var kind, sealed string
	var params map[string]string
	if root != nil {
		v := c.viewOf(root)
		kind, params, sealed = attrOr(root, attrKind, ""), v.params, v.sealed
		if l.status != 404 {
			v.err = true
			c.paintError(l.id, l.message)
		}
	}
	c.mu.Unlock()
	if root == nil || l.status != 404 {
		return false
	}
	status, _ := c.mountInto(root, kind, params, sealed)
	return status == 0
}

// scan mounts placeholders, binds triggers (sending load triggers) and
// syncs the socket (js/liveflux.js scan); it reports whether it mounted or
// sent anything.
func (c *Client) scan() bool {
	c.mu.Lock()
	var todo []*html.Node
	for _, el := range queryAll(c.page.doc, selPlaceholder) {
		if !c.mounting[el] {
			c.mounting[el] = true
			todo = append(todo, el)
		}
	}
	c.mu.Unlock()
	did := false
	for _, el := range todo {
		kind := attrOr(el, attrKind, "")
		if status, msg := c.mountInto(el, kind, paramsOf(el), attrOr(el, liveflux.AttrSealed, "")); status != 0 {
			c.errorf(nil, "mounting the placeholder %s failed: %d %s", describe(el), status, msg)
		}
		did = true
	}
	c.mu.Lock()
	for _, r := range queryAll(c.page.doc, selRoot) {
		c.viewOf(r)
	}
	for id := range c.views {
		if c.findRoot(id) == nil {
			delete(c.views, id)
		}
	}
	d := &dispatch{}
	c.page.bind(d)
	before := len(c.awaiting)
	c.wsSync()
	if len(c.awaiting) > before {
		did = true
	}
	c.mu.Unlock()
	for _, s := range d.sent {
		c.send(s, &Outcome{})
		did = true
	}
	return did
}

// send sends one action as js/actions.js act does: over the socket when
// it is open and there are no files, else over HTTP; and records what
// came of it in out.
func (c *Client) send(s sent, out *Outcome) {
	c.mu.Lock()
	id, kind := attrOr(s.root, attrID, ""), attrOr(s.root, attrKind, "")
	out.Sent = append(out.Sent, Action{Component: id, Kind: kind, Name: s.action, Fields: s.fields.values(), Files: filesOf(s.files)})
	v := c.views[id]
	if v != nil && v.err {
		v.err = false
		c.paintError(id, "")
	}
	var own *ownValue
	if f := c.focused; f != nil && !s.live && contains(s.carrier, f) {
		val, _ := c.page.value(f)
		own = &ownValue{el: f, value: val}
	}
	sock := c.sock
	if len(s.files) == 0 && sock != nil {
		if v != nil {
			v.own = own
		}
		mark := len(c.frames)
		c.mu.Unlock()
		out.Transport = "websocket"
		c.write(sock, struct {
			Type        string          `json:"type"`
			ComponentID string          `json:"componentID"`
			Action      string          `json:"action"`
			Data        json.RawMessage `json:"data"`
		}{liveflux.MessageAction, id, s.action, s.fields.json()})
		c.sync()
		c.mu.Lock()
		var failed *lostInstance
		for _, m := range c.frames[mark:] {
			if m.ComponentID != id && m.ComponentID != "" {
				continue
			}
			switch m.Type {
			case liveflux.MessageError:
				out.Status, out.Message = m.Code, m.Text
				failed = &lostInstance{id: id, status: m.Code, message: m.Text}
			case liveflux.MessageRedirect:
				var d struct {
					URL string `json:"url"`
				}
				json.Unmarshal(m.Data, &d)
				out.Redirect = d.URL
			case liveflux.MessageEvent:
				var e liveflux.Event
				if json.Unmarshal(m.Data, &e) == nil {
					out.Events = append(out.Events, e)
				}
			case liveflux.MessageUpdate, liveflux.MessageAck, liveflux.MessageStream, liveflux.MessagePatch:
			default:
				out.Replies = append(out.Replies, m)
			}
		}
		if failed != nil {
			for i, l := range c.lostQ {
				if l == *failed {
					c.lostQ = append(c.lostQ[:i:i], c.lostQ[i+1:]...)
					break
				}
			}
		}
		c.mu.Unlock()
		if failed != nil {
			out.Remounted = c.lost(*failed)
		}
		c.checkRedirect(out)
		return
	}
	c.mu.Unlock()
	out.Transport = "http"
	f := s.fields.clone()
	f.set(liveflux.FieldKind, kind)
	f.set(liveflux.FieldID, id)
	if s.action != "" {
		f.set(liveflux.FieldAction, s.action)
	}
	c.mu.Lock()
	if v != nil && v.url {
		f.set(liveflux.FieldURL, c.here())
	}
	c.mu.Unlock()
	status, text, redirect, events, streams, patch := c.post(f, s.files)
	out.Events = append(out.Events, events...)
	c.mu.Lock()
	if patch != nil {
		c.patchQ = append(c.patchQ, patch)
	}
	if redirect != "" {
		out.Redirect = redirect
		if c.navigate(redirect) {
			c.mu.Unlock()
			return
		}
	}
	if status >= 200 && status < 300 {
		c.apply(id, text, own)
		c.applyStreams(id, streams)
		c.mu.Unlock()
		c.checkRedirect(out)
		return
	}
	c.mu.Unlock()
	if status == 0 {
		status = -1
	}
	out.Status, out.Message = status, text
	out.Remounted = c.lost(lostInstance{id: id, status: status, message: text})
}

// checkRedirect records a redirect the client refused, as the JS client
// reports it: an error of status 0.
func (c *Client) checkRedirect(out *Outcome) {
	if out.Redirect == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.navigated != out.Redirect && out.Status == 0 {
		out.Status, out.Message = RefusedRedirect, "refused redirect to an unsafe URL: "+out.Redirect
	}
}

// RefusedRedirect is Outcome.Status when the client refused to follow a
// redirect (not to an http(s) URL, or off-site without http:// or
// https://), as the JS client reports it with status 0.
const RefusedRedirect = -2

func filesOf(es []entry) map[string][]File {
	if len(es) == 0 {
		return nil
	}
	out := map[string][]File{}
	for _, e := range es {
		out[e.name] = append(out[e.name], *e.file)
	}
	return out
}

// An Action is one action a client sent.
type Action struct {
	Component string // the instance's ID
	Kind      string
	Name      string // the action's name
	Fields    url.Values
	Files     map[string][]File
}
