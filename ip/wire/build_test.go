package wire

import (
	"encoding/binary"
	"testing"
)

// Each builder below rebuilds a golden frame from its fields with the Encode
// methods and setters, into a dirty buffer, and must match byte for byte.

func dirty(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0xa5
	}
	return b
}

func buildIPv4TCP(b []byte, f *TCPFields, payload []byte, ip *IPv4Fields) int {
	Ethernet(b).Encode(&EthernetFields{Dst: macB, Src: macA, EtherType: EtherTypeIPv4})
	hl := IPv4MinSize + len(ip.Options)
	tl := hl + TCPMinSize + len(f.Options) + len(payload)
	ip.TotalLength = uint16(tl)
	h := IPv4(b[EthernetSize : EthernetSize+tl])
	h.Encode(ip)
	tc := TCP(h[hl:])
	tc.Encode(f)
	copy(tc[TCPMinSize+len(f.Options):], payload)
	tc.SetChecksum(tc.CalculateChecksum(h.PseudoHeaderSum()))
	return EthernetSize + tl
}

func TestBuildTCP(t *testing.T) {
	var opt [40]byte
	o := TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 0x11223344, HasWindowScale: true, WindowScale: 7}
	n := o.Encode(opt[:])
	b := dirty(200)
	n = buildIPv4TCP(b, &TCPFields{SrcPort: 40000, DstPort: 80, Seq: 0x01020304, Flags: TCPFlagSYN, Window: 64240, Options: opt[:n]}, nil,
		&IPv4Fields{ID: 0x1c46, Flags: IPv4DontFragment, TTL: 64, Protocol: ProtoTCP, Src: s4, Dst: d4})
	sameBytes(t, "IPv4TCPSyn", b[:n], frameOf(t, "IPv4TCPSyn"))

	// The data segment's options lead with NOP NOP TS, then NOP NOP SACK:
	// exactly what Encode writes for timestamps plus SACK blocks.
	o = TCPOptions{HasTimestamps: true, TSVal: 1000, TSEcr: 2000, NumSACK: 2}
	o.SACK[0], o.SACK[1] = SACKBlock{5000, 6000}, SACKBlock{7000, 8000}
	n = o.Encode(opt[:])
	b = dirty(200)
	n = buildIPv4TCP(b, &TCPFields{SrcPort: 443, DstPort: 51000, Seq: 0xdeadbeef, Ack: 0xcafebabe, Flags: TCPFlagACK | TCPFlagPSH, Window: 501, Options: opt[:n]},
		[]byte("GET / HTTP/1.1\r\n"), &IPv4Fields{ID: 7, Flags: IPv4DontFragment, TTL: 64, Protocol: ProtoTCP, Src: s4, Dst: d4})
	sameBytes(t, "IPv4TCPData", b[:n], frameOf(t, "IPv4TCPData"))

	// Setters on a copy reproduce the same bytes.
	g := frameOf(t, "IPv4TCPData")
	tc := TCP(g[34:])
	tc.SetSrcPort(1)
	tc.SetDstPort(2)
	tc.SetSeq(3)
	tc.SetAck(4)
	tc.SetFlags(TCPFlagRST)
	tc.SetWindow(5)
	tc.SetUrgent(6)
	tc.SetSrcPort(443)
	tc.SetDstPort(51000)
	tc.SetSeq(0xdeadbeef)
	tc.SetAck(0xcafebabe)
	tc.SetFlags(TCPFlagACK | TCPFlagPSH)
	tc.SetWindow(501)
	tc.SetUrgent(0)
	tc.SetChecksum(tc.CalculateChecksum(IPv4(g[14:]).PseudoHeaderSum()))
	sameBytes(t, "TCP setters", g, frameOf(t, "IPv4TCPData"))

	// SetFlags leaves the data offset and the reserved bits alone.
	r := make(TCP, TCPMinSize)
	r[tcpDataOffset], r[tcpDataOffset+1] = 0x5e, 0xff // data offset 5, reserved 0b111, NS and every flag
	r.SetFlags(TCPFlagSYN)
	if r[tcpDataOffset] != 0x5e || r[tcpDataOffset+1] != 0x02 || r.DataOffset() != 20 || r.Flags() != TCPFlagSYN {
		t.Errorf("SetFlags(SYN) on 5eff: %x", r[tcpDataOffset:tcpDataOffset+2])
	}
}

