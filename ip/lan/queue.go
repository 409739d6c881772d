package lan

import (
	"sync"
	"sync/atomic"
	"time"

	"spacenet/ip/nic"
)

// queue is a port's bounded queue of outbound frames: a ring of
// preallocated slots that many producers (the ports forwarding to it) copy
// into and one consumer (the port's writer, or the Recv of an in-process
// port) drains. A full queue refuses the frame: the caller counts it.
//
// The queue of a pass-through port (newVnetQueue) puts a virtio-net header
// before each frame in its slot. The queue of a by-reference port
// (newRefQueue) also holds references: an entry is a nic.Ref (another
// reference to a frame, no bytes copied) or, for frames from byte ports, a
// copy in a slot allocated the first time the slot needs one (and kept, so
// steady traffic allocates nothing).
type queue struct {
	mu      sync.Mutex
	slots   [][]byte // each slot has capacity size; its length is unused
	lens    []int
	refs    []nic.Ref // by-reference ports only: refs[i] != nil holds entry i
	vnet    bool      // pass-through ports: a virtio-net header before each frame
	size    int       // the largest frame (with header) an entry holds
	head, n int
	closed  bool
	waiting bool          // the consumer is (about to be) blocked on wake
	wake    chan struct{} // capacity 1

	// Ports that wait when full (addHeld): holders wait on room (capacity
	// 1), which the consumer signals when it makes room and each holder
	// that leaves passes on. stalled is set when a hold expires and
	// cleared when the consumer takes a frame.
	holders int
	stalled bool
	room    chan struct{}
	// drained is closed when the queue is closed and its consumer has
	// found it empty (a flushing Detach waits for it).
	drained     chan struct{}
	drainedDone bool
}

