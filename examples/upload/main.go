// Command upload serves a form that uploads files with a progress bar:
// the component receives each file as a *multipart.FileHeader
// (liveflux.FormFiles) and lists its name, size and SHA-256. No
// JavaScript of its own.
//
//	go run ./examples/upload -addr 127.0.0.1:8080
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-liveflux/liveflux"
)

// Limits of one upload: what the handler accepts (liveflux.WithMaxUploadBytes,
// WithMaxUploadFiles); a larger upload gets 413 and the page shows why.
const (
	maxUploadBytes = 20 << 20
	maxFiles       = 5
)

// Uploads lists the files received so far.
type Uploads struct {
	liveflux.Base
	Files []Received
}

// Received is what the server saw of one file.
type Received struct {
	Name   string
	Size   int64
	SHA256 string
}

func (u *Uploads) Mount(ctx context.Context, params map[string]string) error { return nil }

func (u *Uploads) Handle(ctx context.Context, action string, data url.Values) error {
	if action != "upload" {
		return liveflux.NewError(http.StatusBadRequest, "unknown action "+action)
	}
	files := liveflux.FormFiles(ctx, "files")
	if len(files) == 0 {
		return liveflux.NewError(http.StatusBadRequest, "choose a file first")
	}
	for _, fh := range files {
		f, err := fh.Open()
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		u.Files = append(u.Files, Received{fh.Filename, n, fmt.Sprintf("%x", h.Sum(nil))})
	}
	return nil
}

var uploadsView = template.Must(template.New("uploads").Parse(`
<form class="upload" data-flux-action="upload">
  <input type="file" name="files" multiple>
  <button type="submit" data-flux-disable-with="Uploading…">Upload</button>
  <progress data-flux-progress max="1" value="0"></progress>
</form>
<p class="hint">Up to {{.MaxFiles}} files, {{.MaxMB}} MB in all.</p>
<p id="error" role="alert" data-flux-error hidden></p>
<table class="files">
  <tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>
  {{range .Files}}<tr><td class="name">{{.Name}}</td><td class="size">{{.Size}}</td><td class="sha"><code>{{.SHA256}}</code></td></tr>{{end}}
</table>`))

func (u *Uploads) Render(ctx context.Context, w io.Writer) error {
	return uploadsView.Execute(w, map[string]any{"Files": u.Files, "MaxFiles": maxFiles, "MaxMB": maxUploadBytes >> 20})
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Liveflux uploads</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; color: #222; }
  progress { width: 12rem; vertical-align: middle; }
  .flux-busy progress { accent-color: #2a7; }
  table { border-collapse: collapse; margin-top: 1rem; }
  td, th { padding: .2rem .6rem; text-align: left; border-bottom: 1px solid #ddd; }
  code { font-size: .75rem; }
  #error { color: #b3261e; }
</style>
</head>
<body>
<h1>Uploads</h1>
{{.Uploads}}
{{.Script}}
</body>
</html>`))

// newServer returns the HTTP server for handler, with limits on slow
// clients (see examples/websocket, which explains each).
func newServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           withWriteDeadline(handler, 2*time.Minute),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// withWriteDeadline gives every request but a WebSocket handshake d to
// receive its answer (the Liveflux handler bounds the time to send a body
// itself: liveflux.WithBodyReadTimeout).
func withWriteDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
		}
		h.ServeHTTP(w, r)
	})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	registry := liveflux.NewRegistry()
	if err := registry.Register("uploads", func() liveflux.Component { return &Uploads{} }); err != nil {
		log.Fatal(err)
	}
	lf := liveflux.NewWebSocketHandler(nil,
		liveflux.WithRegistry(registry),
		liveflux.WithLogger(slog.Default()),
		liveflux.WithMaxUploadBytes(maxUploadBytes),
		liveflux.WithMaxUploadFiles(maxFiles),
	)
	mux := http.NewServeMux()
	mux.Handle("/liveflux", lf)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		html, err := lf.Mount(r, "uploads", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.Execute(w, map[string]any{"Uploads": html, "Script": liveflux.Script(liveflux.ClientOptions{UseWebSocket: true})})
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Liveflux upload example: http://%s/\n", ln.Addr())
	log.Fatal(newServer(mux).Serve(ln))
}
