package liveflux

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter rate-limits events per client IP with one token bucket each.
// A bucket idle for longer than it takes to refill is dropped: a fresh one
// would behave the same, so memory follows the number of active clients.
type ipLimiter struct {
	limit rate.Limit
	burst int
	idle  time.Duration

	mu        sync.Mutex
	buckets   map[string]*ipBucket
	lastSweep time.Time
}

type ipBucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newIPLimiter(burst int, window time.Duration) *ipLimiter {
	return &ipLimiter{
		limit:   rate.Limit(float64(burst) / window.Seconds()),
		burst:   burst,
		idle:    max(window, time.Second),
		buckets: make(map[string]*ipBucket),
	}
}

// allow takes a token for ip, or returns how long until one is available.
func (l *ipLimiter) allow(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		l.sweepLocked(now)
	}
	b := l.buckets[ip]
	if b == nil {
		b = &ipBucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[ip] = b
	}
	b.lastSeen = now
	if b.lim.AllowN(now, 1) {
		return 0
	}
	r := b.lim.ReserveN(now, 1)
	wait := r.DelayFrom(now)
	r.CancelAt(now)
	return max(wait, time.Millisecond)
}

func (l *ipLimiter) sweepLocked(now time.Time) {
	for ip, b := range l.buckets {
		if now.Sub(b.lastSeen) >= l.idle {
			delete(l.buckets, ip)
		}
	}
	l.lastSweep = now
}

// size returns the number of buckets held.
func (l *ipLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
