package liveflux_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/go-liveflux/liveflux"
)

// Greeter says hello to whoever the page names.
type Greeter struct {
	liveflux.Base
	Name  string
	Waves int
}

func (g *Greeter) Mount(_ context.Context, params map[string]string) error {
	g.Name = params["name"]
	return nil
}

func (g *Greeter) Handle(_ context.Context, action string, _ url.Values) error {
	if action != "wave" {
		return liveflux.NewError(http.StatusBadRequest, "unknown action")
	}
	g.Waves++
	return nil
}

func (g *Greeter) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, `<p>Hello, %s! <button data-flux-action="wave">👋 %d</button></p>`, g.Name, g.Waves)
	return err
}

// A component is registered under a kind, and a handler serves it.
func Example() {
	registry := liveflux.NewRegistry() // or liveflux.RegisterByKind for the default one
	registry.Register("greeter", func() liveflux.Component { return &Greeter{} })
	h := liveflux.NewHandler(nil, liveflux.WithRegistry(registry))

	// On first paint, the page renders the component in place…
	html, _ := h.Mount(httptest.NewRequest("GET", "/", nil), "greeter", map[string]string{"name": "Gopher"})
	fmt.Println(strings.Contains(string(html), "Hello, Gopher!"))

	// …and the client runtime POSTs the user's actions to the handler.
	id := strings.Split(strings.Split(string(html), `data-flux-component-id="`)[1], `"`)[0]
	form := url.Values{liveflux.FieldKind: {"greeter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"wave"}}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/liveflux", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), "👋 1"))
	// Output:
	// true
	// 200 true
}

// Placeholder and Script go into the page template.
func ExamplePlaceholder() {
	fmt.Println(liveflux.Placeholder("greeter", map[string]string{"name": "Ada"}))
	fmt.Println(liveflux.Script(liveflux.ClientOptions{UseWebSocket: true}))
	// Output:
	// <div data-flux-component-kind="greeter" data-flux-param-name="Ada"></div>
	// <script src="/liveflux" data-liveflux-config="{&#34;endpoint&#34;:&#34;/liveflux&#34;,&#34;useWebSocket&#34;:true}" defer></script>
}

// Broadcast pushes a payload to every client watching a component.
func ExampleWebSocketHandler_Broadcast() {
	ws := liveflux.NewWebSocketHandler(nil, liveflux.WithWebSocketAllowedOrigins("https://app.example"))
	defer ws.Close()
	err := ws.Broadcast("CTP5C6ZHH5GTOSQPYFYLRAQDSG", map[string]any{"type": "notice", "text": "deploy finished"})
	fmt.Println(err) // nobody watches: not an error
	// Output: <nil>
}

// A component's error tells the client what went wrong, with a status.
func ExampleNewError() {
	err := liveflux.NewError(http.StatusConflict, "that name is taken")
	fmt.Println(err)
	// Output: 409 that name is taken
}
