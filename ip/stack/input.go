package stack

import (
	"net/netip"

	"spacenet/ip/tcp"
	"spacenet/ip/wire"
)

// input handles one received frame: the receiving layer. TCP segments go
// to the table; ARP replies and neighbour advertisements feed the
// neighbour cache; everything else goes to the answering layer.
func (s *Stack) input(b []byte, n int, now int64) {
	s.stats.RxFrames++
	p := &s.pkt
	if wire.Decode(b[:n], p) != nil {
		s.answerFrame(b, n) // counts it as malformed
		return
	}
	switch {
	case p.ARP != nil:
		if s.learnARP(p.ARP, now) {
			return
		}
	case p.ICMPv6 != nil && p.ICMPv6.Type() == wire.ICMPv6NeighborAdvertisement:
		s.learnNA(p, now)
		return
	case p.ICMPv6 != nil && p.ICMPv6.Type() == wire.ICMPv6NeighborSolicitation:
		s.learnNS(p, now)
	case p.Protocol == wire.ProtoTCP && (p.IPv4 != nil || p.IPv6 != nil):
		s.inputTCP(p, now)
		return
	}
	s.answerFrame(b, n)
}

// inputTCP checks a TCP segment's addresses and checksums and hands it to
// the table, answering with a RST when the table says so.
func (s *Stack) inputTCP(p *wire.Packet, now int64) {
	if p.Ethernet.Dst() != s.mac {
		s.stats.Dropped[NotForUs]++
		return
	}
	var src, dst netip.Addr
	if p.IPv4 != nil {
		src, dst = p.IPv4.Src(), p.IPv4.Dst()
		if dst != s.ip4 {
			s.stats.Dropped[NotForUs]++
			return
		}
		if !p.IPv4.ChecksumValid() {
			s.stats.Dropped[BadChecksum]++
			return
		}
	} else {
		src, dst = p.IPv6.Src(), p.IPv6.Dst()
		if dst != s.ip6 {
			s.stats.Dropped[NotForUs]++
			return
		}
	}
	if p.Fragment {
		s.stats.Dropped[Fragment]++
		return
	}
	if src.IsMulticast() || src.IsUnspecified() {
		s.stats.Dropped[NotForUs]++
		return
	}
	h := p.TCP
	if !h.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoTCP, src, dst, len(h))) {
		s.stats.Dropped[BadChecksum]++
		return
	}
	s.stats.TCPIn++
	seg := &s.seg
	*seg = tcp.Segment{Remote: netip.AddrPortFrom(src, h.SrcPort()), Local: netip.AddrPortFrom(dst, h.DstPort()),
		Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window(), Options: &p.TCPOptions, Payload: p.Payload}
	if s.tcp.Input(seg, now) {
		s.sendRST(seg, now)
	}
	seg.Payload, seg.Options = nil, nil
}

// sendRST answers seg with a RST from no connection.
func (s *Stack) sendRST(seg *tcp.Segment, now int64) {
	buf := s.txSlot()
	hdr := wire.EthernetSize + ipHeaderLen(seg.Remote.Addr())
	n := tcp.Reset(seg, buf[hdr:])
	s.finishTCP(buf, hdr, n, seg.Local, seg.Remote, now)
}

// answerFrame passes a frame to the answering layer and queues its answer.
func (s *Stack) answerFrame(b []byte, n int) {
	m := s.answer.Answer(b, n)
	if m <= 0 {
		return
	}
	buf := s.txSlot()
	if m > len(buf) {
		s.stats.Dropped[SendFailed]++
		return
	}
	copy(buf, b[:m])
	s.commit(m)
	s.stats.Answered++
}

// learnARP records the sender of an ARP packet addressed to us; it
// reports whether the packet was a reply (consumed here).
func (s *Stack) learnARP(a wire.ARP, now int64) bool {
	if !s.ip4.IsValid() || a.TargetIP() != s.ip4 {
		return false
	}
	mac := a.SenderMAC()
	if !mac.IsMulticast() && mac != (wire.MAC{}) {
		s.learned(a.SenderIP(), mac, a.Op() == wire.ARPRequest, now)
	}
	return a.Op() == wire.ARPReply
}

// learnNA records a neighbour advertisement's target link-layer address.
func (s *Stack) learnNA(p *wire.Packet, now int64) {
	m := p.ICMPv6
	if p.IPv6.HopLimit() != 255 || m.Code() != 0 || len(m) < wire.NDPNeighborSize {
		return
	}
	if !m.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoICMPv6, p.IPv6.Src(), p.IPv6.Dst(), len(m))) {
		return
	}
	if mac, ok := m.LinkLayerOption(wire.NDPOptionTargetLinkLayer); ok && !mac.IsMulticast() {
		s.learned(m.Target(), mac, false, now)
	}
}

// learnNS records the sender of a neighbour solicitation for our address
// (the answering layer answers it).
func (s *Stack) learnNS(p *wire.Packet, now int64) {
	m := p.ICMPv6
	if !s.ip6.IsValid() || p.IPv6.HopLimit() != 255 || len(m) < wire.NDPNeighborSize || m.Target() != s.ip6 {
		return
	}
	src := p.IPv6.Src()
	if src.IsUnspecified() || src.IsMulticast() {
		return
	}
	if !m.ChecksumValid(wire.PseudoHeaderSum(wire.ProtoICMPv6, src, p.IPv6.Dst(), len(m))) {
		return
	}
	if mac, ok := m.LinkLayerOption(wire.NDPOptionSourceLinkLayer); ok && !mac.IsMulticast() {
		s.learned(src, mac, true, now)
	}
}
