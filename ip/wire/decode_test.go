package wire

import (
	"errors"
	"testing"
)

func decodeGolden(t *testing.T, name string) *Packet {
	t.Helper()
	var p Packet
	if err := Decode(frameOf(t, name), &p); err != nil {
		t.Fatalf("Decode(%s): %v", name, err)
	}
	return &p
}

func TestDecodeIPv4TCPSyn(t *testing.T) {
	p := decodeGolden(t, "IPv4TCPSyn")
	eq(t, "dst", p.Ethernet.Dst(), macB)
	eq(t, "src", p.Ethernet.Src(), macA)
	eq(t, "ethertype", p.EtherType, EtherTypeIPv4)
	h := p.IPv4
	eq(t, "ihl", h.HeaderLength(), 20)
	eq(t, "total length", h.TotalLength(), 60)
	eq(t, "id", h.ID(), 0x1c46)
	eq(t, "flags", h.Flags(), IPv4DontFragment)
	eq(t, "fragment", p.Fragment, false)
	eq(t, "ttl", h.TTL(), 64)
	eq(t, "proto", h.Protocol(), ProtoTCP)
	eq(t, "checksum", h.Checksum(), 0x9a72)
	eq(t, "checksum valid", h.ChecksumValid(), true)
	eq(t, "src", h.Src(), s4)
	eq(t, "dst", h.Dst(), d4)
	tc := p.TCP
	eq(t, "sport", tc.SrcPort(), 40000)
	eq(t, "dport", tc.DstPort(), 80)
	eq(t, "seq", tc.Seq(), 0x01020304)
	eq(t, "ack", tc.Ack(), 0)
	eq(t, "data offset", tc.DataOffset(), 40)
	eq(t, "flags", tc.Flags(), TCPFlagSYN)
	eq(t, "window", tc.Window(), 64240)
	eq(t, "checksum", tc.Checksum(), 0xe40e)
	eq(t, "tcp checksum valid", tc.ChecksumValid(h.PseudoHeaderSum()), true)
	eq(t, "payload", len(p.Payload), 0)
	var o TCPOptions
	if err := tc.ParseOptions(&o); err != nil {
		t.Fatal(err)
	}
	eq(t, "options", o, TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, TSVal: 0x11223344, HasWindowScale: true, WindowScale: 7})
}

func TestDecodeIPv4TCPData(t *testing.T) {
	p := decodeGolden(t, "IPv4TCPData")
	tc := p.TCP
	eq(t, "flags", tc.Flags(), TCPFlagACK|TCPFlagPSH)
	eq(t, "seq", tc.Seq(), 0xdeadbeef)
	eq(t, "ack", tc.Ack(), 0xcafebabe)
	eq(t, "payload", string(p.Payload), "GET / HTTP/1.1\r\n")
	eq(t, "tcp checksum valid", tc.ChecksumValid(p.IPv4.PseudoHeaderSum()), true)
	var o TCPOptions
	if err := tc.ParseOptions(&o); err != nil {
		t.Fatal(err)
	}
	want := TCPOptions{HasTimestamps: true, TSVal: 1000, TSEcr: 2000, NumSACK: 2}
	want.SACK[0] = SACKBlock{5000, 6000}
	want.SACK[1] = SACKBlock{7000, 8000}
	eq(t, "options", o, want)
}

func TestDecodeVLANIPv4UDPOpts(t *testing.T) {
	p := decodeGolden(t, "VLANIPv4UDPOpts")
	eq(t, "tags", p.NumVLAN, 1)
	eq(t, "outer ethertype", p.Ethernet.EtherType(), EtherTypeVLAN)
	v := p.VLAN[0]
	eq(t, "pcp", v.PCP(), 5)
	eq(t, "dei", v.DEI(), false)
	eq(t, "vid", v.VID(), 100)
	eq(t, "inner ethertype", v.EtherType(), EtherTypeIPv4)
	h := p.IPv4
	eq(t, "ihl", h.HeaderLength(), 24)
	eq(t, "tos", h.TOS(), 0xb8)
	eq(t, "ttl", h.TTL(), 1)
	eq(t, "checksum valid", h.ChecksumValid(), true)
	it := h.OptionIter()
	eq(t, "option", it.Next(), true)
	eq(t, "option type", it.Type(), IPv4OptionRouterAlert)
	eq(t, "option data", string(it.Data()), "\x00\x00")
	eq(t, "no more options", it.Next(), false)
	u := p.UDP
	eq(t, "sport", u.SrcPort(), 5000)
	eq(t, "dport", u.DstPort(), 6000)
	eq(t, "length", u.Length(), 13)
	eq(t, "payload", string(p.Payload), "hello")
	eq(t, "udp checksum valid", u.ChecksumValid(h.PseudoHeaderSum(), false), true)
}

