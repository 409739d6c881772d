package nic

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"spacenet/ip/wire"
)

// gsoState splits one GSO super-frame (a TCP or UDP segment the kernel
// left for the hardware to cut into MTU-sized frames, described by a
// virtio-net header) into ordinary frames, one per next call, as the
// kernel's software GSO would: every segment gets a copy of the headers,
// its share of the payload and fresh lengths, IPv4 ID, TCP sequence
// number and flags, and complete IPv4 and TCP/UDP checksums. The headers
// are read and written through package wire's views.
//
// Supported: Ethernet (no VLAN tag) carrying IPv4 (with options) or IPv6
// (no extension headers), carrying TCP (GSO_TCPV4, GSO_TCPV6, ECN bit
// tolerated) or UDP (GSO_UDP_L4). UFO (GSO_UDP, IP fragmentation) is not.
type gsoState struct {
	buf    []byte // the super-frame; buf[:n] is valid
	n      int
	active bool

	l3, l4, hlen int // offsets of the IP header, the L4 header, the payload
	v6, tcp      bool
	mss          int
	off          int // payload bytes already emitted
	seg          int // segments already emitted
}

// start takes the super-frame a+b (two parts, as readv left it; copied)
// described by hdr and reports whether it can be segmented.
func (g *gsoState) start(hdr, a, b []byte) bool {
	if len(g.buf) < len(a)+len(b) {
		g.buf = make([]byte, max(len(a)+len(b), 65536+HeaderLen))
	}
	g.n = copy(g.buf, a)
	g.n += copy(g.buf[g.n:], b)
	g.active, g.off, g.seg = false, 0, 0
	if !g.parse(hdr, g.buf[:g.n]) {
		return false
	}
	g.active = g.hlen < g.n
	return g.active
}

// parse reads the offsets, the protocol and the segment size of the
// super-frame f described by hdr (without copying it) and reports whether
// it can be segmented.
func (g *gsoState) parse(hdr, f []byte) bool {
	g.mss = int(binary.NativeEndian.Uint16(hdr[4:6]))
	if g.mss == 0 || len(f) < wire.EthernetSize {
		return false
	}
	g.l3 = wire.EthernetSize
	var proto uint8
	switch wire.Ethernet(f).EtherType() {
	case wire.EtherTypeIPv4:
		ip, ok := wire.PeekIPv4(f[g.l3:])
		if !ok {
			return false
		}
		ihl := ip.HeaderLength()
		if ihl < wire.IPv4MinSize || len(ip) < ihl {
			return false
		}
		g.v6, proto, g.l4 = false, ip.Protocol(), g.l3+ihl
	case wire.EtherTypeIPv6:
		ip, ok := wire.PeekIPv6(f[g.l3:])
		if !ok {
			return false
		}
		g.v6, proto, g.l4 = true, ip.NextHeader(), g.l3+wire.IPv6Size
	default:
		return false
	}
	switch t := hdr[1] &^ unix.VIRTIO_NET_HDR_GSO_ECN; {
	case (t == unix.VIRTIO_NET_HDR_GSO_TCPV4 && !g.v6 || t == unix.VIRTIO_NET_HDR_GSO_TCPV6 && g.v6) && proto == wire.ProtoTCP:
		tcp, ok := wire.PeekTCP(f[g.l4:])
		if !ok {
			return false
		}
		g.tcp, g.hlen = true, g.l4+tcp.DataOffset()
	case t == unix.VIRTIO_NET_HDR_GSO_UDP_L4 && proto == wire.ProtoUDP:
		if _, ok := wire.PeekUDP(f[g.l4:]); !ok {
			return false
		}
		g.tcp, g.hlen = false, g.l4+wire.UDPSize
	default:
		return false
	}
	return true
}

// next writes the next segment into dst and returns its length, or -1 if
// dst is too short for it (the segment is skipped). It clears active after
// the last segment.
func (g *gsoState) next(dst []byte) int {
	f := g.buf[:g.n]
	payload := f[g.hlen:]
	chunk := payload[g.off:min(g.off+g.mss, len(payload))]
	first, last := g.off == 0, g.off+len(chunk) == len(payload)
	seg, k := g.seg, len(chunk)
	g.off += k
	g.seg++
	if last {
		g.active = false
	}
	size := g.hlen + k
	if size > len(dst) {
		return -1
	}
	copy(dst, f[:g.hlen])
	copy(dst[g.hlen:], chunk)
	s := dst[:size]
	l4len := size - g.l4
	var pseudo uint16
	if g.v6 {
		ip := wire.IPv6(s[g.l3:])
		ip.SetPayloadLength(uint16(l4len))
		pseudo = ip.PseudoHeaderSum(ip.NextHeader(), l4len)
	} else {
		ip := wire.IPv4(s[g.l3:])
		ip.SetTotalLength(uint16(size - g.l3))
		ip.SetID(wire.IPv4(f[g.l3:]).ID() + uint16(seg))
		ip.UpdateChecksum()
		pseudo = ip.PseudoHeaderSum()
	}
	if g.tcp {
		tcp := wire.TCP(s[g.l4:])
		tcp.SetSeq(wire.TCP(f[g.l4:]).Seq() + uint32(g.off-k))
		flags := tcp.Flags()
		if !last {
			flags &^= wire.TCPFlagFIN | wire.TCPFlagPSH // only on the last segment
		}
		if !first {
			flags &^= wire.TCPFlagCWR // only on the first
		}
		tcp.SetFlags(flags)
		tcp.SetChecksum(tcp.CalculateChecksum(pseudo))
	} else {
		udp := wire.UDP(s[g.l4:])
		udp.SetLength(uint16(l4len))
		udp.SetChecksum(udp.CalculateChecksum(pseudo))
	}
	return size
}
