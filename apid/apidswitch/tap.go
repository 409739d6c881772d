package apidswitch

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
)

// A Tap is a read-only copy of the frames passing through the switch, for a
// monitor (spacenet monitor): the frames each peer (a tenant, or "ground")
// writes to the switch (In) and those the switch writes to it (Out: frames
// from other tenants and the ground, and the switch's own ERRORs, HEALTH
// replies and events), as they were on the socket, with the time the switch
// saw them.
//
// A tap never slows the switch nor changes what it does: the switch copies
// each frame the filter selects into the tap's bounded ring, and when the
// ring is full the frame is not copied but counted (Dropped). Nothing a
// monitor does (reading slowly, not at all) reaches a guest. While no tap
// is open, the forwarding path pays one atomic pointer load per batch of
// frames read or written, and allocates nothing; with taps open, a copy of
// each selected frame under the tap's own lock.
//
// The accounting: every frame the filter selected is counted in Passed, and
// is either still in the ring, or handed to Read (Delivered), or was
// dropped: Passed = Delivered + Dropped + pending, and once the tap is
// closed and read to its end, Passed = Delivered + Dropped.
//
// What a tap does not see: a frame is recorded In when its sender's reader
// takes it from the socket and Out when the switch has written it whole to
// the receiver's socket (or handed it to the ground link), so a frame still
// queued when the tap closes is not in it. The system handler's own frames
// are seen only when they are written to a tenant.
type Tap struct {
	sw     *Switch
	filter TapFilter
	wake   chan struct{} // cap 1: records were added, or the tap closed

	mu        sync.Mutex
	ring      []TapRecord
	head, n   int
	passed    uint64
	delivered uint64
	dropped   uint64
	waiting   bool // Read waits on wake
	closed    bool
}

// TapFilter selects the frames a Tap records. The zero filter selects
// every frame both ways.
type TapFilter struct {
	// Tenants are the peers whose frames are recorded (tenant names, and
	// "ground" for the ground link); none: every peer.
	Tenants []string
	// APIDs select frames whose source or destination APID is in one of
	// the ranges; none: every frame.
	APIDs []policy.Range
	// In and Out select the direction: frames a peer wrote to the switch,
	// frames the switch wrote to a peer. Both false: both.
	In, Out bool
}

// TapRecord is one frame a tap recorded.
type TapRecord struct {
	Time   time.Time // when the switch read it (In) or had written it (Out)
	Tenant string    // the peer: a tenant's name or "ground"
	Out    bool      // written by the switch to the peer (else read from it)
	Frame  frame.Frame
}

// TapStats are a tap's counters (see Tap).
type TapStats struct {
	Passed    uint64 // frames the filter selected
	Delivered uint64 // handed to Read
	Dropped   uint64 // not recorded: the ring was full
}

// Limits of taps.
const (
	MaxTaps        = 4     // open at once on one switch
	MaxTapCapacity = 65536 // frames in one tap's ring
)

// GroundPeer is the peer name of the ground link in taps.
const GroundPeer = "ground"

// tapSet is the switch's open taps: cur is nil while there is none, so the
// forwarding path pays one atomic load.
type tapSet struct {
	mu  sync.Mutex // serialises changes to cur
	cur atomic.Pointer[[]*Tap]
}

// Tap opens a tap with the given filter and a ring of capacity frames
// (1 to MaxTapCapacity). At most MaxTaps are open at once. Close it when
// done.
func (s *Switch) Tap(f TapFilter, capacity int) (*Tap, error) {
	if capacity < 1 || capacity > MaxTapCapacity {
		return nil, fmt.Errorf("apidswitch: tap capacity %d: want 1 to %d frames", capacity, MaxTapCapacity)
	}
	f.Tenants = slices.Clone(f.Tenants)
	f.APIDs = slices.Clone(f.APIDs)
	if !f.In && !f.Out {
		f.In, f.Out = true, true
	}
	t := &Tap{sw: s, filter: f, wake: make(chan struct{}, 1), ring: make([]TapRecord, capacity)}
	ts := &s.taps
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var list []*Tap
	if p := ts.cur.Load(); p != nil {
		list = *p
	}
	if len(list) >= MaxTaps {
		return nil, ErrTapsBusy
	}
	list = append(slices.Clone(list), t)
	ts.cur.Store(&list)
	return t, nil
}

// ErrTapsBusy is the error of Switch.Tap when MaxTaps are open.
var ErrTapsBusy = fmt.Errorf("apidswitch: %d taps already open", MaxTaps)

