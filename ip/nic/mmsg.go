package nic

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgIO is the batched datagram I/O that Packet and QEMUDgram share:
// recvmmsg(2) and sendmmsg(2) over a socket served by the Go poller, one
// message per frame. Each message has stride iovecs, the frame's last: the
// ones before it (Packet's virtio-net header) are the adapter's to set
// (after growRecv) or hdr (on send). A is the socket's address type.
//
// Its slices grow only when a caller passes more buffers or frames than
// ever before, so Recv and Send do not allocate per frame.
type mmsgIO[A any] struct {
	name   string
	mtu    int
	rc     syscall.RawConn
	closed *atomic.Bool
	st     *counters
	stride int  // iovecs per message, the frame's last
	names  bool // receive each sender's address into rnames

	// accept checks message i of a recvmmsg, received into buf, counting
	// it if refused; it returns the frame's length. Accepted frames are
	// compacted into the caller's buffers and counted by mmsgIO.
	accept func(i int, m *unix.Mmsghdr, buf []byte) (int, bool)

	rbufs  [][]byte
	rsizes []int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool // rc.Read's function: readBatch unless the adapter wraps it
	rmsgs  []unix.Mmsghdr
	riov   []unix.Iovec
	rnames []A

	// Send state. With toPeer, frames go to speer (speerN bytes; 0: no
	// peer known, frames dropped and counted TxNoPeer, as are those the
	// kernel finds nobody for); otherwise ENOBUFS waits as EAGAIN does.
	hdr     []byte // sent before each frame, or nil (stride 1)
	toPeer  bool
	speer   A
	speerN  uint32
	sframes [][]byte
	sn      int
	serr    error
	writeFn func(fd uintptr) bool
	smsgs   []unix.Mmsghdr
	siov    []unix.Iovec
}

// init sets what the adapter's opening decided.
func (m *mmsgIO[A]) init(name string, mtu int, rc syscall.RawConn, closed *atomic.Bool, st *counters) {
	m.name, m.mtu, m.rc, m.closed, m.st = name, mtu, rc, closed, st
	m.readFn = m.readBatch
	m.writeFn = m.writeBatch
}

// growRecv makes room for n receive messages (the adapter then sets its
// iovecs before the frame's when rmsgs grew).
func (m *mmsgIO[A]) growRecv(n int) {
	if len(m.rmsgs) >= n {
		return
	}
	m.rmsgs = make([]unix.Mmsghdr, n)
	m.riov = make([]unix.Iovec, m.stride*n)
	m.rnames = make([]A, n)
}

// beginRecv prepares to receive into bufs and returns how many frames
// may be received (0: nothing to do).
func (m *mmsgIO[A]) beginRecv(bufs [][]byte, sizes []int) int {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0
	}
	m.growRecv(max)
	m.rbufs, m.rsizes, m.rn, m.rerr = bufs[:max], sizes, 0, nil
	return max
}

// recv waits for frames with readFn and ends the Recv begun by beginRecv.
func (m *mmsgIO[A]) recv() (int, error) {
	err := m.rc.Read(m.readFn)
	n := m.rn
	for i := range len(m.rbufs) {
		m.riov[m.stride*i+m.stride-1].Base = nil // do not keep the caller's buffers alive
	}
	m.rbufs, m.rsizes = nil, nil
	if err != nil {
		return n, ioErr(m.name, "recv", m.closed, err)
	}
	if m.rerr != nil {
		return n, ioErr(m.name, "recv", m.closed, m.rerr)
	}
	return n, nil
}

// recvmmsg receives up to n messages into msgs, retrying on EINTR.
func recvmmsg(fd uintptr, msgs *unix.Mmsghdr, n int) (int, syscall.Errno) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(msgs)), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// recvErr is rc.Read's answer to recvmmsg's error e: on EAGAIN, wait in
// the poller if nothing was received yet; otherwise stop with e.
func (m *mmsgIO[A]) recvErr(e syscall.Errno) bool {
	if e == unix.EAGAIN {
		return m.rn > 0
	}
	m.rerr = e
	return true
}

// setMsg points message i at its iovecs (and its address buffer, with
// names) for recvmmsg.
func (m *mmsgIO[A]) setMsg(i int, iov *unix.Iovec, iovlen int) *unix.Mmsghdr {
	msg := &m.rmsgs[i]
	msg.Hdr = unix.Msghdr{Iov: iov}
	if m.names {
		msg.Hdr.Name = (*byte)(unsafe.Pointer(&m.rnames[i]))
		msg.Hdr.Namelen = uint32(unsafe.Sizeof(m.rnames[i]))
	}
	msg.Hdr.SetIovlen(iovlen)
	msg.Len = 0
	return msg
}

