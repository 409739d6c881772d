package nic

import (
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"

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

	io mmsgIO[unix.RawSockaddrUnix] // io.speer: Send's copy of peer

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
	d.io.init(d.name, d.mtu, d.rc, &d.closed, &d.st)
	d.io.stride, d.io.names, d.io.toPeer = 1, d.learn, true
	d.io.accept = d.accept
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

// Recv implements NIC.
func (d *QEMUDgram) Recv(bufs [][]byte, sizes []int) (int, error) {
	if d.io.beginRecv(bufs, sizes) == 0 {
		return 0, nil
	}
	return d.io.recv()
}

// accept checks message i of a batch (mmsgIO.accept) and learns its
// sender as the peer if asked to.
func (d *QEMUDgram) accept(i int, m *unix.Mmsghdr, _ []byte) (int, bool) {
	switch {
	case m.Hdr.Flags&unix.MSG_TRUNC != 0:
		d.st.rxTooBig.Add(1)
		return 0, false
	case m.Len == 0:
		d.st.rxFraming.Add(1)
		return 0, false
	}
	if d.learn && m.Hdr.Namelen > 2 {
		d.peerMu <- struct{}{}
		d.peer, d.peerLen = d.io.rnames[i], m.Hdr.Namelen
		<-d.peerMu
	}
	return int(m.Len), true
}

// Send implements NIC. Frames sent while nobody is bound at the peer's
// path are dropped and counted (Stats.TxNoPeer) but count as sent.
func (d *QEMUDgram) Send(frames [][]byte) (int, error) {
	d.peerMu <- struct{}{}
	d.io.speer, d.io.speerN = d.peer, d.peerLen
	<-d.peerMu
	return d.io.send(frames)
}