func newQueue(depth, size int) *queue {
	q := &queue{slots: make([][]byte, depth), lens: make([]int, depth), size: size}
	q.chans()
	mem := make([]byte, depth*size)
	for i := range q.slots {
		q.slots[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return q
}

// newVnetQueue returns the queue of a pass-through port: slots of a
// virtio-net header and a 64 KiB super-frame.
func newVnetQueue(depth int) *queue {
	q := newQueue(depth, nic.VnetBufLen)
	q.vnet = true
	return q
}

// newRefQueue returns the queue of a by-reference port: depth entries of
// frames up to size bytes, no slot memory until a copied frame needs it.
func newRefQueue(depth, size int) *queue {
	q := &queue{slots: make([][]byte, depth), lens: make([]int, depth), refs: make([]nic.Ref, depth), size: size}
	q.chans()
	return q
}

func (q *queue) chans() {
	q.wake = make(chan struct{}, 1)
	q.room = make(chan struct{}, 1)
	q.drained = make(chan struct{})
}

// minSlot is the smallest slot a by-reference port's queue allocates.
const minSlot = 2048

// add queues frame f; it returns NumReasons, or ReasonQueueFull or
// ReasonDown (closed) when it refuses it. A frame held by reference
// (refFrame) goes on a by-reference port's queue as another reference
// (Clone; the caller keeps its own), on any other queue as a copy; other
// frames are copied. A pass-through port's queue puts f's virtio-net
// header (an all-zero one for a frame without) before it in the slot. The
// caller has checked that it fits a slot.
func (q *queue) add(f *frame) Reason {
	q.mu.Lock()
	r := q.addLocked(f)
	w := q.wakes(r)
	q.mu.Unlock()
	if w {
		signal(q.wake)
	}
	return r
}

// wakes reports, lock held, whether adding with result r must wake a
// consumer waiting on q.wake (it then no longer counts as waiting).
func (q *queue) wakes(r Reason) bool {
	w := r == NumReasons && q.waiting
	if w {
		q.waiting = false
	}
	return w
}

// addHeld is add for a port that waits when full, called after add found
// the queue full: unless the queue is stalled (an earlier hold expired
// and the consumer has taken nothing since: ReasonHoldExpired at once),
// it waits for room until expired fires, then stalls the queue and
// returns ReasonHoldExpired. It counts in held a frame that waits. No
// lock is held while it waits.
func (q *queue) addHeld(f *frame, expired <-chan time.Time, held *atomic.Uint64) Reason {
	q.mu.Lock()
	if q.stalled {
		q.mu.Unlock()
		return ReasonHoldExpired
	}
	held.Add(1)
	q.holders++
	for {
		r := q.addLocked(f)
		if r != ReasonQueueFull {
			q.holders--
			// Pass the turn on: another holder may fit too, or must
			// see the queue closed.
			next := q.holders > 0 && (q.closed || q.n < len(q.slots))
			w := q.wakes(r)
			q.mu.Unlock()
			if next {
				signal(q.room)
			}
			if w {
				signal(q.wake)
			}
			return r
		}
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-expired:
			q.mu.Lock()
			q.holders--
			q.stalled = true
			q.mu.Unlock()
			return ReasonHoldExpired
		}
		q.mu.Lock()
	}
}

// signal wakes whoever waits on c (capacity 1) without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// addLocked is add with the lock held.
func (q *queue) addLocked(f *frame) Reason {
	if q.closed {
		return ReasonDown
	}
	if q.n == len(q.slots) {
		return ReasonQueueFull
	}
	i := q.head + q.n
	if i >= len(q.slots) {
		i -= len(q.slots)
	}
	switch {
	case q.refs != nil && f.form == refFrame:
		q.refs[i] = f.ref.Clone()
		q.lens[i] = f.size
	case q.refs != nil:
		if cap(q.slots[i]) < len(f.bytes) {
			q.slots[i] = make([]byte, min(max(minSlot, len(f.bytes)), q.size))
		}
		q.lens[i] = copy(q.slots[i][:cap(q.slots[i])], f.bytes)
	default:
		s := q.slots[i][:cap(q.slots[i])]
		off := 0
		if q.vnet {
			if f.form == vnetFrame {
				copy(s, f.vnet[:nic.VnetHdrLen])
			} else {
				clear(s[:nic.VnetHdrLen])
			}
			off = nic.VnetHdrLen
		}
		if f.form == refFrame {
			q.lens[i] = off + f.ref.CopyTo(s[off:])
		} else {
			q.lens[i] = off + copy(s[off:], f.bytes)
		}
	}
	q.n++
	return NumReasons
}

// took is called, lock held, after the consumer took k > 0 entries: the
// queue is no longer stalled, and it reports whether a holder waits for
// the room (the caller signals q.room after unlocking).
func (q *queue) tookLocked(k int) bool {
	if k == 0 {
		return false
	}
	q.stalled = false
	return q.holders > 0
}

// idle reports whether the queue is open and empty.
func (q *queue) idle() bool {
	q.mu.Lock()
	ok := q.n == 0 && !q.closed
	q.mu.Unlock()
	return ok
}

// wait blocks until the queue holds a frame (true) or is closed and empty
// (false).
func (q *queue) wait() bool {
	for {
		q.mu.Lock()
		if q.n > 0 {
			q.mu.Unlock()
			return true
		}
		if q.closed {
			q.drainedLocked()
			q.mu.Unlock()
			return false
		}
		q.waiting = true
		q.mu.Unlock()
		<-q.wake
	}
}

// swap exchanges up to len(dst) queued frames with the buffers in dst,
// which must each have the slots' capacity: dst[i] becomes the i-th frame
// (its length set), the slot takes dst[i]'s old buffer. No bytes are
// copied. It returns how many frames it took.
func (q *queue) swap(dst [][]byte) int {
	q.mu.Lock()
	k := min(q.n, len(dst))
	for j := range k {
		i := q.head + j
		if i >= len(q.slots) {
			i -= len(q.slots)
		}
		old := dst[j]
		dst[j] = q.slots[i][:q.lens[i]]
		q.slots[i] = old[:0]
	}
	q.head += k
	if q.head >= len(q.slots) {
		q.head -= len(q.slots)
	}
	q.n -= k
	room := q.tookLocked(k)
	q.mu.Unlock()
	if room {
		signal(q.room)
	}
	return k
}

// drainedLocked closes drained if the queue is closed and empty. The
// lock is held.
func (q *queue) drainedLocked() {
	if q.closed && q.n == 0 && !q.drainedDone {
		q.drainedDone = true
		close(q.drained)
	}
}

// take copies up to min(len(bufs), len(sizes)) queued frames into bufs. A
// frame longer than its buffer is consumed and counted in tooBig, never
// truncated. It returns how many buffers it filled.
//
// It also counts in st what it took as sent, and what was too big as
// dropped, before it releases the queue's lock: for an in-process port
// taking a frame is delivering it, and a counter snapshot (which reads
// Queued under the same lock) must never see a frame that is neither
// queued nor counted.
func (q *queue) take(bufs [][]byte, sizes []int, st *portCounters) (n, tooBig int) {
	max := min(len(bufs), len(sizes))
	var bytes uint64
	q.mu.Lock()
	for q.n > 0 && n < max {
		i := q.head
		l := q.lens[i]
		var ref nic.Ref
		if q.refs != nil {
			ref, q.refs[i] = q.refs[i], nil
		}
		if l > len(bufs[n]) {
			tooBig++
		} else {
			if ref != nil {
				sizes[n] = ref.CopyTo(bufs[n][:l])
			} else {
				sizes[n] = copy(bufs[n], q.slots[i][:l])
			}
			bytes += uint64(l)
			n++
		}
		if ref != nil {
			ref.Release()
		}
		q.pop()
	}
	st.took(n, bytes, tooBig)
	room := q.tookLocked(n + tooBig)
	q.drainedLocked()
	q.mu.Unlock()
	if room {
		signal(q.room)
	}
	return n, tooBig
}

// takeRefs is take for a by-reference port's consumer that accepts
// references: an entry holding a Ref is handed over in refs[n] (sizes[n]
// its length, the caller now owns it); a copied frame is copied into
// bufs[n] (refs[n] nil), or consumed and counted in tooBig if longer than
// bufs[n]. It counts like take.
func (q *queue) takeRefs(refs []nic.Ref, bufs [][]byte, sizes []int, st *portCounters) (n, tooBig int) {
	max := min(len(refs), len(bufs), len(sizes))
	var bytes uint64
	q.mu.Lock()
	for q.n > 0 && n < max {
		i := q.head
		l := q.lens[i]
		switch {
		case q.refs[i] != nil:
			refs[n], q.refs[i] = q.refs[i], nil
			sizes[n] = l
			bytes += uint64(l)
			n++
		case l > len(bufs[n]):
			tooBig++
		default:
			refs[n] = nil
			sizes[n] = copy(bufs[n], q.slots[i][:l])
			bytes += uint64(l)
			n++
		}
		q.pop()
	}
	st.took(n, bytes, tooBig)
	room := q.tookLocked(n + tooBig)
	q.drainedLocked()
	q.mu.Unlock()
	if room {
		signal(q.room)
	}
	return n, tooBig
}

// pop drops the head entry (its contents already taken); the lock is held.
func (q *queue) pop() {
	q.head++
	if q.head == len(q.slots) {
		q.head = 0
	}
	q.n--
}

// took counts what a take handed to the port's consumer as sent and what
// was too big for its buffers as dropped.
func (st *portCounters) took(n int, bytes uint64, tooBig int) {
	st.txFrames.Add(uint64(n))
	st.txBytes.Add(bytes)
	if tooBig > 0 {
		st.txDrops[ReasonMTU].Add(uint64(tooBig))
	}
}

// close refuses further frames and wakes the consumer; frames already
// queued can still be drained. It returns how many were queued.
func (q *queue) close() int {
	q.mu.Lock()
	q.closed = true
	n := q.n
	q.drainedLocked()
	q.mu.Unlock()
	signal(q.wake)
	signal(q.room) // holders see it closed
	return n
}

// discard empties the queue, releasing the references it held, and
// returns how many frames it dropped.
func (q *queue) discard() int {
	q.mu.Lock()
	n := q.n
	if q.refs != nil {
		for j := range n {
			i := (q.head + j) % len(q.refs)
			if r := q.refs[i]; r != nil {
				q.refs[i] = nil
				r.Release()
			}
		}
	}
	q.head, q.n = 0, 0
	q.drainedLocked()
	q.mu.Unlock()
	return n
}