// readBatch is rc.Read's function: it fills the caller's buffers with one
// recvmmsg after another until they are full or the socket is empty.
func (m *mmsgIO[A]) readBatch(fd uintptr) bool {
	for {
		want := len(m.rbufs) - m.rn
		if want == 0 {
			return true
		}
		for i := range want {
			setIovec(&m.riov[m.stride*i+m.stride-1], m.rbufs[m.rn+i])
			m.setMsg(i, &m.riov[m.stride*i], m.stride)
		}
		got, e := recvmmsg(fd, &m.rmsgs[0], want)
		if e != 0 {
			return m.recvErr(e)
		}
		base := m.rn
		for i := range got {
			buf := m.rbufs[base+i]
			n, ok := m.accept(i, &m.rmsgs[i], buf)
			if !ok {
				continue
			}
			// Compact: frame i landed in buffer base+i; move it down if
			// an earlier one was dropped.
			// With buffers of unequal sizes the earlier one may be too
			// short: then the frame counts as too big.
			if dst := m.rbufs[m.rn]; m.rn != base+i {
				if n > len(dst) {
					m.st.rxTooBig.Add(1)
					continue
				}
				copy(dst, buf[:n])
			}
			m.deliver(n)
		}
		if got < want {
			if m.rn > 0 {
				return true
			}
			continue // all dropped: try again (EAGAIN lets the poller wait)
		}
	}
}

// deliver records an n-byte frame in the next caller's buffer.
func (m *mmsgIO[A]) deliver(n int) {
	m.rsizes[m.rn] = n
	m.rn++
	m.st.rx(n)
}

// send sends frames with writeFn, waiting while the socket cannot take
// them.
func (m *mmsgIO[A]) send(frames [][]byte) (int, error) {
	m.sframes, m.sn, m.serr = frames, 0, nil
	err := m.rc.Write(m.writeFn)
	n := m.sn
	m.sframes = nil
	for i := range m.smsgs {
		m.siov[m.stride*i+m.stride-1].Base = nil
	}
	if err != nil {
		return n, ioErr(m.name, "send", m.closed, err)
	}
	return n, m.serr
}

// writeBatch is rc.Write's function: one sendmmsg after another, each up
// to the next frame that is too big.
func (m *mmsgIO[A]) writeBatch(fd uintptr) bool {
	for m.sn < len(m.sframes) {
		batch := m.sframes[m.sn:]
		for i, f := range batch {
			if len(f) > m.mtu+HeaderLen {
				batch = batch[:i]
				break
			}
		}
		if len(batch) == 0 {
			f := m.sframes[m.sn]
			m.st.txTooBig.Add(1)
			m.serr = fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", m.name, m.sn, len(f), m.mtu, HeaderLen, ErrTooBig)
			return true
		}
		if m.toPeer && m.speerN == 0 {
			m.st.txNoPeer.Add(uint64(len(batch)))
			m.sn += len(batch)
			continue
		}
		if len(m.smsgs) < len(batch) {
			m.smsgs = make([]unix.Mmsghdr, len(batch))
			m.siov = make([]unix.Iovec, m.stride*len(batch))
		}
		for i, f := range batch {
			iov := m.siov[m.stride*i : m.stride*(i+1)]
			if m.hdr != nil {
				setIovec(&iov[0], m.hdr)
			}
			setIovec(&iov[len(iov)-1], f)
			msg := &m.smsgs[i]
			msg.Hdr = unix.Msghdr{Iov: &iov[0]}
			if m.toPeer {
				msg.Hdr.Name = (*byte)(unsafe.Pointer(&m.speer))
				msg.Hdr.Namelen = m.speerN
			}
			msg.Hdr.SetIovlen(m.stride)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.smsgs[0])), uintptr(len(batch)), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case e == 0:
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN, e == unix.ENOBUFS && !m.toPeer:
			return false // the socket's (or the peer's) queue is full: wait
		case m.toPeer && (e == unix.ECONNREFUSED || e == unix.ENOENT):
			// Nobody bound at the peer's path (yet): drop, as a wire would.
			m.st.txNoPeer.Add(1)
			m.sn++
			continue
		default:
			f := m.sframes[m.sn]
			m.st.txErrors.Add(1)
			m.serr = fmt.Errorf("nic: %s: send frame %d (%d bytes): %w", m.name, m.sn, len(f), e)
			return true
		}
		for _, f := range batch[:r] {
			m.st.tx(len(f))
		}
		m.sn += int(r)
	}
	return true
}
