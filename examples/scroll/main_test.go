package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
	"github.com/go-liveflux/liveflux/internal/wire"
)

// window is the page's list: the rows it holds, by number.
type window struct {
	t      *testing.T
	srv    *httptest.Server
	id     string
	lists  map[string][]wire.StreamItem
	status string // the rendering's "Rows … to … of …"
}

var (
	rootID  = regexp.MustCompile(`data-flux-component-id="([^"]+)"`)
	keyAttr = regexp.MustCompile(`<tr data-flux-key="(\d+)"`)
	where   = regexp.MustCompile(`Rows [\d,]+ to [\d,]+ of [\d,]+`)
)

// openWindow loads the page, as a browser does, and reads its rows.
func openWindow(t *testing.T, srv *httptest.Server, query string) *window {
	t.Helper()
	res, err := http.Get(srv.URL + "/" + query)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := rootID.FindSubmatch(body)
	if m == nil {
		t.Fatalf("page: %s %s", res.Status, body)
	}
	w := &window{t: t, srv: srv, id: string(m[1]), lists: map[string][]wire.StreamItem{}, status: where.FindString(string(body))}
	for _, k := range keyAttr.FindAllSubmatch(body, -1) {
		w.lists["rows"] = append(w.lists["rows"], wire.StreamItem{Key: string(k[1])})
	}
	return w
}

// act sends action over HTTP, as the JS client does without a socket, and
// applies the answer.
func (w *window) act(action string) {
	w.t.Helper()
	form := url.Values{liveflux.FieldKind: {"list"}, liveflux.FieldID: {w.id}, liveflux.FieldAction: {action}}
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/liveflux", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", liveflux.MediaTypeAnswer)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	var a struct {
		HTML    string          `json:"html"`
		Streams json.RawMessage `json:"streams"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&a) != nil {
		w.t.Fatalf("%s: %s", action, res.Status)
	}
	if a.Streams != nil {
		ops, err := wire.ParseStreamOps(a.Streams)
		if err != nil {
			w.t.Fatal(err)
		}
		wire.ApplyStreamOps(w.lists, ops)
	}
	w.status = where.FindString(a.HTML)
}

// rows says which rows the page holds: "first-last", or what is wrong.
func (w *window) rows() string {
	rows := w.lists["rows"]
	if len(rows) == 0 {
		return "none"
	}
	first, _ := strconv.Atoi(rows[0].Key)
	for i, r := range rows {
		if r.Key != strconv.Itoa(first+i) {
			return "a gap before row " + r.Key
		}
	}
	return strconv.Itoa(first) + "-" + rows[len(rows)-1].Key
}

// Scrolling a thousand pages down keeps a window of 300 rows in the page,
// the right ones, and the session's component the same size; scrolling
// back up loads the rows above.
func TestScrollKeepsAWindow(t *testing.T) {
	store := liveflux.NewMemoryStore()
	lf, mux := newApp(slog.New(slog.NewTextHandler(io.Discard, nil)), store)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer lf.Close()

	w := openWindow(t, srv, "")
	if got := w.rows(); got != "0-49" {
		t.Fatalf("first paint: rows %s, want 0-49", got)
	}
	size := store.Bytes()
	for range 1000 {
		w.act("more")
	}
	if got := w.rows(); got != "49750-50049" {
		t.Fatalf("after 1,000 pages: rows %s, want 49750-50049 (the last 300)", got)
	}
	if got := w.status; got != "Rows 49,750 to 50,049 of 1,000,000" {
		t.Fatalf("the page says %q", got)
	}
	if got := store.Bytes(); got != size {
		t.Fatalf("the session's component takes %d bytes after 1,000 pages, %d after the first", got, size)
	}
	w.act("back")
	w.act("back")
	if got := w.rows(); got != "49650-49949" {
		t.Fatalf("after scrolling back up two pages: rows %s, want 49650-49949", got)
	}

	// A page opened at the end stops there.
	end := openWindow(t, srv, "?from=999990")
	if got := end.rows(); got != "999950-999999" {
		t.Fatalf("a page at the end: rows %s", got)
	}
	end.act("more")
	if got := end.rows(); got != "999950-999999" {
		t.Fatalf("past the end: rows %s", got)
	}
}
