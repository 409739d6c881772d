package nic

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Packet is an AF_PACKET socket bound to one existing interface: it
// receives every frame the interface receives (the socket turns on
// promiscuous mode for as long as it is open) and sends frames out of the
// interface as if the host transmitted them. Frames the host itself sends
// on the interface, including this socket's own, are not received
// (PACKET_IGNORE_OUTGOING, and a check of the packet type on older kernels).
//
// Recv and Send are batched with recvmmsg(2) and sendmmsg(2); the socket is
// served by the Go poller, so Close unblocks them. The socket uses
// PACKET_VNET_HDR so that a frame whose TCP/UDP checksum the kernel left
// for the hardware (CHECKSUM_PARTIAL: typical on veth and on frames the host
// sends) is completed before Recv returns it. GRO/GSO super-frames (up to
// 64 KiB, made by the kernel's receive offloads or a veth peer's TSO/USO)
// are cut into MTU-sized frames (see gsoState) — except the first one,
// which arrives truncated in an MTU-sized buffer and is dropped and
// counted in Stats.RxGSO: from then on the socket reads one frame per
// recvmmsg with a 64 KiB overflow buffer, so the next super-frames arrive
// whole (TCP retransmits the lost one). Unsupported super-frames (UFO, IPv6
// extension headers, VLAN) are dropped and counted in Stats.RxGSO too.
// 802.1Q tags that the interface strips in hardware are not restored.
//
// MTU reports the interface's MTU when it was opened. It needs root or
// CAP_NET_RAW.
type Packet struct {
	name    string
	ifindex int
	mtu     int
	f       *os.File
	rc      syscall.RawConn
	closed  atomic.Bool

	// Recv state (see TAP): one message per caller buffer, each with a
	// virtio-net header vector and the caller's buffer, and the sender's
	// address to see the packet type.
	rbufs   [][]byte
	rsizes  []int
	rn      int
	rerr    error
	readFn  func(fd uintptr) bool
	rmsgs   []unix.Mmsghdr
	riov    []unix.Iovec
	rhdrs   []byte
	rnames  []unix.RawSockaddrLinklayer
	ignored bool // the kernel honours PACKET_IGNORE_OUTGOING

	// After the first GSO super-frame (lost: counted in RxGSO), Recv
	// reads one frame per recvmmsg with an overflow vector, so that the
	// next super-frames arrive whole and are segmented (see gsoState).
	gsoMode bool
	gso     gsoState
	giov    [3]unix.Iovec
	scratch []byte

	// Send state.
	sframes [][]byte
	sn      int
	serr    error
	writeFn func(fd uintptr) bool
	smsgs   []unix.Mmsghdr
	siov    []unix.Iovec
	shdr    [vnetHdrLen]byte // always zero

	st counters
}

var _ NIC = (*Packet)(nil)
var _ StatsReporter = (*Packet)(nil)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenPacket opens an AF_PACKET socket on the existing interface ifname.
func OpenPacket(ifname string) (*Packet, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("nic: open packet %q: "+format, append([]any{ifname}, a...)...)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fail("no such interface (%w)", err)
	}
	// Protocol 0 receives nothing until bind names the interface, so no
	// frame of another interface slips in.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fail("socket(AF_PACKET): %w (need root or CAP_NET_RAW)", err)
		}
		return nil, fail("socket(AF_PACKET): %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	p := &Packet{name: ifi.Name, ifindex: ifi.Index, mtu: ifi.MTU}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return nil, fail("PACKET_VNET_HDR: %w", err)
	}
	p.ignored = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1) == nil
	mreq := &unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		return nil, fail("promiscuous mode: %w", err)
	}
	// A larger receive buffer absorbs bursts: beyond net.core.rmem_max if
	// we may (root), else up to it. Drops are counted (Stats.RxKernel).
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return nil, fail("bind: %w", err)
	}
	p.f = os.NewFile(uintptr(fd), "packet:"+p.name)
	ok = true
	if p.rc, err = p.f.SyscallConn(); err != nil {
		p.f.Close()
		return nil, fail("%w", err)
	}
	p.readFn = p.doRead
	p.writeFn = p.doWrite
	return p, nil
}

// Name returns the interface's name.
func (p *Packet) Name() string { return p.name }

// MTU returns the interface's MTU when the socket was opened.
func (p *Packet) MTU() int { return p.mtu }

