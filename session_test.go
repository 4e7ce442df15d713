package liveflux_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// sessionOf reads the test's session cookie.
func sessionOf(r *http.Request) string {
	if c, err := r.Cookie("sid"); err == nil {
		return c.Value
	}
	return ""
}

// sessionRequest is a page request from the session sid.
func sessionRequest(sid string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	return r
}

// dialAs opens a WebSocket with session sid's cookie.
func (f *fixture) dialAs(tb testing.TB, sid string) *wsClient {
	tb.Helper()
	ws, _, err := f.dialer.Dial(f.wsURL, http.Header{"Cookie": {"sid=" + sid}})
	assertNoError(tb, err)
	c := &wsClient{tb: tb, ws: ws, msgs: make(chan []byte, 64)}
	tb.Cleanup(c.close)
	c.startReading()
	return c
}

// postAs posts an action on behalf of session sid.
func (f *fixture) postAs(sid, id, action string) (int, string) {
	form := url.Values{liveflux.FieldKind: {"counter"}, liveflux.FieldID: {id}, liveflux.FieldAction: {action}}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestSessionBindingRefusesOtherSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithSessionKey(sessionOf))
	html, err := f.h.Mount(sessionRequest("alice"), "counter", nil)
	assertNoError(t, err)
	id := idPattern.FindStringSubmatch(string(html))[1]

	// Alice acts over HTTP and WebSocket.
	if status, body := f.postAs("alice", id, "inc"); status != 200 || !strings.Contains(body, "count=1") {
		t.Fatalf("owner's action: %d %s", status, body)
	}
	alice := f.dialAs(t, "alice")
	alice.send(map[string]string{"type": "init", "componentID": id})
	if html := alice.nextUpdate(id); !strings.Contains(html, "count=1") {
		t.Fatalf("owner's init: %s", html)
	}

	// Mallory knows the ID but not Alice's session: every path answers
	// exactly as for an ID that does not exist, and reveals nothing.
	const unknown = "AAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, sid := range []string{"mallory", ""} {
		stolen, stolenBody := f.postAs(sid, id, "inc")
		missing, missingBody := f.postAs(sid, unknown, "inc")
		if stolen != http.StatusNotFound || stolen != missing || stolenBody != missingBody {
			t.Fatalf("session %q over HTTP: stolen ID %d %q, unknown ID %d %q", sid, stolen, stolenBody, missing, missingBody)
		}
		mallory := f.dialAs(t, sid)
		for _, m := range []map[string]any{
			{"type": "init", "componentID": id},
			{"type": "action", "componentID": id, "action": "inc", "data": map[string]string{}},
		} {
			mallory.send(m)
			got := mallory.nextMsg()
			assertErrorMsg(t, got, id, http.StatusNotFound)
			if strings.Contains(string(got.raw), "count=") {
				t.Fatalf("state of another session leaked: %s", got.raw)
			}
		}
		// Mallory watches nothing: Alice's next update does not reach her.
		alice.sendAction(id, "inc", nil)
		alice.nextUpdate(id)
		select {
		case b := <-mallory.msgs:
			t.Fatalf("session %q received another session's update: %s", sid, b)
		default:
		}
	}
	// Alice's state moved only by her own actions: 1 + 2 increments.
	if status, body := f.postAs("alice", id, "inc"); status != 200 || !strings.Contains(body, "count=4") {
		t.Fatalf("owner's state after the attack: %d %s", status, body)
	}
}

func TestWithoutSessionBindingTheIDIsTheCapability(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	html, err := f.h.Mount(sessionRequest("alice"), "counter", nil)
	assertNoError(t, err)
	id := idPattern.FindStringSubmatch(string(html))[1]
	if status, body := f.postAs("bob", id, "inc"); status != 200 || !strings.Contains(body, "count=1") {
		t.Fatalf("unbound instance refused another session: %d %s", status, body)
	}
}
