package liveflux_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
)

// gateBackplane's Publish waits until its gate is closed (or the
// handler shuts down); published counts the calls that returned.
type gateBackplane struct {
	gate      chan struct{}
	entered   chan struct{} // one value each time a Publish begins
	published atomic.Int32
}

func (b *gateBackplane) Publish(ctx context.Context, _ string, _ []byte) error {
	b.entered <- struct{}{}
	select {
	case <-b.gate:
	case <-ctx.Done():
	}
	b.published.Add(1)
	return ctx.Err()
}

func (b *gateBackplane) Subscribe(ctx context.Context, _ func(string, []byte)) error {
	<-ctx.Done()
	return nil
}

// Guards against: backplane: the first publisher drains everybody's
// updates (a request that published waited for the network, and for the
// updates others queued meanwhile).
func TestPublishingDoesNotHoldRequests(t *testing.T) {
	t.Parallel()
	bp := &gateBackplane{gate: make(chan struct{}), entered: make(chan struct{}, 16)}
	f := newFixture(t, liveflux.WithWebSocketBackplane(bp))
	t.Cleanup(func() { close(bp.gate) }) // before the handler shuts down
	id := f.mount(t, "counter", nil)
	c := f.dial(t)
	c.init(id)
	// A Refresh, then an HTTP action, while publishing the first of
	// their renderings is held: both return, and the action's rendering
	// reaches this node's watcher.
	done := make(chan error, 1)
	go func() {
		if err := f.h.Refresh(context.Background(), id); err != nil {
			done <- err
			return
		}
		status, body, err := f.tryPost(actionForm(id, "inc"))
		if err == nil && status != http.StatusOK {
			t.Errorf("action: %d %s", status, body)
		}
		done <- err
	}()
	select {
	case err := <-done:
		assertNoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatalf("the requests still wait after %v, while a Publish is held", waitTimeout)
	}
	select {
	case <-bp.entered:
	case <-time.After(waitTimeout):
		t.Fatal("nothing was published")
	}
	assertEqual(t, bp.published.Load(), 0, "publishes that returned while the gate was shut")
	c.nextUpdate(id) // the Refresh's
	assertEqual(t, countOf(t, c.nextUpdate(id)), 1, "count after the action")
}
