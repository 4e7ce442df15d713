package liveflux

import (
	"container/list"
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

// Store keeps component instances between requests, keyed by component ID.
//
// The handlers touch an instance only through Update, which gives one caller
// at a time exclusive access to it; that is how actions on one instance are
// serialized whatever the transport. A store that keeps state outside the
// process (Redis, SQL) decodes the instance in Update, runs fn on it and
// writes it back atomically with respect to other Updates of the same ID (a
// lock or an optimistic transaction that reruns fn), so that concurrent
// actions from several processes lose nothing. Such a store creates the
// instance with a Registry (kind → factory) and decodes its exported fields;
// Base's kind, ID and revision are its metadata.
//
// Every method returns an error wrapping ErrNotFound for an unknown or
// expired ID. Implementations must be safe for concurrent use.
type Store interface {
	// Get returns a copy of the instance, for reading. Changes to the copy
	// are not stored; use Update to change an instance.
	Get(ctx context.Context, id string) (Component, error)
	// Set stores c under c.GetID(), replacing any instance with that ID.
	Set(ctx context.Context, c Component) error
	// Update runs fn with exclusive access to the instance and stores what
	// fn did to it. When fn returns an error, the instance keeps the state
	// it had before the call and Update returns that error.
	Update(ctx context.Context, id string, fn func(Component) error) error
	// Delete removes the instance. Deleting an unknown ID is not an error.
	Delete(ctx context.Context, id string) error
}

var _ Store = (*MemoryStore)(nil)

// Defaults of MemoryStore.
const (
	// DefaultIdleTTL is how long MemoryStore keeps an instance nobody uses.
	DefaultIdleTTL = 30 * time.Minute
	// DefaultMaxInstances is how many instances MemoryStore keeps at most.
	DefaultMaxInstances = 100_000
)

// MemoryStore keeps instances in process memory. It is the default store.
//
// An instance expires when it has not been used (Get, Set or Update) for the
// idle TTL (DefaultIdleTTL unless WithIdleTTL says otherwise). The store never
// holds more than its maximum number of instances (DefaultMaxInstances unless
// WithMaxInstances says otherwise): storing one more evicts the least
// recently used. Expired instances are dropped as the store is used, so it
// needs no background goroutine and nothing to close.
//
// A failed Update is rolled back by restoring a shallow copy of the
// instance taken before fn ran: fields are restored, but maps and slices that
// fn changed in place are not. Components that mutate such values in place
// and may fail afterwards should validate first.
type MemoryStore struct {
	ttl time.Duration
	max int
	now func() time.Time // replaced in tests

	mu      sync.Mutex
	entries map[string]*list.Element // of *memEntry
	lru     list.List                // front: most recently used
}

type memEntry struct {
	id       string
	lastUsed time.Time
	lock     chan struct{} // capacity 1: held while an Update runs
	c        Component     // guarded by lock
	gone     atomic.Bool   // removed from the store (evicted, expired or deleted)
}

// MemoryStoreOption configures a MemoryStore.
type MemoryStoreOption func(*MemoryStore)

// WithIdleTTL sets how long an unused instance is kept. Defaults to
// DefaultIdleTTL; a value <= 0 keeps the default.
func WithIdleTTL(d time.Duration) MemoryStoreOption {
	return func(s *MemoryStore) {
		if d > 0 {
			s.ttl = d
		}
	}
}

// WithMaxInstances sets the most instances the store keeps. Defaults to
// DefaultMaxInstances; a value <= 0 keeps the default.
func WithMaxInstances(n int) MemoryStoreOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.max = n
		}
	}
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryStoreOption) *MemoryStore {
	s := &MemoryStore{
		ttl:     DefaultIdleTTL,
		max:     DefaultMaxInstances,
		now:     time.Now,
		entries: make(map[string]*list.Element),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Len returns the number of instances stored, expired ones included until
// they are dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Set implements Store.
func (s *MemoryStore) Set(ctx context.Context, c Component) error {
	id := c.GetID()
	e := &memEntry{id: id, c: c, lock: make(chan struct{}, 1)}
	s.mu.Lock()
	now := s.now()
	s.expireLocked(now)
	if old, ok := s.entries[id]; ok {
		s.removeLocked(old)
	}
	e.lastUsed = now
	s.entries[id] = s.lru.PushFront(e)
	for len(s.entries) > s.max {
		s.removeLocked(s.lru.Back())
	}
	s.mu.Unlock()
	return nil
}

// Get implements Store. The copy is shallow: maps and slices are shared with
// the stored instance and must not be changed.
func (s *MemoryStore) Get(ctx context.Context, id string) (Component, error) {
	var cp Component
	err := s.Update(ctx, id, func(c Component) error {
		cp = shallowCopy(c)
		return nil
	})
	return cp, err
}

// Update implements Store. It waits for exclusive access until ctx is done.
func (s *MemoryStore) Update(ctx context.Context, id string, fn func(Component) error) error {
	e, err := s.touch(id)
	if err != nil {
		return err
	}
	select {
	case e.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.lock }()
	if e.gone.Load() {
		return notFound(id)
	}
	saved := shallowCopy(e.c)
	if err := fn(e.c); err != nil {
		restore(e.c, saved)
		return err
	}
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[id]; ok {
		s.removeLocked(el)
	}
	return nil
}

// touch finds a live entry and marks it used.
func (s *MemoryStore) touch(id string) (*memEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	el, ok := s.entries[id]
	if !ok {
		return nil, notFound(id)
	}
	e := el.Value.(*memEntry)
	e.lastUsed = now
	s.lru.MoveToFront(el)
	return e, nil
}

// expireLocked drops the entries idle for longer than the TTL. They sit at
// the back of the LRU list, so this costs O(1) when nothing expired and each
// entry is dropped once.
func (s *MemoryStore) expireLocked(now time.Time) {
	for el := s.lru.Back(); el != nil; el = s.lru.Back() {
		e := el.Value.(*memEntry)
		if now.Sub(e.lastUsed) < s.ttl {
			return
		}
		s.removeLocked(el)
	}
}

// removeLocked drops an entry. An Update already running on it completes
// (as if the removal came just after it); Updates waiting for it then find
// it gone.
func (s *MemoryStore) removeLocked(el *list.Element) {
	e := el.Value.(*memEntry)
	e.gone.Store(true)
	s.lru.Remove(el)
	delete(s.entries, e.id)
}

func notFound(id string) error {
	return &notFoundError{id: id}
}

type notFoundError struct{ id string }

func (e *notFoundError) Error() string { return "liveflux: component " + e.id + " not found" }
func (e *notFoundError) Unwrap() error { return ErrNotFound }

// shallowCopy returns a copy of *c when c is a pointer to a struct, else c.
func shallowCopy(c Component) Component {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return c
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	return cp.Interface().(Component)
}

// restore copies saved (from shallowCopy) back into c.
func restore(c, saved Component) {
	if c == saved {
		return
	}
	reflect.ValueOf(c).Elem().Set(reflect.ValueOf(saved).Elem())
}
