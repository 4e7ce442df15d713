package liveflux

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// URLComponent is a component whose state lives, in part, in the page's
// URL: a filter, a tab, a search term, a page number. HandleURL turns the
// URL into state; it is called, serialized with the instance's actions,
// whenever the page's URL differs from the one the instance last saw:
//
//   - on mount, with the URL of the page (Handler.Mount: the request's;
//     a placeholder the client mounts: the page's), so a deep link
//     renders the same state on first paint;
//   - when the URL changes in the page without a reload: a data-flux-patch
//     link, Back and Forward, a patch another component of the page asked
//     for;
//   - when an action of the instance patches the URL (PatchURL,
//     ReplaceURL), right after the action, before the rendering.
//
// u holds the path, the query and the fragment, never a scheme or host.
// An error fails the request as an action's error does.
//
// Query parameters can also be bound to fields by tag, with or without
// HandleURL: see PatchURL.
type URLComponent interface {
	Component
	HandleURL(ctx context.Context, u *url.URL) error
}

// PatchURL changes the URL of the page that sent the current action to
// target, a path of this site ("/active", "/search?q=go"), with a new
// history entry, without a reload: Back returns to the URL before. It is
// called from a component that lives in the URL (a URLComponent, or one
// with fields tagged url) while it handles an action; once the action
// returns, the instance applies target itself (its tagged fields, then
// HandleURL) before it is rendered, and the other components of the page
// that live in the URL are told by the client. A target that is not a path
// of this site is refused with an error wrapping ErrUnsafeRedirect.
//
// Tagged fields bind query parameters both ways:
//
//	type Search struct {
//		liveflux.Base
//		Query string `url:"q"`         // ?q=…; a change replaces the history entry
//		Page  int    `url:"page,push"` // ?page=…; a change adds one
//	}
//
// A tagged field (string, bool, or an integer type, exported, declared in
// the component's struct itself) takes the parameter's value whenever the
// URL is applied (the zero value when the parameter is absent or does not
// parse). After every action the URL is made to follow the fields: a
// parameter is set to its field's value, or left out when the field holds
// its zero value, and a change is a patch of the page's URL: a new history
// entry if a field tagged ",push" changed, else the current entry replaced.
//
// The patch reaches clients that asked for it: over WebSocket, a
// connection that has sent its URL (as the JS client does); over HTTP, a
// client that asks for answers in JSON.
func PatchURL(ctx context.Context, target string) error { return patchURL(ctx, target, false) }

// ReplaceURL is PatchURL without a new history entry: the current one is
// replaced, so Back skips the URL it replaces.
func ReplaceURL(ctx context.Context, target string) error { return patchURL(ctx, target, true) }

func patchURL(ctx context.Context, target string, replace bool) error {
	sc := scopeOf(ctx)
	if sc == nil {
		return ErrNoScope
	}
	if !livesInURL(sc.c) {
		return fmt.Errorf("liveflux: patch URL: kind %q does not live in the URL (implement HandleURL, or tag a field with url)", sc.c.GetKind())
	}
	if err := checkChars(target); err != nil {
		return fmt.Errorf("liveflux: patch URL: %w", err)
	}
	if target == "" {
		return fmt.Errorf("%w: patch URL: empty target", ErrUnsafeRedirect)
	}
	if err := checkLocal(target); err != nil {
		return fmt.Errorf("liveflux: patch URL: %w", err)
	}
	sc.patch, sc.replace = target, replace
	return nil
}

// urlPatch is a change of the page's URL an action asked for.
type urlPatch struct {
	URL     string `json:"url"`
	Replace bool   `json:"replace,omitempty"`
}

// urlField is a field bound to a query parameter by its url tag.
type urlField struct {
	index int
	name  string
	push  bool
}

var urlFields sync.Map // reflect.Type → []urlField

// fieldsInURL returns the url-tagged fields of c's struct type.
func fieldsInURL(c Component) []urlField {
	t := reflect.TypeOf(c)
	if f, ok := urlFields.Load(t); ok {
		return f.([]urlField)
	}
	var out []urlField
	if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct {
		st := t.Elem()
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			tag, ok := f.Tag.Lookup("url")
			if !ok || !f.IsExported() || !bindable(f.Type.Kind()) {
				continue
			}
			name, opt, _ := strings.Cut(tag, ",")
			if name == "" || name == "-" {
				continue
			}
			out = append(out, urlField{index: i, name: name, push: opt == "push"})
		}
	}
	urlFields.Store(t, out)
	return out
}

