package wire

import (
	"testing"
)

// TestUntag covers the tag walk on hand-made frames: untagged, one and two
// tags, a tag cut off, three tags.
func TestUntag(t *testing.T) {
	eth := func(types ...uint16) []byte {
		b := make([]byte, 12, 64)
		for _, et := range types {
			b = append(b, byte(et>>8), byte(et), 0, 1)
		}
		return b[:len(b)-2] // the last EtherType has no tag after it
	}
	cases := []struct {
		name    string
		frame   []byte
		et      uint16
		payload int // offset of the payload; -1: not ok
	}{
		{"untagged", append(eth(EtherTypeIPv4), 1, 2), EtherTypeIPv4, 14},
		{"one tag", append(eth(EtherTypeVLAN, EtherTypeARP), 9), EtherTypeARP, 18},
		{"two tags", eth(EtherTypeQinQ, EtherTypeVLAN, EtherTypeIPv6), EtherTypeIPv6, 22},
		{"three tags", eth(EtherTypeQinQ, EtherTypeVLAN, EtherTypeVLAN, EtherTypeIPv4), EtherTypeVLAN, 22},
		{"tag cut off", eth(EtherTypeVLAN)[:15], 0, -1},
	}
	for _, c := range cases {
		et, p, ok := Untag(c.frame)
		if ok != (c.payload >= 0) || et != c.et {
			t.Errorf("%s: Untag = %#04x, ok %v; want %#04x, ok %v", c.name, et, ok, c.et, c.payload >= 0)
			continue
		}
		if ok && len(p) != len(c.frame)-c.payload {
			t.Errorf("%s: payload of %d bytes, want %d", c.name, len(p), len(c.frame)-c.payload)
		}
	}
}

// TestPeekShort checks each Peek refuses a buffer one byte short of its
// fixed header and a wrong version or type.
func TestPeekShort(t *testing.T) {
	arp := frameOf(t, "ARPRequest")[EthernetSize:]
	if _, ok := PeekARP(arp); !ok {
		t.Fatal("PeekARP refuses a golden ARP request")
	}
	if _, ok := PeekARP(arp[:ARPSize-1]); ok {
		t.Error("PeekARP accepts 27 bytes")
	}
	bad := append([]byte(nil), arp...)
	bad[arpProtocolLen] = 16
	if _, ok := PeekARP(bad); ok {
		t.Error("PeekARP accepts protocol length 16")
	}
	v4 := frameOf(t, "IPv4TCPData")[EthernetSize:]
	if _, ok := PeekIPv4(v4[:IPv4MinSize]); !ok {
		t.Error("PeekIPv4 refuses a fixed header")
	}
	if _, ok := PeekIPv4(v4[:IPv4MinSize-1]); ok {
		t.Error("PeekIPv4 accepts 19 bytes")
	}
	if _, ok := PeekIPv6(v4[:IPv6Size]); ok {
		t.Error("PeekIPv6 accepts version 4")
	}
	tcp := TCP(v4[IPv4(v4).HeaderLength():])
	if _, ok := PeekTCP(tcp[:tcp.DataOffset()]); !ok {
		t.Error("PeekTCP refuses a header")
	}
	if _, ok := PeekTCP(tcp[:tcp.DataOffset()-1]); ok {
		t.Error("PeekTCP accepts a header shorter than its data offset")
	}
	if _, ok := PeekUDP(make([]byte, UDPSize-1)); ok {
		t.Error("PeekUDP accepts 7 bytes")
	}
	ns := frameOf(t, "NDPSolicit")[EthernetSize+IPv6Size:]
	if _, ndp, ok := PeekNDP(ns); !ndp || !ok {
		t.Errorf("PeekNDP(solicitation) = %v, %v", ndp, ok)
	}
	if _, ndp, ok := PeekNDP(ns[:NDPNeighborSize-1]); !ndp || ok {
		t.Errorf("PeekNDP(short solicitation) = %v, %v; want true, false", ndp, ok)
	}
	if _, ndp, _ := PeekNDP([]byte{ICMPv6EchoRequest}); ndp {
		t.Error("PeekNDP takes an echo request for NDP")
	}
}

// TestNDPOptionIter walks options: a good source link-layer option, one
// too short for a MAC, a zero length, one past the end, a trailing byte.
func TestNDPOptionIter(t *testing.T) {
	m := make([]byte, NDPNeighborSize, 64)
	m[icmpType] = ICMPv6NeighborAdvertisement
	walk := func(opts ...byte) (types []uint8, macs []MAC, malformed bool) {
		it := ICMPv6(append(m, opts...)).NDPOptionIter()
		for it.Next() {
			types = append(types, it.Type())
			if mac, ok := it.LinkLayer(); ok {
				macs = append(macs, mac)
			}
		}
		return types, macs, it.Malformed()
	}
	types, macs, bad := walk(1, 1, 2, 0, 0x5e, 0, 0, 1, 9, 1, 0, 0, 0, 0, 0, 0)
	if len(types) != 2 || types[0] != 1 || types[1] != 9 || len(macs) != 2 || macs[0] != (MAC{2, 0, 0x5e, 0, 0, 1}) || bad {
		t.Errorf("two options: types %v, macs %v, malformed %v", types, macs, bad)
	}
	if _, _, bad := walk(1, 0, 0, 0, 0, 0, 0, 0); !bad {
		t.Error("zero length not malformed")
	}
	if _, _, bad := walk(1, 2, 0, 0, 0, 0, 0, 0); !bad {
		t.Error("option past the end not malformed")
	}
	if types, _, bad := walk(1); len(types) != 0 || bad {
		t.Errorf("trailing byte: types %v, malformed %v; want none, false", types, bad)
	}
}

