package endpoint

import (
	"encoding/binary"
	"net/netip"

	"spacenet/ip/wire"
)

// minFrame is the shortest Ethernet frame without FCS; shorter answers are
// padded with zeros.
const minFrame = 60

// Answer turns the n-byte frame in b into its answer, in place, and returns
// the answer's length, or 0 when the frame is not answered (it is then
// counted under a Reason). b's length beyond n is room for a longer
// answer (a UDP handler's, or an NA with its option); answers shorter than
// 60 bytes are padded to 60 when b has room. Run calls Answer; it is exported for callers
// that drive their own loop, and must not be called concurrently with Run
// or with itself.
func (e *Endpoint) Answer(b []byte, n int) int {
	e.st.rxFrames.Add(1)
	if n < 0 || n > len(b) {
		return e.refuse(Malformed)
	}
	p := &e.pkt
	if wire.Decode(b[:n], p) != nil {
		return e.refuse(Malformed)
	}
	eth := p.Ethernet
	if eth.Src().IsMulticast() {
		return e.refuse(BadSource)
	}
	if d := eth.Dst(); d != e.mac && d != wire.Broadcast && (!e.ip6.IsValid() || d != e.snMAC) {
		return e.refuse(NotForUs)
	}
	l3 := wire.EthernetSize + wire.VLANSize*p.NumVLAN
	if len(p.IPv4) > e.mtu || len(p.IPv6) > e.mtu {
		// Longer than our MTU: an answer as long could not be sent.
		return e.refuse(TooBig)
	}
	var m int
	switch {
	case p.ARP != nil:
		m = e.arp(b, l3, p)
	case p.IPv4 != nil:
		m = e.ipv4(b, l3, p)
	case p.IPv6 != nil:
		m = e.ipv6(b, l3, p)
	default:
		return e.refuse(Unsupported)
	}
	if m > 0 && m < minFrame && len(b) >= minFrame {
		clear(b[m:minFrame])
		m = minFrame
	}
	return m
}

// setEth addresses the answer to dst from us.
func (e *Endpoint) setEth(b []byte, dst wire.MAC) {
	eth := wire.Ethernet(b)
	eth.SetDst(dst)
	eth.SetSrc(e.mac)
}

func (e *Endpoint) arp(b []byte, l3 int, p *wire.Packet) int {
	if !e.ip4.IsValid() {
		return e.refuse(Unsupported)
	}
	a := p.ARP
	if a.Op() != wire.ARPRequest {
		return e.refuse(Unsupported)
	}
	if a.TargetIP() != e.ip4 {
		return e.refuse(NotForUs)
	}
	sha, spa := a.SenderMAC(), a.SenderIP()
	if sha.IsMulticast() || sha == (wire.MAC{}) {
		return e.refuse(BadSource)
	}
	a.SetOp(wire.ARPReply)
	a.SetTarget(sha, spa)
	a.SetSender(e.mac, e.ip4)
	e.setEth(b, sha)
	e.st.arp.Add(1)
	return l3 + wire.ARPSize
}

// badUnicastSource reports whether src cannot be answered.
func badUnicastSource(src netip.Addr) bool {
	return src.IsMulticast() || src.IsUnspecified() || src.IsLoopback() || src == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func (e *Endpoint) ipv4(b []byte, l3 int, p *wire.Packet) int {
	if !e.ip4.IsValid() {
		return e.refuse(Unsupported)
	}
	h := p.IPv4
	dst, src := h.Dst(), h.Src()
	if dst != e.ip4 {
		return e.refuse(NotForUs)
	}
	if !h.ChecksumValid() {
		return e.refuse(BadChecksum)
	}
	if badUnicastSource(src) {
		return e.refuse(BadSource)
	}
	if p.Fragment {
		return e.refuse(Fragment)
	}
	reqMAC := p.Ethernet.Src()
	tos := h.TOS()
	l4 := l3 + wire.IPv4MinSize // options are not echoed
	var n int
	switch p.Protocol {
	case wire.ProtoICMPv4:
		m := p.ICMPv4
		if !m.ChecksumValid() {
			return e.refuse(BadChecksum)
		}
		if m.Type() != wire.ICMPv4EchoRequest || m.Code() != 0 {
			return e.refuse(Unsupported)
		}
		copy(b[l4:], m) // a no-op unless there were options
		m = wire.ICMPv4(b[l4 : l4+len(m)])
		old := binary.BigEndian.Uint16(m)
		m.SetType(wire.ICMPv4EchoReply)
		m.SetChecksum(wire.UpdateChecksum(m.Checksum(), old, binary.BigEndian.Uint16(m)))
		n = len(m)
		e.st.echo4.Add(1)
	case wire.ProtoUDP:
		u := p.UDP
		if u.Checksum() != 0 && !u.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoUDP, src, dst, len(u)), true) {
			return e.refuse(BadChecksum)
		}
		copy(b[l4:], u)
		if n = e.udpAnswer(b, l3, l4, len(u), src, dst); n == 0 {
			return 0
		}
	default:
		return e.refuse(Unsupported)
	}
	e.ipID++
	wire.IPv4(b[l3:]).Encode(&wire.IPv4Fields{TOS: tos, TotalLength: uint16(wire.IPv4MinSize + n), ID: e.ipID,
		TTL: 64, Protocol: p.Protocol, Src: dst, Dst: src})
	e.setEth(b, reqMAC)
	return l4 + n
}

