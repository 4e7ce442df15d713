package fluxredis_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	fluxredis "github.com/go-liveflux/liveflux/redis"
)

type delivery struct {
	id  string
	msg string
}

// subscribe runs b.Subscribe in a goroutine; the returned function cancels
// it and reports how long Subscribe took to return.
func subscribe(t *testing.T, b *fluxredis.Backplane, got chan<- delivery) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, func(id string, msg []byte) { got <- delivery{id, string(msg)} })
	}()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				took = time.Since(start)
				if err != nil {
					t.Errorf("Subscribe returned %v after cancel, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Subscribe did not return after its context was canceled")
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

func newBackplane(t *testing.T, addr string, opts ...fluxredis.BackplaneOption) *fluxredis.Backplane {
	opts = append([]fluxredis.BackplaneOption{
		fluxredis.WithBackoff(20*time.Millisecond, 300*time.Millisecond),
		fluxredis.WithHealthCheck(300 * time.Millisecond),
		fluxredis.WithBackplaneLogger(quiet),
	}, opts...)
	return fluxredis.NewBackplane(newClient(t, addr), opts...)
}

func expectDelivery(t *testing.T, got <-chan delivery, want delivery) {
	t.Helper()
	select {
	case d := <-got:
		if d != want {
			t.Fatalf("delivered %+v, want %+v", d, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%+v not delivered", want)
	}
}

func expectNoDelivery(t *testing.T, got <-chan delivery, within time.Duration) {
	t.Helper()
	select {
	case d := <-got:
		t.Fatalf("unexpected delivery %+v", d)
	case <-time.After(within):
	}
}

func TestBackplaneDeliversOthersMessagesOnly(t *testing.T) {
	srv := startRedis(t)
	ctx := context.Background()
	a, b := newBackplane(t, srv.Addr), newBackplane(t, srv.Addr)
	if a.NodeID() == b.NodeID() {
		t.Fatal("two backplanes got the same node ID")
	}
	gotA, gotB := make(chan delivery, 10), make(chan delivery, 10)
	subscribe(t, a, gotA)
	subscribe(t, b, gotB)
	waitFor(t, "both to subscribe", 5*time.Second, func() bool { return subscribers(t, srv.Addr) == 2 })

	if err := a.Publish(ctx, "ID1", []byte(`{"type":"update"}`)); err != nil {
		t.Fatal(err)
	}
	expectDelivery(t, gotB, delivery{"ID1", `{"type":"update"}`})
	if err := b.Publish(ctx, "ID2", []byte("x")); err != nil {
		t.Fatal(err)
	}
	expectDelivery(t, gotA, delivery{"ID2", "x"})
	expectNoDelivery(t, gotA, 100*time.Millisecond)
	expectNoDelivery(t, gotB, 0)

	// What is no envelope is ignored, and the subscription goes on.
	client := newClient(t, srv.Addr)
	for _, junk := range []string{"", "garbage", "\x01\xff", "\x01\x05ab"} {
		client.Publish(ctx, fluxredis.DefaultChannel, junk)
	}
	if err := a.Publish(ctx, "ID3", nil); err != nil {
		t.Fatal(err)
	}
	expectDelivery(t, gotB, delivery{"ID3", ""})

	// Another channel is another application.
	c := newBackplane(t, srv.Addr, fluxredis.WithChannel("other"))
	if err := c.Publish(ctx, "ID4", []byte("y")); err != nil {
		t.Fatal(err)
	}
	expectNoDelivery(t, gotB, 100*time.Millisecond)
}

func TestSubscribeReturnsOnCancel(t *testing.T) {
	srv := startRedis(t)
	baseline := runtime.NumGoroutine()
	got := make(chan delivery, 10)

	// Subscribed and idle.
	stop := subscribe(t, newBackplane(t, srv.Addr), got)
	waitFor(t, "the subscription", 5*time.Second, func() bool { return subscribers(t, srv.Addr) == 1 })
	t.Logf("returned %v after cancel while subscribed", stop())
	waitFor(t, "the subscription to end", 5*time.Second, func() bool { return subscribers(t, srv.Addr) == 0 })

	// Blocked reading from a hung Redis.
	stop = subscribe(t, newBackplane(t, srv.Addr), got)
	waitFor(t, "the subscription", 5*time.Second, func() bool { return subscribers(t, srv.Addr) == 1 })
	srv.Pause()
	time.Sleep(100 * time.Millisecond)
	t.Logf("returned %v after cancel with Redis hung", stop())
	srv.Resume()

	// Retrying while Redis is down.
	bp := newBackplane(t, srv.Addr)
	srv.Stop()
	stop = subscribe(t, bp, got)
	time.Sleep(500 * time.Millisecond)
	t.Logf("returned %v after cancel with Redis down", stop())

	// And it recovers once Redis is back.
	stop = subscribe(t, bp, got)
	time.Sleep(200 * time.Millisecond)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription after Redis came back", 10*time.Second, func() bool { return subscribers(t, srv.Addr) == 1 })
	other := newBackplane(t, srv.Addr)
	if err := other.Publish(context.Background(), "ID", []byte("back")); err != nil {
		t.Fatal(err)
	}
	expectDelivery(t, got, delivery{"ID", "back"})
	stop()

	// The clients are closed when the test ends; what Subscribe started
	// has ended already (the clients' pools start nothing while idle).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > baseline {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, %d before:\n%s", n, baseline, filterStacks(buf[:runtime.Stack(buf, true)]))
	}
}
