package fluxredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/go-liveflux/liveflux"
	"github.com/redis/go-redis/v9"
)

// Defaults of Store.
const (
	// DefaultKeyPrefix starts the Redis key of every instance; the
	// component ID follows it.
	DefaultKeyPrefix = "liveflux:component:"
	// DefaultMaxAttempts is how many times Update tries to write an
	// instance that other nodes keep changing before it gives up.
	DefaultMaxAttempts = 50
)

// ErrConflict reports an Update that gave up because other nodes changed
// the instance every time it tried to write it (see WithMaxAttempts).
var ErrConflict = errors.New("fluxredis: instance changed concurrently too often")

// Store is a liveflux.Store that keeps component instances in Redis, shared
// by every node that uses the same Redis and key prefix.
//
// Each instance is one Redis hash under prefix+ID, holding the instance as
// liveflux.EncodeComponent writes it (field "d") and a random version token
// (field "v"). Every use (Get, Set, Update) sets the key to expire after the
// idle TTL (liveflux.DefaultIdleTTL unless WithIdleTTL says otherwise), so
// Redis drops instances nobody uses; bound Redis's memory with its own
// maxmemory settings. Store has no caps per session nor in bytes, unlike
// liveflux.MemoryStore: a client that mounts more than Redis holds meets
// Redis's maxmemory policy, which evicts whoever's instances or refuses
// every session's writes. The
// handler's limits hold whatever the store (mount parameters,
// liveflux.WithMaxParamBytes; POSTs per client, liveflux.WithHTTPRateLimit),
// so use them with this store.
//
// Update is an optimistic transaction: it reads the instance, runs fn on a
// decoded copy and writes the result only if the version is still the one
// it read (a compare-and-set in a Lua script). When another node wrote the
// instance in between, Update reads it again and runs fn again, so fn may
// run more than once for one Update; only the last run's result is stored,
// and a component's Handle must not have side effects outside the instance
// that would be wrong to repeat (or must make them idempotent). Updates of
// one ID through one Store wait for each other, so only Updates from
// different processes (or Stores) ever retry. Concurrent actions from
// several nodes therefore lose nothing. When fn fails, nothing is written.
//
// Get returns a freshly decoded copy; changing it changes nothing stored.
// An unknown or expired ID gives an error wrapping liveflux.ErrNotFound.
// Errors from Redis are returned (wrapped) as they come; nothing is retried
// beyond what the go-redis client itself retries, so the client's timeouts
// bound how long a call waits for an unreachable Redis.
//
// One caveat holds for any networked store: when the connection fails just
// after the final write was sent, Update returns an error although the
// write may have been applied. The write is idempotent, so the client's own
// retries never apply it twice.
type Store struct {
	client      redis.UniversalClient
	registry    *liveflux.Registry
	prefix      string
	ttl         time.Duration
	maxAttempts int

	mu    sync.Mutex
	locks map[string]*idLock // IDs being updated through this Store
}

var _ liveflux.Store = (*Store)(nil)

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithRegistry decodes instances with factories from r instead of
// liveflux.DefaultRegistry. Use the registry the handlers use.
func WithRegistry(r *liveflux.Registry) StoreOption {
	return func(s *Store) {
		if r != nil {
			s.registry = r
		}
	}
}

// WithKeyPrefix sets what the Redis key of every instance starts with.
// Defaults to DefaultKeyPrefix. Applications sharing one Redis need
// different prefixes only if they register different components under the
// same kind; IDs never collide.
func WithKeyPrefix(prefix string) StoreOption {
	return func(s *Store) { s.prefix = prefix }
}

// WithIdleTTL sets how long an instance nobody uses is kept. Defaults to
// liveflux.DefaultIdleTTL; a value below one millisecond keeps the default.
func WithIdleTTL(d time.Duration) StoreOption {
	return func(s *Store) {
		if d >= time.Millisecond {
			s.ttl = d
		}
	}
}

// WithMaxAttempts sets how many times Update runs fn and tries to write
// before it gives up with ErrConflict. Defaults to DefaultMaxAttempts; a
// value <= 0 keeps the default. Conflicts come only from other processes
// updating the same instance at the same moment.
func WithMaxAttempts(n int) StoreOption {
	return func(s *Store) {
		if n > 0 {
			s.maxAttempts = n
		}
	}
}

