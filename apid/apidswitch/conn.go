package apidswitch

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"spacenet/apid/frame"
	"spacenet/apid/policy"
	"spacenet/apid/router"
)

// flushTimeout bounds how long a connection whose guest closed its sending
// side may still be written to (the frames queued for it, the ERROR for a
// partial frame).
const flushTimeout = 200 * time.Millisecond

// conn is one accepted connection of a tenant: a reader goroutine and a
// writer goroutine.
type conn struct {
	sw  *Switch
	t   *tenant
	uc  *net.UnixConn
	gen uint64

	stopOnce   sync.Once
	closeOnce  sync.Once
	done       chan struct{} // closed by stop: the writer ends
	closed     chan struct{} // closed by close: the socket is closed, waits end
	retired    atomic.Bool   // replaced by a newer connection of the tenant
	finish     chan struct{} // closed when the guest stopped sending: write what is queued, then end
	writerDone chan struct{} // closed when the writer has returned

	raw syscall.RawConn // uc's descriptor, for writeHeld, drain and unconsumed

	// For writeHeld (direct.go), used by the reader that holds the claim
	// of the connection's queue.
	directFn   func(fd uintptr) bool // c.writeDirectFd, made once
	directBuf  []byte                // the frames being written
	directN    int                   // bytes of directBuf written
	directWait bool                  // wait for the socket to take more
	directErr  error                 // the write failed

	// The write deadline: the connection's own (retire, flush) and a
	// direct write's tick (writeHeld); the earlier one is in force.
	deadlineMu   sync.Mutex
	deadline     time.Time
	tickDeadline time.Time

	// For queue.waitRoom's progress checks (conn.unconsumed), made
	// outside any lock; concurrent checks may read each other's value,
	// both recent readings of the same socket.
	outqFn func(fd uintptr) // c.readOutq, made once
	outq   atomic.Int64

	sub sync.Mutex // guards subAPID
	// subAPID is the APID a guest subscribed to events from (0: not
	// subscribed); notifications are addressed to it.
	subAPID frame.APID
}

// unconsumed returns SIOCOUTQ on the socket: the memory the guest has not
// yet read of what was written to it (in the kernel's buffer sizes, not
// bytes), or -1 if the kernel does not say or c is nil. It changes when
// the guest reads a whole write's worth, long before a writer blocked on
// the full socket is woken: Linux wakes it only when three quarters of the
// buffer (some 500 frames) have been read. A system call: never call it
// with the queue's or a sender's lock held.
func (c *conn) unconsumed() int {
	if c == nil || c.outqFn == nil {
		return -1
	}
	if err := c.raw.Control(c.outqFn); err != nil {
		return -1
	}
	return int(c.outq.Load())
}

// readOutq is unconsumed's ioctl.
func (c *conn) readOutq(fd uintptr) {
	v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	if err != nil {
		v = -1
	}
	c.outq.Store(int64(v))
}

// stop ends the writer; the socket stays open.
func (c *conn) stop() { c.stopOnce.Do(func() { close(c.done) }) }

// close ends the writer and closes the socket.
func (c *conn) close() {
	c.stop()
	c.closeOnce.Do(func() {
		close(c.closed)
		c.uc.Close()
	})
}

// retire ends a connection that a newer one of the same tenant replaces. Its
// writer stops at once (the new connection's writer takes over the queue),
// but the socket stays open until the reader has taken in every frame the
// guest wrote before it was replaced: a guest that wrote and went away, then
// came back, loses nothing. Frames it writes after that are refused by the
// closed socket, which the guest sees as an error on its write.
func (c *conn) retire() {
	c.retired.Store(true)
	c.stop()
	past := time.Unix(1, 0)
	c.setWriteDeadline(past)   // unblocks a writer stuck on a guest that does not read
	c.uc.SetReadDeadline(past) // unblocks the reader, which then drains
}

// drain reads, without waiting, what the guest of a retired connection had
// already written, and routes it like any other frames. It returns the
// partial frame left in buf[:rem] and io.EOF when the guest had closed, or
// os.ErrDeadlineExceeded when nothing more was buffered.
func (c *conn) drain(r *reader, buf []byte, rem int) (int, error) {
	for {
		var n int
		var rerr error
		if err := c.raw.Control(func(fd uintptr) {
			for {
				n, _, rerr = syscall.Recvfrom(int(fd), buf[rem:], syscall.MSG_DONTWAIT)
				if rerr != syscall.EINTR {
					return
				}
			}
		}); err != nil {
			return rem, err
		}
		switch {
		case rerr == syscall.EAGAIN:
			return rem, os.ErrDeadlineExceeded
		case rerr != nil:
			return rem, rerr
		case n == 0:
			return rem, io.EOF
		}
		rem = r.consume(buf, rem+n)
	}
}