func bindable(k reflect.Kind) bool {
	switch k {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// livesInURL reports whether c's state lives in the URL: it implements
// URLComponent or has url-tagged fields, and embeds Base (which keeps the
// URL it last saw).
func livesInURL(c Component) bool {
	if _, ok := c.(baser); !ok {
		return false
	}
	_, ok := c.(URLComponent)
	return ok || len(fieldsInURL(c)) > 0
}

// parsePageURL parses the URL a page gave (FieldURL, MessageURL): a path
// of this site, with its query and fragment.
func parsePageURL(s string) (*url.URL, error) {
	if checkChars(s) != nil || checkLocal(s) != nil {
		return nil, NewError(http.StatusBadRequest, "the page's URL must be a path of this site")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, NewError(http.StatusBadRequest, "malformed page URL")
	}
	return u, nil
}

// applyURL makes c, a component that lives in the URL, apply the page's
// URL s when it differs from the one it last saw: its tagged fields take
// the query's values, then HandleURL runs. It reports whether it did.
func (h *Handler) applyURL(ctx context.Context, c Component, s string) (bool, error) {
	if s == "" || !livesInURL(c) {
		return false, nil
	}
	u, err := parsePageURL(s)
	if err != nil {
		return false, err
	}
	b := c.(baser).base()
	if u.String() == b.url {
		return false, nil
	}
	if fs := fieldsInURL(c); len(fs) > 0 {
		q := u.Query()
		v := reflect.ValueOf(c).Elem()
		for _, f := range fs {
			setField(v.Field(f.index), q.Get(f.name))
		}
	}
	if uc, ok := c.(URLComponent); ok {
		if err := h.call(ctx, c, "HandleURL", func() error { return uc.HandleURL(ctx, u) }); err != nil {
			return false, err
		}
	}
	b.url = u.String()
	return true, nil
}

// syncURL runs after an action: it applies the URL the action patched to,
// then makes the URL follow the tagged fields, and returns the patch the
// page is sent, if the URL changed.
func (h *Handler) syncURL(ctx context.Context, c Component, sc *scope) (*urlPatch, error) {
	if !livesInURL(c) {
		return nil, nil
	}
	b := c.(baser).base()
	before, push := b.url, false
	if sc.patch != "" {
		if _, err := h.applyURL(ctx, c, sc.patch); err != nil {
			return nil, err
		}
		push = !sc.replace
	}
	// The URL follows the tagged fields, once the instance knows it (a
	// client of the first protocol never says it).
	if fs := fieldsInURL(c); len(fs) > 0 && b.url != "" {
		u, err := url.Parse(b.url)
		if err != nil {
			return nil, err
		}
		q, old := u.Query(), u.Query()
		v := reflect.ValueOf(c).Elem()
		for _, f := range fs {
			s := fieldString(v.Field(f.index))
			if s == "" {
				q.Del(f.name)
			} else {
				q.Set(f.name, s)
			}
			if q.Get(f.name) != old.Get(f.name) && f.push {
				push = true
			}
		}
		if q.Encode() != old.Encode() {
			u.RawQuery = q.Encode()
			b.url = u.String()
		}
	}
	if b.url == before {
		return nil, nil
	}
	return &urlPatch{URL: b.url, Replace: !push}, nil
}

// setField sets a tagged field from a parameter's value: its zero value
// when s is empty or does not parse.
func setField(f reflect.Value, s string) {
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		v, _ := strconv.ParseBool(s)
		f.SetBool(v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			v = 0
		}
		f.SetUint(v)
	default:
		v, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			v = 0
		}
		f.SetInt(v)
	}
}

// fieldString is a tagged field's parameter value; "" for its zero value.
func fieldString(f reflect.Value) string {
	if f.IsZero() {
		return ""
	}
	switch f.Kind() {
	case reflect.String:
		return f.String()
	case reflect.Bool:
		return "true"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(f.Uint(), 10)
	default:
		return strconv.FormatInt(f.Int(), 10)
	}
}

// urlOf returns the page's URL instance c last saw.
func urlOf(c Component) string {
	if b, ok := c.(baser); ok {
		return b.base().url
	}
	return ""
}

// pageURL handles MessageURL: the page shows instance msg.ComponentID at
// URL data.url. The connection watches it from now on, as after an
// action; if the instance saw another URL last, it applies this one and
// every watcher is sent the rendering. The connection is sent patches
// from now on.
func (c *wsConn) pageURL(ctx context.Context, msg *WebSocketMessage) {
	id := msg.ComponentID
	var data urlData
	if json.Unmarshal(msg.Data, &data) != nil || data.URL == "" {
		c.reply(encodeError(id, http.StatusBadRequest, "data.url must be the page's URL"))
		return
	}
	c.wantsURL.Store(true)
	res, err := c.h.act(ctx, actRequest{id: id, url: data.URL, urlOnly: true, owner: c.owner, watcher: c})
	if err != nil {
		c.sendErr(id, err)
		return
	}
	res.origin = c
	c.h.publish(c.h.ctx, res)
	c.follow(id, res) // HandleURL may emit, patch or redirect too
}

// sendPatch sends c patch p of instance id's page URL, if c asked for
// patches.
func (c *wsConn) sendPatch(id string, p *urlPatch) {
	if p != nil && c.wantsURL.Load() {
		c.reply(encodeMessage(serverMessage{Type: MessagePatch, ComponentID: id, Data: p}))
	}
}