// NewStore returns a store that keeps instances in Redis through client
// (a *redis.Client, *redis.ClusterClient or any UniversalClient). The store
// does not close the client.
func NewStore(client redis.UniversalClient, opts ...StoreOption) *Store {
	s := &Store{
		client:      client,
		registry:    liveflux.DefaultRegistry,
		prefix:      DefaultKeyPrefix,
		ttl:         liveflux.DefaultIdleTTL,
		maxAttempts: DefaultMaxAttempts,
		locks:       make(map[string]*idLock),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Key returns the Redis key the instance id is stored under.
func (s *Store) Key(id string) string { return s.prefix + id }

// Set implements liveflux.Store.
func (s *Store) Set(ctx context.Context, c liveflux.Component) error {
	data, err := liveflux.EncodeComponent(c)
	if err != nil {
		return err
	}
	key := s.Key(c.GetID())
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, fieldVersion, newVersion(), fieldData, data)
		p.PExpire(ctx, key, s.ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("fluxredis: set %s: %w", c.GetID(), err)
	}
	return nil
}

// Get implements liveflux.Store.
func (s *Store) Get(ctx context.Context, id string) (liveflux.Component, error) {
	_, data, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.decode(id, data)
}

// Update implements liveflux.Store. It honors ctx while it waits for
// another Update of the same ID through this Store, between attempts, and (as
// far as the client's ContextTimeoutEnabled allows) in Redis commands.
func (s *Store) Update(ctx context.Context, id string, fn func(liveflux.Component) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock, err := s.lock(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()

	var pause time.Duration
	for attempt := 1; ; attempt++ {
		version, data, err := s.read(ctx, id)
		if err != nil {
			return err
		}
		c, err := s.decode(id, data)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		out, err := liveflux.EncodeComponent(c)
		if err != nil {
			return err
		}
		if bytes.Equal(out, data) {
			return nil // nothing changed: as if it ran at the read
		}
		res, err := casScript.Run(ctx, s.client, []string{s.Key(id)},
			version, newVersion(), out, s.ttl.Milliseconds()).Int()
		if err != nil {
			return fmt.Errorf("fluxredis: update %s: %w", id, err)
		}
		switch res {
		case casWritten:
			return nil
		case casGone:
			return notFound(id)
		case casConflict:
			// Another node wrote in between: try again, below.
		default:
			return fmt.Errorf("fluxredis: update %s: unexpected reply %d from Redis", id, res)
		}
		if attempt >= s.maxAttempts {
			return fmt.Errorf("fluxredis: update %s after %d attempts: %w", id, attempt, ErrConflict)
		}
		// Back off a little, with jitter, so that two nodes hammering one
		// instance take turns.
		pause = min(max(2*pause, time.Millisecond), 50*time.Millisecond)
		if err := sleep(ctx, pause/2+rand.N(pause/2+1)); err != nil {
			return err
		}
	}
}

// Delete implements liveflux.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.client.Del(ctx, s.Key(id)).Err(); err != nil {
		return fmt.Errorf("fluxredis: delete %s: %w", id, err)
	}
	return nil
}

// Fields of an instance's hash.
const (
	fieldVersion = "v"
	fieldData    = "d"
)

// read returns the version and encoding of id, and restarts its idle TTL.
func (s *Store) read(ctx context.Context, id string) (version string, data []byte, err error) {
	key := s.Key(id)
	var get *redis.SliceCmd
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.HMGet(ctx, key, fieldVersion, fieldData)
		p.PExpire(ctx, key, s.ttl)
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("fluxredis: get %s: %w", id, err)
	}
	vals := get.Val()
	if len(vals) != 2 {
		return "", nil, notFound(id)
	}
	v, ok1 := vals[0].(string)
	d, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return "", nil, notFound(id)
	}
	return v, []byte(d), nil
}

func (s *Store) decode(id string, data []byte) (liveflux.Component, error) {
	c, err := liveflux.DecodeComponent(s.registry, data)
	if err != nil {
		return nil, fmt.Errorf("fluxredis: %s: %w", id, err)
	}
	return c, nil
}

// Results of casScript.
const (
	casConflict = 0  // the version changed: read again
	casWritten  = 1  // written (now or by an earlier try of the same call)
	casGone     = -1 // the instance expired or was deleted meanwhile
)

// casScript writes ARGV[3] as the instance with version ARGV[2] if its
// version is still ARGV[1]. Finding ARGV[2] already there means this very
// write was applied by an earlier try whose reply got lost, so a retried
// call is harmless.
var casScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if v == ARGV[2] then return 1 end
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// newVersion returns a fresh version token. Tokens are random rather than
// counted, so an instance deleted and stored again never repeats one.
func newVersion() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

func notFound(id string) error {
	return fmt.Errorf("fluxredis: component %s: %w", id, liveflux.ErrNotFound)
}

// idLock serializes the Updates of one ID through one Store.
type idLock struct {
	held chan struct{} // capacity 1
	refs int           // holders and waiters; guarded by Store.mu
}

// lock waits until no other Update of id runs through s, or ctx is
// done.
func (s *Store) lock(ctx context.Context, id string) (unlock func(), err error) {
	s.mu.Lock()
	l := s.locks[id]
	if l == nil {
		l = &idLock{held: make(chan struct{}, 1)}
		s.locks[id] = l
	}
	l.refs++
	s.mu.Unlock()

	release := func() {
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.locks, id)
		}
		s.mu.Unlock()
	}
	select {
	case l.held <- struct{}{}:
		return func() { <-l.held; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
