package lan

import (
	"sync"
	"sync/atomic"
	"time"
)

// macEntry says behind which port a MAC was last seen, and when (the
// Clock's time in Unix nanoseconds).
type macEntry struct {
	port *port // guarded by macTable.mu (written with the write lock)
	seen atomic.Int64
}

// macTable maps source MACs to ports. Lookups and refreshes of a known MAC
// on its own port take the read lock only; new MACs and moves are learned
// in a batch with the write lock. Expired entries are ignored by lookups
// and removed by sweep, which runs when the table is full (at most every
// ageing/8) or on request.
type macTable struct {
	mu        sync.RWMutex
	m         map[MAC]*macEntry
	max       int
	ageing    int64 // nanoseconds; <= 0: entries never expire
	nextSweep int64

	full  atomic.Uint64 // MACs not learned because the table was full
	moves atomic.Uint64 // MACs that moved to another port
}

func newMACTable(max int, ageing time.Duration) *macTable {
	return &macTable{m: make(map[MAC]*macEntry, min(max, 1024)), max: max, ageing: int64(ageing)}
}

// live reports whether e has not expired at now. Read lock held.
func (t *macTable) live(e *macEntry, now int64) bool {
	return t.ageing <= 0 || now-e.seen.Load() <= t.ageing
}

// learn records that the MACs in srcs were seen behind p at now.
func (t *macTable) learn(p *port, srcs []MAC, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.closing.Load() {
		return // being detached: forget has run or will run after us
	}
	for _, src := range srcs {
		if e := t.m[src]; e != nil {
			if e.port != p {
				e.port = p
				t.moves.Add(1)
			}
			e.seen.Store(now)
			continue
		}
		if len(t.m) >= t.max {
			if now >= t.nextSweep {
				t.sweepLocked(now)
			}
			if len(t.m) >= t.max {
				t.full.Add(1)
				continue
			}
		}
		e := &macEntry{port: p}
		e.seen.Store(now)
		t.m[src] = e
	}
}

// sweep removes the expired entries and returns how many it removed.
func (t *macTable) sweep(now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sweepLocked(now)
}

func (t *macTable) sweepLocked(now int64) int {
	t.nextSweep = now + max(t.ageing/8, int64(time.Second))
	if t.ageing <= 0 {
		return 0
	}
	n := 0
	for mac, e := range t.m {
		if now-e.seen.Load() > t.ageing {
			delete(t.m, mac)
			n++
		}
	}
	return n
}

// forget removes every entry pointing at p.
func (t *macTable) forget(p *port) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for mac, e := range t.m {
		if e.port == p {
			delete(t.m, mac)
		}
	}
}

// MACEntry is one learned address, as Switch.MACs reports it.
type MACEntry struct {
	MAC  MAC
	Port string
	Age  time.Duration // since the MAC was last seen
}

func (t *macTable) snapshot(now int64) []MACEntry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []MACEntry
	for mac, e := range t.m {
		if t.live(e, now) {
			out = append(out, MACEntry{MAC: mac, Port: e.port.name, Age: time.Duration(now - e.seen.Load())})
		}
	}
	return out
}
