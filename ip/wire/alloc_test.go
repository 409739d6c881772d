package wire

import (
	"testing"
)

// TestZeroAllocs checks that parsing, decoding (success and failure) and
// building allocate nothing.
func TestZeroAllocs(t *testing.T) {
	frames := map[string][]byte{}
	for n := range golden {
		frames[n] = frameOf(t, n)
	}
	bad := frameOf(t, "IPv4TCPSyn")
	bad[17] = 200 // total length beyond the frame
	var p Packet
	var o TCPOptions
	var c IPv6Chain
	buf := make([]byte, 1600)
	cases := map[string]func(){
		"Decode all goldens": func() {
			for _, f := range frames {
				if Decode(f, &p) != nil {
					panic("decode")
				}
			}
		},
		"Decode failure": func() {
			if Decode(bad, &p) == nil {
				panic("accepted")
			}
		},
		"Parse functions": func() {
			f := frames["IPv4TCPData"]
			e, _ := ParseEthernet(f)
			h, _ := ParseIPv4(e.Payload())
			tc, _ := ParseTCP(h.Payload())
			_ = tc.ParseOptions(&o)
			_, _ = ParseARP(frames["ARPRequest"][14:])
			h6, _ := ParseIPv6(frames["IPv6ExtUDP"][14:])
			_ = c.Parse(h6)
			_, _ = ParseUDP(c.Payload)
			_, _ = ParseICMPv6(frames["NDPSolicit"][54:])
			_, _ = ParseICMPv4(frames["ICMPv4Echo"][34:])
			_, _ = ParseVLAN(frames["VLANIPv4UDPOpts"][14:])
		},
		"Peek functions": func() {
			f := frames["NDPSolicit"]
			_, l3, _ := Untag(f)
			h, _ := PeekIPv6(l3)
			m, _, _ := PeekNDP(h.Payload())
			for it := m.NDPOptionIter(); it.Next(); {
				_, _ = it.LinkLayer()
			}
			_, _ = PeekARP(frames["ARPRequest"][14:])
			v4, _ := PeekIPv4(frames["IPv4TCPData"][14:])
			_, _ = PeekTCP(v4.Payload())
			_, _ = PeekUDP(frames["IPv6UDP"][54:])
			_ = h.PseudoHeaderSum(ProtoICMPv6, len(m))
		},
		"Checksums": func() {
			f := frames["IPv4TCPData"]
			h := IPv4(f[14:])
			_ = h.ChecksumValid()
			_ = TCP(h.Payload()).ChecksumValid(h.PseudoHeaderSum())
			_ = PseudoHeaderSum(ProtoUDP, s6, d6, 100)
		},
		"Build TCP/IPv4": func() {
			var ob [40]byte
			opt := TCPOptions{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTimestamps: true, HasWindowScale: true, WindowScale: 7}
			n := opt.Encode(ob[:])
			buildIPv4TCP(buf, &TCPFields{SrcPort: 1, DstPort: 2, Flags: TCPFlagSYN, Options: ob[:n]}, nil, &IPv4Fields{TTL: 64, Protocol: ProtoTCP, Src: s4, Dst: d4})
		},
		"Build NDP/ARP/ICMP": func() {
			h := IPv6(buf[14:])
			h.Encode(&IPv6Fields{PayloadLength: 32, NextHeader: ProtoICMPv6, HopLimit: 255, Src: d6, Dst: s6})
			ICMPv6(h[40:]).EncodeNeighbor(ICMPv6NeighborAdvertisement, NDPFlagSolicited, d6, macB, d6, s6)
			ARP(buf[14:]).Encode(&ARPFields{Op: ARPReply, SenderMAC: macA, SenderIP: s4, TargetIP: d4})
			ICMPv4(buf[34:100]).Encode(&ICMPFields{Type: ICMPv4EchoReply, Ident: 1, Seq: 2})
		},
	}
	for name, fn := range cases {
		if a := testing.AllocsPerRun(200, fn); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, a)
		}
	}
}
