package apidswitch

import (
	"errors"
	"os"
	"syscall"
	"time"

	"spacenet/apid/frame"
)

// The direct path: a reader whose frames find their destination's queue
// empty (and not congested) writes them to the destination's socket
// itself, as a plain relay does, waiting for room on the socket while the
// guest reads; it copies nothing into the queue and wakes no writer. While
// it writes, the queue is claimed: the destination's writer does not write
// and other senders' frames queue behind the claim. The wait is bounded
// like a wait for room in the queue (queue.waitRoom): by the hold time
// without progress.
//
// Through separate processes writing 256 frames per write flat out, the
// hand-over this replaces (the reader copying into the ring, waiting for
// room, the writer goroutine writing and waking it) cost the switch a
// quarter of a plain relay's throughput on 2 cores: two goroutines parking
// and waking per batch where the relay has one (docs/PERFORMANCE.md).

// claimDirect claims the queue for a direct write to its connection and
// returns that connection, or nil when the frames must be queued: frames
// are queued or being written, the queue is congested (senders take turns
// through the ring) or stalled (a held frame timed out: the frames are
// refused at once once the queue is full, not held again), no writer runs,
// or another reader writes directly.
func (q *queue) claimDirect() *conn {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.n != 0 || q.congested || q.stalled || q.claim != nil || q.direct == nil || q.direct.retired.Load() {
		return nil
	}
	q.claim = q.direct
	return q.claim
}

// releaseDirect ends c's claim after n bytes of b (whole frames from
// sender st) were written to it, and returns how many of b's frames the
// queue took: those written whole, and the frame cut short on the wire,
// which is put at the head of the queue for the writer to finish (to the
// same connection; a frame cut short on a connection replaced meanwhile is
// sent again whole to the new one). The cut frame is not taken if the
// queue was closed meanwhile (closed). stalled marks the queue stalled
// (the claim's hold time passed without progress).
func (q *queue) releaseDirect(c *conn, b []byte, n int, st *stats, stalled bool) (taken int, closed bool) {
	q.mu.Lock()
	q.claim = nil
	taken = n / frame.Size
	q.tapOut(b[:taken*frame.Size])
	if taken > 0 {
		q.commits++
		q.stalled = false
	}
	if stalled {
		q.stalled = true
	}
	if cut := n % frame.Size; cut > 0 && !q.closed {
		// The slot is free: pushes leave one while the queue is claimed.
		q.head--
		if q.head < 0 {
			q.head += len(q.from)
		}
		copy(q.buf[q.head*frame.Size:(q.head+1)*frame.Size], b[taken*frame.Size:])
		q.from[q.head] = st
		q.n++
		q.off = 0
		if q.direct == c {
			q.off = cut
		}
		taken++
	}
	// The writer is woken for what was queued meanwhile, or if it looked
	// during the claim: finishing, it waits for the claim to end even
	// with nothing queued. A writer idle since before the claim is not
	// woken for nothing (once per direct write, that cost throughput).
	wake := q.waiting && (q.n > 0 || q.behind)
	if wake {
		q.waiting = false
	}
	q.behind = false
	closed = q.closed
	q.mu.Unlock()
	if wake {
		q.kick()
	}
	return taken, closed
}

// directResult is how a direct write ended.
type directResult uint8

const (
	directDone    directResult = iota // all written, or the connection failed: queue the rest
	directTimeout                     // no progress for the hold time
	directStopped                     // stop or quit closed
)