// TestPseudoHeaderSumViews checks the views' pseudo-header sums against
// PseudoHeaderSum on the addresses.
func TestPseudoHeaderSumViews(t *testing.T) {
	v4 := IPv4(frameOf(t, "IPv4TCPData")[EthernetSize:])
	if got, want := v4.PseudoHeaderSum(), PseudoHeaderSum(v4.Protocol(), v4.Src(), v4.Dst(), len(v4.Payload())); got != want {
		t.Errorf("IPv4.PseudoHeaderSum = %#04x, want %#04x", got, want)
	}
	v6 := IPv6(frameOf(t, "IPv6UDP")[EthernetSize:])
	for _, n := range []int{0, 1, 0xffff, 0x12345} {
		if got, want := v6.PseudoHeaderSum(ProtoUDP, n), PseudoHeaderSum(ProtoUDP, v6.Src(), v6.Dst(), n); got != want {
			t.Errorf("IPv6.PseudoHeaderSum(%d) = %#04x, want %#04x", n, got, want)
		}
	}
}

// FuzzPeek checks the Peek functions and the NDP option iterator never
// panic, and agree with Decode where it accepts the frame.
func FuzzPeek(f *testing.F) {
	addSeeds(f, "ethernet")
	f.Fuzz(func(t *testing.T, b []byte) {
		peekAll(b)
		if len(b) < EthernetSize {
			return
		}
		et, l3, ok := Untag(b)
		peekAll(l3)
		var p Packet
		if Decode(b, &p) != nil {
			return
		}
		if !ok || et != p.EtherType || len(l3) != len(p.L3) {
			t.Fatalf("Untag = %#04x, %d bytes, %v; Decode found %#04x, %d bytes", et, len(l3), ok, p.EtherType, len(p.L3))
		}
		if a, ok := PeekARP(l3); et == EtherTypeARP && ((p.ARP != nil) != ok || ok && string(a) != string(p.ARP)) {
			t.Fatalf("PeekARP %v, Decode ARP %v", ok, p.ARP != nil)
		}
		if h, ok := PeekIPv4(l3); et == EtherTypeIPv4 && ((p.IPv4 != nil) != ok || ok && (h.Src() != p.IPv4.Src() || h.PseudoHeaderSum() != p.IPv4.PseudoHeaderSum())) {
			t.Fatalf("PeekIPv4 %v, Decode IPv4 %v", ok, p.IPv4 != nil)
		}
		if h, ok := PeekIPv6(l3); et == EtherTypeIPv6 && ((p.IPv6 != nil) != ok || ok && h.Dst() != p.IPv6.Dst()) {
			t.Fatalf("PeekIPv6 %v, Decode IPv6 %v", ok, p.IPv6 != nil)
		}
		if p.ICMPv6 == nil {
			return
		}
		m, ndp, ok := PeekNDP(p.ICMPv6)
		if want := p.ICMPv6.Type() == ICMPv6NeighborSolicitation || p.ICMPv6.Type() == ICMPv6NeighborAdvertisement; ndp != want || ndp && !ok {
			t.Fatalf("PeekNDP(type %d) = %v, %v", p.ICMPv6.Type(), ndp, ok)
		}
		if !ndp {
			return
		}
		var first [3]*MAC
		it := m.NDPOptionIter()
		for it.Next() {
			if typ := it.Type(); typ <= 2 && first[typ] == nil {
				if mac, ok := it.LinkLayer(); ok {
					first[typ] = &mac
				}
			}
		}
		if it.Malformed() {
			t.Fatal("options Decode accepted are malformed to the iterator")
		}
		for _, typ := range []uint8{NDPOptionSourceLinkLayer, NDPOptionTargetLinkLayer} {
			mac, ok := m.LinkLayerOption(typ)
			if ok != (first[typ] != nil) || ok && mac != *first[typ] {
				t.Fatalf("LinkLayerOption(%d) = %v, %v; iterator found %v", typ, mac, ok, first[typ])
			}
		}
	})
}

// peekAll runs every Peek function and accessor on b.
func peekAll(b []byte) {
	if a, ok := PeekARP(b); ok {
		_, _, _ = a.SenderMAC(), a.SenderIP(), a.TargetIP()
	}
	if h, ok := PeekIPv4(b); ok {
		_, _, _ = h.Src(), h.Protocol(), h.HeaderLength()
	}
	if h, ok := PeekIPv6(b); ok {
		_, _ = h.Src(), h.PseudoHeaderSum(ProtoTCP, len(b))
	}
	if h, ok := PeekTCP(b); ok {
		_ = h[:h.DataOffset()]
	}
	if h, ok := PeekUDP(b); ok {
		_ = h.Length()
	}
	if m, ndp, ok := PeekNDP(b); ndp && ok {
		_ = m.Target()
		for it := m.NDPOptionIter(); it.Next(); {
			_, _ = it.LinkLayer()
		}
	}
}