// writeLoop drains the tenant's queue into the connection, up to
// Config.Batch frames per write, straight from the queue's ring. It starts
// only once the previous connection's writer has ended, so that one frame
// is never written twice.
func (c *conn) writeLoop(prev *conn) {
	defer c.sw.wg.Done()
	defer close(c.writerDone)
	if prev != nil {
		<-prev.writerDone
	}
	q := c.t.q
	q.attach(c)
	defer q.detach(c)
	batch := c.sw.cfg.Batch
	from := make([]*stats, batch)
	finish := c.finish // nil once it closed: the writer is finishing
	for {
		b := q.peek(batch)
		if b == nil {
			// Finishing, it ends only when nothing is queued nor being
			// written directly: frames queued behind a direct write (the
			// ERROR for the guest's partial frame) are written after it.
			if finish == nil {
				switch done, claimed := q.drained(); {
				case done:
					return
				case !claimed:
					continue // queued since the peek
				}
			}
			select {
			case <-q.wake:
			case <-finish:
				finish = nil
			case <-c.done:
				return
			}
			continue
		}
		n, err := c.uc.Write(b)
		if k := q.commit(n, from); k > 0 {
			credit(from[:k], &c.t.notes)
		}
		if err != nil {
			// The guest is gone (or replaced, or past its flush time):
			// stop writing, but leave the socket to the reader, which
			// still takes in what the guest wrote before it went. Closing
			// it here lost those frames uncounted whenever the switch was
			// writing to a guest as it closed (the last pong of a
			// ping-pong, under a flood to the guest).
			c.stop()
			return
		}
	}
}

// readLoop reads frames in batches and routes every whole one; a partial
// frame at the end of the stream is refused as Malformed. When the stream
// ends it lets the writer flush, then closes the connection.
func (c *conn) readLoop() {
	defer c.sw.wg.Done()
	s := c.sw
	buf := make([]byte, s.cfg.Batch*frame.Size)
	r := newReader(c)
	defer r.timer.Stop()
	rem := 0
	var err error
	for {
		var n int
		n, err = c.uc.Read(buf[rem:])
		rem = r.consume(buf, rem+n)
		if err != nil {
			break
		}
		// No yield here: a read that finds data does not block, so a
		// guest writing flat out keeps this goroutine on its processor,
		// and other tenants' goroutines, woken by their sockets, would
		// wait for the runtime's preemption (10 ms) if every processor
		// were busy; spacenet run gives the switch at least 8 (minProcs),
		// so one is idle to run them. A yield per read (issue 14) woke
		// another thread to look for work each time (runtime.wakep):
		// through separate processes on 2 cores it cost the switch a
		// tenth of a plain relay's throughput at 256 frames per write,
		// even once every 4,096 frames, and the attack suite measured no
		// difference without it (docs/PERFORMANCE.md).
	}
	if c.retired.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		rem, err = c.drain(r, buf, rem)
	}
	if rem > 0 && !r.endOfStream(rem) {
		// Answered only at a clean end of stream: after any other error
		// the connection is gone (reset, replaced, switch stopping).
		r.partial(buf[:rem], errors.Is(err, io.EOF))
	}
	if errors.Is(err, io.EOF) {
		// The guest closed its sending side: it may still read what is
		// queued for it (the ERROR for its partial frame, say).
		c.setWriteDeadline(time.Now().Add(flushTimeout))
		close(c.finish)
		select {
		case <-c.writerDone:
		case <-c.done:
		}
	}
	c.close()
	s.detach(c)
}

// reader is a reader goroutine's routing state, reused across batches.
type reader struct {
	c       *conn
	st      *state
	idx     int // the tenant's index in st, -1 if st no longer has it
	touched []*queue
	scratch frame.Frame

	// Flow control: the reader waits with wait (for room in a destination
	// or in its own queue) and times its waits with timer. owed holds the
	// notices for its own guest that found no room; they are queued before
	// the guest's socket is read again.
	wait  *waiter
	timer *time.Timer
	owed  []frame.Frame

	// The last routing decision and the header it was for (payload_length
	// masked out): Route is a pure function of the sender, the header and
	// the table, so a frame whose header equals the previous one's (a burst
	// from one APID to one destination) reuses the decision. Reset when the
	// state changes.
	lastKey uint64
	lastOK  bool
	last    router.Decision

	// The payload of the last HEALTH answer (sysPayload), for sysDest,
	// made at sysAt from state sysSt after sysChanges tenant events.
	sysCache   [frame.MaxPayload]byte
	sysN       int
	sysDest    frame.APID
	sysSt      *state
	sysChanges uint64
	sysAt      time.Time

	sync frameSync // for a tenant whose stream may lose bytes (sync.go)
}

