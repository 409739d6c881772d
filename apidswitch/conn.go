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

	"spacenet/ccsds"
	"spacenet/frame"
	"spacenet/router"
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
	retired    atomic.Bool   // replaced by a newer connection of the tenant
	finish     chan struct{} // closed when the guest stopped sending: write what is queued, then end
	writerDone chan struct{} // closed when the writer has returned

	// For queue.forward's direct writes, used with the queue's lock held.
	raw      syscall.RawConn
	directFn func(fd uintptr) bool // c.directWrite, made once
	dbuf     []byte
	dn       int

	sub sync.Mutex // guards subAPID
	// subAPID is the APID a guest subscribed to events from (0: not
	// subscribed); notifications are addressed to it.
	subAPID frame.APID
}

// writeDirect writes as much of b as the socket takes without blocking and
// returns how many bytes that was. The caller holds the queue's lock.
func (c *conn) writeDirect(b []byte) int {
	c.dbuf, c.dn = b, 0
	if err := c.raw.Write(c.directFn); err != nil {
		c.dn = 0
	}
	c.dbuf = nil
	return c.dn
}

// directWrite is the non-blocking write itself: one attempt, never waiting
// for the socket to become writable.
func (c *conn) directWrite(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), c.dbuf)
		if err == syscall.EINTR {
			continue
		}
		if n > 0 {
			c.dn = n
		}
		return true
	}
}

// stop ends the writer; the socket stays open.
func (c *conn) stop() { c.stopOnce.Do(func() { close(c.done) }) }

