package liveflux_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-liveflux/liveflux"
)

// stall subscribes to topic "stall"; its action "hold" holds the instance
// until the test lets go (hold.started gets a value when it begins).
type stall struct {
	liveflux.Base
	Got  string
	hold *holdGate
}

type holdGate struct {
	started chan struct{}
	release chan struct{}
}

func (s *stall) Mount(ctx context.Context, _ map[string]string) error {
	return liveflux.Subscribe(ctx, "stall")
}
func (s *stall) Handle(_ context.Context, action string, _ url.Values) error {
	if action == "hold" {
		s.hold.started <- struct{}{}
		<-s.hold.release
	}
	return nil
}
func (s *stall) HandleTopic(_ context.Context, msg *liveflux.TopicMessage) error {
	return msg.Decode(&s.Got)
}
func (s *stall) Render(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, "got=%s", s.Got)
	return err
}

// Guards against: topic deliveries ran on a fixed pool of workers that
// waited for each target instance: a few instances held by slow actions
// (as many as workers) delayed every other subscriber's messages until
// those actions ended (an idle bystander's message took 2.75 s instead of
// 35 µs).
func TestSlowActionsDoNotDelayOthersDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := &holdGate{started: make(chan struct{}), release: make(chan struct{})}
	assertNoError(t, f.reg.Register("stall", func() liveflux.Component { return &stall{hold: gate} }))
	// Many more held instances than any pool of workers: whatever order
	// the deliveries take, the bystander's comes after a pool's worth.
	held := 20 * 4 * runtime.GOMAXPROCS(0)
	var actions sync.WaitGroup
	for range held {
		id := f.mount(t, "stall", nil)
		actions.Add(1)
		go func() {
			defer actions.Done()
			if _, _, err := f.tryPost(url.Values{liveflux.FieldKind: {"stall"}, liveflux.FieldID: {id}, liveflux.FieldAction: {"hold"}}); err != nil {
				t.Error(err)
			}
		}()
		receive(t, gate.started, "the action to hold its instance")
	}
	t.Cleanup(func() { close(gate.release); actions.Wait() })
	bystander := f.mount(t, "stall", nil)
	c := f.dial(t)
	c.init(bystander)
	assertNoError(t, f.h.Publish(context.Background(), "stall", "hello"))
	// While every other instance is still held:
	c.awaitShowing(bystander, "got=hello")
}

// flakyStore fails every Update while down.
type flakyStore struct {
	liveflux.Store
	down atomic.Bool
}

func (s *flakyStore) Update(ctx context.Context, id string, fn func(liveflux.Component) error) error {
	if s.down.Load() {
		return errors.New("store unreachable")
	}
	return s.Store.Update(ctx, id, fn)
}

// Messages a delivery read but could not hand over, because the store
// failed, are not lost silently: once the store works again the subscriber
// is told it missed them, and ends on the truth; the log says so once.
func TestStoreFailureIsToldToSubscribers(t *testing.T) {
	t.Parallel()
	logs := &recordingLogger{}
	store := &flakyStore{Store: liveflux.NewMemoryStore()}
	f := startFixture(t, fixtureConfig{store: store}, liveflux.WithLogger(slog.New(logs)))
	ledger, _ := registerTally(t, f, nil)
	id := f.mount(t, "tally", nil)
	publishNumbers(t, f.h, ledger, 2)
	waitFor(t, "the first messages", func() bool { return tallyOf(t, f, id).Last == 2 })
	store.down.Store(true)
	for i := 3; i <= 10; i++ {
		ledger.Add(int64(i))
		assertNoError(t, f.h.Publish(context.Background(), "tally", i))
	}
	waitFor(t, "the failure logged", func() bool { return logs.count("store failed topic deliveries") > 0 })
	store.down.Store(false)
	waitFor(t, "the subscriber told", func() bool { return tallyOf(t, f, id).Notices > 0 })
	got := tallyOf(t, f, id)
	assertEqual(t, got.Total, 55, "total after reloading")
	assertEqual(t, logs.count("store failed topic deliveries"), 1, "log lines about it")
}
