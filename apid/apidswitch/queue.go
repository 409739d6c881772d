package apidswitch

import (
	"sync"
	"time"

	"spacenet/apid/frame"
)

// queue is one tenant's bounded queue of frames waiting to be written to its
// connection: a ring of cap frames in one []byte, so that the writer hands a
// run of whole frames to one write without copying. Many producers push
// (readers, Inject, the switch's own notices); one writer at a time peeks a
// contiguous run, writes it outside the lock, then commits what was written.
// Slots being written are still counted in n, so producers never reuse them.
//
// The fast path: while the queue is empty (and not congested), a reader
// claims it and writes its frames straight from its read buffer to the
// connection, waiting for the socket as a plain relay does (direct.go);
// meanwhile the writer does not write, and frames pushed queue behind the
// claim.
//
// Flow control: a reader whose frames do not fit waits for room (waitRoom)
// instead of refusing them, and its sender becomes a contender for the
// queue; the queue is then congested until its writer has twice in a row
// found it empty with nobody waiting in between (a tenant that keeps up).
// While the queue is congested, a reader pushes only as a contender, in
// rounds: in each round every contender may push an equal share of the
// tenants' room (limit / contenders), and a round ends only when no
// contender that waits, or was woken and has not yet pushed, has any of its
// share left. So several senders into one busy tenant get its capacity in
// equal parts, whatever the scheduler does (a sender woken late still gets
// its turn), and a flooding sender cannot crowd out another. When the
// writer frees slots, the contenders waiting with share left are woken. A
// contender with nothing in the queue, not waiting and not woken, has moved
// on, and stops contending. The tenant's own reader,
// when its notices (ERRORs, replies) find no room, waits apart
// (noticeWait) and is served first.
type queue struct {
	mu      sync.Mutex
	buf     []byte   // cap frames
	from    []*stats // sender of each slot; nil for frames the switch made
	head    int      // first queued slot
	n       int      // queued slots, including those being written
	off     int      // bytes of the head frame already written to the connection
	waiting bool     // the writer is idle and waits on wake
	closed  bool     // the tenant was removed: push refuses
	direct  *conn    // the connection whose writer runs, for direct writes; nil if none
	claim   *conn    // the connection a reader writes to directly; nil if none
	behind  bool     // the writer found the queue claimed: wake it at the release
	owner   *tenant  // the tenant it queues for (taps name it)
	wake    chan struct{}

	limit      int         // slots tenants' frames may fill (7/8 of cap); the rest is for notices
	contenders []contender // senders that waited for room since they last had nothing queued
	noticeWait *waiter     // the tenant's own reader, waiting for room for its notices
	congested  bool        // readers push only as contenders, each up to its share (see above)
	waited     bool        // a reader waited since the writer last went idle
	stalled    bool        // a held frame timed out, and nothing was written since
	commits    uint64      // commits that removed frames: the writer's progress
}

// contender is a sender contending for a congested queue.
type contender struct {
	st      *stats  // the sender
	queued  int     // its frames in the queue
	used    int     // frames it pushed in this round
	w       *waiter // its reader, while it waits for room; else nil
	pending bool    // woken for its turn, and has not pushed yet
}

// waiter is a reader waiting for room in a queue: for a frame it holds (as
// its sender's contender entry's w) or for its notices (its own queue's
// noticeWait). A reader waits on one queue at a time and reuses its waiter;
// waiting is guarded by that queue's mu.
type waiter struct {
	ready   chan struct{} // cap 1: there may be room now, or the queue closed
	waiting bool          // blocked, to be woken by a send on ready
}

func newWaiter() *waiter { return &waiter{ready: make(chan struct{}, 1)} }

