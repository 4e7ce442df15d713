package liveflux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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

// quotaBox returns a box that counts toward quota key.
func quotaBox(id, key string) *box { b := newBox(id); b.quota = key; return b }

// checkAccounting verifies that the store's byte and quota bookkeeping
// matches its entries and that no quota is over its caps.
func checkAccounting(t *testing.T, s *MemoryStore) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	perQuota := map[*memQuota]int64{}
	for id, e := range s.entries {
		if e.id != id || e.gone.Load() {
			t.Fatalf("entry %s: id %s, gone %v", id, e.id, e.gone.Load())
		}
		total += e.size
		if e.quota != nil {
			perQuota[e.quota] += e.size
			if s.quotas[e.quota.key] != e.quota {
				t.Fatalf("entry %s: quota %s not in the store's map", id, e.quota.key)
			}
		}
	}
	if total != s.bytes || s.lru.n != len(s.entries) || walk(t, &s.lru) != s.lru.n {
		t.Fatalf("store counts %d bytes, %d in its list; entries: %d bytes, %d", s.bytes, s.lru.n, total, len(s.entries))
	}
	if s.bytes > s.maxBytes || len(s.entries) > s.max {
		t.Fatalf("store holds %d instances, %d bytes; caps %d, %d", len(s.entries), s.bytes, s.max, s.maxBytes)
	}
	for key, q := range s.quotas {
		if q.lru.n == 0 || q.bytes != perQuota[q] || walk(t, &q.lru) != q.lru.n {
			t.Fatalf("quota %s: %d entries, counts %d bytes, entries hold %d", key, q.lru.n, q.bytes, perQuota[q])
		}
		if q.lru.n > s.perSession || q.bytes > s.perSessionBytes {
			t.Fatalf("quota %s over its caps: %d instances, %d bytes", key, q.lru.n, q.bytes)
		}
	}
}

// walk counts the entries of l from its head, checking that each links
// back to the one before it and that the last is its tail.
func walk(t *testing.T, l *entryList) int {
	t.Helper()
	n := 0
	var prev *memEntry
	for e := l.head; e != nil; e = e.links[l.which].next {
		if e.links[l.which].prev != prev || e.gone.Load() {
			t.Fatalf("list %d: entry %s links back to the wrong one (or is gone)", l.which, e.id)
		}
		prev = e
		n++
	}
	if prev != l.tail {
		t.Fatalf("list %d: its tail is not its last entry", l.which)
	}
	return n
}

func TestMemoryStoreSessionCapEvictsOnlyItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore(WithMaxInstances(100), WithMaxInstancesPerSession(3))
	mustSet(t, s, quotaBox("victim", "alice"))
	for _, id := range []string{"m0", "m1", "m2"} {
		mustSet(t, s, quotaBox(id, "mallory"))
	}
	must(t, s.Update(ctx, "m0", func(Component) error { return nil })) // m1 is mallory's LRU
	mustSet(t, s, quotaBox("m3", "mallory"))
	_, err := s.Get(ctx, "m1")
	wantNotFound(t, err)
	for _, id := range []string{"m0", "m2", "m3"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Fatalf("%s evicted: %v", id, err)
		}
	}
	// Far more than the whole store holds, from one session: it only ever
	// evicts its own instances.
	for i := range 10_000 {
		mustSet(t, s, quotaBox(fmt.Sprint("x", i), "mallory"))
	}
	if _, err := s.Get(ctx, "victim"); err != nil {
		t.Fatalf("another session's instance was evicted: %v", err)
	}
	if n := s.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4 (the victim and mallory's 3)", n)
	}
	checkAccounting(t, s)
	// The default share is 1/100 of the store's maximum, at least 1.
	for _, tt := range []struct{ max, want int }{{DefaultMaxInstances, DefaultMaxInstancesPerSession}, {10_000, 100}, {50, 1}} {
		if got := NewMemoryStore(WithMaxInstances(tt.max)).perSession; got != tt.want {
			t.Errorf("WithMaxInstances(%d): per-session cap %d, want %d", tt.max, got, tt.want)
		}
	}
	if got := NewMemoryStore().perSessionBytes; got != DefaultMaxBytesPerSession || DefaultMaxBytesPerSession != 4<<20 || DefaultMaxInstancesPerSession != 1000 {
		t.Errorf("per-session byte cap %d, defaults %d and %d", got, DefaultMaxBytesPerSession, DefaultMaxInstancesPerSession)
	}
}

