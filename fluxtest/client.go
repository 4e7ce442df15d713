package fluxtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
	"golang.org/x/net/html"
)

// Client is one simulated page of a browser running the JS client: it
// shows components, turns the user's gestures into actions with the
// client's rules, sends them over its one WebSocket (or HTTP POST while
// the socket is not open, or when it carries files), and applies every
// update it receives as the client does (diffs included, never going
// back to an older revision), re-mounting a component the server lost.
//
// Methods must be called from the test's goroutine; what the server
// pushes is received in the background. Every method that reads or
// asserts first brings the page up to date with everything the server
// sent it so far (one round trip on the socket), so tests need no sleeps.
type Client struct {
	*state
	expect *expectation // set on the copy ExpectError returns
}

// state is a page's, shared by the copies of its Client.
type state struct {
	t       testing.TB
	srv     *Server
	cfg     config
	http    *http.Client
	jar     http.CookieJar
	pageURL *url.URL
	// From the page's script tag (ClientOptions).
	endpoint string
	wsURL    string
	headers  map[string]string
	useWS    bool

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	page      page
	views     map[string]*viewState
	frames    []Message
	lostQ     []lostInstance
	awaiting  map[string]bool // IDs sent init, waiting for a full rendering
	problems  []string        // found by the reader, reported by the test
	navigated string          // where a redirect took the page
	sock      *socket         // nil: not open
	sockErr   error           // why the last connection attempt failed
	mounting  map[*html.Node]bool
	sentMark  int64
	seenMark  int64
	focused   *html.Node
	history   []string // the entries the page made (patches); at: the current one
	at        int
	patchQ    []*patchData // patches the server sent, to follow (see settle)
}

// viewState is what the client keeps of a component, by ID
// (js/view.js views).
type viewState struct {
	params map[string]string
	sealed string // data-flux-sealed, sent back to mount it again
	url    bool   // it lives in the URL (data-flux-url)
	err    bool   // its data-flux-error regions show an error
	kind   string
	rev    uint64
	body   string
	own    *ownValue // what the next socket update answers
}

type ownValue struct {
	el    *html.Node
	value string
}

type lostInstance struct {
	id      string
	status  int
	message string
}

func newClient(t testing.TB, srv *Server, cfg config, jar http.CookieJar) *Client {
	t.Helper()
	if jar == nil {
		jar, _ = cookiejar.New(nil)
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatalf("fluxtest: server URL %q: %v", srv.URL, err)
		}
		jar.SetCookies(u, cfg.cookies)
	}
	doc, _ := newDocument("")
	pageURL, _ := url.Parse(srv.URL + "/")
	s := &state{
		t: t, srv: srv, cfg: cfg, jar: jar, pageURL: pageURL,
		http:     &http.Client{Jar: jar, Timeout: cfg.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		endpoint: srv.URL + liveflux.DefaultEndpoint,
		headers:  cfg.headers,
		useWS:    !cfg.httpOnly,
		changed:  make(chan struct{}),
		page:     page{doc: doc},
		views:    map[string]*viewState{},
		awaiting: map[string]bool{},
		mounting: map[*html.Node]bool{},
	}
	c := &Client{state: s}
	t.Cleanup(c.close)
	if s.useWS {
		c.connect()
	}
	return c
}

// NewTab returns another page of the same browser (same cookies and
// options), empty.
func (c *Client) NewTab() *Client {
	c.t.Helper()
	return newClient(c.t, c.srv, c.cfg, c.jar)
}

// ExpectError returns c for one call that must fail: Mount with this
// status (0: any failure).
func (c *Client) ExpectError(status int) *Client {
	return &Client{state: c.state, expect: &expectation{status: status}}
}

// Request returns a request for the page as this browser sends it (its
// cookies and headers), to pass to Handler.Mount for a first paint.
func (c *Client) Request() *http.Request {
	r, _ := http.NewRequest(http.MethodGet, c.pageURL.String(), nil)
	for _, ck := range c.jar.Cookies(c.pageURL) {
		r.AddCookie(ck)
	}
	for k, v := range c.headers {
		r.Header.Set(k, v)
	}
	return r
}

