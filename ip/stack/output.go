package stack

import (
	"errors"
	"fmt"
	"net/netip"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// The sending layer: frames are built in place in the send buffers and
// handed to the NIC a batch at a time.

// txSlot returns the next free send buffer (its full length), sending the
// batch first if every buffer is taken. Call commit to keep what was
// written in it.
func (s *Stack) txSlot() []byte {
	if s.txN == len(s.tx) {
		s.send()
	}
	return s.tx[s.txN]
}

// commit keeps the first n bytes of the current send buffer.
func (s *Stack) commit(n int) {
	s.txLen[s.txN] = n
	s.txN++
}

// send hands the batch to the NIC. Frames the NIC refuses are dropped and
// counted (TCP sends them again); a closed NIC is an error.
func (s *Stack) send() error {
	if s.txN == 0 {
		return nil
	}
	out := s.out[:0]
	for i := 0; i < s.txN; i++ {
		out = append(out, s.tx[i][:s.txLen[i]])
	}
	s.txN = 0
	for len(out) > 0 {
		k, err := s.nic.Send(out)
		s.stats.TxFrames += uint64(k)
		out = out[k:]
		if len(out) == 0 {
			break
		}
		if errors.Is(err, nic.ErrClosed) {
			s.stats.Dropped[SendFailed] += uint64(len(out))
			return fmt.Errorf("stack: %w", err)
		}
		// The frame at the head was refused: drop it, send the rest.
		s.stats.Dropped[SendFailed]++
		out = out[1:]
	}
	return nil
}

// flush collects the TCP table's output into send buffers.
func (s *Stack) flush(now int64) {
	for c := s.tcp.Next(); c != nil; c = s.tcp.Next() {
		// The addresses are read first: a RST ends the connection in
		// Output, and its handler may reuse the slot at once.
		local, remote := c.Local(), c.Remote()
		hdr := wire.EthernetSize + ipHeaderLen(remote.Addr())
		for {
			buf := s.txSlot()
			n := c.Output(now, buf[hdr:])
			if n == 0 {
				break
			}
			s.finishTCP(buf, hdr, n, local, remote, now)
			if c.Local() != local || c.Remote() != remote {
				break // the slot was reused: its output comes with its own wake
			}
		}
	}
}

func ipHeaderLen(a netip.Addr) int {
	if a.Is4() {
		return wire.IPv4MinSize
	}
	return wire.IPv6Size
}

// finishTCP completes the n-byte TCP segment at buf[hdr:]: its checksum,
// the IP header and the link header, and sends or holds the frame.
func (s *Stack) finishTCP(buf []byte, hdr, n int, local, remote netip.AddrPort, now int64) {
	t := wire.TCP(buf[hdr : hdr+n])
	t.SetChecksum(t.CalculateChecksum(wire.PseudoHeaderSum(wire.ProtoTCP, local.Addr(), remote.Addr(), n)))
	s.ipHeader(buf[wire.EthernetSize:], wire.ProtoTCP, local.Addr(), remote.Addr(), n, 64)
	s.stats.TCPOut++
	s.route(buf, hdr+n, remote.Addr(), now)
}

// ipHeader writes an IPv4 or IPv6 header for a payload of n bytes.
func (s *Stack) ipHeader(b []byte, proto uint8, src, dst netip.Addr, n int, ttl uint8) {
	if src.Is4() {
		s.ipID++
		wire.IPv4(b).Encode(&wire.IPv4Fields{TotalLength: uint16(wire.IPv4MinSize + n), ID: s.ipID,
			Flags: wire.IPv4DontFragment, TTL: ttl, Protocol: proto, Src: src, Dst: dst})
		return
	}
	wire.IPv6(b).Encode(&wire.IPv6Fields{PayloadLength: uint16(n), NextHeader: proto, HopLimit: ttl, Src: src, Dst: dst})
}

// nextHop returns the address to resolve for dst: dst itself on the link,
// else the router of the longest matching route.
func (s *Stack) nextHop(dst netip.Addr) (netip.Addr, bool) {
	if s.pfx4.IsValid() && s.pfx4.Contains(dst) || s.pfx6.IsValid() && s.pfx6.Contains(dst) ||
		dst.Is6() && dst.IsLinkLocalUnicast() {
		return dst, true
	}
	best := -1
	for i, r := range s.routes {
		if r.Prefix.Contains(dst) && (best < 0 || r.Prefix.Bits() > s.routes[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return netip.Addr{}, false
	}
	return s.routes[best].Via, true
}

// route addresses the frame of n bytes in buf (IP packet after the
// Ethernet header) to dst's next hop, and commits it, or holds it while
// the neighbour is resolved.
func (s *Stack) route(buf []byte, n int, dst netip.Addr, now int64) {
	hop, ok := s.nextHop(dst)
	if !ok {
		s.stats.Dropped[NoRoute]++
		return
	}
	et := wire.EtherTypeIPv4
	if dst.Is6() {
		et = wire.EtherTypeIPv6
	}
	eth := wire.Ethernet(buf)
	eth.SetSrc(s.mac)
	eth.SetEtherType(et)
	if mac, ok, reask := s.neigh.lookup(hop, now); ok {
		eth.SetDst(mac)
		s.commit(n)
		if reask {
			s.solicit(hop)
		}
		return
	}
	ask, dropped := s.neigh.hold(hop, buf[:n], now)
	if dropped {
		s.stats.Dropped[Unresolved]++
	}
	if ask {
		s.solicit(hop)
	}
}

// solicit sends an ARP request or a neighbour solicitation for addr.
func (s *Stack) solicit(addr netip.Addr) {
	buf := s.txSlot()
	eth := wire.Ethernet(buf)
	eth.SetSrc(s.mac)
	s.stats.Resolutions++
	if addr.Is4() {
		if !s.ip4.IsValid() {
			return
		}
		eth.SetDst(wire.Broadcast)
		eth.SetEtherType(wire.EtherTypeARP)
		wire.ARP(buf[wire.EthernetSize:]).Encode(&wire.ARPFields{Op: wire.ARPRequest, SenderMAC: s.mac, SenderIP: s.ip4,
			TargetIP: addr})
		n := wire.EthernetSize + wire.ARPSize
		clear(buf[n:60])
		s.commit(60)
		return
	}
	if !s.ip6.IsValid() {
		return
	}
	sn := wire.SolicitedNode(addr)
	eth.SetDst(wire.IPv6MulticastMAC(sn))
	eth.SetEtherType(wire.EtherTypeIPv6)
	l4 := wire.EthernetSize + wire.IPv6Size
	m := wire.ICMPv6(buf[l4:]).EncodeNeighbor(wire.ICMPv6NeighborSolicitation, 0, addr, s.mac, s.ip6, sn)
	s.ipHeader(buf[wire.EthernetSize:], wire.ProtoICMPv6, s.ip6, sn, m, 255)
	s.commit(l4 + m)
}

// learned records addr at mac and sends the frames held for it. A new
// entry is made only when create is set (a request addressed to us);
// otherwise only an entry we asked for is updated.
func (s *Stack) learned(addr netip.Addr, mac wire.MAC, create bool, now int64) {
	e := s.neigh.update(addr, mac, create, now)
	if e == nil {
		return
	}
	for e.nheld > 0 {
		f := e.held[e.headHeld]
		n := e.heldLen[e.headHeld]
		e.headHeld = (e.headHeld + 1) % len(e.held)
		e.nheld--
		buf := s.txSlot()
		copy(buf, f[:n])
		wire.Ethernet(buf).SetDst(mac)
		s.commit(n)
	}
}

// neighTick resends solicitations that are due and gives up on neighbours
// that did not answer; it returns the next deadline (0 if none).
func (s *Stack) neighTick(now int64) int64 {
	var next int64
	for i := range s.neigh.entries {
		e := &s.neigh.entries[i]
		if e.state != incomplete {
			continue
		}
		if e.nextTry <= now {
			if e.tries >= ResolveTries {
				e.state = failed
				s.stats.Dropped[Unresolved] += uint64(e.nheld)
				e.nheld = 0
				continue
			}
			e.tries++
			e.nextTry = now + int64(ResolveRetry)
			s.solicit(e.addr)
		}
		if next == 0 || e.nextTry < next {
			next = e.nextTry
		}
	}
	return next
}