func TestMemoryStoreByteCaps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const kib = 1 << 10
	s := NewMemoryStore(WithMaxBytes(1024*kib), WithMaxBytesPerSession(256*kib))
	big := func(id, key string, n int) *box {
		b := quotaBox(id, key)
		b.Tags = []string{strings.Repeat("x", n)}
		return b
	}
	mustSet(t, s, quotaBox("victim", "alice"))
	for i := range 100 {
		mustSet(t, s, big(fmt.Sprint("m", i), "mallory", 100*kib))
	}
	if _, err := s.Get(ctx, "victim"); err != nil {
		t.Fatalf("another session's instance was evicted: %v", err)
	}
	if n := s.Len(); n != 3 { // the victim and mallory's last two
		t.Fatalf("Len = %d, want 3", n)
	}
	if b := s.Bytes(); b < 200*kib || b > 256*kib+4*kib {
		t.Fatalf("Bytes = %d, want mallory's 200 KiB and the victim's little", b)
	}
	checkAccounting(t, s)

	// An instance over its cap is refused with 413, and so is an Update
	// that would grow one past it; the instance keeps its state.
	var e *Error
	if err := s.Set(ctx, big("huge", "alice", 300*kib)); !errors.As(err, &e) || e.Status != 413 {
		t.Fatalf("Set over the per-session cap: %v", err)
	}
	err := s.Update(ctx, "victim", func(c Component) error {
		c.(*box).Tags = []string{strings.Repeat("y", 300*kib)}
		c.(*box).N = 1
		return nil
	})
	if !errors.As(err, &e) || e.Status != 413 {
		t.Fatalf("Update over the per-session cap: %v", err)
	}
	if got, _ := s.Get(ctx, "victim"); got.(*box).N != 0 || got.(*box).Tags != nil {
		t.Fatalf("refused Update changed the instance: %+v", got)
	}
	// Growing within the cap counts, and evicts the session's own oldest.
	mustSet(t, s, big("a1", "alice", 100*kib))
	must(t, s.Update(ctx, "victim", func(c Component) error {
		c.(*box).Tags = []string{strings.Repeat("y", 200*kib)}
		return nil
	}))
	if _, err := s.Get(ctx, "a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alice's oldest survived her growing past her cap: %v", err)
	}
	if _, err := s.Get(ctx, "m99"); err != nil {
		t.Fatalf("alice's growth evicted mallory's instance: %v", err)
	}
	checkAccounting(t, s)

	// Instances without a quota count toward the store-wide cap only.
	for i := range 20 {
		mustSet(t, s, big(fmt.Sprint("u", i), "", 100*kib))
	}
	if b := s.Bytes(); b > 1024*kib {
		t.Fatalf("Bytes = %d over the store's cap", b)
	}
	if err := s.Set(ctx, big("hugeu", "", 1100*kib)); !errors.As(err, &e) || e.Status != 413 {
		t.Fatalf("Set over the store's cap: %v", err)
	}
	checkAccounting(t, s)
	for _, id := range []string{"victim", "m98", "m99"} {
		must(t, s.Delete(ctx, id))
	}
	for i := range 20 {
		must(t, s.Delete(ctx, fmt.Sprint("u", i)))
	}
	if s.Len() != 0 || s.Bytes() != 0 || len(s.quotas) != 0 {
		t.Fatalf("empty store: Len %d, Bytes %d, %d quotas", s.Len(), s.Bytes(), len(s.quotas))
	}
}

func TestMemoryStoreQuotasExpire(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	s := NewMemoryStore(WithIdleTTL(time.Minute))
	s.now = clock.Now
	for i := range 10 {
		mustSet(t, s, quotaBox(fmt.Sprint("a", i), fmt.Sprint("q", i%3)))
	}
	clock.Add(2 * time.Minute)
	mustSet(t, s, newBox("new"))
	if s.Len() != 1 || len(s.quotas) != 0 || s.Bytes() != instanceSize(newBox("new")) {
		t.Fatalf("after expiry: Len %d, %d quotas, Bytes %d", s.Len(), len(s.quotas), s.Bytes())
	}
}

// TestMemoryStoreAccountingUnderConcurrency races sets, updates that grow
// and shrink instances, gets and deletes across a few quotas; the
// bookkeeping must add up afterwards (and -race must stay quiet).
func TestMemoryStoreAccountingUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryStore(WithMaxInstances(40), WithMaxInstancesPerSession(8), WithMaxBytes(64<<10), WithMaxBytesPerSession(16<<10))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				id := fmt.Sprint("c", (g*7+i)%60)
				switch i % 5 {
				case 0, 1:
					s.Set(ctx, quotaBox(id, fmt.Sprint("q", i%5)))
				case 2:
					s.Update(ctx, id, func(c Component) error {
						c.(*box).Tags = []string{strings.Repeat("z", (i*97)%4096)}
						return nil
					})
				case 3:
					s.Get(ctx, id)
				case 4:
					if i%3 == 0 {
						s.Delete(ctx, id)
					}
				}
			}
		}()
	}
	wg.Wait()
	checkAccounting(t, s)
}

// An entry's lock is held by one at a time, handed over in turn, given up
// by a waiter whose context ends (without losing it for the others), and
// refused at once to a try.
func TestEntryLock(t *testing.T) {
	t.Parallel()
	var l entryLock
	if !l.tryLock() || l.tryLock() {
		t.Fatal("tryLock: the first must get it, the second not")
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() { gaveUp <- l.lock(ctx) }()
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			if err := l.lock(context.Background()); err != nil {
				t.Error(err)
			}
			got <- i
			l.unlock()
		}()
	}
	time.Sleep(10 * time.Millisecond) // all three wait
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a waiter whose context ended got the lock")
	}
	l.unlock()
	for range 2 {
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatal("the lock was not handed on to a waiter")
		}
	}
	if !l.tryLock() {
		t.Fatal("the lock stayed held after everyone left")
	}
	l.unlock()

	// Many at once: the holders never overlap.
	var held atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				if err := l.lock(context.Background()); err != nil {
					t.Error(err)
					return
				}
				if held.Add(1) != 1 {
					t.Error("two holders at once")
				}
				held.Add(-1)
				l.unlock()
			}
		})
	}
	wg.Wait()
}