func newReader(c *conn) *reader {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	return &reader{
		c:       c,
		touched: make([]*queue, 0, 8),
		wait:    newWaiter(),
		timer:   timer,
		owed:    make([]frame.Frame, 0, c.sw.cfg.Batch+1),
	}
}

// keyMask keeps version, type, APID and destination of the 8-byte header.
const keyMask = ^uint64(0xFFFF << 16)

// route is st.table.Route with the one-entry cache.
func (r *reader) route(f *frame.Frame) router.Decision {
	key := binary.BigEndian.Uint64(f[:8]) & keyMask
	if r.lastOK && key == r.lastKey && f.PayloadLen() <= frame.MaxPayload {
		return r.last
	}
	d := r.st.table.Route(r.idx, f.Header())
	// Only decisions that do not depend on payload_length are kept: a
	// refusal may (Message_too_large), so it is never cached.
	r.lastKey, r.last, r.lastOK = key, d, d.Action != router.Drop
	return d
}

// process routes the whole frames in b. The sender's counters are locked
// for the batch; every frame moves from received to one bucket before the
// lock is released (around calls to the system handler and the downlink, and
// around waits for room or for the rate limit). Before it returns, every
// notice the batch made for the sender is queued, waiting for room if need
// be: the sender is not read again until then.
func (r *reader) process(b []byte) {
	c := r.c
	s := c.sw
	t := c.t
	r.refresh()
	st := r.st
	ss := &t.st
	// Taps record what the guest wrote once: after a cut (sync.go) the
	// frames overlapping bytes recorded before are left out.
	tapFrom := min(len(b), (r.sync.tapped+frame.Size-1)/frame.Size*frame.Size)
	r.sync.tapped = 0
	s.tapFrames(t.name, false, b[tapFrom:])
	var limit *policy.Flow
	if r.idx >= 0 && st.flow[r.idx].Rate > 0 {
		limit = &st.flow[r.idx]
	}
	ss.mu.Lock()
	now := time.Now()
	// A run of consecutive frames for the same tenant is forwarded with one
	// write (or queued together).
	var run *tenant
	runIdx, runStart := 0, 0
	for off := 0; off < len(b); off += frame.Size {
		f := (*frame.Frame)(b[off : off+frame.Size])
		ss.received++
		if r.idx < 0 {
			r.forward(run, runIdx, b[runStart:off])
			run = nil
			ss.dropped[frame.NoRoute]++
			r.notice(frame.NoRoute, f)
			continue
		}
		d := r.route(f)
		// The rate limit counts what the tenant puts on the bus: frames
		// for other tenants and the ground, not its requests to the switch
		// nor what the switch refuses.
		if limit != nil && (d.Action == router.Local || d.Action == router.Ground || d.Action == router.Remote) && !ss.rate.take(now, limit.Rate, limit.BurstSize()) {
			r.forward(run, runIdx, b[runStart:off])
			run = nil
			if limit.WhenOverRate == policy.Drop {
				ss.dropped[frame.RateLimited]++
				r.notice(frame.RateLimited, f)
				continue
			}
			now = r.awaitToken(ss, limit)
		}
		if d.Action == router.Local {
			f.ZeroPadding()
			dst := st.tenants[d.Tenant]
			if dst != run {
				r.forward(run, runIdx, b[runStart:off])
				run, runIdx, runStart = dst, d.Tenant, off
			}
			continue
		}
		r.forward(run, runIdx, b[runStart:off])
		run = nil
		switch d.Action {
		case router.System:
			ss.deliveredSystem++
			ss.mu.Unlock()
			s.system(r, f)
			ss.mu.Lock()
		case router.Ground:
			ss.deliveredGround++
			ss.mu.Unlock()
			err := s.sendGround(t.name, f)
			ss.mu.Lock()
			if err != nil {
				code := frame.LinkFailed // the link could not send it
				if errors.Is(err, errNoDownlink) {
					code = frame.NoRoute
				}
				ss.deliveredGround--
				ss.dropped[code]++
				r.notice(code, f)
			}
		case router.Remote:
			r.routeRemote(ss, d, f)
		default:
			code := d.Code
			if !code.Known() {
				code = frame.Malformed
			}
			if r.misaligned(code, ss.received, off) {
				ss.received-- // not a frame: consume hunts in its bytes
				b = b[:off]
				continue
			}
			ss.dropped[code]++
			r.notice(code, f)
		}
	}
	r.forward(run, runIdx, b[runStart:])
	ss.mu.Unlock()
	r.flush()
	r.payNotices()
}

