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
//
// The fast path: while the queue is empty, a reader holding mu may write a
// run of frames straight from its read buffer to the connection with one
// non-blocking write (writeDirect), skipping the copy and the hand-over to
// the writer goroutine. Whatever that write does not take is queued.
type queue struct {
	mu      sync.Mutex
	buf     []byte   // cap frames
	from    []*stats // sender of each slot; nil for frames the switch made
	head    int      // first queued slot
	n       int      // queued slots, including those being written
	off     int      // bytes of the head frame already written to the connection
	waiting bool     // the writer is idle and waits on wake
	closed  bool     // the tenant was removed: push refuses
	direct  *conn    // the connection whose writer runs, for writeDirect; nil if none
	wake    chan struct{}
}

func newQueue(capacity int) *queue {
	return &queue{
		buf:  make([]byte, capacity*frame.Size),
		from: make([]*stats, capacity),
		wake: make(chan struct{}, 1),
	}
}

// pushResult is what push did with a frame.
type pushResult uint8

const (
	pushed     pushResult = iota // queued
	pushFull                     // refused: the queue is at its bound
	pushClosed                   // refused: the tenant was removed
)

// push copies f (header, meaningful payload, zeroed padding) into the ring
// if there is room. from is the sender, nil for the switch's own frames. It
// does not wake the writer (unless the queue fills past a quarter): call
// signal once after a batch of pushes.
func (q *queue) push(f *frame.Frame, from *stats) pushResult {
	q.mu.Lock()
	r := q.pushLocked(f, from, false)
	wake := r == pushed && q.waiting && q.n >= len(q.from)/4
	if wake {
		q.waiting = false
	}
	q.mu.Unlock()
	if wake {
		q.kick()
	}
	return r
}

// pushLocked is push with q.mu held. force ignores the bound (for a frame
// already partly written to the connection, which must be finished).
func (q *queue) pushLocked(f *frame.Frame, from *stats, force bool) pushResult {
	if q.closed {
		return pushClosed
	}
	// Tenants' frames leave the last eighth of the ring to the switch's own
	// frames (ERRORs, HEALTH replies, events), so that a sender flooding a
	// guest does not also silence the switch's answers to it.
	limit := len(q.from)
	if from != nil {
		limit -= len(q.from) / 8
	}
	if q.n >= limit && !(force && q.n < len(q.from)) {
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
	return pushed
}

func (q *queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// signal wakes the writer if it is idle.
func (q *queue) signal() {
	q.mu.Lock()
	w := q.waiting
	q.waiting = false
	q.mu.Unlock()
	if w {
		q.kick()
	}
}

// peek returns the bytes of the longest contiguous run of at most max
// queued frames still to write, or nil after marking the writer as waiting
// when the queue is empty.
func (q *queue) peek(max int) []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		q.waiting = true
		return nil
	}
	k := min(q.n, len(q.from)-q.head, max)
	return q.buf[q.head*frame.Size+q.off : (q.head+k)*frame.Size]
}

// commit records that nbytes more were written from the head and removes
// the frames now whole on the wire, copying their senders into from (len >=
// the frames a peek returns). It returns how many frames it removed; 0 if
// drain emptied the queue meanwhile (drain counted those frames).
func (q *queue) commit(nbytes int, from []*stats) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	total := q.off + nbytes
	k := total / frame.Size
	q.off = total % frame.Size
	copy(from[:k], q.from[q.head:q.head+k])
	clear(q.from[q.head : q.head+k])
	q.head += k
	if q.head == len(q.from) {
		q.head = 0
	}
	q.n -= k
	return k
}

// attach makes c the connection writeDirect uses and restarts the head
// frame from its first byte (a frame cut short by the previous connection
// is sent again whole).
func (q *queue) attach(c *conn) {
	q.mu.Lock()
	q.direct = c
	q.off = 0
	q.mu.Unlock()
}

// detach stops writeDirect on c.
func (q *queue) detach(c *conn) {
	q.mu.Lock()
	if q.direct == c {
		q.direct = nil
	}
	q.mu.Unlock()
}

// forward delivers the whole frames in b, all for this queue's tenant and
// from sender st (whose lock the caller holds): straight to the connection
// when the queue is empty, else (and for what the connection does not take
// at once) into the queue. It returns how many frames were written, queued,
// refused because the queue was full, and refused because the tenant was
// removed. The frames' padding must already be zero.
func (q *queue) forward(b []byte, st *stats) (written, queued, full, closed int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, 0, 0, len(b) / frame.Size
	}
	partial := 0
	if q.n == 0 && q.direct != nil {
		n := q.direct.writeDirect(b)
		written = n / frame.Size
		partial = n % frame.Size
		b = b[written*frame.Size:]
	}
	for i := 0; i < len(b); i += frame.Size {
		f := (*frame.Frame)(b[i : i+frame.Size])
		if i == 0 && partial > 0 {
			// Partly on the wire already: it must be finished, bound or not.
			q.pushLocked(f, st, true)
			q.off = partial
			queued++
			continue
		}
		if q.pushLocked(f, st, false) == pushed {
			queued++
		} else {
			full++
		}
	}
	return written, queued, full, 0
}

// reopen lets a queue drain closed take frames again (a removed tenant
// that a reload brings back).
func (q *queue) reopen() {
	q.mu.Lock()
	q.closed = false
	q.mu.Unlock()
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
	q.head, q.n, q.off = 0, 0, 0
	return out
}