func TestTCPOptionsEncodeRoundTrip(t *testing.T) {
	cases := []TCPOptions{
		{},
		{HasMSS: true, MSS: 536},
		{SACKPermitted: true},
		{HasTimestamps: true, TSVal: 1, TSEcr: 2},
		{HasWindowScale: true, WindowScale: 14},
		{HasMSS: true, MSS: 1, SACKPermitted: true, HasWindowScale: true, WindowScale: 1},
		{HasTimestamps: true, TSVal: 9, NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}},
		{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}},
	}
	for i, o := range cases {
		var b [40]byte
		n := o.Encode(b[:])
		if n%4 != 0 || (n == 0 && o != (TCPOptions{})) {
			t.Errorf("case %d: Encode = %d", i, n)
			continue
		}
		var got TCPOptions
		var fe FieldError
		if !got.parse(b[:n], &fe) {
			t.Errorf("case %d: parse: %v", i, &fe)
		}
		eq(t, "round trip", got, o)
	}
	// Too many options for 40 bytes.
	o := TCPOptions{HasMSS: true, HasTimestamps: true, SACKPermitted: true, NumSACK: 4}
	var b [40]byte
	eq(t, "oversize", o.Encode(b[:]), 0)
	eq(t, "short buffer", (&TCPOptions{HasMSS: true}).Encode(b[:3]), 0)
}

func TestBuildVLANIPv4UDP(t *testing.T) {
	b := dirty(100)
	Ethernet(b).Encode(&EthernetFields{Dst: macB, Src: macA, EtherType: EtherTypeVLAN})
	v := VLAN(b[14:18])
	v.SetTCI(5, false, 100)
	v.SetEtherType(EtherTypeIPv4)
	opts := []byte{0x94, 4, 0, 0}
	h := IPv4(b[18 : 18+24+13])
	h.Encode(&IPv4Fields{TOS: 0xb8, TotalLength: 37, ID: 0x1234, TTL: 1, Protocol: ProtoUDP, Src: s4, Dst: d4, Options: opts})
	u := UDP(h[24:])
	u.Encode(&UDPFields{SrcPort: 5000, DstPort: 6000, Length: 13})
	copy(u.Payload(), "hello")
	u.SetChecksum(u.CalculateChecksum(h.PseudoHeaderSum()))
	sameBytes(t, "VLANIPv4UDPOpts", b[:18+37], frameOf(t, "VLANIPv4UDPOpts"))

	// DEI and the VLAN setters.
	v.SetTCI(7, true, 0xfff)
	eq(t, "tci", v.TCI(), 0xffff)
	eq(t, "dei", v.DEI(), true)
	eq(t, "pcp", v.PCP(), 7)
}

func TestBuildIPv4Fragment(t *testing.T) {
	b := dirty(100)
	Ethernet(b).Encode(&EthernetFields{Dst: macB, Src: macA, EtherType: EtherTypeIPv4})
	h := IPv4(b[14:50])
	for i := range 16 {
		h[20+i] = byte(i)
	}
	h.Encode(&IPv4Fields{TotalLength: 36, ID: 0xabcd, Flags: IPv4MoreFragments, FragOffset: 1480, TTL: 64, Protocol: ProtoUDP, Src: s4, Dst: d4})
	sameBytes(t, "IPv4Fragment", b[:50], frameOf(t, "IPv4Fragment"))

	// Setters then UpdateChecksum reproduce the golden header.
	g := frameOf(t, "IPv4Fragment")
	h = IPv4(g[14:])
	h.SetTOS(0)
	h.SetTotalLength(36)
	h.SetID(0xabcd)
	h.SetFlagsFragmentOffset(IPv4MoreFragments, 1480)
	h.SetTTL(3)
	h.SetTTL(64)
	h.SetProtocol(ProtoUDP)
	h.SetSrc(s4)
	h.SetDst(d4)
	h.UpdateChecksum()
	sameBytes(t, "IPv4 setters", g, frameOf(t, "IPv4Fragment"))
}

