package lan

import (
	"sync"
	"sync/atomic"
	"time"

	"spacenet/ip/wire"
)

// macEntry says behind which port a MAC was last seen, and when (the
// Clock's time in Unix nanoseconds). A pinned entry is a port's locked
// (PortConfig.LockMAC) or sticky address: it never ages, no other port may
// use the MAC, and it does not count against the table's bound.
type macEntry struct {
	port   *port // guarded by macTable.mu (written with the write lock)
	pinned bool  // guarded by macTable.mu
	seen   atomic.Int64
}

// macTable maps source MACs to ports. Lookups and refreshes of a known MAC
// on its own port take the read lock only; new MACs and moves are learned
// in a batch with the write lock. Expired entries are ignored by lookups
// and removed by sweep, which runs when the table is full (at most every
// ageing/8) or on request. The write lock also guards each port's macs,
// stuck and stickyMAC.
type macTable struct {
	mu        sync.RWMutex
	m         map[wire.MAC]*macEntry
	dynamic   int          // entries not pinned
	max       int          // bound on dynamic
	ageing    int64        // nanoseconds; <= 0: entries never expire
	nextSweep atomic.Int64 // written with the write lock

	full  atomic.Uint64 // MACs not learned because the table was full
	moves atomic.Uint64 // MACs that moved to another port
}

func newMACTable(max int, ageing time.Duration) *macTable {
	return &macTable{m: make(map[wire.MAC]*macEntry, min(max, 1024)), max: max, ageing: int64(ageing)}
}

// live reports whether e has not expired at now. Read lock held.
func (t *macTable) live(e *macEntry, now int64) bool {
	return e.pinned || t.ageing <= 0 || now-e.seen.Load() <= t.ageing
}

// learn records that the MACs in srcs were seen behind p at now. The
// port's ingress has admitted them (see Switch.admit): for a sticky port
// not yet stuck, srcs holds the one address to lock.
func (t *macTable) learn(p *port, srcs []wire.MAC, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p.closing.Load() {
		return // being detached: forget has run or will run after us
	}
	for _, src := range srcs {
		e := t.m[src]
		switch {
		case e != nil && e.port == p:
			e.seen.Store(now)
			if p.sticky && !p.stuck {
				t.pin(e, p, src)
			}
		case e != nil && e.pinned:
			// Locked to another port since ingress looked: not ours.
		case e != nil:
			t.moves.Add(1)
			e.port.macs--
			e.port = p
			e.seen.Store(now)
			if p.sticky {
				t.pin(e, p, src)
			} else {
				p.macs++
			}
		case p.sticky:
			if !p.stuck {
				e := &macEntry{port: p}
				e.seen.Store(now)
				t.m[src] = e
				t.dynamic++ // pin takes it back
				t.pin(e, p, src)
			}
		default:
			if t.dynamic >= t.max {
				if now >= t.nextSweep.Load() {
					t.sweepLocked(now)
				}
				if t.dynamic >= t.max {
					t.full.Add(1)
					continue
				}
			}
			e := &macEntry{port: p}
			e.seen.Store(now)
			t.m[src] = e
			t.dynamic++
			p.macs++
		}
	}
}

// pin makes e (a dynamic entry for src, now behind p) p's sticky
// address. Write lock held.
func (t *macTable) pin(e *macEntry, p *port, src wire.MAC) {
	e.pinned = true
	t.dynamic--
	p.stuck, p.stickyMAC = true, src
}

// lock installs mac as a locked address of p (PortConfig.LockMAC): from
// now on only p may use it. An entry of another port, dynamic or sticky,
// is taken over: the configuration is authoritative.
func (t *macTable) lock(p *port, mac wire.MAC, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[mac]; e != nil && !e.pinned {
		e.port.macs--
		t.dynamic--
	}
	e := &macEntry{port: p, pinned: true}
	e.seen.Store(now)
	t.m[mac] = e
}

// unstick forgets p's sticky address: p locks the next source MAC it
// sends. It reports whether p was stuck.
func (t *macTable) unstick(p *port) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !p.stuck {
		return false
	}
	if e := t.m[p.stickyMAC]; e != nil && e.port == p {
		delete(t.m, p.stickyMAC)
	}
	p.stuck, p.stickyMAC = false, wire.MAC{}
	return true
}

// sweep removes the expired entries and returns how many it removed.
func (t *macTable) sweep(now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sweepLocked(now)
}

// sweepIfDue sweeps if the last sweep was long enough ago (see
// sweepLocked).
func (t *macTable) sweepIfDue(now int64) {
	if now < t.nextSweep.Load() {
		return
	}
	t.mu.Lock()
	if now >= t.nextSweep.Load() {
		t.sweepLocked(now)
	}
	t.mu.Unlock()
}

func (t *macTable) sweepLocked(now int64) int {
	t.nextSweep.Store(now + max(t.ageing/8, int64(time.Second)))
	if t.ageing <= 0 {
		return 0
	}
	n := 0
	for mac, e := range t.m {
		if !e.pinned && now-e.seen.Load() > t.ageing {
			delete(t.m, mac)
			e.port.macs--
			t.dynamic--
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
			if !e.pinned {
				t.dynamic--
			}
			delete(t.m, mac)
		}
	}
	p.macs, p.stuck = 0, false
}

// MACEntry is one learned address, as Switch.MACs reports it.
type MACEntry struct {
	MAC    wire.MAC
	Port   string
	Age    time.Duration // since the MAC was last seen
	Locked bool          // a locked or sticky address: never ages, no other port may use it
}

func (t *macTable) snapshot(now int64) []MACEntry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []MACEntry
	for mac, e := range t.m {
		if t.live(e, now) {
			out = append(out, MACEntry{MAC: mac, Port: e.port.name, Age: time.Duration(now - e.seen.Load()), Locked: e.pinned})
		}
	}
	return out
}
