package liveflux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"testing"
	"time"
)

type box struct {
	Base
	N    int
	Tags []string
}

func (b *box) Mount(context.Context, map[string]string) error   { return nil }
func (b *box) Handle(context.Context, string, url.Values) error { return nil }
func (b *box) Render(_ context.Context, w io.Writer) error      { _, err := fmt.Fprint(w, b.N); return err }
func newBox(id string) *box                                     { b := &box{}; b.SetKind("box"); b.SetID(id); return b }
func mustSet(t *testing.T, s Store, c Component)                { t.Helper(); must(t, s.Set(context.Background(), c)) }
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
func wantNotFound(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// fakeClock drives a MemoryStore's notion of time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestMemoryStoreGetSetDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	mustSet(t, s, newBox("a"))
	got, err := s.Get(ctx, "a")
	must(t, err)
	if got.GetID() != "a" || got.GetKind() != "box" {
		t.Fatalf("Get = %s/%s", got.GetKind(), got.GetID())
	}
	// Get returns a copy: changing it changes nothing stored.
	got.(*box).N = 99
	again, _ := s.Get(ctx, "a")
	if again.(*box).N != 0 {
		t.Fatalf("Get returned the live instance: N = %d", again.(*box).N)
	}
	must(t, s.Delete(ctx, "a"))
	_, err = s.Get(ctx, "a")
	wantNotFound(t, err)
	must(t, s.Delete(ctx, "a")) // deleting twice is fine
	wantNotFound(t, s.Update(ctx, "nope", func(Component) error { return nil }))
}

func TestMemoryStoreUpdateRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	mustSet(t, s, newBox("a"))
	boom := errors.New("boom")
	err := s.Update(ctx, "a", func(c Component) error {
		c.(*box).N = 42
		c.(*box).Tags = []string{"x"}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update err = %v, want boom", err)
	}
	got, _ := s.Get(ctx, "a")
	if b := got.(*box); b.N != 0 || b.Tags != nil {
		t.Fatalf("failed update was kept: %+v", b)
	}
}

func TestMemoryStoreSerializesUpdates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	mustSet(t, s, newBox("a"))
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if err := s.Update(ctx, "a", func(c Component) error { c.(*box).N++; return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := s.Get(ctx, "a")
	if n := got.(*box).N; n != 10_000 {
		t.Fatalf("N = %d, want 10000", n)
	}
}

func TestMemoryStoreUpdateHonorsContext(t *testing.T) {
	t.Parallel()
	s := NewMemoryStore()
	mustSet(t, s, newBox("a"))
	inside, release := make(chan struct{}), make(chan struct{})
	go s.Update(context.Background(), "a", func(Component) error {
		close(inside)
		<-release
		return nil
	})
	<-inside
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.Update(ctx, "a", func(Component) error { t.Error("ran while locked"); return nil })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestMemoryStoreExpiresIdleInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	s := NewMemoryStore(WithIdleTTL(time.Minute))
	s.now = clock.Now
	mustSet(t, s, newBox("old"))
	mustSet(t, s, newBox("used"))
	clock.Add(40 * time.Second)
	must(t, s.Update(ctx, "used", func(Component) error { return nil }))
	clock.Add(40 * time.Second) // old: idle 80s; used: idle 40s
	_, err := s.Get(ctx, "old")
	wantNotFound(t, err)
	if _, err := s.Get(ctx, "used"); err != nil {
		t.Fatalf("recently used instance expired: %v", err)
	}
	clock.Add(2 * time.Minute)
	mustSet(t, s, newBox("new")) // any use drops what expired
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d after expiry, want 1", n)
	}
}

func TestMemoryStoreCapEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore(WithMaxInstances(3))
	for _, id := range []string{"a", "b", "c"} {
		mustSet(t, s, newBox(id))
	}
	must(t, s.Update(ctx, "a", func(Component) error { return nil })) // b is now the LRU
	mustSet(t, s, newBox("d"))
	if n := s.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	_, err := s.Get(ctx, "b")
	wantNotFound(t, err)
	for _, id := range []string{"a", "c", "d"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("%s evicted: %v", id, err)
		}
	}
	for i := range 1000 {
		mustSet(t, s, newBox(fmt.Sprint("x", i)))
	}
	if n := s.Len(); n != 3 {
		t.Fatalf("Len = %d after 1000 more, want 3", n)
	}
}

func TestMemoryStoreRemovalDuringUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore()
	mustSet(t, s, newBox("a"))
	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Update(ctx, "a", func(Component) error { close(inside); <-release; return nil })
	}()
	<-inside
	waiting := make(chan error)
	go func() { waiting <- s.Update(ctx, "a", func(Component) error { return nil }) }()
	must(t, s.Delete(ctx, "a"))
	close(release)
	must(t, <-done)            // the running update completes
	wantNotFound(t, <-waiting) // the waiting one finds the instance gone
}