// Mount mounts a component of kind with params, as the client mounts a
// placeholder (liveflux.Placeholder) on a page, and returns it.
func (c *Client) Mount(kind string, params map[string]string) *View {
	c.t.Helper()
	c.mu.Lock()
	ph := &html.Node{Type: html.ElementNode, Data: "div", Attr: []html.Attribute{{Key: attrKind, Val: kind}}}
	for k, v := range params {
		ph.Attr = append(ph.Attr, html.Attribute{Key: attrParamPrefix + k, Val: v})
	}
	body(c.page.doc).AppendChild(ph)
	c.mounting[ph] = true
	c.mu.Unlock()
	status, msg := c.mountInto(ph, kind, params, "")
	if c.expect != nil {
		if status == 0 {
			c.fatalf(nil, "mount %s %v: succeeded, want it to fail with %s", kind, params, c.expect)
		} else if !c.expect.matches(status) {
			c.fatalf(nil, "mount %s %v: failed with %d %s, want %s", kind, params, status, msg, c.expect)
		}
		return nil
	}
	if status != 0 {
		c.fatalf(nil, "mount %s %v: %d %s", kind, params, status, msg)
	}
	c.settle()
	return &View{c: c, root: ph}
}

// Adopt shows a rendering the server made for the page's first paint
// (Handler.Mount; use Request for the request), as the client adopts it
// when the page loads, and returns it.
func (c *Client) Adopt(rendering string) *View {
	c.t.Helper()
	root := parseRoot(rendering)
	if root == nil || !isRoot(root) {
		c.fatalf(nil, "adopt: not a component's rendering: %.200q", rendering)
	}
	c.mu.Lock()
	body(c.page.doc).AppendChild(root)
	c.mu.Unlock()
	c.settle()
	return &View{c: c, root: root}
}

// Watch shows in c the instance v shows (in another page, of this browser
// or another), as a page the server rendered with it would, and returns
// it: both then watch one instance.
func (c *Client) Watch(v *View) *View {
	c.t.Helper()
	v.c.settle()
	v.c.mu.Lock()
	r := outerHTML(v.root)
	var params map[string]string
	if vs := v.c.views[attrOr(v.root, attrID, "")]; vs != nil {
		params = vs.params
	}
	v.c.mu.Unlock()
	root := parseRoot(r)
	for k, val := range params {
		if !hasAttr(root, attrParamPrefix+k) {
			root.Attr = append(root.Attr, html.Attribute{Key: attrParamPrefix + k, Val: val})
		}
	}
	return c.Adopt(outerHTML(root))
}

// Open loads one of the application's pages (GET path, with this
// browser's cookies), as a browser does: it shows the components rendered
// in it, mounts its placeholders, and configures the client from the
// page's Script tag (endpoint, headers, WebSocket or not). It returns the
// page's components.
func (c *Client) Open(path string) []*View {
	c.t.Helper()
	res, err := c.http.Get(c.srv.URL + path)
	if err != nil {
		c.fatalf(nil, "open %s: %v", path, err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		c.fatalf(nil, "open %s: %s: %s", path, res.Status, data)
	}
	doc, err := html.Parse(strings.NewReader(string(data)))
	if err != nil {
		c.fatalf(nil, "open %s: %v", path, err)
	}
	var script *html.Node
	for n := range doc.Descendants() {
		if tag(n) == "script" && hasAttr(n, attrConfig) {
			script = n
		}
	}
	if script == nil {
		c.fatalf(nil, "open %s: the page has no liveflux.Script tag, so no client runs there", path)
	}
	var opts struct {
		Endpoint     string            `json:"endpoint"`
		Headers      map[string]string `json:"headers"`
		UseWebSocket bool              `json:"useWebSocket"`
		WebSocketURL string            `json:"webSocketURL"`
	}
	if err := json.Unmarshal([]byte(attrOr(script, attrConfig, "")), &opts); err != nil {
		c.fatalf(nil, "open %s: the Script tag's configuration: %v", path, err)
	}
	c.close()
	u, _ := url.Parse(c.srv.URL + path)
	c.mu.Lock()
	c.pageURL = u
	c.endpoint = resolve(u, opts.Endpoint, liveflux.DefaultEndpoint)
	c.wsURL = ""
	if opts.WebSocketURL != "" {
		c.wsURL = resolve(u, opts.WebSocketURL, "")
	}
	c.headers = map[string]string{}
	for k, v := range c.cfg.headers {
		c.headers[k] = v
	}
	for k, v := range opts.Headers {
		c.headers[k] = v
	}
	c.useWS = opts.UseWebSocket && !c.cfg.httpOnly
	c.page = page{doc: doc}
	c.views = map[string]*viewState{}
	c.navigated = ""
	c.history, c.at = nil, 0
	c.mu.Unlock()
	c.scan()
	if c.useWS {
		c.connect()
	}
	c.settle()
	return c.Views()
}

func resolve(base *url.URL, ref, def string) string {
	if ref == "" {
		ref = def
	}
	u, err := base.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}

// Views returns the components the page shows, in document order.
func (c *Client) Views() []*View {
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*View
	for _, r := range queryAll(c.page.doc, selRoot) {
		out = append(out, &View{c: c, root: r})
	}
	return out
}

// View returns the component whose root matches selector, or the one the
// first element matching selector is in.
func (c *Client) View(selector string) *View {
	c.t.Helper()
	c.settle()
	sel, err := compile(selector)
	if err != nil {
		c.fatalf(nil, "%v", err)
	}
	c.mu.Lock()
	found := queryAll(c.page.doc, sel)
	var root *html.Node
	if len(found) > 0 {
		root = rootOf(found[0])
	}
	doc := c.page.doc
	c.mu.Unlock()
	if root == nil {
		c.fatalf(nil, "no component at %q on the page:\n%s", selector, c.context(doc, selector))
	}
	return &View{c: c, root: root}
}

// Navigated returns where a redirect took the page, or "".
func (c *Client) Navigated() string {
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.navigated
}

// HTML returns the page's body as the client shows it.
func (c *Client) HTML() string {
	c.t.Helper()
	c.settle()
	c.mu.Lock()
	defer c.mu.Unlock()
	return outerHTML(body(c.page.doc))
}

// signal wakes whoever waits for a change. c.mu is held.
func (s *state) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitUntil waits until cond (run with c.mu held) holds, for at most the
// client's timeout, waking on every change; it reports whether cond held.
func (s *state) waitUntil(cond func() bool) bool {
	deadline := time.NewTimer(s.cfg.timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.mu.Lock()
			ok = cond()
			s.mu.Unlock()
			return ok
		}
	}
}

