package nic

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// QEMUDgram speaks QEMU's `-netdev dgram` over unix datagram sockets: one
// datagram per frame, nothing added. QEMU binds its local path and sends to
// its remote path, so this side binds QEMU's remote path and sends to
// QEMU's local path:
//
//	qemu ... -netdev dgram,id=n0,local.type=unix,local.path=/run/vm.sock,remote.type=unix,remote.path=/run/sn.sock
//	nic.ListenQEMUDgram("/run/sn.sock", "/run/vm.sock")
//
// Datagram sockets have no connection: frames sent while nobody is bound
// at the peer's path are dropped and counted in Stats.TxNoPeer. While the
// peer's queue is full (net.unix.max_dgram_qlen datagrams), Send waits:
// the kernel wakes it as the peer consumes our datagrams (backpressure,
// no drop). Recv and
// Send are batched with recvmmsg(2) and sendmmsg(2) and served by the Go
// poller, so Close unblocks them. A datagram longer than the caller's
// buffer is dropped (Stats.RxTooBig), an empty one counts as a framing
// error.
type QEMUDgram struct {
	name   string
	mtu    int
	conn   *net.UnixConn
	rc     syscall.RawConn
	path   string // our bound path, removed by Close ("" if autobound)
	learn  bool   // send to the latest sender
	closed atomic.Bool

	peerMu  chan struct{} // 1-token semaphore guarding peer (Recv may learn it while Send uses it)
	peer    unix.RawSockaddrUnix
	peerLen uint32 // 0: no peer known

	rbufs  [][]byte
	rsizes []int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
	rmsgs  []unix.Mmsghdr
	riov   []unix.Iovec
	rnames []unix.RawSockaddrUnix

	sframes [][]byte
	sn      int
	serr    error
	writeFn func(fd uintptr) bool
	smsgs   []unix.Mmsghdr
	siov    []unix.Iovec
	speer   unix.RawSockaddrUnix // Send's copy of peer
	speerN  uint32

	st counters
}

var _ NIC = (*QEMUDgram)(nil)
var _ StatsReporter = (*QEMUDgram)(nil)

// ListenQEMUDgram binds the unix datagram socket path (removing a stale
// socket file there first) and sends frames to peerPath: for QEMU, path
// is its remote.path and peerPath its local.path. With an empty peerPath,
// frames go to whoever sent the latest datagram (nowhere before the first).
func ListenQEMUDgram(path, peerPath string, opts ...QEMUOptions) (*QEMUDgram, error) {
	return openQEMUDgram("listen", path, peerPath, opts)
}

// DialQEMUDgram sends frames to the unix datagram socket peerPath and
// receives on localPath; an empty localPath binds an autobound abstract
// address, which a peer can answer only by learning it (ListenQEMUDgram
// with an empty peerPath): QEMU itself needs a path.
func DialQEMUDgram(peerPath, localPath string, opts ...QEMUOptions) (*QEMUDgram, error) {
	if peerPath == "" {
		return nil, fmt.Errorf("nic: dial qemu dgram: empty peer path")
	}
	return openQEMUDgram("dial", localPath, peerPath, opts)
}

func openQEMUDgram(op, path, peerPath string, opts []QEMUOptions) (*QEMUDgram, error) {
	fail := func(err error) error {
		return fmt.Errorf("nic: %s qemu dgram %q -> %q: %w", op, path, peerPath, err)
	}
	mtu, err := qemuMTU(opts)
	if err != nil {
		return nil, fail(err)
	}
	d := &QEMUDgram{mtu: mtu, path: path, learn: peerPath == "", peerMu: make(chan struct{}, 1)}
	if peerPath != "" {
		if len(peerPath) >= len(d.peer.Path) {
			return nil, fail(fmt.Errorf("peer path longer than %d bytes", len(d.peer.Path)-1))
		}
		d.peer.Family = unix.AF_UNIX
		for i := range len(peerPath) {
			d.peer.Path[i] = int8(peerPath[i])
		}
		d.peerLen = uint32(2 + len(peerPath) + 1)
	}
	if path == "" {
		// Autobind: bind with an empty address gives a unique abstract name.
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fail(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{}); err != nil {
			unix.Close(fd)
			return nil, fail(err)
		}
		f := os.NewFile(uintptr(fd), "unixgram")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, fail(err)
		}
		d.conn = c.(*net.UnixConn)
	} else {
		if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(path) // as QEMU does: a datagram path cannot be probed
		}
		if d.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"}); err != nil {
			return nil, fail(err)
		}
	}
	d.name = "qemu-dgram:" + d.conn.LocalAddr().String()
	// Room for bursts: QEMU sends without waiting for us.
	_ = d.conn.SetReadBuffer(4 << 20)
	if d.rc, err = d.conn.SyscallConn(); err != nil {
		d.conn.Close()
		return nil, fail(err)
	}
	d.readFn = d.doRead
	d.writeFn = d.doWrite
	return d, nil
}

// Name returns "qemu-dgram:" and the bound path.
func (d *QEMUDgram) Name() string { return d.name }

// MTU returns the MTU from QEMUOptions (DefaultMTU).
func (d *QEMUDgram) MTU() int { return d.mtu }

// Stats returns the NIC's counters.
func (d *QEMUDgram) Stats() Stats { return d.st.snapshot() }