func TestDecodeIPv4Fragment(t *testing.T) {
	p := decodeGolden(t, "IPv4Fragment")
	eq(t, "fragment", p.Fragment, true)
	eq(t, "offset", p.IPv4.FragmentOffset(), 1480)
	eq(t, "MF", p.IPv4.MoreFragments(), true)
	eq(t, "id", p.IPv4.ID(), 0xabcd)
	eq(t, "udp view", p.UDP == nil, true)
	eq(t, "fragment data", len(p.L4), 16)
}

func TestDecodeARP(t *testing.T) {
	p := decodeGolden(t, "ARPRequest")
	eq(t, "dst", p.Ethernet.Dst(), Broadcast)
	a := p.ARP
	eq(t, "op", a.Op(), ARPRequest)
	eq(t, "sender mac", a.SenderMAC(), macA)
	eq(t, "sender ip", a.SenderIP(), s4)
	eq(t, "target mac", a.TargetMAC(), MAC{})
	eq(t, "target ip", a.TargetIP(), d4)
	p = decodeGolden(t, "ARPReply")
	eq(t, "op", p.ARP.Op(), ARPReply)
	eq(t, "sender mac", p.ARP.SenderMAC(), macB)
	eq(t, "target ip", p.ARP.TargetIP(), s4)
}

func TestDecodeICMPv4(t *testing.T) {
	p := decodeGolden(t, "ICMPv4Echo")
	m := p.ICMPv4
	eq(t, "type", m.Type(), ICMPv4EchoRequest)
	eq(t, "ident", m.Ident(), 0x4242)
	eq(t, "seq", m.Seq(), 7)
	eq(t, "valid", m.ChecksumValid(), true)
	eq(t, "data", string(p.Payload), "abcdefgh")
	p = decodeGolden(t, "ICMPv4FragNeeded")
	eq(t, "type", p.ICMPv4.Type(), ICMPv4DstUnreachable)
	eq(t, "code", p.ICMPv4.Code(), ICMPv4FragNeededCode)
	eq(t, "mtu", p.ICMPv4.MTU(), 1400)
	eq(t, "valid", p.ICMPv4.ChecksumValid(), true)
	inner, err := ParseIPv4(p.Payload)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "inner id", inner.ID(), 9)
	p = decodeGolden(t, "ICMPv4TimeExceeded")
	eq(t, "type", p.ICMPv4.Type(), ICMPv4TimeExceeded)
	eq(t, "valid", p.ICMPv4.ChecksumValid(), true)
}

func TestDecodeIPv6UDP(t *testing.T) {
	p := decodeGolden(t, "IPv6UDP")
	h := p.IPv6
	eq(t, "tc", h.TrafficClass(), 0x20)
	eq(t, "flow", h.FlowLabel(), 0x12345)
	eq(t, "plen", h.PayloadLength(), 18)
	eq(t, "next", h.NextHeader(), ProtoUDP)
	eq(t, "hlim", h.HopLimit(), 64)
	eq(t, "src", h.Src(), s6)
	eq(t, "dst", h.Dst(), d6)
	eq(t, "ext", p.Ext.N, 0)
	eq(t, "dport", p.UDP.DstPort(), 9)
	eq(t, "payload", string(p.Payload), "0123456789")
	ph := PseudoHeaderSum(ProtoUDP, h.Src(), h.Dst(), len(p.UDP))
	eq(t, "udp checksum valid", p.UDP.ChecksumValid(ph, false), true)
}