// post sends fields (and files, as multipart) to the endpoint as the JS
// client does (js/http.js post), asking for answers in JSON, and returns
// the status (0 on a network failure), the rendering (or the trimmed text
// of a failure), the redirect header, the events, the stream operations
// and the URL patch.
func (s *state) post(fields *fieldList, files []entry) (status int, text, redirect string, events []liveflux.Event, streams []wire.StreamOp, patch *patchData) {
	var body io.Reader
	contentType := "application/x-www-form-urlencoded;charset=UTF-8"
	if len(files) > 0 {
		var b strings.Builder
		w := multipart.NewWriter(&b)
		for _, n := range fields.ordered() {
			for _, v := range fields.vals[n] {
				w.WriteField(n, v)
			}
		}
		for _, f := range files {
			h := make(map[string][]string)
			h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, f.name, f.file.Name)}
			ct := f.file.ContentType
			if ct == "" {
				ct = "application/octet-stream"
			}
			h["Content-Type"] = []string{ct}
			part, _ := w.CreatePart(h)
			part.Write(f.file.Content)
		}
		w.Close()
		body, contentType = strings.NewReader(b.String()), w.FormDataContentType()
	} else {
		body = strings.NewReader(fields.form())
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, body)
	if err != nil {
		return 0, err.Error(), "", nil, nil, nil
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", liveflux.MediaTypeAnswer)
	// What a browser's same-origin XMLHttpRequest carries.
	req.Header.Set("Origin", s.origin())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return 0, err.Error(), "", nil, nil, nil
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	redirect = res.Header.Get(liveflux.HeaderRedirect)
	if res.StatusCode >= 300 {
		return res.StatusCode, strings.TrimSpace(string(data)), redirect, nil, nil, nil
	}
	var a struct {
		HTML    string           `json:"html"`
		Events  []liveflux.Event `json:"events"`
		Streams json.RawMessage  `json:"streams"`
		Patch   *patchData       `json:"patch"`
	}
	err = json.Unmarshal(data, &a)
	if err == nil && a.Streams != nil {
		streams, err = wire.ParseStreamOps(a.Streams)
	}
	if err != nil {
		s.mu.Lock()
		s.problems = append(s.problems, fmt.Sprintf("the answer is not %s (%v): %.200q", liveflux.MediaTypeAnswer, err, data))
		s.mu.Unlock()
		return 0, "malformed answer", redirect, nil, nil, nil
	}
	return res.StatusCode, a.HTML, redirect, a.Events, streams, a.Patch
}

func (s *state) origin() string {
	return s.pageURL.Scheme + "://" + s.pageURL.Host
}

