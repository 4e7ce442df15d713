package liveflux_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-liveflux/liveflux"
)

func TestSessionBindingRefusesOtherSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, liveflux.WithSessionKey(sessionOf))
	id := f.mountAs(t, "alice", "counter", nil)

	// Alice acts over HTTP and WebSocket.
	if status, body := f.postAs("alice", id, "inc"); status != 200 || !strings.Contains(body, "count=1") {
		t.Fatalf("owner's action: %d %s", status, body)
	}
	alice := f.dialAs(t, "alice")
	if html := alice.init(id); !strings.Contains(html, "count=1") {
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
		if got := mallory.before(); len(got) > 0 {
			t.Fatalf("session %q received another session's update: %s", sid, got[0].raw)
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
	id := f.mountAs(t, "alice", "counter", nil)
	if status, body := f.postAs("bob", id, "inc"); status != 200 || !strings.Contains(body, "count=1") {
		t.Fatalf("unbound instance refused another session: %d %s", status, body)
	}
}

// aliceActing mounts alice's blocker, has alice's client watch it, and
// starts alice's action "block" over HTTP: it returns while the action
// holds the instance, until b.release. The inits of other sessions wait
// for the instance meanwhile: the window in which the bugs below leaked.
// Each Update of the instance that begins counts in waiting.
func aliceActing(t *testing.T) (f *fixture, id string, alice *wsClient, b *blocker, waiting *atomic.Int32) {
	t.Helper()
	f, store := newHookFixture(t, liveflux.WithSessionKey(sessionOf))
	b = newBlocker(t, f)
	id = f.mountAs(t, "alice", "blocker", nil)
	alice = f.dialAs(t, "alice")
	alice.init(id)
	acted := make(chan error, 1)
	go func() {
		r, err := f.tryPostAs("alice", url.Values{liveflux.FieldKind: {"blocker"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"block"}})
		if err == nil && r.status != http.StatusOK {
			err = fmt.Errorf("alice's action: %d %s", r.status, r.body)
		}
		acted <- err
	}()
	t.Cleanup(func() {
		if err := <-acted; err != nil {
			t.Error(err)
		}
	})
	b.awaitStarted(t)
	waiting = new(atomic.Int32)
	count := func(got string) {
		if got == id {
			waiting.Add(1)
		}
	}
	store.before.Store(&count)
	return f, id, alice, b, waiting
}

// assertForeignInitsRefused has n clients of mallory's init alice's
// component while her action runs: each is told 404, and nothing else.
func assertForeignInitsRefused(t *testing.T, n int) {
	t.Helper()
	f, id, alice, b, waiting := aliceActing(t)
	mallory := make([]*wsClient, n)
	for i := range mallory {
		mallory[i] = f.dialAs(t, "mallory")
		mallory[i].sendInit(id)
	}
	waitFor(t, "mallory's inits to wait for the instance", func() bool { return waiting.Load() == int32(n) })
	b.release <- struct{}{}
	alice.nextUpdate(id) // the action's rendering was sent to every watcher
	for i, c := range mallory {
		got := c.before()
		if len(got) != 1 {
			t.Fatalf("connection %d of another session received %d messages, want its error only: %v", i, len(got), got)
		}
		assertErrorMsg(t, got[0], id, http.StatusNotFound)
	}
}

// Guards against: a foreign session is briefly a watcher of the victim's
// component (its init registered the watcher before the session check,
// and waited for the instance), and is sent the victim's rendering.
func TestForeignSessionGetsNoUpdates(t *testing.T) {
	t.Parallel()
	assertForeignInitsRefused(t, 1)
}

// The same, with ten connections of the other session waiting at once.
func TestForeignSessionGetsNoRendering(t *testing.T) {
	t.Parallel()
	assertForeignInitsRefused(t, 10)
}

// Guards against: Broadcast payloads reach a foreign watcher during the
// same window.
func TestForeignSessionGetsNoBroadcast(t *testing.T) {
	t.Parallel()
	f, id, alice, b, waiting := aliceActing(t)
	private := map[string]string{"type": "private", "msg": "for alice only"}
	// In the window: mallory's init waits while alice's action runs.
	mallory := f.dialAs(t, "mallory")
	mallory.sendInit(id)
	waitFor(t, "mallory's init to wait for the instance", func() bool { return waiting.Load() == 1 })
	assertNoError(t, f.h.Broadcast(id, private))
	assertEqual(t, alice.nextMsg().Type, "private", "what alice was sent")
	b.release <- struct{}{}
	alice.nextUpdate(id)

	// Racing: inits of mallory's against broadcasts.
	const inits = 500
	sent := make(chan error, 1)
	go func() {
		for range inits {
			if err := mallory.trySend(map[string]string{"type": "init", "componentID": id}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	for range inits {
		assertNoError(t, f.h.Broadcast(id, private))
	}
	assertNoError(t, <-sent)
	// Every init was answered with a 404 before the round trip's answer,
	// and no broadcast came.
	got := mallory.before()
	for _, m := range got {
		if m.Type == "private" {
			t.Fatalf("mallory received alice's broadcast: %s", m.raw)
		}
		assertErrorMsg(t, m, id, http.StatusNotFound)
	}
	assertEqual(t, len(got), 1+inits, "errors answering mallory's inits")
}