func TestBuildARP(t *testing.T) {
	b := dirty(42)
	Ethernet(b).Encode(&EthernetFields{Dst: Broadcast, Src: macA, EtherType: EtherTypeARP})
	ARP(b[14:]).Encode(&ARPFields{Op: ARPRequest, SenderMAC: macA, SenderIP: s4, TargetIP: d4})
	sameBytes(t, "ARPRequest", b, frameOf(t, "ARPRequest"))

	// Answer the request in place with setters.
	e := Ethernet(b)
	a := ARP(b[14:])
	e.SetDst(a.SenderMAC())
	e.SetSrc(macB)
	a.SetOp(ARPReply)
	a.SetTarget(a.SenderMAC(), a.SenderIP())
	a.SetSender(macB, d4)
	sameBytes(t, "ARPReply", b, frameOf(t, "ARPReply"))
}

func TestBuildICMPv4(t *testing.T) {
	b := dirty(50)
	Ethernet(b).Encode(&EthernetFields{Dst: macB, Src: macA, EtherType: EtherTypeIPv4})
	IPv4(b[14:]).Encode(&IPv4Fields{TotalLength: 36, ID: 1, TTL: 64, Protocol: ProtoICMPv4, Src: s4, Dst: d4})
	copy(b[42:], "abcdefgh")
	ICMPv4(b[34:50]).Encode(&ICMPFields{Type: ICMPv4EchoRequest, Ident: 0x4242, Seq: 7})
	sameBytes(t, "ICMPv4Echo", b, frameOf(t, "ICMPv4Echo"))

	inner := frameOf(t, "ICMPv4FragNeeded")[42:70]
	for _, c := range []struct {
		name      string
		typ, code uint8
		id        uint16
		mtu       uint32
	}{
		{"ICMPv4FragNeeded", ICMPv4DstUnreachable, ICMPv4FragNeededCode, 2, 1400},
		{"ICMPv4TimeExceeded", ICMPv4TimeExceeded, 0, 3, 0},
	} {
		b := dirty(70)
		Ethernet(b).Encode(&EthernetFields{Dst: macA, Src: macB, EtherType: EtherTypeIPv4})
		IPv4(b[14:]).Encode(&IPv4Fields{TotalLength: 56, ID: c.id, TTL: 64, Protocol: ProtoICMPv4, Src: d4, Dst: s4})
		copy(b[42:], inner)
		ICMPv4(b[34:]).Encode(&ICMPFields{Type: c.typ, Code: c.code, MTU: c.mtu})
		sameBytes(t, c.name, b, frameOf(t, c.name))
	}
}

func buildIPv6(b []byte, src, dst MAC, f *IPv6Fields) IPv6 {
	Ethernet(b).Encode(&EthernetFields{Dst: dst, Src: src, EtherType: EtherTypeIPv6})
	h := IPv6(b[14 : 14+IPv6Size+int(f.PayloadLength)])
	h.Encode(f)
	return h
}

func TestBuildIPv6UDP(t *testing.T) {
	b := dirty(72)
	h := buildIPv6(b, macA, macB, &IPv6Fields{TrafficClass: 0x20, FlowLabel: 0x12345, PayloadLength: 18, NextHeader: ProtoUDP, HopLimit: 64, Src: s6, Dst: d6})
	u := UDP(h[40:])
	u.Encode(&UDPFields{SrcPort: 40000, DstPort: 9, Length: 18})
	copy(u.Payload(), "0123456789")
	u.SetChecksum(u.CalculateChecksum(PseudoHeaderSum(ProtoUDP, s6, d6, 18)))
	sameBytes(t, "IPv6UDP", b, frameOf(t, "IPv6UDP"))

	// Setters.
	h.SetTrafficClass(0xff)
	h.SetFlowLabel(0xfffff)
	h.SetTrafficClass(0x20)
	h.SetFlowLabel(0x12345)
	h.SetHopLimit(1)
	h.SetHopLimit(64)
	h.SetNextHeader(ProtoUDP)
	h.SetPayloadLength(18)
	h.SetSrc(s6)
	h.SetDst(d6)
	sameBytes(t, "IPv6 setters", b, frameOf(t, "IPv6UDP"))
}

