package nic

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TAPOptions configures OpenTAP.
type TAPOptions struct {
	// VnetHdr opens the device with IFF_VNET_HDR and turns on checksum
	// offload (TUN_F_CSUM): the kernel may then hand over frames whose
	// TCP/UDP checksum is left for the receiver to complete, and Recv
	// completes it before returning the frame. Frames are sent with an
	// all-zero virtio-net header (full checksums, no GSO). TSO/UFO are not
	// enabled, so the kernel never sends GSO super-frames; one received
	// anyway is dropped and counted (Stats.RxGSO). See GSO.
	VnetHdr bool
	// GSO (implies VnetHdr) also turns on TCP and UDP segmentation offload
	// (TUN_F_TSO4|TSO6|TSO_ECN, and USO4|USO6 where the kernel has them,
	// Linux 6.2+): the kernel then sends TCP/UDP super-frames of up to
	// 64 KiB instead of segmenting them itself, and Recv cuts them into
	// MTU-sized frames with complete checksums (see gsoState), which
	// saves the kernel work per frame. Frames are still sent without GSO.
	GSO bool
	// PassThrough (implies GSO) also lets the TAP be used as a VnetNIC:
	// RecvVnet hands super-frames over whole with their virtio-net
	// header, SendVnet sends frames with the header the caller gives
	// (GSO super-frames included), so that a switch between two such TAPs
	// moves 64 KiB per system call and lets the receiving kernel
	// segment only where it must. Recv and Send behave as with GSO.
	PassThrough bool
	// MTU, if positive, is set on the device; otherwise the device keeps
	// its MTU (1500 for a new TAP).
	MTU int
	// Up brings the device up (IFF_UP) after opening it.
	Up bool
}

// TAP is a Linux TAP device (/dev/net/tun with IFF_TAP|IFF_NO_PI): frames
// the kernel sends out of the interface are received here, and frames sent
// here enter the kernel as if they arrived on the interface. The device
// exists while the TAP is open (it is not made persistent). The file
// descriptor is nonblocking and served by the Go poller, so Close unblocks
// Recv and Send.
//
// MTU reports the device's MTU when it was opened. Send refuses frames
// longer than MTU+HeaderLen; a frame the kernel refuses (for example
// EIO because the device is down) stops Send with the kernel's error.
type TAP struct {
	name  string
	mtu   int
	vnet  bool
	gsoOn bool
	pass  bool     // RecvVnet/SendVnet allowed
	gso   gsoState // a super-frame being cut up, across Recv calls
	f     *os.File
	rc    syscall.RawConn

	// Recv state, used by readFn under the poller; preallocated so that
	// Recv does not allocate.
	rbufs  [][]byte
	rsizes []int
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
	// readVnetFn is doReadVnet, for RecvVnet.
	readVnetFn func(fd uintptr) bool
	riov       [3]unix.Iovec
	rhdr       [vnetHdrLen]byte
	scratch    []byte // catches the tail of a frame longer than the caller's buffer

	// Send state, used by writeFn.
	sframes [][]byte
	sn      int
	serr    error
	writeFn func(fd uintptr) bool
	// writeVnetFn is doWriteVnet, for SendVnet.
	writeVnetFn func(fd uintptr) bool
	noWait      bool      // TrySendVnet: doWriteVnet returns on EAGAIN
	one         [1][]byte // TrySendVnet's batch
	wiov        [2]unix.Iovec
	whdr        [vnetHdrLen]byte // always zero

	closed atomic.Bool
	st     counters
}

var _ NIC = (*TAP)(nil)
var _ StatsReporter = (*TAP)(nil)

