package liveflux

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// PresenceOf makes its list without the topic's lock, from lists that are
// never changed once made: readers that run while members join and leave
// each get a sorted list whose every entry is decoded from its own meta
// (-race checks that nothing is shared that is written).
func TestPresenceOfWhileTheListChanges(t *testing.T) {
	ws := NewWebSocketHandler(NewMemoryStore())
	defer ws.Close()
	h := ws.Handler
	type member struct{ Name string }
	track := func(i int, on bool) {
		id := fmt.Sprintf("id%04d", i)
		h.presence.watched(id, "", []tracking{{Topic: "room", Meta: []byte(`{"Name":"n-` + id + `"}`)}}, on)
	}
	for i := range 200 {
		track(i, true)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for range 300 {
				list, err := PresenceOf[member](h, "room")
				if err != nil {
					errs <- err
					return
				}
				for k, p := range list {
					if p.Meta.Name != "n-"+p.ID {
						errs <- fmt.Errorf("entry %s decoded as %q", p.ID, p.Meta.Name)
						return
					}
					if k > 0 && strings.Compare(list[k-1].ID, p.ID) >= 0 {
						errs <- fmt.Errorf("not sorted: %s before %s", list[k-1].ID, p.ID)
						return
					}
				}
			}
		})
	}
	left := 0
	for i := 200; i < 1200; i++ {
		track(i, true)
		if i%3 == 0 {
			track(i-150, false)
			left++
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	list, err := PresenceOf[member](h, "room")
	if err != nil {
		t.Fatal(err)
	}
	if n := h.PresenceCount("room"); len(list) != n || n != 1200-left {
		t.Fatalf("%d in the list, %d counted, want %d", len(list), n, 1200-left)
	}
}