// refresh takes up the switch's state in force, if it changed.
func (r *reader) refresh() {
	if st := r.c.sw.state.Load(); st != r.st {
		r.st = st
		r.lastOK = false
		r.idx = -1
		if i, ok := st.index[r.c.t]; ok {
			r.idx = i
		}
	}
}

// awaitToken waits, with the sender's lock released, until the sender's
// rate limit lets one more frame through, and takes it. It returns the time
// after the wait. A connection or switch going away ends the wait early:
// the frame then goes through.
func (r *reader) awaitToken(ss *stats, limit *policy.Flow) time.Time {
	ss.held++ // the frame that waits for a token
	defer func() { ss.held-- }()
	for {
		d := ss.rate.wait(limit.Rate)
		ss.mu.Unlock()
		r.flush()
		r.timer.Reset(d)
		stopped := false
		select {
		case <-r.timer.C:
		case <-r.c.closed:
			stopped = true
		case <-r.c.sw.quit:
			stopped = true
		}
		r.timer.Stop()
		ss.mu.Lock()
		now := time.Now()
		if ss.rate.take(now, limit.Rate, limit.BurstSize()) || stopped {
			return now
		}
	}
}

// forward hands a run of frames for tenant dst (index dstIdx in r.st) to
// its queue, which writes them straight to the connection if it can; the
// sender's lock is held. Frames that find no room wait for it as dst's
// flow control says (the lock released meanwhile), or are refused and
// answered.
func (r *reader) forward(dst *tenant, dstIdx int, b []byte) {
	if dst == nil || len(b) == 0 {
		return
	}
	ss := &r.c.t.st
	flow := &r.st.flow[dstIdx]
	if c := dst.q.claimDirect(); c != nil {
		if b = r.writeDirect(dst, c, flow, b); len(b) == 0 {
			return
		}
	}
	for len(b) > 0 {
		queued, full, closed := dst.q.forward(b, ss)
		ss.queued += uint64(queued)
		ss.countTo(dst, queued)
		if queued > 0 {
			r.touch(dst.q)
		}
		b = b[len(b)-(full+closed)*frame.Size:] // the frames not taken, in order
		switch {
		case closed > 0:
			r.refuse(frame.NoRoute, b)
			return
		case full == 0:
			return
		case flow.WhenFull == policy.Drop:
			r.refuse(frame.HostBusy, b)
			return
		}
		// Hold the first frame not taken: the sender is not read meanwhile.
		held := uint64(len(b) / frame.Size)
		ss.held += held
		ss.mu.Unlock()
		r.flush() // the destination's writer must run to make room
		res := dst.q.waitRoom(ss, r.wait, r.timer, flow.HoldTime(), r.c.closed, r.c.sw.quit)
		ss.mu.Lock()
		ss.held -= held
		switch res {
		case roomTimeout:
			// Refused after its hold time; the frames after it are
			// refused at once while the destination stays stalled.
			r.refuse(frame.HostBusy, b[:frame.Size])
			b = b[frame.Size:]
		case roomStopped:
			r.refuse(frame.HostBusy, b)
			return
		}
	}
}

// writeDirect writes b, frames for dst, straight to dst's connection c,
// whose queue's claim the reader holds (direct.go), and releases the
// claim. It waits while the socket is full, as dst's flow control says
// (never with when_full = "drop"), and returns the frames not taken, which
// go through dst's queue: after a hold time without progress the queue is
// stalled, so that once it is full they are refused at once (waitRoom).
// The sender's lock is held, and released while it writes.
func (r *reader) writeDirect(dst *tenant, c *conn, flow *policy.Flow, b []byte) []byte {
	ss := &r.c.t.st
	held := uint64(len(b) / frame.Size)
	hold := flow.HoldTime()
	if flow.WhenFull == policy.Drop {
		hold = 0 // the sender is never held
	}
	ss.held += held
	ss.mu.Unlock()
	r.flush() // the writers of the batch's other destinations need not wait for this one
	n, res := c.writeHeld(b, hold, r.c.closed, r.c.sw.quit)
	// The counters change with the release, under the sender's lock: the
	// writer may credit a frame cut short as soon as it is queued.
	ss.mu.Lock()
	taken, closed := dst.q.releaseDirect(c, b, n, ss, res == directTimeout)
	ss.held -= held
	written := n / frame.Size
	ss.delivered += uint64(written)
	ss.queued += uint64(taken - written)
	ss.countTo(dst, taken)
	b = b[taken*frame.Size:]
	if res == directStopped && !closed {
		r.refuse(frame.HostBusy, b)
		return nil
	}
	return b // closed: the queue refuses them as No_route
}

