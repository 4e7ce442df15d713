package liveflux

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"
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

//go:embed js/*.js js/vendor/morphdom.min.js
var jsFiles embed.FS

// runtimeEntry is the client's entry module: the bundle holds it and every
// module it imports, directly or not.
const runtimeEntry = "liveflux.js"

// clientRuntime is the bundle GET serves, built once.
type clientRuntime struct {
	js, gz []byte
	etag   string
}

var runtimeBundle = sync.OnceValue(func() *clientRuntime {
	mods, err := loadModules(jsFiles, "js", runtimeEntry)
	if err != nil {
		panic("liveflux: " + err.Error()) // the embedded files are fixed: go test catches this
	}
	var b bytes.Buffer
	b.WriteString("/* Liveflux client runtime. Includes morphdom (MIT License, (c) Patrick Steele-Idem). */\n")
	b.WriteString("(() => {\n\"use strict\";\n")
	b.WriteString("const morphdom = (() => { const module = { exports: {} }; const exports = module.exports;\n")
	b.Write(mustRead("js/vendor/morphdom.min.js"))
	b.WriteString("\nreturn module.exports; })();\n")
	writeModules(&b, mods)
	b.WriteString("})();\n")
	js := b.Bytes()
	sum := sha256.Sum256(js)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(js)
	zw.Close()
	return &clientRuntime{js: js, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
})

// The client is ES modules (js/*.js) that node --test can import one by
// one. The bundle puts them in one scope, each after the modules it
// imports, without their import lines and export keywords. So that this
// stays a few lines, the modules keep to a subset of the syntax: each
// import on one line, in the form importLine matches, from a sibling
// module; exports only as declarations (export const|let|function|async
// function|class); no two modules declare the same top-level name.
var (
	importLine  = regexp.MustCompile(`^import \{([\w\s,]*)\} from "\./([\w-]+\.js)";$`)
	exportDecl  = regexp.MustCompile(`^export (?:async )?(?:function\*? ?|const |let |class )(\w+)`)
	topLevel    = regexp.MustCompile(`^(?:export )?(?:async )?(?:function\*? ?|const |let |class )(\w+)`)
	trailingRem = regexp.MustCompile("^(.*;) // [^\"`]*$")
)

// jsModule is one module of the client, parsed as the bundle needs.
type jsModule struct {
	name     string
	lines    [][]byte
	imports  map[string][]string // module → the names imported from it
	exports  map[string]bool
	declared []string // top-level names
}

func parseModule(fsys fs.FS, dir, name string) (*jsModule, error) {
	src, err := fs.ReadFile(fsys, path.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("client module %s: %w", name, err)
	}
	m := &jsModule{name: name, imports: map[string][]string{}, exports: map[string]bool{}}
	for line := range bytes.Lines(src) {
		line = bytes.TrimRight(line, "\r\n")
		m.lines = append(m.lines, line)
		if bytes.HasPrefix(line, []byte("import")) {
			sub := importLine.FindSubmatch(line)
			if sub == nil {
				return nil, fmt.Errorf("client module %s: unsupported import %q", name, line)
			}
			for _, n := range strings.Split(string(sub[1]), ",") {
				if n = strings.TrimSpace(n); strings.ContainsAny(n, " \t") {
					return nil, fmt.Errorf("client module %s: unsupported import %q", name, line)
				} else if n != "" {
					m.imports[string(sub[2])] = append(m.imports[string(sub[2])], n)
				}
			}
		}
		if bytes.HasPrefix(line, []byte("export")) {
			sub := exportDecl.FindSubmatch(line)
			if sub == nil {
				return nil, fmt.Errorf("client module %s: unsupported export %q", name, line)
			}
			m.exports[string(sub[1])] = true
		}
		if sub := topLevel.FindSubmatch(line); sub != nil {
			m.declared = append(m.declared, string(sub[1]))
		}
	}
	return m, nil
}

// loadModules returns entry (in dir of fsys) and every module it imports, each after the
// ones it imports, checking that each imported name is exported by its
// module and that no top-level name is declared twice.
func loadModules(fsys fs.FS, dir, entry string) ([]*jsModule, error) {
	var (
		order []*jsModule
		seen  = map[string]*jsModule{}
		visit func(name string) error
	)
	visit = func(name string) error {
		if _, ok := seen[name]; ok {
			return nil // done, or in progress: an import cycle is fine in one scope
		}
		seen[name] = nil
		m, err := parseModule(fsys, dir, name)
		if err != nil {
			return err
		}
		for _, dep := range slices.Sorted(maps.Keys(m.imports)) {
			if err := visit(dep); err != nil {
				return err
			}
		}
		seen[name] = m
		order = append(order, m)
		return nil
	}
	if err := visit(entry); err != nil {
		return nil, err
	}
	owner := map[string]string{}
	for _, m := range order {
		for dep, names := range m.imports {
			for _, n := range names {
				if !seen[dep].exports[n] {
					return nil, fmt.Errorf("client module %s imports %s from %s, which does not export it", m.name, n, dep)
				}
			}
		}
		for _, n := range m.declared {
			if o, dup := owner[n]; dup {
				return nil, fmt.Errorf("client modules %s and %s both declare %s", o, m.name, n)
			}
			owner[n] = m.name
		}
	}
	return order, nil
}

// writeModules writes mods in one scope: without import lines, export
// keywords, indentation, lines that hold only a // comment and comments
// after a statement (they are for readers of js/, not for browsers),
// blanks next to punctuation (squeeze), and exported constants no module
// imports. (So no string spans lines.)
func writeModules(b *bytes.Buffer, mods []*jsModule) {
	used := map[string]bool{}
	for _, m := range mods {
		for _, names := range m.imports {
			for _, n := range names {
				used[n] = true
			}
		}
	}
	for _, m := range mods {
		for _, line := range m.lines {
			trimmed := bytes.TrimSpace(line)
			if len(trimmed) == 0 || bytes.HasPrefix(trimmed, []byte("//")) || bytes.HasPrefix(line, []byte("import ")) {
				continue
			}
			if bytes.HasPrefix(line, []byte("export ")) {
				trimmed = trimmed[len("export "):]
				if name := string(exportDecl.FindSubmatch(line)[1]); bytes.HasPrefix(line, []byte("export const ")) &&
					!used[name] && bytes.HasSuffix(bytes.TrimSpace(trailingRem.ReplaceAll(line, []byte("$1"))), []byte(";")) &&
					countWord(m.lines, name) == 1 {
					continue // one-line constant nobody uses
				}
			}
			b.Write(squeeze(trailingRem.ReplaceAll(trimmed, []byte("$1"))))
			b.WriteByte('\n')
		}
	}
}

// countWord counts the lines of a module that mention name as a word.
func countWord(lines [][]byte, name string) int {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`)
	n := 0
	for _, l := range lines {
		if re.Match(l) {
			n++
		}
	}
	return n
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
	if accepts(r.Header.Get("Accept-Encoding"), "gzip") {
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

// squeeze drops the blanks of a line of JS next to punctuation that needs
// none ("a = (b, c) => {" becomes "a=(b,c)=>{"), outside string,
// template and regular expression literals, which it copies as they are.
// A blank between + - * / % and anything else stays ("a - -b" needs
// its blank).
func squeeze(line []byte) []byte {
	const tight = "=,;:{}()[]<>?&|!"
	out := make([]byte, 0, len(line))
	last := func() byte {
		if len(out) == 0 {
			return ';'
		}
		return out[len(out)-1]
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"' || c == '\'' || c == '`' || (c == '/' && regexMayStart(out)):
			j := literalEnd(line, i)
			out = append(out, line[i:j]...)
			i = j - 1
		case c == ' ' && (strings.IndexByte(tight, last()) >= 0 || i+1 < len(line) && strings.IndexByte(tight, line[i+1]) >= 0):
		default:
			out = append(out, c)
		}
	}
	return out
}

