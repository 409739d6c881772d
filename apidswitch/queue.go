package apidswitch

import (
	"sync"

	"spacenet/frame"
)

// queue is one tenant's bounded queue of frames waiting to be written to its
// connection: a ring of cap frames in one []byte, so that the writer hands a
// run of whole frames to one write without copying. Many producers push
// (readers, Inject, the switch's own notices); one writer at a time peeks a
// contiguous run, writes it outside the lock, then commits what was written.
// Slots being written are still counted in n, so producers never reuse them.
type queue struct {
	mu      sync.Mutex
	buf     []byte   // cap frames
	from    []*stats // sender of each slot; nil for frames the switch made
	head    int      // first queued slot
	n       int      // queued slots, including those being written
	waiting bool     // the writer is idle and waits on wake
	closed  bool     // the tenant was removed: push refuses
	wake    chan struct{}
}

func newQueue(capacity int) *queue {
	return &queue{
		buf:  make([]byte, capacity*frame.Size),
		from: make([]*stats, capacity),
		wake: make(chan struct{}, 1),
	}
}

func (q *queue) capacity() int { return len(q.from) }

// pushResult is what push did with a frame.
type pushResult uint8

const (
	pushed     pushResult = iota // queued
	pushFull                     // refused: the queue is at its bound
	pushClosed                   // refused: the tenant was removed
)

// push copies f (header, meaningful payload, zeroed padding) into the ring
// if there is room. from is the sender, nil for the switch's own frames. It does not wake the writer: call signal once after a
// batch of pushes.
func (q *queue) push(f *frame.Frame, from *stats) pushResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed
	}
	// Tenants' frames leave the last eighth of the ring to the switch's own
	// frames (ERRORs, HEALTH replies, events), so that a sender flooding a
	// guest does not also silence the switch's answers to it.
	limit := len(q.from)
	if from != nil {
		limit -= len(q.from) / 8
	}
	if q.n >= limit {
		q.mu.Unlock()
		return pushFull
	}
	i := q.head + q.n
	if i >= len(q.from) {
		i -= len(q.from)
	}
	slot := q.buf[i*frame.Size : (i+1)*frame.Size]
	m := frame.HeaderSize + len(f.Payload())
	copy(slot[:m], f[:m])
	clear(slot[m:])
	q.from[i] = from
	q.n++
	// A batch is signalled once at its end, but a writer that is idle while
	// the queue fills past a quarter gets going at once.
	wake := q.waiting && q.n >= len(q.from)/4
	if wake {
		q.waiting = false
	}
	q.mu.Unlock()
	if wake {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return pushed
}

// signal wakes the writer if it is idle.
func (q *queue) signal() {
	q.mu.Lock()
	w := q.waiting
	q.waiting = false
	q.mu.Unlock()
	if w {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// peek returns the longest contiguous run of at most max queued frames, or
// nil after marking the writer as waiting when the queue is empty.
func (q *queue) peek(max int) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		q.waiting = true
		return nil
	}
	k := min(q.n, len(q.from)-q.head, max)
	return q.buf[q.head*frame.Size : (q.head+k)*frame.Size]
}

// commit removes the k frames at the head, which were written, and copies
// their senders into from (len >= k). It returns false, doing nothing, if
// drain emptied the queue meanwhile (drain counted those frames).
func (q *queue) commit(k int, from []*stats) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	copy(from[:k], q.from[q.head:q.head+k])
	clear(q.from[q.head : q.head+k])
	q.head += k
	if q.head == len(q.from) {
		q.head = 0
	}
	q.n -= k
	q.mu.Unlock()
	return true
}

// len returns how many frames are queued.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// drain closes the queue, empties it and returns the senders of what it
// held (for a tenant removed by Reload).
func (q *queue) drain() []*stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	out := make([]*stats, 0, q.n)
	for j := 0; j < q.n; j++ {
		i := (q.head + j) % len(q.from)
		out = append(out, q.from[i])
		q.from[i] = nil
	}
	q.head, q.n = 0, 0
	return out
}
