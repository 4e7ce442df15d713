package liveflux_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// slowPost starts a POST on a connection of its own to srv: its headers
// and the first bytes of its body (url-encoded, or multipart), then
// nothing more.
func slowPost(t *testing.T, srv *httptest.Server, multipartBody bool) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	assertNoError(t, err)
	t.Cleanup(func() { conn.Close() })
	ctype, body := "application/x-www-form-urlencoded", liveflux.FieldKind+"=cou"
	if multipartBody {
		ctype, body = "multipart/form-data; boundary=XyZ", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb"
	}
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 100000\r\n\r\n%s", srv.Listener.Addr(), ctype, body)
	return conn
}

// awaitAnswer reads the answer on conn, within waitTimeout, and reports
// whether the server closed the connection after it.
func awaitAnswer(t *testing.T, conn net.Conn) (status int, closed bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitTimeout))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Errorf("no answer to a slow body: %v", err)
		return 0, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp.StatusCode, err == io.EOF
}

// Clients that send a body slowly (slowloris) no longer hold connections:
// under the README's quick start server (no ReadTimeout), 200 such POSTs
// were all still held after 45 s. Each now gets 408 and its connection is
// closed once the body read timeout has passed without the body.
func TestSlowBodiesAreCut(t *testing.T) {
	t.Parallel()
	h := liveflux.NewWebSocketHandler(nil, liveflux.WithRegistry(testRegistry(t)), liveflux.WithLogger(discardLogger), liveflux.WithBodyReadTimeout(100*time.Millisecond))
	srv := httptest.NewServer(h)
	t.Cleanup(func() { h.Close(); srv.Close() })
	var conns []net.Conn
	for i := range 20 {
		conns = append(conns, slowPost(t, srv, i%2 == 1))
	}
	// One keeps trickling a byte every 20 ms, far below the rate that
	// earns time, for three times the timeout. (Not longer: a byte that
	// reaches the server once it closed the connection makes it reset
	// the connection, and a client that has not read the answer by then
	// loses it.)
	go func() {
		for range 15 {
			time.Sleep(20 * time.Millisecond)
			if _, err := conns[0].Write([]byte("n")); err != nil {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			status, closed := awaitAnswer(t, c)
			if status != http.StatusRequestTimeout || !closed {
				t.Errorf("slow POST %d: status %d, connection closed: %v; want 408 and closed", i, status, closed)
			}
		})
	}
	wg.Wait()
}

// A body that keeps coming at a fair rate is read to its end, however
// long that takes beyond the timeout; an action that runs long after its
// body was read keeps its context; WebSocket connections are not cut.
func TestBodyReadTimeoutSparesWhatMoves(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithBodyReadTimeout(300*time.Millisecond), liveflux.WithMaxBodyBytes(1<<20))
	id := f.mount(t, "counter", nil)

	// 96 KiB in 2 KiB pieces, 30 ms apart: about 1.4 s, at about 65 KiB/s.
	form := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"echo"}, "v": {strings.Repeat("a", 96<<10)}}
	pr, pw := io.Pipe()
	go func() {
		b := []byte(form.Encode())
		for len(b) > 0 {
			n := min(len(b), 2<<10)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
			time.Sleep(30 * time.Millisecond)
		}
		pw.Close()
	}()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL, pr)
	assertNoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.srv.Client().Do(req)
	assertNoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), strings.Repeat("a", 96<<10)) {
		t.Fatalf("a body sent steadily for longer than the timeout: %d %.100s", resp.StatusCode, body)
	}

	// A WebSocket connection idle for longer than the timeout still works.
	c := f.dial(t)
	c.init(id)
	time.Sleep(600 * time.Millisecond)
	c.sendAction(id, "inc", nil)
	assertEqual(t, countOf(t, c.nextUpdate(id)), 1, "count after an idle spell")
}