// udpAnswer hands the datagram at b[l4:l4+ulen] (already moved there) to
// the handler and writes the answer's UDP header. It returns the answer's
// UDP length, or 0 (counted) for no answer.
func (e *Endpoint) udpAnswer(b []byte, l3, l4, ulen int, src, dst netip.Addr) int {
	if e.udp == nil {
		return e.refuse(NoHandler)
	}
	u := wire.UDP(b[l4 : l4+ulen])
	sport, dport := u.SrcPort(), u.DstPort()
	pay := l4 + wire.UDPSize
	end := min(len(b), l3+e.mtu)
	if l4+ulen > end {
		// A request longer than our MTU: its echo could not be sent.
		return e.refuse(TooBig)
	}
	e.dgram = Datagram{Src: netip.AddrPortFrom(src, sport), Dst: netip.AddrPortFrom(dst, dport),
		Payload: b[pay : l4+ulen : end]}
	k := e.udp(&e.dgram)
	e.dgram = Datagram{}
	if k < 0 {
		return e.refuse(NoAnswer)
	}
	if pay+k > end {
		return e.refuse(TooBig)
	}
	n := wire.UDPSize + k
	u = wire.UDP(b[l4 : l4+n])
	u.Encode(&wire.UDPFields{SrcPort: dport, DstPort: sport, Length: uint16(n)})
	u.SetChecksum(u.CalculateChecksum(wire.PseudoHeaderSum(wire.ProtoUDP, dst, src, n)))
	e.st.udpAnswered.Add(1)
	return n
}

func (e *Endpoint) ipv6(b []byte, l3 int, p *wire.Packet) int {
	if !e.ip6.IsValid() {
		return e.refuse(Unsupported)
	}
	h := p.IPv6
	dst, src := h.Dst(), h.Src()
	toGroup := dst == e.sn6
	if dst != e.ip6 && !toGroup {
		return e.refuse(NotForUs)
	}
	if src.IsMulticast() || src.IsLoopback() {
		return e.refuse(BadSource)
	}
	if p.Fragment {
		return e.refuse(Fragment)
	}
	reqMAC := p.Ethernet.Src()
	l4 := l3 + wire.IPv6Size // extension headers are not echoed
	hopLimit := uint8(64)
	rdst := src
	var n int
	switch p.Protocol {
	case wire.ProtoICMPv6:
		m := p.ICMPv6
		if !m.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoICMPv6, src, dst, len(m))) {
			return e.refuse(BadChecksum)
		}
		switch m.Type() {
		case wire.ICMPv6EchoRequest:
			if toGroup || m.Code() != 0 {
				return e.refuse(NotForUs)
			}
			if src.IsUnspecified() {
				return e.refuse(BadSource)
			}
			copy(b[l4:], m)
			m = wire.ICMPv6(b[l4 : l4+len(m)])
			old := binary.BigEndian.Uint16(m)
			m.SetType(wire.ICMPv6EchoReply)
			// The pseudo-header's addresses only swap: its sum is unchanged.
			m.SetChecksum(wire.UpdateChecksum(m.Checksum(), old, binary.BigEndian.Uint16(m)))
			n = len(m)
			e.st.echo6.Add(1)
		case wire.ICMPv6NeighborSolicitation:
			if h.HopLimit() != 255 || m.Code() != 0 {
				return e.refuse(BadNDP)
			}
			if m.Target() != e.ip6 {
				return e.refuse(NotForUs)
			}
			flags := wire.NDPFlagSolicited | wire.NDPFlagOverride
			if slla, ok := m.LinkLayerOption(wire.NDPOptionSourceLinkLayer); ok {
				reqMAC = slla
			}
			if src.IsUnspecified() {
				// Duplicate address detection (RFC 4861 7.2.4): tell
				// all nodes, unsolicited.
				rdst, flags = wire.AllNodes, wire.NDPFlagOverride
				reqMAC = wire.IPv6MulticastMAC(wire.AllNodes)
			}
			if reqMAC.IsMulticast() && !src.IsUnspecified() {
				return e.refuse(BadSource)
			}
			if n = wire.ICMPv6(b[l4:]).EncodeNeighbor(wire.ICMPv6NeighborAdvertisement, flags, e.ip6, e.mac, e.ip6, rdst); n == 0 {
				return e.refuse(TooBig) // b has no room for the option
			}
			hopLimit = 255
			e.st.ndp.Add(1)
		default:
			return e.refuse(Unsupported)
		}
	case wire.ProtoUDP:
		u := p.UDP
		if toGroup || src.IsUnspecified() {
			return e.refuse(NotForUs)
		}
		if !u.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoUDP, src, dst, len(u)), false) {
			return e.refuse(BadChecksum)
		}
		copy(b[l4:], u)
		if n = e.udpAnswer(b, l3, l4, len(u), src, dst); n == 0 {
			return 0
		}
	default:
		return e.refuse(Unsupported)
	}
	wire.IPv6(b[l3:]).Encode(&wire.IPv6Fields{PayloadLength: uint16(n), NextHeader: p.Protocol, HopLimit: hopLimit,
		Src: e.ip6, Dst: rdst})
	e.setEth(b, reqMAC)
	return l4 + n
}