// Stats returns the socket's counters, including the frames the kernel
// dropped because the socket's buffer was full (PACKET_STATISTICS).
func (p *Packet) Stats() Stats {
	p.rc.Control(func(fd uintptr) {
		if ts, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			p.st.rxKernel.Add(uint64(ts.Drops)) // the kernel resets them on read
		}
	})
	return p.st.snapshot()
}

// Close closes the socket (leaving promiscuous mode) and unblocks Recv and
// Send.
func (p *Packet) Close() error {
	p.closed.Store(true)
	if err := p.f.Close(); err != nil {
		return fmt.Errorf("nic: %s: close: %w", p.name, err)
	}
	return nil
}

// grow makes room for n receive messages; it allocates only when a caller
// passes more buffers than ever before.
func (p *Packet) growRecv(n int) {
	if len(p.rmsgs) >= n {
		return
	}
	p.rmsgs = make([]unix.Mmsghdr, n)
	p.riov = make([]unix.Iovec, 2*n)
	p.rhdrs = make([]byte, vnetHdrLen*n)
	p.rnames = make([]unix.RawSockaddrLinklayer, n)
	for i := range p.rmsgs {
		setIovec(&p.riov[2*i], p.rhdrs[i*vnetHdrLen:(i+1)*vnetHdrLen])
	}
}

// Recv implements NIC: it waits for one frame, then takes every frame
// queued, up to min(len(bufs), len(sizes)), with one recvmmsg.
func (p *Packet) Recv(bufs [][]byte, sizes []int) (int, error) {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0, nil
	}
	p.growRecv(max)
	p.rbufs, p.rsizes, p.rn, p.rerr = bufs[:max], sizes, 0, nil
	if p.gso.active {
		p.drainGSO()
		if p.rn == max {
			p.rbufs, p.rsizes = nil, nil
			return max, nil
		}
	}
	err := p.rc.Read(p.readFn)
	n := p.rn
	p.rbufs, p.rsizes = nil, nil
	for i := range max {
		p.riov[2*i+1].Base = nil // do not keep the caller's buffers alive
	}
	p.giov[1].Base = nil
	if err != nil {
		return n, ioErr(p.name, "recv", &p.closed, err)
	}
	if p.rerr != nil {
		return n, ioErr(p.name, "recv", &p.closed, p.rerr)
	}
	return n, nil
}

func (p *Packet) doRead(fd uintptr) bool {
	if p.gsoMode {
		return p.doReadGSO(fd)
	}
	for {
		want := len(p.rbufs) - p.rn
		if want == 0 {
			return true
		}
		for i := range want {
			m := &p.rmsgs[i]
			setIovec(&p.riov[2*i+1], p.rbufs[p.rn+i])
			m.Hdr = unix.Msghdr{
				Name:    (*byte)(unsafe.Pointer(&p.rnames[i])),
				Namelen: unix.SizeofSockaddrLinklayer,
				Iov:     &p.riov[2*i],
			}
			m.Hdr.SetIovlen(2)
			m.Len = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&p.rmsgs[0])), uintptr(want), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return p.rn > 0
		default:
			p.rerr = e
			return true
		}
		got := int(r)
		base := p.rn
		for i := range got {
			m := &p.rmsgs[i]
			if !p.ignored && p.rnames[i].Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			n := int(m.Len)
			if n < vnetHdrLen {
				p.st.rxFraming.Add(1)
				continue
			}
			n -= vnetHdrLen
			buf := p.rbufs[base+i]
			hdr := p.rhdrs[i*vnetHdrLen : (i+1)*vnetHdrLen]
			if hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE {
				// Usually truncated too: count it as what it is, and
				// read whole super-frames from now on.
				p.st.rxGSO.Add(1)
				p.gsoMode = true
				continue
			}
			if m.Hdr.Flags&unix.MSG_TRUNC != 0 || n > len(buf) {
				p.st.rxTooBig.Add(1)
				continue
			}
			if !p.st.vnet(hdr, buf[:n]) {
				continue
			}
			// Compact: frame i landed in buffer base+i; move it down if
			// an earlier one was dropped.
			// With buffers of unequal sizes the earlier one may be too
			// short: then the frame counts as too big.
			if dst := p.rbufs[p.rn]; p.rn != base+i {
				if n > len(dst) {
					p.st.rxTooBig.Add(1)
					continue
				}
				copy(dst, buf[:n])
			}
			p.rsizes[p.rn] = n
			p.rn++
			p.st.rx(n)
		}
		if got < want {
			if p.rn > 0 {
				return true
			}
			continue // all dropped: try again (EAGAIN lets the poller wait)
		}
	}
}

