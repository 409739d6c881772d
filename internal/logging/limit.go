package logging

import (
	"hash/maphash"
	"sync"
	"time"
)

// Reason is a small code, chosen by the package that logs, that names the
// kind of a per-frame log line ("system frame not handled", "downlink packet
// refused", ...). With the tenant it is a Limiter's key.
type Reason uint8

// Defaults of the zero fields of LimitConfig.
const (
	DefaultEvery = time.Second
	DefaultBurst = 5
	DefaultKeys  = 64
)

// LimitConfig sets a Limiter's rate and memory.
type LimitConfig struct {
	Every time.Duration    // length of a window; 0 means DefaultEvery
	Burst int              // lines allowed per key in a window; 0 means DefaultBurst
	Keys  int              // (tenant, reason) pairs tracked apart; 0 means DefaultKeys
	Now   func() time.Time // the clock; nil means time.Now
}

// Limiter allows at most Burst log lines per (tenant, reason) in each window
// of Every, and counts the lines it suppresses so that the next line allowed
// can say how many there were. Its memory is fixed: it tracks at most Keys
// pairs; once that many are in use and none is idle, further pairs share one
// overflow key (their lines are thinned together, never unlimited). It is
// safe for concurrent use; a call takes one mutex and makes no system call
// and no allocation.
type Limiter struct {
	every time.Duration
	burst int
	now   func() time.Time
	seed  maphash.Seed

	mu       sync.Mutex
	keys     []window
	overflow window
}

// window is one key's state.
type window struct {
	tenant     string
	reason     Reason
	used       bool
	start      time.Time // of the current window
	passed     int       // lines allowed in the current window
	suppressed uint64    // lines suppressed since the last one allowed
}

// NewLimiter returns a Limiter with c's settings.
func NewLimiter(c LimitConfig) *Limiter {
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.Keys <= 0 {
		c.Keys = DefaultKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Limiter{
		every: c.Every,
		burst: c.Burst,
		now:   c.Now,
		seed:  maphash.MakeSeed(),
		keys:  make([]window, c.Keys),
	}
}

// Allow reports whether a line for (tenant, reason) may be logged now. If
// so, suppressed is the number of lines of that key Allow refused since it
// last allowed one (the caller logs it, e.g. as "suppressed"); if not, the
// line is counted as suppressed.
func (l *Limiter) Allow(tenant string, reason Reason) (suppressed uint64, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.find(tenant, reason, now)
	if !w.used || now.Sub(w.start) >= l.every {
		w.used = true
		w.start = now
		w.passed = 0
	}
	if w.passed >= l.burst {
		w.suppressed++
		return 0, false
	}
	w.passed++
	suppressed, w.suppressed = w.suppressed, 0
	return suppressed, true
}

// find returns the window of (tenant, reason): the one in use, else a free
// or idle one (taken over), else the overflow. l.mu is held.
func (l *Limiter) find(tenant string, reason Reason, now time.Time) *window {
	n := len(l.keys)
	first := int((maphash.String(l.seed, tenant) + uint64(reason)) % uint64(n))
	var spare *window
	for i := range n {
		w := &l.keys[(first+i)%n]
		if !w.used {
			if spare == nil {
				spare = w
			}
			continue
		}
		if w.reason == reason && w.tenant == tenant {
			return w
		}
		if spare == nil && w.suppressed == 0 && now.Sub(w.start) >= l.every {
			spare = w // idle and owing no count: reusable
		}
	}
	if spare == nil {
		return &l.overflow
	}
	*spare = window{tenant: tenant, reason: reason}
	return spare
}