func newQueue(capacity int) *queue {
	return &queue{
		buf:   make([]byte, capacity*frame.Size),
		from:  make([]*stats, capacity),
		wake:  make(chan struct{}, 1),
		limit: capacity - capacity/8,
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
	r := q.pushLocked(f, from)
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

// room reports whether a frame from sender from (nil: the switch's own) may
// be pushed now by a reader (byReader; else a pusher that never waits, the
// ground). Tenants' frames leave the last eighth of the ring to the
// switch's own frames (ERRORs, HEALTH replies, events), so that a sender
// flooding a guest does not also silence the switch's answers to it. While
// the queue is congested a reader's sender must be a contender under its
// share; it returns the contender's index then (else -1). q.mu is held.
func (q *queue) room(from *stats, byReader bool) (ok bool, ci int) {
	switch {
	case from == nil:
		return q.n < q.slots(), -1
	case q.n >= min(q.limit, q.slots()): // a queue of under 8 has no reserve
		return false, -1
	case !byReader || !q.congested:
		return true, -1
	}
	ci = q.find(from)
	return ci >= 0 && q.contenders[ci].used < q.share(), ci
}

// slots is how many frames the queue may hold: all its slots, but one
// while a reader writes directly, for the frame its write may cut short
// (releaseDirect). q.mu is held.
func (q *queue) slots() int {
	if q.claim != nil {
		return len(q.from) - 1
	}
	return len(q.from)
}

// share is the most frames one contender may have in the queue.
func (q *queue) share() int { return max(1, q.limit/max(1, len(q.contenders))) }

// find returns the index of from's contender entry, or -1.
func (q *queue) find(from *stats) int {
	for i := range q.contenders {
		if q.contenders[i].st == from {
			return i
		}
	}
	return -1
}

// pushLocked is push with q.mu held.
func (q *queue) pushLocked(f *frame.Frame, from *stats) pushResult {
	return q.pushAs(f, from, false)
}

// pushAs is pushLocked for a reader (byReader) or not (see room).
func (q *queue) pushAs(f *frame.Frame, from *stats, byReader bool) pushResult {
	if q.closed {
		return pushClosed
	}
	ok, ci := q.room(from, byReader)
	if !ok {
		return pushFull
	}
	if ci < 0 && from != nil && len(q.contenders) > 0 {
		ci = q.find(from) // the ground's
	}
	if ci >= 0 {
		c := &q.contenders[ci]
		c.queued++
		c.used++
		c.pending = false
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
	if q.claim != nil {
		q.waiting, q.behind = true, true // releaseDirect wakes it
		return nil
	}
	if q.n == 0 {
		q.waiting = true
		if q.congested && !q.waited && len(q.contenders) == 0 {
			q.congested = false // it kept up since it last went idle
		}
		q.waited = false
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
	q.tapOut(q.buf[q.head*frame.Size : (q.head+k)*frame.Size])
	if len(q.contenders) > 0 {
		q.uncount(from[:k])
	}
	clear(q.from[q.head : q.head+k])
	q.head += k
	if q.head == len(q.from) {
		q.head = 0
	}
	q.n -= k
	if k > 0 {
		q.commits++
		q.stalled = false
		q.grant()
	}
	return k
}

// uncount takes the frames of senders just written off their contender
// entries, one lookup per run of frames from the same sender. q.mu is held.
func (q *queue) uncount(from []*stats) {
	for i := 0; i < len(from); {
		j := i + 1
		for j < len(from) && from[j] == from[i] {
			j++
		}
		if from[i] != nil {
			if ci := q.find(from[i]); ci >= 0 {
				q.contenders[ci].queued -= j - i
			}
		}
		i = j
	}
}

// grant wakes whoever may push now: the tenant's own reader waiting to
// queue its notices first, then the contenders waiting that are under
// their share, while there is room. Contenders with nothing queued and not
// waiting stop contending. q.mu is held.
func (q *queue) grant() {
	if w := q.noticeWait; w != nil && q.n < q.slots() {
		q.noticeWait = nil
		w.waiting = false
		w.ready <- struct{}{} // cap 1, and empty: its owner drained it
	}
	kept := q.contenders[:0]
	for _, c := range q.contenders {
		if c.queued > 0 || c.w != nil || c.pending {
			kept = append(kept, c)
		}
	}
	clear(q.contenders[len(kept):])
	q.contenders = kept
	if q.n >= min(q.limit, q.slots()) { // as room
		return
	}
	share := q.share()
	over := true
	for _, c := range q.contenders {
		if c.used < share && (c.w != nil || c.pending) {
			over = false
			break
		}
	}
	for i := range q.contenders {
		c := &q.contenders[i]
		if over {
			c.used = 0 // a new round
		}
		if c.w != nil && c.used < share {
			c.w.waiting = false
			c.w.ready <- struct{}{}
			c.w = nil
			c.pending = true
		}
	}
}

// passTurn records that st's reader pushed all it had for the queue: what
// is left of its share this round is not waited for. q.mu is held.
func (q *queue) passTurn(st *stats) {
	if ci := q.find(st); ci >= 0 && q.contenders[ci].pending {
		q.contenders[ci].pending = false
		q.grant()
	}
}

// roomResult is how a wait for room ended.
type roomResult uint8

const (
	roomGranted roomResult = iota // there may be room now: push again
	roomTimeout                   // the hold time passed (or the queue is stalled)
	roomStopped                   // stop closed: the connection or the switch is going away
)

// waitRoom waits, holding a frame from sender st, until grant finds room
// for it, the queue makes no progress for hold, or stop closes. It returns
// roomGranted at once when the queue is closed (the push that follows says
// so) or st may push now, and roomTimeout at once when the queue is
// stalled: a tenant that let a held frame time out and has written nothing
// since costs its senders one hold time, not one per frame. Otherwise st
// becomes a contender (the queue is congested from then on) and w waits.
//
// The hold counts from the queue's last progress, not from the start of
// the wait: the queue is looked at holdChecks times per hold, and the wait
// ends only when none of those looks in a row saw progress: frames the
// writer committed, or a change in what the guest has not read of its
// socket (conn.unconsumed). A writer blocked on a full socket returns only
// once the guest has read three quarters of it (some 500 frames), so with
// commits alone (and the hold counted from the start of the wait) a guest
// that read steadily, but slower than 500 frames per hold (5,000 frames/s
// at the default 100 ms), was taken for a stuck one and its senders were
// refused Host_busy (TestSlowReaderHeld). A timeout stalls the queue.
// timer is the caller's, stopped.
func (q *queue) waitRoom(st *stats, w *waiter, timer *time.Timer, hold time.Duration, stop, quit <-chan struct{}) roomResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return roomGranted
	}
	ci := q.find(st)
	if ci < 0 {
		q.contenders = append(q.contenders, contender{st: st, queued: q.count(st)})
		ci = len(q.contenders) - 1
	}
	q.congested, q.waited = true, true
	if ok, _ := q.room(st, true); ok {
		q.mu.Unlock()
		return roomGranted
	}
	if q.stalled {
		q.mu.Unlock()
		return roomTimeout
	}
	q.contenders[ci].w = w
	q.contenders[ci].pending = false
	w.waiting = true
	q.grant() // the round may be over now
	if !w.waiting {
		q.mu.Unlock()
		<-w.ready
		return roomGranted
	}
	commits, dest := q.commits, q.direct
	q.mu.Unlock()
	p := progress{mark: commits, unread: dest.unconsumed()}

	// The queue is looked at holdChecks times per hold: a frame is refused
	// once it saw no progress in that many looks in a row.
	tick := holdTick(hold)
	timer.Reset(tick)
	result := roomGranted
wait:
	for result == roomGranted {
		select {
		case <-w.ready:
			timer.Stop()
			return roomGranted
		case <-timer.C:
			q.mu.Lock()
			waiting, commitsNow, dest := w.waiting, q.commits, q.direct
			q.mu.Unlock()
			if !waiting {
				break wait // woken as the look began: taken below
			}
			if p.stuck(commitsNow, dest.unconsumed()) { // no lock held: a system call
				result = roomTimeout
			} else {
				timer.Reset(tick)
			}
		case <-stop:
			result = roomStopped
			timer.Stop()
		case <-quit:
			result = roomStopped
			timer.Stop()
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !w.waiting {
		// Woken (or the queue closed) as the wait ended: take it.
		<-w.ready
		return roomGranted
	}
	w.waiting = false
	if ci := q.find(st); ci >= 0 && q.contenders[ci].w == w {
		q.contenders[ci].w = nil
		q.grant()
	}
	if result == roomTimeout {
		q.stalled = true
	}
	return result
}

// holdChecks is how many times per hold time waitRoom looks for progress.
const holdChecks = 4

// count returns how many of st's frames are in the queue. q.mu is held.
func (q *queue) count(st *stats) int {
	k := 0
	for j := 0; j < q.n; j++ {
		i := q.head + j
		if i >= len(q.from) {
			i -= len(q.from)
		}
		if q.from[i] == st {
			k++
		}
	}
	return k
}

// waitNoticeRoom waits until the queue has room for one of the switch's own
// frames, or stop or quit closes; it reports whether there is room (or the
// queue closed). Only the tenant's own reader calls it, for its notices.
func (q *queue) waitNoticeRoom(w *waiter, stop, quit <-chan struct{}) bool {
	q.mu.Lock()
	if ok, _ := q.room(nil, false); ok || q.closed {
		q.mu.Unlock()
		return true
	}
	select {
	case <-stop:
		// A replaced connection's reader (its stop is closed before its
		// successor's reader starts) never takes the one waiting place:
		// it would push out the successor's waiter, which would then wait
		// for room nobody tells it of.
		q.mu.Unlock()
		return false
	default:
	}
	q.noticeWait = w
	w.waiting = true
	q.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-stop:
	case <-quit:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !w.waiting {
		<-w.ready // woken as the wait ended
		return true
	}
	w.waiting = false
	if q.noticeWait == w {
		// Only this wait's own registration: a new connection's reader may
		// already wait here, and clearing its waiter would leave it
		// waiting for room nobody tells it of.
		q.noticeWait = nil
	}
	return false
}

// attach makes c the connection direct writes use and restarts the head
// frame from its first byte (a frame cut short by the previous connection
// is sent again whole).
func (q *queue) attach(c *conn) {
	q.mu.Lock()
	q.direct = c
	q.off = 0
	q.mu.Unlock()
}

// detach stops direct writes to c.
func (q *queue) detach(c *conn) {
	q.mu.Lock()
	if q.direct == c {
		q.direct = nil
	}
	q.mu.Unlock()
}

// forward queues the whole frames in b, all for this queue's tenant and
// from sender st (whose lock the caller holds), pushed by its reader. It
// returns how many frames were queued, found no room (the last ones of b),
// and were refused because the tenant was removed. The frames' padding
// must already be zero.
func (q *queue) forward(b []byte, st *stats) (queued, full, closed int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, 0, len(b) / frame.Size
	}
	for i := 0; i < len(b); i += frame.Size {
		if q.pushAs((*frame.Frame)(b[i:i+frame.Size]), st, true) != pushed {
			full = (len(b) - i) / frame.Size // and the frames after it: order is kept
			break
		}
		queued++
	}
	if full == 0 && len(q.contenders) > 0 {
		q.passTurn(st)
	}
	return queued, full, 0
}

// drained reports, to a finishing writer whose peek found nothing,
// whether nothing is queued and no reader writes directly (done), or a
// reader does (claimed): the writer is then marked as waiting behind the
// claim, and its release wakes it. With neither, frames were queued since
// the peek.
func (q *queue) drained() (done, claimed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.claim != nil {
		q.waiting, q.behind = true, true
		return false, true
	}
	return q.n == 0, false
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
// held (for a tenant removed by Reload). Everyone waiting for room is woken
// (their next push finds the queue closed).
func (q *queue) drain() []*stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.stalled = false // a tenant brought back by a reload starts afresh
	for _, c := range q.contenders {
		if c.w != nil {
			c.w.waiting = false
			c.w.ready <- struct{}{}
		}
	}
	clear(q.contenders)
	q.contenders = q.contenders[:0]
	q.congested = false
	if w := q.noticeWait; w != nil {
		q.noticeWait = nil
		w.waiting = false
		w.ready <- struct{}{}
	}
	out := make([]*stats, 0, q.n)
	for j := 0; j < q.n; j++ {
		i := (q.head + j) % len(q.from)
		out = append(out, q.from[i])
		q.from[i] = nil
	}
	q.head, q.n, q.off = 0, 0, 0
	return out
}
