package liveflux

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
)

var _ Store = (*MemoryStore)(nil)

// Defaults of MemoryStore.
const (
	// DefaultIdleTTL is how long MemoryStore keeps an instance nobody uses.
	DefaultIdleTTL = 30 * time.Minute
	// DefaultMaxInstances is how many instances MemoryStore keeps at most.
	DefaultMaxInstances = 100_000
	// DefaultMaxBytes is how many bytes of instances MemoryStore keeps at
	// most, as it estimates them (256 MiB; see WithMaxBytes).
	DefaultMaxBytes = 256 << 20
	// DefaultMaxInstancesPerSession is how many instances one session, or
	// one client address without a session, may keep in a MemoryStore with
	// the default maximum (1,000): the per-session cap defaults to 1/100 of
	// the store's maximum number of instances. See
	// WithMaxInstancesPerSession.
	DefaultMaxInstancesPerSession = DefaultMaxInstances / sessionShareCount
	// DefaultMaxBytesPerSession is how many bytes of instances one session,
	// or one client address without a session, may keep in a MemoryStore
	// with the default maximum (4 MiB): the cap defaults to 1/64 of the
	// store's maximum bytes. See WithMaxBytesPerSession.
	DefaultMaxBytesPerSession = DefaultMaxBytes / sessionShareBytes
)

// How many sessions it takes to fill a MemoryStore, in instances and in
// bytes, unless the per-session caps are set.
const (
	sessionShareCount = 100
	sessionShareBytes = 64
)

// MemoryStore keeps instances in process memory. It is the default store.
//
// An instance expires when it has not been used (Get, Set or Update) for the
// idle TTL (DefaultIdleTTL unless WithIdleTTL says otherwise). Expired
// instances are dropped as the store is used, so it needs no background
// goroutine and nothing to close.
//
// The store bounds what it holds, in instances and in bytes (as it
// estimates them: a fixed cost under 1 KB per instance plus what its
// exported fields hold, strings, slices and maps included; see Bytes), at
// two levels:
//
//   - Per session: the instances one session mounted (WithSessionKey), or
//     without a session the instances one client address mounted (an IPv4
//     address or an IPv6 /64), are at most 1/100 of the store's maximum
//     number and 1/64 of its maximum bytes (DefaultMaxInstancesPerSession
//     and DefaultMaxBytesPerSession with the defaults) unless
//     WithMaxInstancesPerSession and WithMaxBytesPerSession say otherwise.
//     One more evicts that session's own least recently used instances,
//     never another session's.
//   - In all: at most DefaultMaxInstances and DefaultMaxBytes unless
//     WithMaxInstances and WithMaxBytes say otherwise. One more evicts the
//     least recently used instances of the whole store.
//
// The per-session caps apply first, so a session never holds more than its
// share, and the store-wide caps are reached only when many sessions use
// theirs: with the default shares, more than 100 sessions at their
// instance cap or 64 at their byte cap. Only then can what one session
// does evict another session's instance. An instance larger than its cap
// (the per-session byte cap, or WithMaxBytes for an instance without a
// quota) is refused: Set fails with an *Error of status 413, and so does an
// Update that would grow an instance past it, leaving the instance as it
// was. Instances whose component does not embed Base, and instances stored
// by your own code rather than mounted by a Handler, have no session and
// count only toward the store-wide caps.
//
// A failed Update is rolled back by restoring a shallow copy of the
// instance taken before fn ran: fields are restored, but maps and slices that
// fn changed in place are not. Components that mutate such values in place
// and may fail afterwards should validate first.
type MemoryStore struct {
	ttl             time.Duration
	max             int
	maxBytes        int64
	perSession      int              // 0 until NewMemoryStore resolves the default
	perSessionBytes int64            // likewise
	now             func() time.Time // replaced in tests

	mu      sync.Mutex
	entries map[string]*memEntry
	lru     entryList            // front: most recently used
	bytes   int64                // sum of the entries' sizes
	quotas  map[string]*memQuota // by quota key; only non-empty ones
	// listeners are told the ID of every instance removed (onRemove);
	// removed holds the IDs not told yet.
	listeners []func(id string)
	removed   []string
}

type memEntry struct {
	id       string
	quota    *memQuota    // nil: counts only toward the store-wide caps
	links    [2]entryLink // in the store's list and in quota's; guarded by mu
	size     int64        // instanceSize; changed under mu by the lock holder
	lastUsed int64        // UnixNano
	lock     entryLock    // held while an Update runs
	c        Component    // guarded by lock
	gone     atomic.Bool  // removed from the store (evicted, expired or deleted)
}