// refuse counts the frames in b as dropped with code and answers each.
// The sender's lock is held.
func (r *reader) refuse(code frame.ErrorCode, b []byte) {
	r.c.t.st.dropped[code] += uint64(len(b) / frame.Size)
	for i := 0; i < len(b); i += frame.Size {
		r.notice(code, (*frame.Frame)(b[i:i+frame.Size]))
	}
}

// partial refuses the incomplete frame at the end of a stream, answering
// it if answer is set.
func (r *reader) partial(b []byte, answer bool) {
	var f frame.Frame
	copy(f[:], b)
	r.c.sw.tapFrames(r.c.t.name, false, f[:])
	ss := &r.c.t.st
	ss.mu.Lock()
	ss.received++
	ss.dropped[frame.Malformed]++
	if answer {
		r.notice(frame.Malformed, &f)
	}
	ss.mu.Unlock()
	r.flush()
	r.payNotices()
}

// notice answers the rejected frame with an ERROR to its sender.
func (r *reader) notice(code frame.ErrorCode, rejected *frame.Frame) {
	r.c.sw.logRefused(r.c.t.name, code, rejected)
	frame.EncodeError(&r.scratch, code, rejected)
	r.send(&r.scratch)
}

// send queues f, a frame the switch made for the reader's own guest (an
// ERROR, a HEALTH reply). When the guest's queue has no room, f is owed:
// payNotices queues it before the guest is read again. It does not wake
// the writer.
func (r *reader) send(f *frame.Frame) {
	t := r.c.t
	if len(r.owed) == 0 {
		switch t.q.push(f, nil) {
		case pushed:
			t.notes.queued.Add(1)
			r.touch(t.q)
			return
		case pushClosed:
			t.notes.lost.Add(1) // the tenant was removed
			return
		}
	}
	r.owed = append(r.owed, *f)
}

// payNotices queues the notices owed to the reader's own guest, waiting for
// its queue to have room: only the guest can make room, by reading, and
// until it does its socket is not read. Only the connection being replaced
// or closed, or the switch stopping, ends the wait; what is still owed then
// is counted lost. A replaced connection's reader, draining what its guest
// wrote before, never waits here: otherwise a guest that reconnects without
// reading would keep every replaced connection (a goroutine, its buffers)
// alive, one per connect (issue 14's churn attack: 235 MB).
func (r *reader) payNotices() {
	t := r.c.t
	for len(r.owed) > 0 {
		if !t.q.waitNoticeRoom(r.wait, r.c.done, r.c.sw.quit) {
			t.notes.lost.Add(uint64(len(r.owed)))
			r.owed = r.owed[:0]
			return
		}
		k := 0
		for k < len(r.owed) {
			res := t.q.push(&r.owed[k], nil)
			if res == pushFull {
				break
			}
			if res == pushed {
				t.notes.queued.Add(1)
			} else {
				t.notes.lost.Add(1)
			}
			k++
		}
		rest := copy(r.owed, r.owed[k:])
		r.owed = r.owed[:rest]
		t.q.signal()
	}
}

func (r *reader) touch(q *queue) {
	for _, u := range r.touched {
		if u == q {
			return
		}
	}
	r.touched = append(r.touched, q)
}

// flush wakes the writers of the queues the batch pushed to.
func (r *reader) flush() {
	for i, q := range r.touched {
		q.signal()
		r.touched[i] = nil
	}
	r.touched = r.touched[:0]
}

// enqueueNotice queues a frame the switch made for t from a goroutine other
// than t's reader (an event), counting it as queued or lost. It never
// waits: it is lost only when t's guest has left its whole queue unread.
// It does not wake the writer.
func (t *tenant) enqueueNotice(f *frame.Frame) bool {
	if t.q.push(f, nil) == pushed {
		t.notes.queued.Add(1)
		return true
	}
	t.notes.lost.Add(1)
	return false
}