// OpenTAP creates (or attaches to) the TAP device name; an empty name or a
// pattern such as "tap%d" lets the kernel choose, and Name reports the
// result. It needs root or CAP_NET_ADMIN.
func OpenTAP(name string, opts TAPOptions) (*TAP, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("nic: open tap %q: "+format, append([]any{name}, a...)...)
	}
	if len(name) >= unix.IFNAMSIZ {
		return nil, fail("name longer than %d bytes", unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, fail("/dev/net/tun: %w (need root or CAP_NET_ADMIN)", err)
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
			return nil, fail("/dev/net/tun: %w (no tun driver: modprobe tun, or mknod /dev/net/tun c 10 200)", err)
		}
		return nil, fail("/dev/net/tun: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fail("%w", err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	opts.GSO = opts.GSO || opts.PassThrough
	opts.VnetHdr = opts.VnetHdr || opts.GSO
	if opts.VnetHdr {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		switch {
		case errors.Is(err, unix.EPERM):
			return nil, fail("TUNSETIFF: %w (need root or CAP_NET_ADMIN)", err)
		case errors.Is(err, unix.EBUSY):
			return nil, fail("TUNSETIFF: %w (already attached to another process)", err)
		case errors.Is(err, unix.EINVAL):
			return nil, fail("TUNSETIFF: %w (an interface of that name exists and is not a TAP?)", err)
		}
		return nil, fail("TUNSETIFF: %w", err)
	}
	t := &TAP{name: ifr.Name(), vnet: opts.VnetHdr, gsoOn: opts.GSO, pass: opts.PassThrough}
	switch {
	case opts.GSO:
		tso := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN
		if unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tso|unix.TUN_F_USO4|unix.TUN_F_USO6) != nil {
			if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tso); err != nil {
				return nil, fail("TUNSETOFFLOAD CSUM|TSO4|TSO6 on %s: %w", t.name, err)
			}
		}
	case opts.VnetHdr:
		// The header size defaults to sizeof(struct virtio_net_hdr) = 10.
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM); err != nil {
			return nil, fail("TUNSETOFFLOAD TUN_F_CSUM on %s: %w", t.name, err)
		}
	}
	if opts.MTU > 0 {
		if err := setIfMTU(t.name, opts.MTU); err != nil {
			return nil, fail("%s: %w", t.name, err)
		}
	}
	if t.mtu, err = ifMTU(t.name); err != nil {
		return nil, fail("%s: %w", t.name, err)
	}
	if opts.Up {
		if err := setIfUp(t.name); err != nil {
			return nil, fail("%s: %w", t.name, err)
		}
	}
	t.f = os.NewFile(uintptr(fd), "/dev/net/tun:"+t.name)
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		ok = true // t.f owns fd now
		return nil, fail("%w", err)
	}
	ok = true
	t.scratch = make([]byte, 65536+HeaderLen)
	t.readFn = t.doRead
	t.writeFn = t.doWrite
	t.readVnetFn = t.doReadVnet
	t.writeVnetFn = t.doWriteVnet
	return t, nil
}

// Name returns the device's name, as the kernel chose it.
func (t *TAP) Name() string { return t.name }

// MTU returns the device's MTU when it was opened.
func (t *TAP) MTU() int { return t.mtu }

// Stats returns the TAP's counters.
func (t *TAP) Stats() Stats { return t.st.snapshot() }

// Close closes the device (the kernel removes the interface) and unblocks
// Recv and Send.
func (t *TAP) Close() error {
	t.closed.Store(true)
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("nic: %s: close: %w", t.name, err)
	}
	return nil
}

// ioErr maps an error from the poller to one wrapping ErrClosed after
// Close, or names the device.
func ioErr(name, op string, closed *atomic.Bool, err error) error {
	if closed.Load() || errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("nic: %s: %s: %w", name, op, ErrClosed)
	}
	return fmt.Errorf("nic: %s: %s: %w", name, op, err)
}

// Recv implements NIC: it waits for one frame, then reads every frame
// already queued, up to min(len(bufs), len(sizes)).
func (t *TAP) Recv(bufs [][]byte, sizes []int) (int, error) {
	if min(len(bufs), len(sizes)) == 0 {
		return 0, nil
	}
	t.rbufs, t.rsizes, t.rn, t.rerr = bufs, sizes, 0, nil
	if t.gso.active {
		t.drainGSO()
		if t.rn == min(len(bufs), len(sizes)) {
			t.rbufs, t.rsizes = nil, nil
			return t.rn, nil
		}
	}
	return t.read(t.readFn)
}

// read waits for frames with fn (doRead or doReadVnet) and ends a Recv.
func (t *TAP) read(fn func(fd uintptr) bool) (int, error) {
	err := t.rc.Read(fn)
	n := t.rn
	t.rbufs, t.rsizes = nil, nil
	if err != nil {
		return n, ioErr(t.name, "recv", &t.closed, err)
	}
	if t.rerr != nil {
		return n, ioErr(t.name, "recv", &t.closed, t.rerr)
	}
	return n, nil
}