// memQuota is what one session (or client address) holds.
type memQuota struct {
	key   string
	lru   entryList // front: most recently used
	bytes int64
}

// entryLock is an entry's lock: one Update holds it at a time, the others
// wait for it in turn, or until their context ends. Unheld or held
// without waiters it is a mutex and a flag: a channel is made only for a
// waiter (a channel per entry would cost every instance 96 bytes).
type entryLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{} // in arrival order; closed to hand the lock over
}

func (l *entryLock) tryLock() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held {
		return false
	}
	l.held = true
	return true
}

func (l *entryLock) lock(ctx context.Context) error {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil // handed over
	case <-ctx.Done():
	}
	l.mu.Lock()
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	l.mu.Unlock()
	l.unlock() // handed over as the context ended: hand it on
	return ctx.Err()
}

func (l *entryLock) unlock() {
	l.mu.Lock()
	if len(l.waiters) > 0 {
		ch := l.waiters[0]
		l.waiters = l.waiters[1:]
		if len(l.waiters) == 0 {
			l.waiters = nil
		}
		l.mu.Unlock()
		close(ch) // held stays set: the waiter has it
		return
	}
	l.held = false
	l.mu.Unlock()
}

// entryList is a list of entries through their links[which]: the
// entries are their own list elements (a list.Element each would cost
// every instance 96 bytes more).
type entryList struct {
	head, tail *memEntry
	n          int
	which      uint8
}

type entryLink struct{ prev, next *memEntry }

func (l *entryList) pushFront(e *memEntry) {
	k := &e.links[l.which]
	k.prev, k.next = nil, l.head
	if l.head != nil {
		l.head.links[l.which].prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.n++
}

func (l *entryList) remove(e *memEntry) {
	k := &e.links[l.which]
	if k.prev != nil {
		k.prev.links[l.which].next = k.next
	} else {
		l.head = k.next
	}
	if k.next != nil {
		k.next.links[l.which].prev = k.prev
	} else {
		l.tail = k.prev
	}
	k.prev, k.next = nil, nil
	l.n--
}

func (l *entryList) moveToFront(e *memEntry) {
	if l.head != e {
		l.remove(e)
		l.pushFront(e)
	}
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

// WithMaxBytes sets the most bytes of instances the store keeps, as it
// estimates them (see MemoryStore). Defaults to DefaultMaxBytes (256 MiB);
// a value <= 0 keeps the default.
func WithMaxBytes(n int64) MemoryStoreOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.maxBytes = n
		}
	}
}

// WithMaxInstancesPerSession sets the most instances one session, or one
// client address without a session, keeps in the store; mounting one more
// evicts its own least recently used instance. Defaults to 1/100 of the
// store's maximum (WithMaxInstances), at least 1: that is
// DefaultMaxInstancesPerSession (1,000) with the default maximum. A value
// <= 0 keeps the default; a value above the store's maximum acts as that
// maximum.
func WithMaxInstancesPerSession(n int) MemoryStoreOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.perSession = n
		}
	}
}

