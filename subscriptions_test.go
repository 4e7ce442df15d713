package liveflux_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// Guards against: instances the store evicted or expired stayed in the
// topic index until a message reached that very topic, so anyone could
// grow a server's memory without bound by mounting (100,000 anonymous
// mounts, each subscribed to a topic of its own, held 46 MB while the
// store kept 1,000 of them).
func TestEvictedInstancesLeaveNoSubscriptions(t *testing.T) {
	t.Parallel()
	const kept, mounts = 50, 5000
	f := startFixture(t, fixtureConfig{store: liveflux.NewMemoryStore(liveflux.WithMaxInstancesPerSession(kept))})
	registerRoom(t, f)
	ids := make([]string, mounts)
	for i := range ids {
		ids[i] = f.mount(t, "room", map[string]string{"room": fmt.Sprint("r", i)})
	}
	for i, id := range ids {
		got := len(f.h.Subscriptions(id))
		if i < mounts-kept && got != 0 {
			t.Fatalf("evicted instance %d still subscribed to %d topics", i, got)
		}
		if i >= mounts-kept && got != 1 {
			t.Fatalf("kept instance %d subscribed to %d topics, want 1", i, got)
		}
	}
}

// An instance deleted from the store while a client watches it leaves its
// presence lists at once, and their subscribers are told.
func TestDeletedInstanceLeavesPresence(t *testing.T) {
	t.Parallel()
	f, _ := roomFixture(t, nil)
	ann := f.mount(t, "room", map[string]string{"room": "del", "who": "ann"})
	bob := f.mount(t, "room", map[string]string{"room": "del", "who": "bob"})
	ca, cb := f.dial(t), f.dial(t)
	ca.sendInit(ann)
	cb.sendInit(bob)
	ca.awaitShowing(ann, "online=[ann,bob]")
	assertNoError(t, f.h.Store().Delete(context.Background(), bob))
	ca.awaitShowing(ann, "online=[ann]")
	assertEqual(t, f.h.PresenceCount("room:del"), 1, "present after the delete")
	if watching(f.h, bob) {
		t.Fatal("the deleted instance is still listed as watched")
	}
}