// writeHeld writes b to c's socket, waiting for room while the guest
// makes progress, and returns how many bytes were written. It ends when
// all of b is written (directDone); when the connection fails, is closed
// or replaced (directDone: what is left is queued for the tenant's next
// connection); when hold passed without progress, looked at holdChecks
// times per hold as queue.waitRoom does (directTimeout); or when stop or
// quit closed, seen at those looks (directStopped). With hold 0 it never
// waits (when_full = "drop"). The caller holds c's queue's claim and no
// lock.
func (c *conn) writeHeld(b []byte, hold time.Duration, stop, quit <-chan struct{}) (int, directResult) {
	c.directBuf, c.directN, c.directWait, c.directErr = b, 0, false, nil
	defer func() { c.directBuf, c.directErr = nil, nil }()
	if err := c.raw.Write(c.directFn); err != nil || c.directErr != nil || c.directN == len(b) || hold <= 0 {
		return c.directN, directDone
	}
	tick := holdTick(hold)
	p := progress{mark: uint64(c.directN), unread: c.unconsumed()}
	c.directWait = true
	for c.directN < len(b) {
		c.setTickDeadline(time.Now().Add(tick))
		err := c.raw.Write(c.directFn)
		c.setTickDeadline(time.Time{})
		switch {
		case c.directN == len(b) || c.directErr != nil:
			return c.directN, directDone
		case !errors.Is(err, os.ErrDeadlineExceeded) || c.deadlinePassed():
			return c.directN, directDone // failed, closed, retired or flushing
		}
		select {
		case <-stop:
			return c.directN, directStopped
		case <-quit:
			return c.directN, directStopped
		default:
		}
		if p.stuck(uint64(c.directN), c.unconsumed()) {
			return c.directN, directTimeout
		}
	}
	return c.directN, directDone
}

// writeDirectFd is writeHeld's write: as much of c.directBuf as the
// socket takes; when it takes no more, done unless writeHeld waits
// (c.directWait), in which case the runtime waits until the socket is
// writable or the write deadline passes.
func (c *conn) writeDirectFd(fd uintptr) bool {
	for c.directN < len(c.directBuf) {
		n, err := syscall.Write(int(fd), c.directBuf[c.directN:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return !c.directWait
		case err != nil:
			c.directErr = err
			return true
		}
		c.directN += n
	}
	return true
}

// progress tells whether a destination a frame is held for moved between
// two looks: frames or bytes written to it (mark), or what its guest has
// not read of its socket (unread, conn.unconsumed). A frame is held no
// longer once holdChecks looks in a row saw neither move.
type progress struct {
	mark   uint64
	unread int
	quiet  int // looks in a row that saw no progress
}

// stuck records a look and reports whether the destination has now made
// no progress for holdChecks looks in a row.
func (p *progress) stuck(mark uint64, unread int) bool {
	if mark != p.mark || unread != p.unread {
		p.mark, p.unread, p.quiet = mark, unread, 0 // it moved
		return false
	}
	p.quiet++
	return p.quiet >= holdChecks
}

// holdTick is how often a wait of hold looks for progress: holdChecks
// times per hold, rounded up (never refused before hold).
func holdTick(hold time.Duration) time.Duration {
	return max((hold+holdChecks-1)/holdChecks, 1)
}

// setWriteDeadline sets the connection's write deadline (retire, the flush
// after the guest closed its side). A direct write's tick deadline, while
// one runs, applies only if it is earlier.
func (c *conn) setWriteDeadline(t time.Time) {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	c.deadline = t
	c.applyDeadline()
}

// setTickDeadline sets (or, with the zero time, clears) a direct write's
// tick deadline, leaving the connection's own in force if it is earlier.
func (c *conn) setTickDeadline(t time.Time) {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	c.tickDeadline = t
	c.applyDeadline()
}

// applyDeadline sets the earlier of the two deadlines. c.deadlineMu is
// held (setting a deadline is no system call).
func (c *conn) applyDeadline() {
	d := c.deadline
	if !c.tickDeadline.IsZero() && (d.IsZero() || c.tickDeadline.Before(d)) {
		d = c.tickDeadline
	}
	c.uc.SetWriteDeadline(d)
}

// deadlinePassed reports whether the connection's own write deadline (not
// a tick's) has passed.
func (c *conn) deadlinePassed() bool {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	return !c.deadline.IsZero() && !time.Now().Before(c.deadline)
}