// Close closes the socket, removes its path and unblocks Recv and Send.
func (d *QEMUDgram) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	err := d.conn.Close()
	if d.path != "" {
		os.Remove(d.path)
	}
	if err != nil {
		return fmt.Errorf("nic: %s: close: %w", d.name, err)
	}
	return nil
}

func (d *QEMUDgram) growRecv(n int) {
	if len(d.rmsgs) >= n {
		return
	}
	d.rmsgs = make([]unix.Mmsghdr, n)
	d.riov = make([]unix.Iovec, n)
	d.rnames = make([]unix.RawSockaddrUnix, n)
}

// Recv implements NIC.
func (d *QEMUDgram) Recv(bufs [][]byte, sizes []int) (int, error) {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0, nil
	}
	d.growRecv(max)
	d.rbufs, d.rsizes, d.rn, d.rerr = bufs[:max], sizes, 0, nil
	err := d.rc.Read(d.readFn)
	n := d.rn
	d.rbufs, d.rsizes = nil, nil
	for i := range max {
		d.riov[i].Base = nil
	}
	if err != nil {
		return n, ioErr(d.name, "recv", &d.closed, err)
	}
	if d.rerr != nil {
		return n, ioErr(d.name, "recv", &d.closed, d.rerr)
	}
	return n, nil
}

func (d *QEMUDgram) doRead(fd uintptr) bool {
	for {
		want := len(d.rbufs) - d.rn
		if want == 0 {
			return true
		}
		for i := range want {
			setIovec(&d.riov[i], d.rbufs[d.rn+i])
			m := &d.rmsgs[i]
			m.Hdr = unix.Msghdr{Iov: &d.riov[i]}
			if d.learn {
				m.Hdr.Name = (*byte)(unsafe.Pointer(&d.rnames[i]))
				m.Hdr.Namelen = unix.SizeofSockaddrUnix
			}
			m.Hdr.SetIovlen(1)
			m.Len = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&d.rmsgs[0])), uintptr(want), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return d.rn > 0
		default:
			d.rerr = e
			return true
		}
		got := int(r)
		base := d.rn
		for i := range got {
			m := &d.rmsgs[i]
			n := int(m.Len)
			buf := d.rbufs[base+i]
			switch {
			case m.Hdr.Flags&unix.MSG_TRUNC != 0:
				d.st.rxTooBig.Add(1)
				continue
			case n == 0:
				d.st.rxFraming.Add(1)
				continue
			}
			if d.learn && m.Hdr.Namelen > 2 {
				d.peerMu <- struct{}{}
				d.peer, d.peerLen = d.rnames[i], m.Hdr.Namelen
				<-d.peerMu
			}
			if dst := d.rbufs[d.rn]; d.rn != base+i {
				if n > len(dst) {
					d.st.rxTooBig.Add(1)
					continue
				}
				copy(dst, buf[:n])
			}
			d.rsizes[d.rn] = n
			d.rn++
			d.st.rx(n)
		}
		if got < want {
			if d.rn > 0 {
				return true
			}
			continue
		}
	}
}

// Send implements NIC. Frames sent while nobody is bound at the peer's
// path are dropped and counted (Stats.TxNoPeer) but count as sent.
func (d *QEMUDgram) Send(frames [][]byte) (int, error) {
	d.peerMu <- struct{}{}
	d.speer, d.speerN = d.peer, d.peerLen
	<-d.peerMu
	d.sframes, d.sn, d.serr = frames, 0, nil
	err := d.rc.Write(d.writeFn)
	n := d.sn
	d.sframes = nil
	for i := range d.smsgs {
		d.siov[i].Base = nil
	}
	if err != nil {
		return n, ioErr(d.name, "send", &d.closed, err)
	}
	return n, d.serr
}

func (d *QEMUDgram) doWrite(fd uintptr) bool {
	for d.sn < len(d.sframes) {
		batch := d.sframes[d.sn:]
		for i, f := range batch {
			if len(f) > d.mtu+HeaderLen {
				batch = batch[:i]
				break
			}
		}
		if len(batch) == 0 {
			f := d.sframes[d.sn]
			d.st.txTooBig.Add(1)
			d.serr = fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", d.name, d.sn, len(f), d.mtu, HeaderLen, ErrTooBig)
			return true
		}
		if d.speerN == 0 {
			d.st.txNoPeer.Add(uint64(len(batch)))
			d.sn += len(batch)
			continue
		}
		if len(d.smsgs) < len(batch) {
			d.smsgs = make([]unix.Mmsghdr, len(batch))
			d.siov = make([]unix.Iovec, len(batch))
		}
		for i, f := range batch {
			setIovec(&d.siov[i], f)
			m := &d.smsgs[i]
			m.Hdr = unix.Msghdr{
				Name:    (*byte)(unsafe.Pointer(&d.speer)),
				Namelen: d.speerN,
				Iov:     &d.siov[i],
			}
			m.Hdr.SetIovlen(1)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&d.smsgs[0])), uintptr(len(batch)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // the peer's queue is full: wait (backpressure)
		case unix.ECONNREFUSED, unix.ENOENT:
			// Nobody bound at the peer's path (yet): drop, as a wire would.
			d.st.txNoPeer.Add(1)
			d.sn++
			continue
		default:
			f := d.sframes[d.sn]
			d.st.txErrors.Add(1)
			d.serr = fmt.Errorf("nic: %s: send frame %d (%d bytes): %w", d.name, d.sn, len(f), e)
			return true
		}
		for _, f := range batch[:r] {
			d.st.tx(len(f))
		}
		d.sn += int(r)
	}
	return true
}
