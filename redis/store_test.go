package fluxredis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-liveflux/liveflux"
	fluxredis "github.com/go-liveflux/liveflux/redis"
)

func newCounter(t testing.TB, reg *liveflux.Registry, id string, count int) liveflux.Component {
	t.Helper()
	c, err := reg.New("counter")
	if err != nil {
		t.Fatal(err)
	}
	c.SetID(id)
	c.(*counter).Count = count
	return c
}

func TestStoreSetGetUpdateDelete(t *testing.T) {
	srv := startRedis(t)
	client := newClient(t, srv.Addr)
	reg := newRegistry(t, nil)
	s := fluxredis.NewStore(client, fluxredis.WithRegistry(reg), fluxredis.WithIdleTTL(time.Minute))
	ctx := context.Background()

	if _, err := s.Get(ctx, "nope"); !errors.Is(err, liveflux.ErrNotFound) {
		t.Fatalf("Get of an unknown ID: %v, want ErrNotFound", err)
	}
	if err := s.Update(ctx, "nope", func(liveflux.Component) error { return nil }); !errors.Is(err, liveflux.ErrNotFound) {
		t.Fatalf("Update of an unknown ID: %v, want ErrNotFound", err)
	}

	if err := s.Set(ctx, newCounter(t, reg, "a", 5)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if c := got.(*counter); c.Count != 5 || c.GetID() != "a" || c.GetKind() != "counter" {
		t.Fatalf("Get = %+v", c)
	}
	// The copy is not the stored instance.
	got.(*counter).Count = 99
	if c, _ := s.Get(ctx, "a"); c.(*counter).Count != 5 {
		t.Fatalf("changing Get's copy changed the store: %d", c.(*counter).Count)
	}

	if err := s.Update(ctx, "a", func(c liveflux.Component) error { c.(*counter).Count++; return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.Update(ctx, "a", func(c liveflux.Component) error { c.(*counter).Count = 1000; return boom }); err != boom {
		t.Fatalf("failed fn: Update returned %v, want fn's error", err)
	}
	if c, _ := s.Get(ctx, "a"); c.(*counter).Count != 6 {
		t.Fatalf("Count = %d after a failed update, want 6", c.(*counter).Count)
	}

	// Every use restarts the idle TTL.
	client.PExpire(ctx, s.Key("a"), 5*time.Second)
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if ttl := client.PTTL(ctx, s.Key("a")).Val(); ttl < 50*time.Second {
		t.Fatalf("TTL after Get = %v, want about a minute", ttl)
	}
	client.PExpire(ctx, s.Key("a"), 5*time.Second)
	s.Update(ctx, "a", func(c liveflux.Component) error { c.(*counter).Count++; return nil })
	if ttl := client.PTTL(ctx, s.Key("a")).Val(); ttl < 50*time.Second {
		t.Fatalf("TTL after Update = %v, want about a minute", ttl)
	}

	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, liveflux.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func TestStoreIdleExpiry(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	s := fluxredis.NewStore(newClient(t, srv.Addr), fluxredis.WithRegistry(reg), fluxredis.WithIdleTTL(time.Second))
	ctx := context.Background()
	if err := s.Set(ctx, newCounter(t, reg, "a", 1)); err != nil {
		t.Fatal(err)
	}
	// Used more often than the TTL: kept.
	for i := 0; i < 5; i++ {
		time.Sleep(250 * time.Millisecond)
		if _, err := s.Get(ctx, "a"); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, liveflux.ErrNotFound) {
		t.Fatalf("Get of an idle instance: %v, want ErrNotFound", err)
	}
}

func TestStoreDecodeFailures(t *testing.T) {
	srv := startRedis(t)
	client := newClient(t, srv.Addr)
	reg := newRegistry(t, nil)
	s := fluxredis.NewStore(client, fluxredis.WithRegistry(reg))
	ctx := context.Background()
	if err := s.Set(ctx, newCounter(t, reg, "a", 1)); err != nil {
		t.Fatal(err)
	}
	// A node that does not know the kind cannot decode the instance.
	other := fluxredis.NewStore(client, fluxredis.WithRegistry(liveflux.NewRegistry()))
	if _, err := other.Get(ctx, "a"); !errors.Is(err, liveflux.ErrUnknownKind) {
		t.Fatalf("Get with a registry lacking the kind: %v", err)
	}
	// Garbage under the key is an error, and Update writes nothing.
	client.HSet(ctx, s.Key("b"), "v", "x", "d", "not json")
	ran := false
	err := s.Update(ctx, "b", func(liveflux.Component) error { ran = true; return nil })
	if err == nil || ran {
		t.Fatalf("Update of garbage: err %v, fn ran %v", err, ran)
	}
	if d := client.HGet(ctx, s.Key("b"), "d").Val(); d != "not json" {
		t.Fatalf("garbage was overwritten with %q", d)
	}
}

func TestStoreHonorsContext(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	s := fluxredis.NewStore(newClient(t, srv.Addr), fluxredis.WithRegistry(reg))
	bg := context.Background()
	if err := s.Set(bg, newCounter(t, reg, "a", 0)); err != nil {
		t.Fatal(err)
	}

	canceled, cancel := context.WithCancel(bg)
	cancel()
	if err := s.Update(canceled, "a", func(liveflux.Component) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a canceled context: %v", err)
	}

	// An Update waiting for another one of the same ID gives up when its
	// context is done.
	entered, release := make(chan struct{}), make(chan struct{})
	go s.Update(bg, "a", func(liveflux.Component) error { close(entered); <-release; return nil })
	<-entered
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Update(ctx, "a", func(liveflux.Component) error { return nil })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting Update: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("waiting Update returned after %v", d)
	}

	// A hung Redis: the deadline of the context bounds the wait.
	srv.Pause()
	defer srv.Resume()
	ctx, cancel = context.WithTimeout(bg, 150*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := s.Get(ctx, "a"); err == nil {
		t.Fatal("Get from a hung Redis succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Get from a hung Redis returned after %v", d)
	}
}

// Two stores, as on two nodes, and many goroutines each: every increment
// counts, and the stores retried rather than overwrote.
func TestStoreConcurrentUpdatesAcrossStores(t *testing.T) {
	srv := startRedis(t)
	var runs atomic.Int64
	reg := newRegistry(t, &runs)
	stores := []*fluxredis.Store{
		fluxredis.NewStore(newClient(t, srv.Addr), fluxredis.WithRegistry(reg)),
		fluxredis.NewStore(newClient(t, srv.Addr), fluxredis.WithRegistry(reg)),
	}
	ctx := context.Background()
	if err := stores[0].Set(ctx, newCounter(t, reg, "a", 0)); err != nil {
		t.Fatal(err)
	}
	const perStore, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore*each)
	for _, s := range stores {
		for g := 0; g < perStore; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					errs <- s.Update(ctx, "a", func(c liveflux.Component) error {
						return c.Handle(ctx, "inc", nil)
					})
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := len(stores) * perStore * each
	c, err := stores[1].Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(*counter).Count; got != want {
		t.Fatalf("Count = %d, want %d", got, want)
	}
	t.Logf("%d updates ran fn %d times (%d retries after conflicts)", want, runs.Load(), runs.Load()-int64(want))
}

func TestStoreRedisDown(t *testing.T) {
	srv := startRedis(t)
	reg := newRegistry(t, nil)
	s := fluxredis.NewStore(newClient(t, srv.Addr), fluxredis.WithRegistry(reg))
	ctx := context.Background()
	if err := s.Set(ctx, newCounter(t, reg, "a", 3)); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		err := s.Update(ctx, "a", func(c liveflux.Component) error { c.(*counter).Count++; return nil })
		if err == nil || errors.Is(err, liveflux.ErrNotFound) {
			t.Fatalf("Update with Redis down: %v", err)
		}
		if !strings.Contains(err.Error(), "fluxredis") {
			t.Errorf("error does not say where it comes from: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Update with Redis down took %v", d)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the store to work again", 10*time.Second, func() bool {
		_, err := s.Get(ctx, "a")
		return err == nil
	})
	if err := s.Update(ctx, "a", func(c liveflux.Component) error { c.(*counter).Count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get(ctx, "a"); c.(*counter).Count != 4 {
		t.Fatalf("Count = %d after the outage, want 4", c.(*counter).Count)
	}
}
