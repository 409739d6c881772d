package lan

import (
	"net/netip"
	"testing"
)

// BenchmarkGuardCheck: port security's verdict on one frame of each kind
// it reads (ARP, IPv4, IPv6, an NDP advertisement with a link-layer
// option, a tagged IPv4 frame) on a port locked to a MAC and to IPs.
func BenchmarkGuardCheck(b *testing.B) {
	ip4, ll := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::1")
	g := guard{lockMAC: true, mac: macA, ips: []netip.Addr{ip4, ll}}
	tagged := eth(macB, macA, 0x8100, append([]byte{0, 5, 0x08, 0x00}, ipv4Pkt(ip4, netip.MustParseAddr("10.0.0.2"))...), 0)
	frames := [][]byte{
		eth(bcast, macA, 0x0806, arpPkt(1, macA, ip4, netip.MustParseAddr("10.0.0.2")), 60),
		eth(macB, macA, 0x0800, ipv4Pkt(ip4, netip.MustParseAddr("10.0.0.2")), 60),
		eth(macB, macA, 0x86dd, ipv6Pkt(ll, netip.MustParseAddr("fe80::2"), 17, make([]byte, 8)), 0),
		eth(bcast, macA, 0x86dd, ipv6Pkt(ll, netip.MustParseAddr("ff02::1"), 58, ndp(136, ll, 2, macA)), 0),
		tagged,
	}
	for _, f := range frames {
		if r := g.check(f); r != NumReasons {
			b.Fatalf("frame %x refused: %v", f, r)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, f := range frames {
			if g.check(f) != NumReasons {
				b.Fatal("refused")
			}
		}
	}
}