// doReadGSO is doRead in GSO mode: one frame per recvmmsg, into the
// caller's buffer and on into scratch, so that a super-frame arrives whole.
func (p *Packet) doReadGSO(fd uintptr) bool {
	if p.scratch == nil {
		p.scratch = make([]byte, 65536+HeaderLen)
	}
	limit := len(p.rbufs)
	hdr := p.rhdrs[:vnetHdrLen]
	for p.rn < limit {
		buf := p.rbufs[p.rn]
		setIovec(&p.giov[0], hdr)
		setIovec(&p.giov[1], buf)
		setIovec(&p.giov[2], p.scratch)
		m := &p.rmsgs[0]
		m.Hdr = unix.Msghdr{
			Name:    (*byte)(unsafe.Pointer(&p.rnames[0])),
			Namelen: unix.SizeofSockaddrLinklayer,
			Iov:     &p.giov[0],
		}
		m.Hdr.SetIovlen(3)
		m.Len = 0
		_, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(m)), 1, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return p.rn > 0
		default:
			p.rerr = e
			return true
		}
		if !p.ignored && p.rnames[0].Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		n := int(m.Len)
		if n < vnetHdrLen {
			p.st.rxFraming.Add(1)
			continue
		}
		n -= vnetHdrLen
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.st.rxTooBig.Add(1)
			continue
		}
		if hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE {
			if !p.gso.start(hdr, buf[:min(n, len(buf))], p.scratch[:max(0, n-len(buf))]) {
				p.st.rxGSO.Add(1)
				continue
			}
			p.drainGSO()
			continue
		}
		if n > len(buf) {
			p.st.rxTooBig.Add(1)
			continue
		}
		if !p.st.vnet(hdr, buf[:n]) {
			continue
		}
		p.rsizes[p.rn] = n
		p.rn++
		p.st.rx(n)
	}
	return true
}

// drainGSO moves segments of the pending super-frame into the caller's
// buffers.
func (p *Packet) drainGSO() {
	for p.gso.active && p.rn < len(p.rbufs) {
		k := p.gso.next(p.rbufs[p.rn])
		if k < 0 {
			p.st.rxTooBig.Add(1)
			continue
		}
		p.rsizes[p.rn] = k
		p.rn++
		p.st.rx(k)
	}
}

// Send implements NIC: it sends the frames with sendmmsg, waiting while the
// socket's send buffer is full.
func (p *Packet) Send(frames [][]byte) (int, error) {
	p.sframes, p.sn, p.serr = frames, 0, nil
	err := p.rc.Write(p.writeFn)
	n := p.sn
	p.sframes = nil
	for i := range p.smsgs {
		p.siov[2*i+1].Base = nil
	}
	if err != nil {
		return n, ioErr(p.name, "send", &p.closed, err)
	}
	return n, p.serr
}

func (p *Packet) doWrite(fd uintptr) bool {
	for p.sn < len(p.sframes) {
		// The frames to send: up to the first that is too big.
		batch := p.sframes[p.sn:]
		for i, f := range batch {
			if len(f) > p.mtu+HeaderLen {
				batch = batch[:i]
				break
			}
		}
		if len(batch) == 0 {
			f := p.sframes[p.sn]
			p.st.txTooBig.Add(1)
			p.serr = fmt.Errorf("nic: %s: send frame %d: %d bytes > MTU %d + %d: %w", p.name, p.sn, len(f), p.mtu, HeaderLen, ErrTooBig)
			return true
		}
		if len(p.smsgs) < len(batch) {
			p.smsgs = make([]unix.Mmsghdr, len(batch))
			p.siov = make([]unix.Iovec, 2*len(batch))
		}
		for i, f := range batch {
			setIovec(&p.siov[2*i], p.shdr[:])
			setIovec(&p.siov[2*i+1], f)
			m := &p.smsgs[i]
			m.Hdr = unix.Msghdr{Iov: &p.siov[2*i]}
			m.Hdr.SetIovlen(2)
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&p.smsgs[0])), uintptr(len(batch)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.ENOBUFS:
			return false
		default:
			f := p.sframes[p.sn]
			p.st.txErrors.Add(1)
			p.serr = fmt.Errorf("nic: %s: send frame %d (%d bytes): %w", p.name, p.sn, len(f), e)
			return true
		}
		for _, f := range batch[:r] {
			p.st.tx(len(f))
		}
		p.sn += int(r)
	}
	return true
}
