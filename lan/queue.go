package lan

import (
	"sync"

	"spacenet/nic"
)

// queue is a port's bounded queue of outbound frames: a ring of
// preallocated slots that many producers (the ports forwarding to it) copy
// into and one consumer (the port's writer, or the Recv of an in-process
// port) drains. A full queue refuses the frame: the caller counts it.
type queue struct {
	mu      sync.Mutex
	slots   [][]byte // each slot has capacity size; its length is unused
	lens    []int
	head, n int
	closed  bool
	waiting bool          // the consumer is (about to be) blocked on wake
	wake    chan struct{} // capacity 1
}

func newQueue(depth, size int) *queue {
	q := &queue{slots: make([][]byte, depth), lens: make([]int, depth), wake: make(chan struct{}, 1)}
	mem := make([]byte, depth*size)
	for i := range q.slots {
		q.slots[i] = mem[i*size : (i+1)*size : (i+1)*size]
	}
	return q
}

// put copies f into the queue; it returns NumReasons, or ReasonQueueFull
// or ReasonDown (closed) when it refuses f. The caller has checked that f
// fits a slot.
func (q *queue) put(f []byte) Reason { return q.add(false, nil, f) }

// putVnet copies a virtio-net header (hdr, or an all-zero one if hdr is
// nil) and f into one slot, for a port that sends with SendVnet; the
// caller has checked that they fit.
func (q *queue) putVnet(hdr, f []byte) Reason { return q.add(true, hdr, f) }

// add is put (vnet false) and putVnet (vnet true).
func (q *queue) add(vnet bool, hdr, f []byte) Reason {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ReasonDown
	}
	if q.n == len(q.slots) {
		q.mu.Unlock()
		return ReasonQueueFull
	}
	i := q.head + q.n
	if i >= len(q.slots) {
		i -= len(q.slots)
	}
	s := q.slots[i][:cap(q.slots[i])]
	if vnet {
		if hdr != nil {
			copy(s, hdr[:nic.VnetHdrLen])
		} else {
			clear(s[:nic.VnetHdrLen])
		}
		q.lens[i] = nic.VnetHdrLen + copy(s[nic.VnetHdrLen:], f)
	} else {
		q.lens[i] = copy(s, f)
	}
	q.n++
	w := q.waiting
	q.waiting = false
	q.mu.Unlock()
	if w {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return NumReasons
}

// depth returns how many frames the queue holds at most.
func (q *queue) depth() int { return len(q.slots) }

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
	q.mu.Unlock()
	return k
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
		if l > len(bufs[n]) {
			tooBig++
		} else {
			sizes[n] = copy(bufs[n], q.slots[i][:l])
			bytes += uint64(l)
			n++
		}
		q.head++
		if q.head == len(q.slots) {
			q.head = 0
		}
		q.n--
	}
	st.txFrames.Add(uint64(n))
	st.txBytes.Add(bytes)
	if tooBig > 0 {
		st.txDrops[ReasonMTU].Add(uint64(tooBig))
	}
	q.mu.Unlock()
	return n, tooBig
}

// close refuses further frames and wakes the consumer; frames already
// queued can still be drained. It returns how many were queued.
func (q *queue) close() int {
	q.mu.Lock()
	q.closed = true
	n := q.n
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return n
}

// discard empties the queue and returns how many frames it dropped.
func (q *queue) discard() int {
	q.mu.Lock()
	n := q.n
	q.head, q.n = 0, 0
	q.mu.Unlock()
	return n
}