// The deadline on the body is lifted once the body is read: left on the
// connection, it would end the request's context (r.Context()) while the
// action still runs.
func TestLongActionKeepsItsContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithBodyReadTimeout(50*time.Millisecond))
	started, release := make(chan context.Context, 1), make(chan struct{})
	assertNoError(t, f.reg.Register("waiter", func() liveflux.Component {
		return &waiter{started: started, release: release}
	}))
	id := f.mount(t, "waiter", nil)
	go f.tryPost(url.Values{liveflux.FieldKind: {"waiter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"wait"}})
	var ctx context.Context
	select {
	case ctx = <-started:
	case <-time.After(waitTimeout):
		t.Fatal("the action did not start")
	}
	time.Sleep(300 * time.Millisecond) // six times the timeout
	err := ctx.Err()
	close(release)
	if err != nil {
		t.Fatalf("the context of an HTTP action that outlived the body read timeout: %v", err)
	}
}

// waiter's action "wait" hands its context to the test and waits until
// release is closed or the context ends.
type waiter struct {
	liveflux.Base
	started chan context.Context
	release chan struct{}
}

func (w *waiter) Mount(context.Context, map[string]string) error { return nil }
func (w *waiter) Handle(ctx context.Context, action string, _ url.Values) error {
	if action == "wait" {
		w.started <- ctx
		select {
		case <-w.release:
		case <-ctx.Done():
		}
	}
	return nil
}
func (w *waiter) Render(_ context.Context, out io.Writer) error {
	_, err := io.WriteString(out, "waiter")
	return err
}

// The plain fields of a multipart body count toward the body limit, not
// the upload limit: a multipart POST with no file and a 10 MiB text field
// used to reach Handle under WithMaxUploadBytes(20 MiB).
func TestMultipartFieldsKeepTheBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithMaxUploadBytes(20<<20))
	id := f.mount(t, "counter", nil)
	send := func(fields map[string]string, file []byte) response {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range map[string]string{liveflux.FieldKind: "counter", liveflux.FieldID: id, liveflux.FieldAction: "echo"} {
			mw.WriteField(k, v)
		}
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if file != nil {
			w, _ := mw.CreateFormFile("doc", "doc.bin")
			w.Write(file)
		}
		mw.Close()
		r, err := f.request("", mw.FormDataContentType(), body.String())
		assertNoError(t, err)
		return r
	}
	for _, c := range []struct {
		name   string
		fields map[string]string
		file   []byte
	}{
		{"one 10 MiB field", map[string]string{"v": strings.Repeat("x", 10<<20)}, nil},
		{"fields over 1 MiB together", map[string]string{"v": strings.Repeat("x", 600<<10), "w": strings.Repeat("y", 600<<10)}, nil},
		{"a 2 MiB field beside a file", map[string]string{"v": strings.Repeat("x", 2<<20)}, []byte("file")},
	} {
		r := send(c.fields, c.file)
		if r.status != http.StatusRequestEntityTooLarge || r.body != "form fields over 1048576 bytes\n" {
			t.Errorf("%s: %d %.200q, want 413 form fields over 1048576 bytes", c.name, r.status, r.body)
		}
	}
	// Fields within the body limit, with a file over it: accepted.
	r := send(map[string]string{"v": "small"}, bytes.Repeat([]byte("f"), 3<<20))
	if r.status != http.StatusOK || !strings.Contains(r.body, `<span class="echo">small</span>`) {
		t.Fatalf("a 3 MiB upload with a small field: %d %.200q", r.status, r.body)
	}
	if html := f.post(t, "counter", id, ""); !strings.Contains(html, `<span class="echo">small</span>`) {
		t.Fatalf("a refused body reached Handle: %q", html)
	}
}

// A server's own ReadTimeout is kept: the handler does not replace it with
// its longer body read timeout.
func TestServerReadTimeoutIsKept(t *testing.T) {
	t.Parallel()
	h := liveflux.NewHandler(nil, liveflux.WithRegistry(testRegistry(t)), liveflux.WithLogger(discardLogger), liveflux.WithBodyReadTimeout(time.Hour))
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	if status, closed := awaitAnswer(t, slowPost(t, srv, false)); status != http.StatusRequestTimeout || !closed {
		t.Errorf("slow POST under a server's ReadTimeout: status %d, closed %v; want 408 and closed", status, closed)
	}
}