// WithMaxBytesPerSession sets the most bytes of instances (as the store
// estimates them) one session, or one client address without a session,
// keeps in the store; going over evicts its own least recently used
// instances, and a single instance over it is refused with 413. Defaults
// to 1/64 of the store's maximum bytes (WithMaxBytes): that is
// DefaultMaxBytesPerSession (4 MiB) with the default maximum. A value <= 0
// keeps the default; a value above the store's maximum acts as that
// maximum.
func WithMaxBytesPerSession(n int64) MemoryStoreOption {
	return func(s *MemoryStore) {
		if n > 0 {
			s.perSessionBytes = n
		}
	}
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore(opts ...MemoryStoreOption) *MemoryStore {
	s := &MemoryStore{
		ttl:      DefaultIdleTTL,
		max:      DefaultMaxInstances,
		maxBytes: DefaultMaxBytes,
		now:      time.Now,
		entries:  make(map[string]*memEntry),
		quotas:   make(map[string]*memQuota),
	}
	for _, o := range opts {
		o(s)
	}
	if s.perSession == 0 {
		s.perSession = max(s.max/sessionShareCount, 1)
	}
	if s.perSessionBytes == 0 {
		s.perSessionBytes = max(s.maxBytes/sessionShareBytes, 1)
	}
	s.perSession = min(s.perSession, s.max)
	s.perSessionBytes = min(s.perSessionBytes, s.maxBytes)
	return s
}

// Len returns the number of instances stored, expired ones included until
// they are dropped.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Bytes returns the estimated size of the instances stored, expired ones
// included until they are dropped: what WithMaxBytes bounds.
func (s *MemoryStore) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Set implements Store. It evicts what the caps require (see MemoryStore),
// and refuses an instance larger than its byte cap with an *Error of status
// 413.
func (s *MemoryStore) Set(ctx context.Context, c Component) error {
	id := c.GetID()
	key := quotaOf(c)
	size := instanceSize(c)
	if limit := s.sizeLimit(key); size > limit {
		return tooLarge(limit)
	}
	e := &memEntry{id: id, c: c, size: size}
	s.mu.Lock()
	defer s.unlock()
	now := s.now()
	s.expireLocked(now)
	if old, ok := s.entries[id]; ok {
		s.dropLocked(old) // replaced, not gone
	}
	e.lastUsed = now.UnixNano()
	s.entries[id] = e
	s.lru.pushFront(e)
	s.bytes += size
	if key != "" {
		q := s.quotas[key]
		if q == nil {
			q = &memQuota{key: key, lru: entryList{which: 1}}
			s.quotas[key] = q
		}
		e.quota = q
		q.lru.pushFront(e)
		q.bytes += size
		s.trimQuotaLocked(q)
	}
	s.trimLocked()
	return nil
}

// sizeLimit is the largest instance the store accepts with quota key key.
func (s *MemoryStore) sizeLimit(key string) int64 {
	if key == "" {
		return s.maxBytes
	}
	return s.perSessionBytes
}

// trimQuotaLocked evicts q's least recently used entries while q is over
// its caps.
func (s *MemoryStore) trimQuotaLocked(q *memQuota) {
	for q.lru.n > 0 && (q.lru.n > s.perSession || q.bytes > s.perSessionBytes) {
		s.removeLocked(q.lru.tail)
	}
}

// trimLocked evicts the store's least recently used entries while it is
// over its caps.
func (s *MemoryStore) trimLocked() {
	for s.lru.n > 0 && (s.lru.n > s.max || s.bytes > s.maxBytes) {
		s.removeLocked(s.lru.tail)
	}
}

// Get implements Store. The copy is shallow: maps and slices are shared with
// the stored instance and must not be changed.
func (s *MemoryStore) Get(ctx context.Context, id string) (Component, error) {
	var cp Component
	err := s.update(ctx, id, false, func(c Component) error {
		cp = shallowCopy(c)
		return nil
	})
	return cp, err
}

// Update implements Store. It waits for exclusive access until ctx is done.
// It measures the instance again after fn, evicts what the caps then
// require, and fails with an *Error of status 413, restoring the instance,
// when fn grew it past its byte cap.
func (s *MemoryStore) Update(ctx context.Context, id string, fn func(Component) error) error {
	return s.update(ctx, id, true, fn)
}

// updateIdle is Update without counting as a use: the instance expires
// when its idle time runs out, as if this had not run. Topic deliveries use
// it, so that messages do not keep alive an instance nobody uses. Unless
// wait, it returns errBusy at once when someone holds the instance.
func (s *MemoryStore) updateIdle(ctx context.Context, id string, wait bool, fn func(Component) error) error {
	return s.updateEntry(ctx, id, false, true, wait, fn)
}

func (s *MemoryStore) update(ctx context.Context, id string, resize bool, fn func(Component) error) error {
	return s.updateEntry(ctx, id, true, resize, true, fn)
}

func (s *MemoryStore) updateEntry(ctx context.Context, id string, use, resize, wait bool, fn func(Component) error) error {
	e, err := s.touch(id, use)
	if err != nil {
		return err
	}
	if !wait {
		if !e.lock.tryLock() {
			return errBusy
		}
	} else if err := e.lock.lock(ctx); err != nil {
		return err
	}
	defer e.lock.unlock()
	if e.gone.Load() {
		return notFound(id)
	}
	saved := takeSnapshot(e.c)
	defer releaseSnapshot(e.c, saved)
	if err := fn(e.c); err != nil {
		restore(e.c, saved)
		return err
	}
	if !resize {
		return nil
	}
	size := instanceSize(e.c)
	if size == e.size {
		return nil
	}
	key := ""
	if e.quota != nil {
		key = e.quota.key
	}
	if limit := s.sizeLimit(key); size > limit {
		restore(e.c, saved)
		return tooLarge(limit)
	}
	s.mu.Lock()
	defer s.unlock()
	if e.gone.Load() {
		return nil // removed meanwhile: its bytes are no longer counted
	}
	s.bytes += size - e.size
	if e.quota != nil {
		e.quota.bytes += size - e.size
	}
	e.size = size
	if e.quota != nil {
		s.trimQuotaLocked(e.quota)
	}
	s.trimLocked()
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.unlock()
	if e, ok := s.entries[id]; ok {
		s.removeLocked(e)
	}
	return nil
}

// touch finds a live entry and marks it used.
func (s *MemoryStore) touch(id string, use bool) (*memEntry, error) {
	s.mu.Lock()
	defer s.unlock()
	now := s.now()
	s.expireLocked(now)
	e, ok := s.entries[id]
	if !ok {
		return nil, notFound(id)
	}
	if !use {
		return e, nil
	}
	e.lastUsed = now.UnixNano()
	s.lru.moveToFront(e)
	if e.quota != nil {
		e.quota.lru.moveToFront(e)
	}
	return e, nil
}

// expireLocked drops the entries idle for longer than the TTL. They sit at
// the back of the LRU list, so this costs O(1) when nothing expired and each
// entry is dropped once.
func (s *MemoryStore) expireLocked(now time.Time) {
	for e := s.lru.tail; e != nil; e = s.lru.tail {
		if now.UnixNano()-e.lastUsed < int64(s.ttl) {
			return
		}
		s.removeLocked(e)
	}
}

// removeLocked drops an entry: evicted, expired or deleted. An Update
// already running on it completes (as if the removal came just after it);
// Updates waiting for it then find it gone. Whoever watches removals
// (onRemove) is told once s.mu is released (see unlock).
func (s *MemoryStore) removeLocked(e *memEntry) {
	s.dropLocked(e)
	if len(s.listeners) > 0 {
		s.removed = append(s.removed, e.id)
	}
}

// dropLocked drops an entry from the maps and counts.
func (s *MemoryStore) dropLocked(e *memEntry) {
	e.gone.Store(true)
	s.lru.remove(e)
	delete(s.entries, e.id)
	s.bytes -= e.size
	if q := e.quota; q != nil {
		q.lru.remove(e)
		q.bytes -= e.size
		if q.lru.n == 0 {
			delete(s.quotas, q.key)
		}
	}
}

// onRemove has fn told the ID of every instance the store evicts, expires
// or deletes, after the fact and holding none of the store's locks. The
// handlers over the store call it, so that what they keep for an instance
// (its subscriptions, its presence entries) goes with it.
func (s *MemoryStore) onRemove(fn func(id string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// unlock releases s.mu and tells the listeners what was removed meanwhile.
func (s *MemoryStore) unlock() {
	ids, listeners := s.removed, s.listeners
	s.removed = nil
	s.mu.Unlock()
	for _, id := range ids {
		for _, fn := range listeners {
			fn(id)
		}
	}
}

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

// snapshots keeps, per component type, values to take an instance's
// snapshot into (takeSnapshot), so that an Update allocates none.
var snapshots sync.Map // reflect.Type → *sync.Pool

// takeSnapshot is shallowCopy into a value kept for the purpose: give it
// back with releaseSnapshot.
func takeSnapshot(c Component) Component {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return c
	}
	t := v.Elem().Type()
	pool, _ := snapshots.Load(t)
	if pool == nil {
		pool, _ = snapshots.LoadOrStore(t, new(sync.Pool))
	}
	saved, _ := pool.(*sync.Pool).Get().(Component)
	if saved == nil {
		return shallowCopy(c)
	}
	reflect.ValueOf(saved).Elem().Set(v.Elem())
	return saved
}

// releaseSnapshot gives back a snapshot of c, cleared so that it holds on
// to nothing.
func releaseSnapshot(c, saved Component) {
	if c == saved {
		return
	}
	v := reflect.ValueOf(saved).Elem()
	v.SetZero()
	if pool, ok := snapshots.Load(v.Type()); ok {
		pool.(*sync.Pool).Put(saved)
	}
}

// restore copies saved (from shallowCopy) back into c.
func restore(c, saved Component) {
	if c == saved {
		return
	}
	reflect.ValueOf(c).Elem().Set(reflect.ValueOf(saved).Elem())
}
