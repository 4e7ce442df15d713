package liveflux

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// DefaultEndpoint is where the client expects the handler when
// ClientOptions.Endpoint is empty.
const DefaultEndpoint = "/liveflux"

// ClientOptions configures the client runtime a page loads with Script.
type ClientOptions struct {
	// Endpoint is the URL path the handler is mounted at: the runtime is
	// loaded from it and POSTs to it. Defaults to DefaultEndpoint.
	Endpoint string
	// Headers are sent with every request the client makes, for example a
	// CSRF token. Browsers cannot set headers on a WebSocket handshake, so
	// the client sends them as query parameters of the WebSocket URL.
	Headers map[string]string
	// UseWebSocket makes the client open one WebSocket per page after the
	// components have mounted, send actions over it and receive server
	// pushes. Actions fall back to HTTP POST whenever it is not open.
	// Defaults to false (HTTP only).
	UseWebSocket bool
	// WebSocketURL is where the socket connects. Defaults to Endpoint.
	WebSocketURL string
}

// Script returns the <script> element that loads and configures the client
// runtime. Put it once in every page that shows components.
func Script(opts ClientOptions) template.HTML {
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	cfg, _ := json.Marshal(struct {
		Endpoint     string            `json:"endpoint"`
		Headers      map[string]string `json:"headers,omitempty"`
		UseWebSocket bool              `json:"useWebSocket,omitempty"`
		WebSocketURL string            `json:"webSocketURL,omitempty"`
	}{opts.Endpoint, opts.Headers, opts.UseWebSocket, opts.WebSocketURL})
	return template.HTML(`<script src="` + template.HTMLEscapeString(opts.Endpoint) +
		`" data-liveflux-config="` + template.HTMLEscapeString(string(cfg)) + `" defer></script>`)
}

//go:embed js
var jsFiles embed.FS

// runtimeFiles are the client's modules in the order they are joined; they
// share one scope inside the bundle.
var runtimeFiles = []string{
	"constants.js", "dom.js", "morph.js", "http.js", "socket.js", "view.js", "liveflux.js",
}

// clientRuntime is the bundle GET serves, built once.
type clientRuntime struct {
	js, gz []byte
	etag   string
}

var runtimeBundle = sync.OnceValue(func() *clientRuntime {
	var b bytes.Buffer
	b.WriteString("/* Liveflux client runtime. Includes morphdom (MIT License, (c) Patrick Steele-Idem). */\n")
	b.WriteString("(() => {\n\"use strict\";\n")
	b.WriteString("const morphdom = (() => { const module = { exports: {} }; const exports = module.exports;\n")
	b.Write(mustRead("js/vendor/morphdom.min.js"))
	b.WriteString("\nreturn module.exports; })();\n")
	for _, f := range runtimeFiles {
		writeWithoutCommentLines(&b, mustRead("js/"+f))
	}
	b.WriteString("})();\n")
	js := b.Bytes()
	sum := sha256.Sum256(js)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(js)
	zw.Close()
	return &clientRuntime{js: js, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
})

// writeWithoutCommentLines copies a module, leaving out the lines that hold
// only a // comment: they are for readers of js/, not for browsers.
func writeWithoutCommentLines(b *bytes.Buffer, src []byte) {
	for line := range bytes.Lines(src) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("//")) {
			b.Write(line)
		}
	}
	b.WriteByte('\n')
}

func mustRead(name string) []byte {
	b, err := jsFiles.ReadFile(name)
	if err != nil {
		panic("liveflux: embedded client file missing: " + name)
	}
	return b
}

// ClientRuntime returns the client runtime's JavaScript, as GET serves it.
func ClientRuntime() []byte { return runtimeBundle().js }

// serveRuntime answers GET with the client runtime: ETag and 304,
// gzip when the client accepts it.
func serveRuntime(w http.ResponseWriter, r *http.Request) {
	rt := runtimeBundle()
	h := w.Header()
	h.Set("ETag", rt.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("Vary", "Accept-Encoding")
	if etagMatch(r.Header.Get("If-None-Match"), rt.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/javascript; charset=utf-8")
	body := rt.js
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = rt.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for _, p := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(p, ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			q, _ = strconv.ParseFloat(v, 64)
		}
		return q > 0
	}
	return false
}
