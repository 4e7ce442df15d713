package liveflux_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// inbox lists the files its actions received: name, size and whether the
// bytes are those sent.
type inbox struct {
	liveflux.Base
	Got  []string
	want map[string][]byte
}

func (b *inbox) Mount(ctx context.Context, params map[string]string) error { return nil }

func (b *inbox) Handle(ctx context.Context, action string, data url.Values) error {
	for _, fh := range liveflux.FormFiles(ctx, "doc") {
		f, err := fh.Open()
		if err != nil {
			return err
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return err
		}
		b.Got = append(b.Got, fmt.Sprintf("%s:%d:%v:%s", fh.Filename, len(got), bytes.Equal(got, b.want[fh.Filename]), data.Get("note")))
	}
	return nil
}

func (b *inbox) Render(ctx context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "<p>%s</p>", strings.Join(b.Got, " "))
	return err
}

// multipartAction returns an action POST with field note and the files.
func multipartAction(t *testing.T, id, note string, files map[string][]byte, order ...string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, v := range map[string]string{liveflux.FieldKind: "inbox", liveflux.FieldID: id, liveflux.FieldAction: "upload", "note": note} {
		mw.WriteField(name, v)
	}
	for _, name := range order {
		w, _ := mw.CreateFormFile("doc", name)
		w.Write(files[name])
	}
	mw.Close()
	r := httptest.NewRequest(http.MethodPost, "/liveflux", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	return r
}

// Files sent with an action reach Handle through FormFiles, byte for byte,
// with the other fields; over the limits on bytes and on files the answer
// is 413 with the reason, and Handle does not run.
func TestFormFiles(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{"a.bin": make([]byte, 3<<20), "b.txt": []byte("hello"), "c.txt": []byte("x")}
	rand.Read(files["a.bin"])
	reg := liveflux.NewRegistry()
	reg.Register("inbox", func() liveflux.Component { return &inbox{want: files} })
	h := liveflux.NewHandler(nil, liveflux.WithRegistry(reg), liveflux.WithMaxUploadBytes(4<<20), liveflux.WithMaxUploadFiles(2),
		liveflux.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(url.Values{liveflux.FieldKind: {"inbox"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	m := regexp.MustCompile(`data-flux-component-id="([^"]+)"`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("mount: %d %s", rec.Code, rec.Body)
	}
	id := m[1]

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, multipartAction(t, id, "n1", files, "a.bin", "b.txt"))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), fmt.Sprintf("<p>a.bin:%d:true:n1 b.txt:5:true:n1</p>", 3<<20)) {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}

	for _, tc := range []struct {
		name  string
		order []string
		big   bool
		want  string
	}{
		{"too many files", []string{"b.txt", "c.txt", "b.txt"}, false, "more than 2 files"},
		{"too many bytes", []string{"a.bin", "a.bin"}, true, fmt.Sprintf("request body over %d bytes", 4<<20)},
	} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, multipartAction(t, id, "n2", files, tc.order...))
		if rec.Code != http.StatusRequestEntityTooLarge || strings.TrimSpace(rec.Body.String()) != tc.want {
			t.Errorf("%s: %d %q, want 413 %q", tc.name, rec.Code, rec.Body, tc.want)
		}
	}
	// Handle ran only for the first upload.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(url.Values{liveflux.FieldKind: {"inbox"}, liveflux.FieldID: {id}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	if strings.Contains(rec.Body.String(), "n2") {
		t.Errorf("a refused upload reached Handle: %s", rec.Body)
	}
	// A url-encoded body keeps the body limit (1 MiB).
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(url.Values{liveflux.FieldKind: {"inbox"}, liveflux.FieldID: {id}, "x": {strings.Repeat("x", 2<<20)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB url-encoded: %d, want 413", rec.Code)
	}
}
