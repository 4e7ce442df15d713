package liveflux_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// FuzzWebSocketMessage sends arbitrary frames through the real decoder and
// dispatcher. After each, an init on a known component must still be
// answered: the server neither panics nor wedges the connection.
func FuzzWebSocketMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"init","componentID":"ID"}`,
		`{"type":"action","componentID":"ID","action":"inc","data":{}}`,
		`{"type":"action","componentID":"ID","action":"add","data":{"n":["1","2"]}}`,
		`{"type":"action","componentID":"ID","action":"inc","data":{"n":[1]}}`,
		`{"type":"leave","componentID":"ID"}`,
		`{"type":"nope","componentID":"ID"}`,
		`{"type":"init"}`,
		`{"type":"action","componentID":"ID","action":"panic"}`,
		`[{"type":"init"}]`,
		"\xff\xfe",
		``,
	} {
		f.Add(seed)
	}
	fx := newFixture(f)
	id := fx.mount(f, "counter", nil)
	var ws *websocket.Conn
	f.Cleanup(func() {
		if ws != nil {
			ws.Close()
		}
	})
	f.Fuzz(func(t *testing.T, msg string) {
		if ws == nil {
			var err error
			if ws, _, err = fx.dialRaw(nil, ""); err != nil {
				t.Fatal(err)
			}
		}
		msg = strings.ReplaceAll(msg, "ID", id)
		ws.WriteMessage(websocket.TextMessage, []byte(msg))
		ws.WriteJSON(map[string]string{"type": "init", "componentID": id})
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, b, err := ws.ReadMessage()
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() {
				t.Fatalf("no answer to init after %q", msg)
			}
			if err != nil {
				// The message closed the connection (invalid UTF-8, …):
				// legitimate, as long as a new one works.
				ws.Close()
				ws = nil
				return
			}
			if strings.Contains(string(b), `"type":"update","componentID":"`+id+`"`) && strings.Contains(string(b), "count=") {
				return
			}
		}
	})
}

// FuzzHTTPForm posts arbitrary bodies: every answer is a rendering or one
// of the protocol's statuses, never a panic.
func FuzzHTTPForm(f *testing.F) {
	for _, seed := range [][2]string{
		{"liveflux_component_kind=counter&start=3", "application/x-www-form-urlencoded"},
		{"liveflux_component_kind=counter&liveflux_component_id=ID&liveflux_action=inc", "application/x-www-form-urlencoded"},
		{"liveflux_component_kind=counter&liveflux_component_id=ID&liveflux_action=echo&v=1&v=2", "application/x-www-form-urlencoded"},
		{"liveflux_component_kind=counter&liveflux_component_id=&liveflux_action=inc", "application/x-www-form-urlencoded"},
		{"liveflux_component_kind=%zz", "application/x-www-form-urlencoded"},
		{"--b\r\nContent-Disposition: form-data; name=\"liveflux_component_kind\"\r\n\r\ncounter\r\n--b--\r\n", "multipart/form-data; boundary=b"},
		{"{}", "application/json"},
	} {
		f.Add(seed[0], seed[1])
	}
	h := newTestHandler(f)
	id := mount(f, h)
	allowed := map[int]bool{200: true, 400: true, 404: true, 409: true, 413: true, 422: true, 500: true}
	f.Fuzz(func(t *testing.T, body, ctype string) {
		body = strings.ReplaceAll(body, "ID", id)
		req := httptest.NewRequest(http.MethodPost, "/liveflux", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("status %d for %q (%s)", rec.Code, body, rec.Body)
		}
		if rec.Code == 200 && !strings.HasPrefix(rec.Body.String(), `<div data-flux-component-kind="counter" data-flux-component-id="`) {
			t.Fatalf("200 without a component root: %s", rec.Body)
		}
	})
}