// sameOrigin reports whether u is on the page's origin, hosts compared as
// browsers compare them (without case). s.mu is held.
func (s *state) sameOrigin(u *url.URL) bool {
	return u.Scheme == s.pageURL.Scheme && strings.EqualFold(u.Host, s.pageURL.Host)
}

// mountInto mounts kind with params (and sealed ones, as the server gave
// them) at the page's URL and puts the new root in place of el
// (js/http.js mountInto); it returns the failure's status and message.
func (c *Client) mountInto(el *html.Node, kind string, params map[string]string, sealed string) (int, string) {
	fields := &fieldList{}
	for k, v := range params {
		fields.set(k, v)
	}
	fields.set(liveflux.FieldKind, kind)
	c.mu.Lock()
	fields.set(liveflux.FieldURL, c.here())
	c.mu.Unlock()
	if sealed != "" {
		fields.set(liveflux.FieldSealed, sealed)
	}
	status, text, redirect, _, _, _ := c.post(fields, nil)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mounting, el)
	if redirect != "" && c.navigate(redirect) {
		return 0, ""
	}
	if status < 200 || status >= 300 {
		if status == 0 {
			return -1, text
		}
		return status, text
	}
	root := parseRoot(text)
	if root == nil || el.Parent == nil {
		return 0, ""
	}
	el.Attr = root.Attr
	replaceChildren(el, root)
	c.viewOf(el).params = params
	c.signal()
	return 0, ""
}

// navigate follows a redirect, resolved against the page as a browser
// resolves it, and reports whether it did (js/dom.js navigate, js/rules.js
// safeURL): only to an http(s) URL, and to another origin only when the
// target is spelled with http:// or https://. c.mu is held.
func (s *state) navigate(to string) bool {
	u, ok := s.resolve(to)
	if !ok || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	lower := strings.ToLower(to)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") &&
		!s.sameOrigin(u) {
		return false
	}
	s.navigated = to
	s.signal()
	return true
}

// resolve resolves a URL against the page as browsers do, where that
// differs from url.Parse: leading and trailing controls and blanks are
// dropped, tabs and line breaks anywhere, a backslash is a slash, and a
// scheme without "//" is relative when it is the page's ("https:x" on an
// https page is its path x) and has its host after it when it is not.
func (s *state) resolve(to string) (*url.URL, bool) {
	to = strings.Trim(to, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	to = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, to)
	u, err := s.pageURL.Parse(to)
	if err != nil {
		return nil, false
	}
	if u.Opaque != "" && (u.Scheme == "http" || u.Scheme == "https") {
		if u.Scheme == s.pageURL.Scheme {
			u, err = s.pageURL.Parse(u.Opaque)
		} else {
			u, err = url.Parse(u.Scheme + "://" + u.Opaque)
		}
	}
	return u, err == nil
}

// viewOf returns root's state, created at first sight. c.mu is held.
func (s *state) viewOf(root *html.Node) *viewState {
	id, _ := getAttr(root, attrID)
	v := s.views[id]
	if v == nil {
		v = &viewState{params: paramsOf(root), kind: attrOr(root, attrKind, ""), sealed: attrOr(root, liveflux.AttrSealed, ""), url: hasAttr(root, liveflux.AttrURL)}
		s.views[id] = v
	}
	return v
}

// findRoot returns the root of instance id on the page. c.mu is held.
func (s *state) findRoot(id string) *html.Node {
	for n := range s.page.doc.Descendants() {
		if isRoot(n) && attrOr(n, attrID, "") == id {
			return n
		}
	}
	return nil
}

// revOf reads a root's data-flux-rev (0 when missing or not a number).
func revOf(n *html.Node) uint64 {
	r, _ := strconv.ParseUint(attrOr(n, attrRev, ""), 10, 64)
	return r
}

// apply morphs rendering into instance id's root unless it is stale
// (js/view.js apply). c.mu is held.
func (s *state) apply(id, rendering string, own *ownValue) bool {
	root, next := s.findRoot(id), parseRoot(rendering)
	if root == nil || next == nil {
		return false
	}
	if r := revOf(next); r != 0 && r < revOf(root) {
		return false
	}
	v := s.viewOf(root)
	s.morph(root, next, own)
	v.rev, v.body = revOf(next), bodyOf(rendering)
	s.signal()
	return true
}

// bodyOf returns the markup inside a rendering's root element.
func bodyOf(rendering string) string {
	i, j := strings.IndexByte(rendering, '>'), strings.LastIndex(rendering, "</")
	if i < 0 || j < i {
		return ""
	}
	return rendering[i+1 : j]
}