func TestDecodeIPv6Ext(t *testing.T) {
	p := decodeGolden(t, "IPv6ExtUDP")
	c := &p.Ext
	eq(t, "ext headers", c.N, 3)
	eq(t, "types", c.Types, [MaxIPv6Ext]uint8{ProtoHopByHop, ProtoRouting, ProtoDestOpts})
	it := c.Headers[0].OptionIter()
	eq(t, "hbh option", it.Next(), true)
	eq(t, "hbh type", it.Type(), IPv6OptionRouterAlert)
	eq(t, "hbh data", string(it.Data()), "\x00\x00")
	eq(t, "hbh end", it.Next(), false)
	eq(t, "routing type", c.Headers[1].RoutingType(), 253)
	eq(t, "segments left", c.Headers[1].SegmentsLeft(), 0)
	it = c.Headers[2].OptionIter()
	eq(t, "destopts only padding", it.Next(), false)
	eq(t, "upper", p.Protocol, ProtoUDP)
	eq(t, "payload", string(p.Payload), "ext")
	ph := PseudoHeaderSum(ProtoUDP, p.IPv6.Src(), p.IPv6.Dst(), len(p.UDP))
	eq(t, "udp checksum valid", p.UDP.ChecksumValid(ph, false), true)

	p = decodeGolden(t, "IPv6FragEcho")
	eq(t, "atomic fragment", p.Fragment, false)
	eq(t, "frag id", p.Ext.Fragment.ID(), 0x01020304)
	eq(t, "icmp type", p.ICMPv6.Type(), ICMPv6EchoRequest)
	eq(t, "icmp seq", p.ICMPv6.Seq(), 2)

	p = decodeGolden(t, "IPv6Fragment")
	eq(t, "fragment", p.Fragment, true)
	eq(t, "offset", p.Ext.Fragment.FragmentOffset(), 1232)
	eq(t, "M", p.Ext.Fragment.MoreFragments(), true)
	eq(t, "id", p.Ext.Fragment.ID(), 0x0a0b0c0d)
	eq(t, "next", p.Protocol, ProtoUDP)
	eq(t, "data", len(p.L4), 8)
	eq(t, "no udp", p.UDP == nil, true)
}

func TestDecodeICMPv6(t *testing.T) {
	p := decodeGolden(t, "ICMPv6Echo")
	m := p.ICMPv6
	eq(t, "type", m.Type(), ICMPv6EchoRequest)
	eq(t, "ident", m.Ident(), 0x1234)
	eq(t, "seq", m.Seq(), 1)
	ph := PseudoHeaderSum(ProtoICMPv6, p.IPv6.Src(), p.IPv6.Dst(), len(m))
	eq(t, "valid", m.ChecksumValid(ph), true)

	p = decodeGolden(t, "NDPSolicit")
	m = p.ICMPv6
	eq(t, "type", m.Type(), ICMPv6NeighborSolicitation)
	eq(t, "target", m.Target(), d6)
	eq(t, "dst", p.IPv6.Dst(), SolicitedNode(d6))
	eq(t, "eth dst", p.Ethernet.Dst(), IPv6MulticastMAC(SolicitedNode(d6)))
	mac, ok := m.LinkLayerOption(NDPOptionSourceLinkLayer)
	eq(t, "slla", ok, true)
	eq(t, "slla mac", mac, macA)
	_, ok = m.LinkLayerOption(NDPOptionTargetLinkLayer)
	eq(t, "no tlla", ok, false)

	p = decodeGolden(t, "NDPAdvert")
	m = p.ICMPv6
	eq(t, "flags", m.NDPFlags(), NDPFlagSolicited|NDPFlagOverride)
	mac, ok = m.LinkLayerOption(NDPOptionTargetLinkLayer)
	eq(t, "tlla", ok, true)
	eq(t, "tlla mac", mac, macB)

	for name, typ := range map[string]uint8{"ICMPv6Unreach": ICMPv6DstUnreachable, "ICMPv6TooBig": ICMPv6PacketTooBig, "ICMPv6TimeExceeded": ICMPv6TimeExceeded} {
		p = decodeGolden(t, name)
		eq(t, name+" type", p.ICMPv6.Type(), typ)
		ph := PseudoHeaderSum(ProtoICMPv6, p.IPv6.Src(), p.IPv6.Dst(), len(p.ICMPv6))
		eq(t, name+" valid", p.ICMPv6.ChecksumValid(ph), true)
		if typ == ICMPv6PacketTooBig {
			eq(t, "mtu", p.ICMPv6.MTU(), 1280)
		}
	}
}

