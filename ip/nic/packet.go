package nic

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"

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

	// Batched I/O: each message has a virtio-net header vector (rhdrs on
	// receive, all zero on send) before the frame's, and the sender's
	// address to see the packet type.
	io      mmsgIO[unix.RawSockaddrLinklayer]
	rhdrs   []byte
	ignored bool // the kernel honours PACKET_IGNORE_OUTGOING

	// After the first GSO super-frame (lost: counted in RxGSO), Recv
	// reads one frame per recvmmsg with an overflow vector, so that the
	// next super-frames arrive whole and are segmented (see gsoState).
	gsoMode bool
	gso     gsoState
	giov    [3]unix.Iovec
	scratch []byte

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
	p.io.init(p.name, p.mtu, p.rc, &p.closed, &p.st)
	p.io.stride, p.io.names, p.io.hdr = 2, true, make([]byte, vnetHdrLen)
	p.io.accept = p.accept
	p.io.readFn = p.doRead
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

// Recv implements NIC: it waits for one frame, then takes every frame
// queued, up to min(len(bufs), len(sizes)), with one recvmmsg.
func (p *Packet) Recv(bufs [][]byte, sizes []int) (int, error) {
	max := p.io.beginRecv(bufs, sizes)
	if max == 0 {
		return 0, nil
	}
	if len(p.rhdrs) < vnetHdrLen*len(p.io.rmsgs) {
		p.rhdrs = make([]byte, vnetHdrLen*len(p.io.rmsgs))
		for i := range p.io.rmsgs {
			setIovec(&p.io.riov[2*i], p.rhdrs[i*vnetHdrLen:(i+1)*vnetHdrLen])
		}
	}
	if p.gso.active {
		p.drainGSO()
		if p.io.rn == max {
			p.io.rbufs, p.io.rsizes = nil, nil
			return max, nil
		}
	}
	n, err := p.io.recv()
	p.giov[1].Base = nil
	return n, err
}

func (p *Packet) doRead(fd uintptr) bool {
	if p.gsoMode {
		return p.doReadGSO(fd)
	}
	return p.io.readBatch(fd)
}

// accept checks message i of a batch (mmsgIO.accept): its packet type,
// virtio-net header and length.
func (p *Packet) accept(i int, m *unix.Mmsghdr, buf []byte) (int, bool) {
	if !p.ignored && p.io.rnames[i].Pkttype == unix.PACKET_OUTGOING {
		return 0, false
	}
	n := int(m.Len)
	if n < vnetHdrLen {
		p.st.rxFraming.Add(1)
		return 0, false
	}
	n -= vnetHdrLen
	hdr := p.rhdrs[i*vnetHdrLen : (i+1)*vnetHdrLen]
	if hdr[1]&^unix.VIRTIO_NET_HDR_GSO_ECN != unix.VIRTIO_NET_HDR_GSO_NONE {
		// Usually truncated too: count it as what it is, and
		// read whole super-frames from now on.
		p.st.rxGSO.Add(1)
		p.gsoMode = true
		return 0, false
	}
	if m.Hdr.Flags&unix.MSG_TRUNC != 0 || n > len(buf) {
		p.st.rxTooBig.Add(1)
		return 0, false
	}
	if !p.st.vnet(hdr, buf[:n]) {
		return 0, false
	}
	return n, true
}

// doReadGSO is doRead in GSO mode: one frame per recvmmsg, into the
// caller's buffer and on into scratch, so that a super-frame arrives whole.
func (p *Packet) doReadGSO(fd uintptr) bool {
	if p.scratch == nil {
		p.scratch = make([]byte, 65536+HeaderLen)
	}
	io := &p.io
	limit := len(io.rbufs)
	hdr := p.rhdrs[:vnetHdrLen]
	for io.rn < limit {
		buf := io.rbufs[io.rn]
		setIovec(&p.giov[0], hdr)
		setIovec(&p.giov[1], buf)
		setIovec(&p.giov[2], p.scratch)
		m := io.setMsg(0, &p.giov[0], 3)
		if _, e := recvmmsg(fd, m, 1); e != 0 {
			return io.recvErr(e)
		}
		if !p.ignored && io.rnames[0].Pkttype == unix.PACKET_OUTGOING {
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
		io.deliver(n)
	}
	return true
}

// drainGSO moves segments of the pending super-frame into the caller's
// buffers.
func (p *Packet) drainGSO() {
	for p.gso.active && p.io.rn < len(p.io.rbufs) {
		k := p.gso.next(p.io.rbufs[p.io.rn])
		if k < 0 {
			p.st.rxTooBig.Add(1)
			continue
		}
		p.io.deliver(k)
	}
}

// Send implements NIC: it sends the frames with sendmmsg, waiting while the
// socket's send buffer is full.
func (p *Packet) Send(frames [][]byte) (int, error) { return p.io.send(frames) }