// Close stops recording; Read still returns what the ring holds, then
// reports the end. Close may be called more than once.
func (t *Tap) Close() {
	ts := &t.sw.taps
	ts.mu.Lock()
	if p := ts.cur.Load(); p != nil {
		list := slices.DeleteFunc(slices.Clone(*p), func(u *Tap) bool { return u == t })
		if len(list) == 0 {
			ts.cur.Store(nil)
		} else {
			ts.cur.Store(&list)
		}
	}
	ts.mu.Unlock()
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.kick()
}

func (t *Tap) kick() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// ErrTapClosed is the error of Read once a closed tap has been read to its
// end.
var ErrTapClosed = errors.New("apidswitch: tap closed")

// Read waits until the tap holds records, copies up to len(dst) of them
// (oldest first) into dst and returns how many, with the counters after
// the copy. It returns 0 records when stop closes, and ErrTapClosed once
// the tap is closed and read to its end.
func (t *Tap) Read(dst []TapRecord, stop <-chan struct{}) (int, TapStats, error) {
	for {
		t.mu.Lock()
		if t.n > 0 || t.closed || len(dst) == 0 {
			k := min(t.n, len(dst))
			for i := range k {
				j := t.head + i
				if j >= len(t.ring) {
					j -= len(t.ring)
				}
				dst[i] = t.ring[j]
				t.ring[j].Tenant = ""
			}
			t.head = (t.head + k) % len(t.ring)
			t.n -= k
			t.delivered += uint64(k)
			st := t.statsLocked()
			var err error
			if k == 0 && t.closed {
				err = ErrTapClosed
			}
			t.mu.Unlock()
			return k, st, err
		}
		t.waiting = true
		t.mu.Unlock()
		select {
		case <-t.wake:
		case <-stop:
			t.mu.Lock()
			t.waiting = false
			st := t.statsLocked()
			t.mu.Unlock()
			return 0, st, nil
		}
	}
}

// Stats returns the tap's counters.
func (t *Tap) Stats() TapStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.statsLocked()
}

func (t *Tap) statsLocked() TapStats {
	return TapStats{Passed: t.passed, Delivered: t.delivered, Dropped: t.dropped}
}

// tapFrames offers the whole frames in b, read from (out false) or written
// to (out true) peer, to the open taps. It is the forwarding path's hook:
// one atomic load when no tap is open.
func (s *Switch) tapFrames(peer string, out bool, b []byte) {
	if p := s.taps.cur.Load(); p != nil {
		offerAll(p, peer, out, b)
	}
}

// offerAll is tapFrames with taps open.
func offerAll(list *[]*Tap, peer string, out bool, b []byte) {
	var now time.Time
	for _, t := range *list {
		if !t.wants(peer, out) {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		t.offer(peer, out, now, b)
	}
}

// wants reports whether the filter selects the frames of peer in that
// direction.
func (t *Tap) wants(peer string, out bool) bool {
	if out && !t.filter.Out || !out && !t.filter.In {
		return false
	}
	return len(t.filter.Tenants) == 0 || slices.Contains(t.filter.Tenants, peer)
}

// wantsAPID reports whether the filter selects f by its APIDs.
func (t *Tap) wantsAPID(f *frame.Frame) bool {
	if len(t.filter.APIDs) == 0 {
		return true
	}
	src, dst := f.APID(), f.Dest()
	for _, r := range t.filter.APIDs {
		if r.Contains(src) || r.Contains(dst) {
			return true
		}
	}
	return false
}

// offer records the frames of b the filter selects, or counts them
// dropped when the ring is full.
func (t *Tap) offer(peer string, out bool, now time.Time, b []byte) {
	added := false
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	for off := 0; off+frame.Size <= len(b); off += frame.Size {
		f := (*frame.Frame)(b[off : off+frame.Size])
		if !t.wantsAPID(f) {
			continue
		}
		t.passed++
		if t.n == len(t.ring) {
			t.dropped++
			continue
		}
		j := t.head + t.n
		if j >= len(t.ring) {
			j -= len(t.ring)
		}
		rec := &t.ring[j]
		rec.Time, rec.Tenant, rec.Out, rec.Frame = now, peer, out, *f
		t.n++
		added = true
	}
	wake := added && t.waiting
	if wake {
		t.waiting = false
	}
	t.mu.Unlock()
	if wake {
		t.kick()
	}
}

// tapOut offers the whole frames in b, just written to q's tenant. q.mu
// is held.
func (q *queue) tapOut(b []byte) {
	if q.owner != nil {
		q.owner.sw.tapFrames(q.owner.name, true, b)
	}
}
