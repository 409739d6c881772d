package nic

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// gsoState splits one GSO super-frame (a TCP or UDP segment the kernel
// left for the hardware to cut into MTU-sized frames, described by a
// virtio-net header) into ordinary frames, one per next call, as the
// kernel's software GSO would: every segment gets a copy of the headers,
// its share of the payload and fresh lengths, IPv4 ID, TCP sequence
// number and flags, and complete IPv4 and TCP/UDP checksums.
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
	if g.mss == 0 || len(f) < HeaderLen {
		return false
	}
	g.l3 = HeaderLen
	var proto byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		if len(f) < g.l3+20 || f[g.l3]>>4 != 4 {
			return false
		}
		ihl := int(f[g.l3]&0xf) * 4
		if ihl < 20 || len(f) < g.l3+ihl {
			return false
		}
		g.v6, proto, g.l4 = false, f[g.l3+9], g.l3+ihl
	case 0x86dd:
		if len(f) < g.l3+40 || f[g.l3]>>4 != 6 {
			return false
		}
		g.v6, proto, g.l4 = true, f[g.l3+6], g.l3+40
	default:
		return false
	}
	switch t := hdr[1] &^ unix.VIRTIO_NET_HDR_GSO_ECN; {
	case (t == unix.VIRTIO_NET_HDR_GSO_TCPV4 && !g.v6 || t == unix.VIRTIO_NET_HDR_GSO_TCPV6 && g.v6) && proto == 6:
		if len(f) < g.l4+20 {
			return false
		}
		doff := int(f[g.l4+12]>>4) * 4
		if doff < 20 || len(f) < g.l4+doff {
			return false
		}
		g.tcp, g.hlen = true, g.l4+doff
	case t == unix.VIRTIO_NET_HDR_GSO_UDP_L4 && proto == 17:
		if len(f) < g.l4+8 {
			return false
		}
		g.tcp, g.hlen = false, g.l4+8
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
	ip := s[g.l3:g.l4]
	if g.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(l4len))
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(size-g.l3))
		id := binary.BigEndian.Uint16(f[g.l3+4:])
		binary.BigEndian.PutUint16(ip[4:], id+uint16(seg))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^fold(checksum(ip, 0)))
	}
	l4 := s[g.l4:]
	var csumAt int
	if g.tcp {
		seq := binary.BigEndian.Uint32(f[g.l4+4:])
		binary.BigEndian.PutUint32(l4[4:], seq+uint32(g.off-k))
		if !last {
			l4[13] &^= 0x01 | 0x08 // FIN, PSH only on the last segment
		}
		if !first {
			l4[13] &^= 0x80 // CWR only on the first
		}
		csumAt = 16
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4len))
		csumAt = 6
	}
	l4[csumAt], l4[csumAt+1] = 0, 0
	var pseudo uint64
	if g.v6 {
		pseudo = checksum(ip[8:40], 0)
		if g.tcp {
			pseudo += 6
		} else {
			pseudo += 17
		}
	} else {
		pseudo = checksum(ip[12:20], 0) + uint64(ip[9])
	}
	pseudo += uint64(l4len)
	sum := ^fold(checksum(l4, pseudo))
	if sum == 0 && !g.tcp {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumAt:], sum)
	return size
}