// TestDecodeRefusals checks that each malformed input is refused with the
// named field and kind, and that the error is the Packet's own.
func TestDecodeRefusals(t *testing.T) {
	cut := func(name string, n int) []byte { b := frameOf(t, name); return b[:n] }
	set := func(name string, i int, v byte) []byte { b := frameOf(t, name); b[i] = v; return b }
	tests := []struct {
		name         string
		in           []byte
		layer, field string
		kind         Kind
		value, limit int
	}{
		{"empty", nil, "ethernet", "header", Truncated, 14, 0},
		{"802.3 length", set("IPv4TCPSyn", 12, 0x05), "ethernet", "ethertype", Unsupported, 0x0500, 0x0600},
		{"vlan cut", cut("VLANIPv4UDPOpts", 16), "vlan", "tag", Truncated, 4, 2},
		{"arp cut", cut("ARPRequest", 30), "arp", "packet", Truncated, 28, 16},
		{"arp hlen", set("ARPRequest", 18, 8), "arp", "hardware_length", Invalid, 8, 6},
		{"ipv4 cut", cut("IPv4TCPSyn", 30), "ipv4", "header", Truncated, 20, 16},
		{"ipv4 version", set("IPv4TCPSyn", 14, 0x55), "ipv4", "version", Invalid, 5, 4},
		{"ipv4 ihl", set("IPv4TCPSyn", 14, 0x44), "ipv4", "ihl", Invalid, 16, 20},
		{"ipv4 total length", set("IPv4TCPSyn", 17, 70), "ipv4", "total_length", Truncated, 70, 60},
		{"ipv4 total < ihl", set("IPv4TCPSyn", 17, 10), "ipv4", "total_length", Invalid, 10, 20},
		{"ipv4 option length", set("VLANIPv4UDPOpts", 18+21, 9), "ipv4", "option_length", Truncated, 9, 4},
		{"tcp data offset", set("IPv4TCPSyn", 34+12, 0xf0), "tcp", "data_offset", Truncated, 60, 40},
		{"tcp data offset small", set("IPv4TCPSyn", 34+12, 0x40), "tcp", "data_offset", Invalid, 16, 20},
		{"tcp mss length", set("IPv4TCPSyn", 34+21, 5), "tcp", "mss_length", Invalid, 5, 4},
		{"tcp option overrun", set("IPv4TCPSyn", 34+38, 9), "tcp", "option_length", Truncated, 26, 20},
		{"udp length", set("IPv6UDP", 54+5, 30), "udp", "length", Truncated, 30, 18},
		{"udp length small", set("IPv6UDP", 54+5, 4), "udp", "length", Invalid, 4, 8},
		{"ipv6 version", set("IPv6UDP", 14, 0x42), "ipv6", "version", Invalid, 4, 6},
		{"ipv6 payload length", set("IPv6UDP", 19, 200), "ipv6", "payload_length", Truncated, 240, 58},
		{"ipv6 hbh len", set("IPv6ExtUDP", 54+1, 5), "ipv6_hop_by_hop", "hdr_ext_len", Truncated, 48, 35},
		{"ipv6 hbh later", set("IPv6ExtUDP", 54, 0), "ipv6", "hop_by_hop_position", Invalid, 1, 0},
		{"ipv6 option", set("IPv6ExtUDP", 54+3, 7), "ipv6_hop_by_hop", "option_length", Truncated, 9, 6},
		{"ndp option zero", set("NDPSolicit", 54+25, 0), "ndp", "option_length", Invalid, 0, 1},
		{"icmpv4 cut", frameOf(t, "ICMPv4Echo")[:34], "ipv4", "total_length", Truncated, 36, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			err := Decode(tt.in, &p)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode = %v, want a *FieldError", err)
			}
			if fe != &p.Err {
				t.Errorf("error is not the Packet's own FieldError")
			}
			want := FieldError{Layer: tt.layer, Field: tt.field, Kind: tt.kind, Value: tt.value, Limit: tt.limit}
			if *fe != want {
				t.Errorf("error = %+v, want %+v", *fe, want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false", tt.kind)
			}
		})
	}
}

func TestFieldErrorText(t *testing.T) {
	e := &FieldError{Layer: "ipv4", Field: "total_length", Kind: Truncated, Value: 70, Limit: 60}
	eq(t, "Error", e.Error(), "wire: ipv4 total_length truncated (70, limit 60)")
	eq(t, "Kind(9)", Kind(9).String(), "Kind(9)")
}