// close ends the writer and closes the socket.
func (c *conn) close() {
	c.stop()
	c.closeOnce.Do(func() { c.uc.Close() })
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
	c.uc.SetWriteDeadline(past) // unblocks a writer stuck on a guest that does not read
	c.uc.SetReadDeadline(past)  // unblocks the reader, which then drains
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
		total := rem + n
		whole := total - total%frame.Size
		if whole > 0 {
			r.process(buf[:whole])
		}
		rem = copy(buf, buf[whole:total])
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
	finishing := false
	for {
		b := q.peek(batch)
		if b == nil {
			if finishing {
				return
			}
			select {
			case <-q.wake:
			case <-c.finish:
				finishing = true
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
			c.close()
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
	r := reader{c: c, touched: make([]*queue, 0, 8)}
	rem := 0
	var err error
	for {
		var n int
		n, err = c.uc.Read(buf[rem:])
		total := rem + n
		whole := total - total%frame.Size
		if whole > 0 {
			r.process(buf[:whole])
		}
		rem = copy(buf, buf[whole:total])
		if err != nil {
			break
		}
	}
	if c.retired.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		rem, err = c.drain(&r, buf, rem)
	}
	if rem > 0 {
		// Answered only at a clean end of stream: after any other error
		// the connection is gone (reset, replaced, switch stopping).
		r.partial(buf[:rem], errors.Is(err, io.EOF))
	}
	if errors.Is(err, io.EOF) {
		// The guest closed its sending side: it may still read what is
		// queued for it (the ERROR for its partial frame, say).
		c.uc.SetWriteDeadline(time.Now().Add(flushTimeout))
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

	// The last routing decision and the header it was for (payload_length
	// masked out): Route is a pure function of the sender, the header and
	// the table, so a frame whose header equals the previous one's (a burst
	// from one APID to one destination) reuses the decision. Reset when the
	// state changes.
	lastKey uint64
	lastOK  bool
	last    router.Decision
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
// lock is released (around calls to the system handler and the uplink).
func (r *reader) process(b []byte) {
	c := r.c
	s := c.sw
	t := c.t
	if st := s.state.Load(); st != r.st {
		r.st = st
		r.lastOK = false
		r.idx = -1
		if i, ok := st.index[t]; ok {
			r.idx = i
		}
	}
	st := r.st
	ss := &t.st
	ss.mu.Lock()
	// A run of consecutive frames for the same tenant is forwarded with one
	// write (or queued together).
	var run *tenant
	runStart := 0
	for off := 0; off < len(b); off += frame.Size {
		f := (*frame.Frame)(b[off : off+frame.Size])
		ss.received++
		if r.idx < 0 {
			r.forward(run, b[runStart:off])
			run = nil
			ss.dropped[frame.NoRoute]++
			r.notice(frame.NoRoute, f)
			continue
		}
		d := r.route(f)
		if d.Action == router.Local {
			f.ZeroPadding()
			dst := st.tenants[d.Tenant]
			if dst != run {
				r.forward(run, b[runStart:off])
				run, runStart = dst, off
			}
			continue
		}
		r.forward(run, b[runStart:off])
		run = nil
		switch d.Action {
		case router.System:
			ss.deliveredSystem++
			ss.mu.Unlock()
			s.system(r, f)
			ss.mu.Lock()
		case router.Uplink:
			ss.deliveredUplink++
			ss.mu.Unlock()
			err := s.sendUplink(t.name, f)
			ss.mu.Lock()
			if err != nil {
				ss.deliveredUplink--
				ss.dropped[frame.NoRoute]++
				r.notice(frame.NoRoute, f)
			}
		default:
			code := d.Code
			if !code.Known() {
				code = frame.Malformed
			}
			ss.dropped[code]++
			r.notice(code, f)
		}
	}
	r.forward(run, b[runStart:])
	ss.mu.Unlock()
	r.flush()
}

// forward hands a run of frames for tenant dst to its queue (which writes
// them straight to the connection if it can) and counts them; the sender's
// lock is held. Refused frames are answered.
func (r *reader) forward(dst *tenant, b []byte) {
	if dst == nil || len(b) == 0 {
		return
	}
	ss := &r.c.t.st
	written, queued, full, closed := dst.q.forward(b, ss)
	ss.delivered += uint64(written)
	ss.queued += uint64(queued)
	if queued > 0 {
		r.touch(dst.q)
	}
	if full+closed > 0 {
		// The refused frames are the last ones of the run.
		code, n := frame.HostBusy, full
		if closed > 0 {
			code, n = frame.NoRoute, closed
		}
		ss.dropped[code] += uint64(n)
		for i := len(b)/frame.Size - n; i < len(b)/frame.Size; i++ {
			r.notice(code, (*frame.Frame)(b[i*frame.Size:(i+1)*frame.Size]))
		}
	}
}

// partial refuses the incomplete frame at the end of a stream, answering
// it if answer is set.
func (r *reader) partial(b []byte, answer bool) {
	var f frame.Frame
	copy(f[:], b)
	ss := &r.c.t.st
	ss.mu.Lock()
	ss.received++
	ss.dropped[frame.Malformed]++
	if answer {
		r.notice(frame.Malformed, &f)
	}
	ss.mu.Unlock()
	r.flush()
}

// notice queues an ERROR frame for the sender.
func (r *reader) notice(code frame.ErrorCode, rejected *frame.Frame) {
	frame.EncodeError(&r.scratch, code, rejected)
	if r.c.t.enqueueNotice(&r.scratch) {
		r.touch(r.c.t.q)
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

// enqueueNotice queues a frame the switch made for t, counting it as queued
// or lost. It does not wake the writer.
func (t *tenant) enqueueNotice(f *frame.Frame) bool {
	if t.q.push(f, nil) == pushed {
		t.notes.queued.Add(1)
		return true
	}
	t.notes.lost.Add(1)
	return false
}

// sendUplink wraps f, sent by tenant from, as a Space Packet and gives it
// to the uplink.
func (s *Switch) sendUplink(from string, f *frame.Frame) error {
	if s.cfg.Uplink == nil {
		return errNoUplink
	}
	s.uplinkMu.Lock()
	n, err := ccsds.Wrap(s.uplinkPkt[:], f, s.uplinkSeq.Next(f.APID()))
	if err == nil {
		err = s.cfg.Uplink.SendPacket(s.uplinkPkt[:n])
	}
	s.uplinkMu.Unlock()
	if err != nil {
		n := s.uplinkFailures.Add(1)
		if k, ok := s.logLimit.Allow(from, logUplinkRefused); ok {
			s.log.Warn("uplink refused a packet", "tenant", from, "apid", f.APID(), "failures", n, "err", err, "suppressed", k)
		}
	}
	return err
}

var errNoUplink = errors.New("apidswitch: no uplink configured")