// readv reads one frame into iov, retrying on EINTR.
func readv(fd uintptr, iov []unix.Iovec) (int, syscall.Errno) {
	for {
		r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// readErr is rc.Read's answer to readv's error e: on EAGAIN, wait in the
// poller if nothing was delivered yet; otherwise stop with e.
func (t *TAP) readErr(e syscall.Errno) bool {
	if e == unix.EAGAIN {
		return t.rn > 0
	}
	t.rerr = e
	return true
}

func (t *TAP) doRead(fd uintptr) bool {
	limit := min(len(t.rbufs), len(t.rsizes))
	for t.rn < limit {
		buf := t.rbufs[t.rn]
		iov := t.riov[:0]
		if t.vnet {
			iov = iov[:1]
			setIovec(&iov[0], t.rhdr[:])
		}
		iov = iov[:len(iov)+2]
		setIovec(&iov[len(iov)-2], buf)
		setIovec(&iov[len(iov)-1], t.scratch)
		n, e := readv(fd, iov)
		if e != 0 {
			return t.readErr(e)
		}
		if t.vnet {
			if n < vnetHdrLen {
				t.st.rxFraming.Add(1)
				continue
			}
			n -= vnetHdrLen
		}
		if t.vnet && t.rhdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE {
			if !t.gsoOn || !t.gso.start(t.rhdr[:], buf[:min(n, len(buf))], t.scratch[:max(0, n-len(buf))]) {
				t.st.rxGSO.Add(1)
				continue
			}
			t.drainGSO()
			continue
		}
		if n > len(buf) {
			t.st.rxTooBig.Add(1)
			continue
		}
		if t.vnet && !t.st.vnet(t.rhdr[:], buf[:n]) {
			continue
		}
		t.rsizes[t.rn] = n
		t.rn++
		t.st.rx(n)
	}
	return true
}

// drainGSO moves segments of the pending super-frame into the caller's
// buffers.
func (t *TAP) drainGSO() {
	max := min(len(t.rbufs), len(t.rsizes))
	for t.gso.active && t.rn < max {
		k := t.gso.next(t.rbufs[t.rn])
		if k < 0 {
			t.st.rxTooBig.Add(1)
			continue
		}
		t.rsizes[t.rn] = k
		t.rn++
		t.st.rx(k)
	}
}

// vnet applies a received virtio-net header and counts a refused frame;
// it reports whether the frame is to be delivered.
func (c *counters) vnet(hdr, frame []byte) bool {
	switch vnetFinish(hdr, frame) {
	case vnetBadCsum:
		c.rxBadCsum.Add(1)
		return false
	case vnetGSO:
		c.rxGSO.Add(1)
		return false
	}
	return true
}

// Send implements NIC. A TAP write does not block in practice (the kernel
// drops on its side when its backlog is full, as a wire would).
func (t *TAP) Send(frames [][]byte) (int, error) {
	return t.write(frames, t.writeFn)
}

// write sends frames with fn (doWrite or doWriteVnet).
func (t *TAP) write(frames [][]byte, fn func(fd uintptr) bool) (int, error) {
	t.sframes, t.sn, t.serr = frames, 0, nil
	err := t.rc.Write(fn)
	n := t.sn
	t.sframes = nil
	if err != nil {
		return n, ioErr(t.name, "send", &t.closed, err)
	}
	return n, t.serr
}

func (t *TAP) doWrite(fd uintptr) bool {
	for t.sn < len(t.sframes) {
		f := t.sframes[t.sn]
		if len(f) > t.mtu+HeaderLen {
			t.st.txTooBig.Add(1)
			t.serr = fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", t.name, t.sn, len(f), t.mtu, HeaderLen, ErrTooBig)
			return true
		}
		var e syscall.Errno
		if t.vnet {
			setIovec(&t.wiov[0], t.whdr[:])
			setIovec(&t.wiov[1], f)
			_, _, e = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&t.wiov[0])), 2)
		} else if len(f) > 0 {
			_, _, e = unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&f[0])), uintptr(len(f)))
		} else {
			e = unix.EINVAL
		}
		switch e {
		case 0:
			t.st.tx(len(f))
			t.sn++
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			t.st.txErrors.Add(1)
			t.serr = fmt.Errorf("nic: %s: send frame %d (%d bytes): %w", t.name, t.sn, len(f), e)
			return true
		}
	}
	return true
}
