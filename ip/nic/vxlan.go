package nic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"spacenet/ip/wire"
)

// VXLAN is a VXLAN tunnel endpoint (RFC 7348) towards one peer VTEP: each
// Ethernet frame sent leaves as one UDP datagram to the peer, after an
// 8-byte VXLAN header carrying the VNI; datagrams from the peer's address
// with that VNI are received as frames. It interoperates with the Linux
// kernel's vxlan device (`ip link add vx0 type vxlan id VNI remote OUR_IP
// dstport 4789`). Attached to a LAN switch (lan.Switch.Attach) it is a
// port to the peer's LAN segment: the switch learns the MACs behind it as
// behind any port, so one VXLAN NIC per peer VTEP keeps each peer's MACs
// apart, and a VNI per tenant group (one NIC and switch each) keeps groups
// apart across hosts.
//
// Refused, counted, never delivered: datagrams from another address
// (VXLANStats.WrongPeer), with another VNI (WrongVNI), with a header that
// is not VXLAN's or no whole Ethernet header inside (Stats.RxFraming),
// inner frames longer than the caller's buffer (RxTooBig); datagrams the
// kernel dropped for a full socket buffer are counted too (RxKernel). It
// does no multicast, no flooding to several peers and no ARP suppression.
type VXLAN struct {
	name   string
	conn   *net.UDPConn
	peer   netip.AddrPort
	vni    uint32
	mtu    int
	rx, tx []byte // Recv's and Send's datagram buffers
	oob    []byte // Recv's control messages (SO_RXQ_OVFL's drop count)
	closed atomic.Bool

	st                  counters
	wrongPeer, wrongVNI atomic.Uint64
}

var _ NIC = (*VXLAN)(nil)
var _ StatsReporter = (*VXLAN)(nil)

// VXLANConfig configures OpenVXLAN.
type VXLANConfig struct {
	Name  string         // for errors and logs; "" means "vxlan:VNI"
	Local netip.AddrPort // address to bind, usually port 4789
	Peer  netip.AddrPort // the peer VTEP; its port 0 means 4789
	VNI   uint32         // 0 to 2^24-1
	// MTU is the largest Ethernet payload carried; 0 means 1450, what
	// fits a 1500-byte underlay (50 bytes of outer IPv4, UDP, VXLAN and
	// inner Ethernet headers), as the kernel's vxlan device defaults to.
	MTU int
	// ReadBuffer is the socket's receive buffer in bytes; 0 means
	// DefaultVXLANReadBuffer, negative the kernel's default. Datagrams
	// that arrive while it is full are dropped by the kernel (the
	// kernel's own vxlan device has no such buffer: it decapsulates in
	// its receive path). With CAP_NET_ADMIN it may exceed
	// net.core.rmem_max (SO_RCVBUFFORCE); without, rmem_max caps it.
	ReadBuffer int
}

// DefaultVXLANReadBuffer is VXLANConfig.ReadBuffer's default: 4 MiB,
// about 2700 full 1500-byte frames, so that a burst of TCP segments
// from a fast sender is not lost while the reader is busy.
const DefaultVXLANReadBuffer = 4 << 20

// DefaultVXLANMTU is VXLANConfig.MTU's default.
const DefaultVXLANMTU = 1450

// MaxVXLANMTU is the largest VXLANConfig.MTU: what a 64 KiB datagram
// carries after the VXLAN and inner Ethernet headers, with room for IPv6
// and UDP headers around it.
const MaxVXLANMTU = 65535 - wire.VXLANSize - HeaderLen - 48

// OpenVXLAN binds cfg.Local and returns the tunnel endpoint.
func OpenVXLAN(cfg VXLANConfig) (*VXLAN, error) {
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("vxlan:%d", cfg.VNI)
	}
	fail := func(err error) error { return fmt.Errorf("nic: vxlan %s: %w", cfg.Name, err) }
	switch {
	case cfg.VNI > wire.MaxVNI:
		return nil, fail(fmt.Errorf("VNI %d exceeds %d", cfg.VNI, wire.MaxVNI))
	case !cfg.Peer.Addr().IsValid():
		return nil, fail(errors.New("no peer VTEP address"))
	case cfg.MTU < 0 || cfg.MTU > MaxVXLANMTU:
		return nil, fail(fmt.Errorf("MTU %d out of range", cfg.MTU))
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultVXLANMTU
	}
	if cfg.Peer.Port() == 0 {
		cfg.Peer = netip.AddrPortFrom(cfg.Peer.Addr(), wire.VXLANPort)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Local))
	if err != nil {
		return nil, fail(err)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = DefaultVXLANReadBuffer
	}
	if cfg.ReadBuffer > 0 {
		if err := setReadBuffer(conn, cfg.ReadBuffer); err != nil {
			conn.Close()
			return nil, fail(err)
		}
	}
	if err := countOverflow(conn); err != nil {
		conn.Close()
		return nil, fail(err)
	}
	size := wire.VXLANSize + HeaderLen + cfg.MTU
	v := &VXLAN{
		name: cfg.Name, conn: conn, peer: netip.AddrPortFrom(cfg.Peer.Addr().Unmap(), cfg.Peer.Port()),
		vni: cfg.VNI, mtu: cfg.MTU, rx: make([]byte, size+1), tx: make([]byte, size), oob: make([]byte, unix.CmsgSpace(4)),
	}
	wire.PutVXLAN(v.tx, v.vni) // the same header for every frame: Send writes only the inner frame
	return v, nil
}