func TestBuildIPv6Ext(t *testing.T) {
	b := dirty(89)
	h := buildIPv6(b, macA, macB, &IPv6Fields{PayloadLength: 35, NextHeader: ProtoHopByHop, HopLimit: 64, Src: s6, Dst: d6})
	p := h[40:]
	n := EncodeIPv6Options(p, ProtoRouting, []byte{IPv6OptionRouterAlert, 2, 0, 0})
	eq(t, "hbh length", n, 8)
	n += EncodeIPv6Routing(p[n:], ProtoDestOpts, 253, 0, []byte{0, 0, 0, 0})
	eq(t, "routing length", n, 16)
	n += EncodeIPv6Options(p[n:], ProtoUDP, nil)
	eq(t, "destopts length", n, 24)
	u := UDP(p[n:])
	u.Encode(&UDPFields{SrcPort: 7000, DstPort: 7001, Length: 11})
	copy(u.Payload(), "ext")
	u.SetChecksum(u.CalculateChecksum(PseudoHeaderSum(ProtoUDP, s6, d6, 11)))
	sameBytes(t, "IPv6ExtUDP", b, frameOf(t, "IPv6ExtUDP"))

	// Pad1 padding, and refusals.
	var o [16]byte
	eq(t, "pad1", EncodeIPv6Options(o[:], 6, []byte{5, 4, 1, 2, 3, 4}), 8)
	sameBytes(t, "pad1 header", o[:8], []byte{6, 0, 5, 4, 1, 2, 3, 4})
	eq(t, "padN 5", EncodeIPv6Options(o[:], 6, []byte{IPv6OptionPad1}), 8)
	sameBytes(t, "padN header", o[:8], []byte{6, 0, 0, 1, 3, 0, 0, 0})
	eq(t, "short", EncodeIPv6Options(o[:4], 6, nil), 0)
	eq(t, "routing misaligned", EncodeIPv6Routing(o[:], 6, 0, 0, []byte{1}), 0)

	b = dirty(71)
	h = buildIPv6(b, macA, macB, &IPv6Fields{PayloadLength: 17, NextHeader: ProtoFragment, HopLimit: 64, Src: s6, Dst: d6})
	IPv6Fragment(h[40:]).Encode(ProtoICMPv6, 0, false, 0x01020304)
	h[56] = 'x'
	ICMPv6(h[48:]).Encode(&ICMPFields{Type: ICMPv6EchoRequest, Ident: 1, Seq: 2}, s6, d6)
	sameBytes(t, "IPv6FragEcho", b, frameOf(t, "IPv6FragEcho"))

	b = dirty(70)
	h = buildIPv6(b, macA, macB, &IPv6Fields{PayloadLength: 16, NextHeader: ProtoFragment, HopLimit: 64, Src: s6, Dst: d6})
	IPv6Fragment(h[40:]).Encode(ProtoUDP, 1232, true, 0x0a0b0c0d)
	clear(h[48:])
	sameBytes(t, "IPv6Fragment", b, frameOf(t, "IPv6Fragment"))
}