// morph morphs root into next in place, as morphdom does for the client:
// elements at the same place with the same tag (and id, where they have
// one) are kept and updated, so the triggers bound to them, their
// .changed and .once state and the focus stay; controls take the values
// of the new markup, but the focused one keeps what was typed unless own
// says the update answers an action sent from it with that value;
// elements marked data-flux-ignore and nested components' roots (the same
// one rendered there) are left alone. c.mu is held.
func (s *state) morph(root, next *html.Node, own *ownValue) {
	f := s.focused
	var typed *control
	if f != nil && contains(root, f) {
		if c := s.page.state[f]; c != nil {
			cp := *c
			typed = &cp
		}
		if own != nil && own.el == f {
			if v, _ := s.page.value(f); v == own.value {
				typed = nil // the server's value wins
			}
		}
	}
	s.morphElement(root, next, root)
	if f != nil && !contains(s.page.doc, f) {
		s.focused = nil
	} else if f != nil && typed != nil && typed.value != nil && !isBox(f) {
		v := *typed.value
		s.page.of(f).value = &v
	}
}

// morphElement updates from (kept) to look like to. The children of a
// stream's container are the stream's: they stay.
func (s *state) morphElement(from, to, root *html.Node) {
	from.Attr = append([]html.Attribute(nil), to.Attr...)
	s.page.reapply(from)
	switch tag(from) {
	case "input", "textarea":
		delete(s.page.state, from)
	case "option":
		delete(s.page.state, from)
	}
	if hasAttr(from, attrStream) && selLive.Match(from) {
		return
	}
	// The old children, by key (data-flux-key, else id) where they have one.
	var old []*html.Node
	byKey := map[string]*html.Node{}
	for c := from.FirstChild; c != nil; c = c.NextSibling {
		old = append(old, c)
		if k, ok := keyOf(c); ok {
			byKey[k] = c
		}
	}
	used := map[*html.Node]bool{}
	var out []*html.Node
	i := 0
	for n := to.FirstChild; n != nil; n = n.NextSibling {
		var match *html.Node
		if k, ok := keyOf(n); ok {
			if o := byKey[k]; o != nil && !used[o] && tag(o) == tag(n) {
				match = o
			}
		} else {
			for i < len(old) && used[old[i]] {
				i++
			}
			if i < len(old) && compatible(old[i], n) {
				match = old[i]
				i++
			}
		}
		if match == nil {
			out = append(out, n)
			continue
		}
		used[match] = true
		out = append(out, match)
		switch {
		case match.Type == html.TextNode || match.Type == html.CommentNode:
			match.Data = n.Data
		case match.Type != html.ElementNode:
		case !selLive.Match(match) || !selLive.Match(n):
			// content you did not write: plain markup
			s.morphElement(match, n, root)
		case hasAttr(match, attrIgnore):
		case match != root && isRoot(match) && attrOr(match, attrKind, "") == attrOr(n, attrKind, "\x00") &&
			(!hasAttr(n, attrID) || attrOr(n, attrID, "") == attrOr(match, attrID, "")):
			// the same nested component: its own updates morph it
		default:
			s.morphElement(match, n, root)
		}
	}
	for c := from.FirstChild; c != nil; c = from.FirstChild {
		from.RemoveChild(c)
	}
	for _, c := range out {
		if c.Parent != nil {
			c.Parent.RemoveChild(c)
		}
		from.AppendChild(c)
	}
}

// compatible reports whether morphdom updates old into n rather than
// replacing it: same kind of node, same tag, neither with a key.
func compatible(old, n *html.Node) bool {
	if old.Type != n.Type {
		return false
	}
	if old.Type != html.ElementNode {
		return true
	}
	_, keyed := keyOf(old)
	return old.Data == n.Data && !keyed
}

// keyOf returns an element's identity among its siblings through morphs
// (js/morph.js keyOf): its data-flux-key, else its id.
func keyOf(n *html.Node) (string, bool) {
	if n.Type != html.ElementNode {
		return "", false
	}
	if k, ok := getAttr(n, attrKey); ok && k != "" {
		return "k" + k, true
	}
	if id, ok := getAttr(n, "id"); ok && id != "" {
		return "#" + id, true
	}
	return "", false
}

// close ends the page: its socket is closed.
func (c *Client) close() {
	c.mu.Lock()
	s := c.sock
	c.sock = nil
	c.mu.Unlock()
	if s != nil {
		s.ws.Close()
		<-s.done
	}
}