// setReadBuffer sets conn's receive buffer to size bytes: beyond
// net.core.rmem_max if the process may (SO_RCVBUFFORCE), else as far as
// rmem_max lets it (SO_RCVBUF).
func setReadBuffer(conn *net.UDPConn, size int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var forced error
	if err := rc.Control(func(fd uintptr) {
		forced = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	}); err != nil {
		return err
	}
	if forced == nil {
		return nil
	}
	return conn.SetReadBuffer(size)
}

// countOverflow asks the kernel to report, with each datagram, how many
// it has dropped on the socket because its receive buffer was full
// (SO_RXQ_OVFL).
func countOverflow(conn *net.UDPConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return err
	}
	return serr
}

// noteOverflow records the drop count of an SO_RXQ_OVFL control message
// in oob, if there is one (the kernel sends it once drops have occurred),
// as Stats.RxKernel: datagrams the kernel dropped because the socket's
// receive buffer was full, as of the last datagram received (drops are
// learnt with the next datagram).
func (v *VXLAN) noteOverflow(oob []byte) {
	if len(oob) < unix.CmsgSpace(4) {
		return
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && int(h.Len) >= unix.CmsgLen(4) {
		v.st.rxKernel.Store(uint64(binary.NativeEndian.Uint32(oob[unix.CmsgLen(0):])))
	}
}

// Recv waits for a frame from the peer and copies it into bufs[0]; it
// returns one frame per call.
func (v *VXLAN) Recv(bufs [][]byte, sizes []int) (int, error) {
	if len(bufs) == 0 {
		return 0, nil
	}
	for {
		n, oobn, _, from, err := v.conn.ReadMsgUDPAddrPort(v.rx, v.oob)
		if err != nil {
			if v.closed.Load() {
				return 0, fmt.Errorf("nic: vxlan %s: %w", v.name, ErrClosed)
			}
			return 0, fmt.Errorf("nic: vxlan %s: %w", v.name, err)
		}
		v.noteOverflow(v.oob[:oobn])
		if from.Addr().Unmap() != v.peer.Addr() {
			v.wrongPeer.Add(1)
			continue
		}
		var fe wire.FieldError
		vni, inner, ok := wire.VXLANCheck(v.rx[:n], &fe)
		switch {
		case !ok:
			v.st.rxFraming.Add(1)
			continue
		case vni != v.vni:
			v.wrongVNI.Add(1)
			continue
		case len(inner) > len(bufs[0]) || n == len(v.rx):
			v.st.rxTooBig.Add(1)
			continue
		}
		sizes[0] = copy(bufs[0], inner)
		v.st.rx(sizes[0])
		return 1, nil
	}
}

// Send sends each frame to the peer VTEP as one datagram.
func (v *VXLAN) Send(frames [][]byte) (int, error) {
	for i, f := range frames {
		if v.closed.Load() {
			return i, fmt.Errorf("nic: vxlan %s: %w", v.name, ErrClosed)
		}
		if len(f) > v.mtu+HeaderLen {
			v.st.txTooBig.Add(1)
			return i, fmt.Errorf("nic: vxlan %s: frame %d of %d bytes: %w", v.name, i, len(f), ErrTooBig)
		}
		n := wire.VXLANSize + copy(v.tx[wire.VXLANSize:], f)
		if _, err := v.conn.WriteToUDPAddrPort(v.tx[:n], v.peer); err != nil {
			v.st.txErrors.Add(1)
			return i, fmt.Errorf("nic: vxlan %s: %w", v.name, err)
		}
		v.st.tx(len(f))
	}
	return len(frames), nil
}

// MTU is the largest Ethernet payload carried.
func (v *VXLAN) MTU() int { return v.mtu }

// Name is the configured name.
func (v *VXLAN) Name() string { return v.name }

// Close closes the socket; Recv and Send then fail with ErrClosed.
func (v *VXLAN) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	return v.conn.Close()
}

// LocalAddr is the bound address (its port chosen by the kernel if
// VXLANConfig.Local's was 0).
func (v *VXLAN) LocalAddr() netip.AddrPort { return v.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Stats returns the NIC's counters.
func (v *VXLAN) Stats() Stats { return v.st.snapshot() }

// VXLANStats counts the datagrams a VXLAN NIC refused for reasons of its
// own (the others are in Stats).
type VXLANStats struct {
	WrongPeer uint64 // from an address other than the peer VTEP's
	WrongVNI  uint64 // with another VNI
}

// VXLANStats returns them.
func (v *VXLAN) VXLANStats() VXLANStats {
	return VXLANStats{WrongPeer: v.wrongPeer.Load(), WrongVNI: v.wrongVNI.Load()}
}