func TestBuildICMPv6(t *testing.T) {
	b := dirty(70)
	h := buildIPv6(b, macA, macB, &IPv6Fields{PayloadLength: 16, NextHeader: ProtoICMPv6, HopLimit: 64, Src: s6, Dst: d6})
	copy(h[48:], "pingdata")
	ICMPv6(h[40:]).Encode(&ICMPFields{Type: ICMPv6EchoRequest, Ident: 0x1234, Seq: 1}, s6, d6)
	sameBytes(t, "ICMPv6Echo", b, frameOf(t, "ICMPv6Echo"))

	// The reply, made in place from the request with setters and RFC 1624
	// updates: the type word changes and the addresses swap (a no-op for
	// the sum).
	m := ICMPv6(h[40:])
	old := binary.BigEndian.Uint16(m)
	m.SetType(ICMPv6EchoReply)
	m.SetChecksum(UpdateChecksum(m.Checksum(), old, binary.BigEndian.Uint16(m)))
	Ethernet(b).SetDst(macA)
	Ethernet(b).SetSrc(macB)
	h.SetSrc(d6)
	h.SetDst(s6)
	sameBytes(t, "ICMPv6EchoReply", b, frameOf(t, "ICMPv6EchoReply"))

	sn := SolicitedNode(d6)
	b = dirty(86)
	h = buildIPv6(b, macA, IPv6MulticastMAC(sn), &IPv6Fields{PayloadLength: 32, NextHeader: ProtoICMPv6, HopLimit: 255, Src: s6, Dst: sn})
	eq(t, "NS length", ICMPv6(h[40:]).EncodeNeighbor(ICMPv6NeighborSolicitation, 0, d6, macA, s6, sn), 32)
	sameBytes(t, "NDPSolicit", b, frameOf(t, "NDPSolicit"))

	b = dirty(86)
	h = buildIPv6(b, macB, macA, &IPv6Fields{PayloadLength: 32, NextHeader: ProtoICMPv6, HopLimit: 255, Src: d6, Dst: s6})
	eq(t, "NA length", ICMPv6(h[40:]).EncodeNeighbor(ICMPv6NeighborAdvertisement, NDPFlagSolicited|NDPFlagOverride, d6, macB, d6, s6), 32)
	sameBytes(t, "NDPAdvert", b, frameOf(t, "NDPAdvert"))
	eq(t, "short NA", ICMPv6(b[:20]).EncodeNeighbor(ICMPv6NeighborAdvertisement, 0, d6, macB, d6, s6), 0)

	inner := frameOf(t, "ICMPv6Unreach")[62:]
	for _, c := range []struct {
		name      string
		typ, code uint8
		mtu       uint32
	}{
		{"ICMPv6Unreach", ICMPv6DstUnreachable, 4, 0},
		{"ICMPv6TooBig", ICMPv6PacketTooBig, 0, 1280},
		{"ICMPv6TimeExceeded", ICMPv6TimeExceeded, 0, 0},
	} {
		b := dirty(110)
		h := buildIPv6(b, macB, macA, &IPv6Fields{PayloadLength: 56, NextHeader: ProtoICMPv6, HopLimit: 64, Src: d6, Dst: s6})
		copy(h[48:], inner)
		ICMPv6(h[40:]).Encode(&ICMPFields{Type: c.typ, Code: c.code, MTU: c.mtu}, d6, s6)
		sameBytes(t, c.name, b, frameOf(t, c.name))
	}
}

func TestMAC(t *testing.T) {
	m := MAC{0x02, 0x00, 0x5e, 0x10, 0xab, 0xff}
	eq(t, "String", m.String(), "02:00:5e:10:ab:ff")
	got, err := ParseMAC("02-00-5E-10-AB-FF")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ParseMAC", got, m)
	for _, dotted := range []string{"0200.5e10.abff", "0200.5E10.ABFF"} {
		got, err := ParseMAC(dotted)
		if err != nil {
			t.Fatalf("ParseMAC(%q): %v", dotted, err)
		}
		eq(t, "ParseMAC "+dotted, got, m)
	}
	eq(t, "LocalMAC", LocalMAC(0x1234ab), MAC{0x02, 0x53, 0x4e, 0x12, 0x34, 0xab})
	for _, bad := range []string{"", "02:00:5e:10:ab", "02:00:5e:10:ab:fg", "02:00:5e:10:ab+ff", "0200.5e10:abff", "0200-5e10.abff", "0200.5e10.abfg", "0200.5e10.ab"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("ParseMAC(%q) = nil error", bad)
		}
	}
	eq(t, "multicast", Broadcast.IsMulticast(), true)
	eq(t, "unicast", m.IsMulticast(), false)
}