// regexMayStart reports whether a "/" after out starts a regular
// expression literal rather than a division.
func regexMayStart(out []byte) bool {
	t := bytes.TrimRight(out, " ")
	if len(t) == 0 {
		return true
	}
	c := t[len(t)-1]
	if c == ')' || c == ']' || c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
		w := t[bytes.LastIndexFunc(t, func(r rune) bool {
			return !(r == '_' || r == '$' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		})+1:]
		return slices.Contains([]string{"return", "typeof", "case", "in", "of", "void", "throw", "new", "delete", "do", "else"}, string(w))
	}
	return true
}

// literalEnd returns the index after the literal that starts at line[i]:
// a string, a template (its ${…} included) or a regular expression
// (its flags included).
func literalEnd(line []byte, i int) int {
	q, depth, class := line[i], 0, false
	for j := i + 1; j < len(line); j++ {
		switch c := line[j]; {
		case c == '\\':
			j++
		case q == '`' && c == '$' && j+1 < len(line) && line[j+1] == '{':
			depth++
			j++
		case q == '`' && depth > 0 && c == '}':
			depth--
		case q == '/' && c == '[':
			class = true
		case q == '/' && c == ']':
			class = false
		case c == q && depth == 0 && !class:
			j++
			for q == '/' && j < len(line) && (line[j] >= 'a' && line[j] <= 'z') {
				j++
			}
			return j
		}
	}
	return len(line)
}
