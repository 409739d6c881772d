package lan

import (
	"net/netip"
	"testing"

	"spacenet/ip/wire"
)

// FuzzGuard: the port security checks never panic on any frame, a frame
// accepted on an IP-locked port carries an allowed source, and the verdict
// for a MAC-locked port depends on the source MAC as documented.
func FuzzGuard(f *testing.F) {
	ip4 := netip.MustParseAddr("10.0.0.2")
	ip6 := netip.MustParseAddr("fd00::2")
	f.Add(eth(bcast, macA, 0x0806, arpPkt(1, macA, ip4, ip4), 60))
	f.Add(eth(bcast, macA, 0x0800, ipv4Pkt(ip4, ip4), 60))
	f.Add(eth(mcast, macA, 0x86dd, ipv6Pkt(ip6, ip6, 58, ndp(136, ip6, 2, macA)), 0))
	f.Add(eth(bcast, macA, 0x8100, []byte{0, 1, 0x08, 0x00}, 18))
	f.Add(make([]byte, 14))
	g := guard{lockMAC: true, mac: macA, ips: []netip.Addr{ip4, ip6}}
	macOnly := guard{lockMAC: true, mac: macA}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 14 {
			return
		}
		r := g.check(frame)
		if r == NumReasons && wire.MAC(frame[6:12]) != macA {
			t.Fatalf("accepted source %v", wire.MAC(frame[6:12]))
		}
		if r == NumReasons && len(frame) >= 34 && frame[12] == 0x08 && frame[13] == 0x00 {
			if src := netip.AddrFrom4([4]byte(frame[26:30])); src != ip4 && !src.IsUnspecified() {
				t.Fatalf("accepted IPv4 source %v", src)
			}
		}
		r2 := macOnly.check(frame)
		if (wire.MAC(frame[6:12]) != macA && r2 != ReasonSpoofedMAC) || r2 == ReasonSpoofedIP {
			t.Fatalf("MAC-only verdict %v for source %v", r2, wire.MAC(frame[6:12]))
		}
	})
}

// FuzzConfig: the configuration parser never panics, and what it accepts
// prints back to a file it accepts again.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("[[port]]\nname = \"a\"\ntenant = \"t\"\nkind = \"tap\"\nifname = \"x\"\n"))
	f.Add([]byte(`ageing = "1s"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.toml", data)
		if err != nil {
			return
		}
		if c.Policy != "" {
			return // read from disk: not a property of data
		}
		if _, err := ParseConfig("again", []byte(c.String())); err != nil {
			t.Fatalf("printed config refused: %v\n%s", err, c.String())
		}
	})
}

// FuzzForward: any batch of frames from any port of a switch with locked
// ports, isolation and a small MAC table never panics, and every frame is
// forwarded or counted under one reason.
func FuzzForward(f *testing.F) {
	ip4 := netip.MustParseAddr("10.0.0.2")
	f.Add(uint8(0), eth(bcast, macA, 0x0806, arpPkt(1, macA, ip4, ip4), 60), eth(macA, macB, 0x0800, ipv4Pkt(ip4, ip4), 60))
	f.Add(uint8(1), eth(macB, macA, 0x88b5, nil, 1514), make([]byte, 3))
	f.Add(uint8(2), eth(mcast, macC, 0x86dd, ipv6Pkt(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1"), 58, ndp(135, ip4, 1, macC)), 0), eth(macC, macC, 0x88b5, nil, 2000))
	f.Fuzz(func(t *testing.T, from uint8, f1, f2 []byte) {
		s := New(Options{MACTableSize: 2, Reach: NewReach(map[string][]string{"x": {"y"}})})
		defer s.Close()
		ps := memPorts(t, s,
			PortConfig{Name: "a", Tenant: "x", LockMAC: true, MAC: macA, IPs: []netip.Addr{ip4}, QueueDepth: 1},
			PortConfig{Name: "b", Tenant: "y", MTU: 100, QueueDepth: 1},
			PortConfig{Name: "c", Tenant: "z", QueueDepth: 1})
		p := ps[int(from)%3]
		for _, fr := range [][]byte{f1, f2, f1} {
			if len(fr) > p.p.size {
				continue
			}
			if _, err := p.Send([][]byte{fr}); err != nil {
				t.Fatal(err)
			}
		}
		for _, st := range s.Ports() {
			var drops uint64
			for _, d := range st.RxDrops {
				drops += d
			}
			if drops > st.RxFrames {
				t.Fatalf("%s: %d drops for %d frames", st.Name, drops, st.RxFrames)
			}
			if uint64(st.Queued)+st.TxDrops[ReasonQueueFull]+st.TxDrops[ReasonMTU] > 3*2 {
				t.Fatalf("%s: more deliveries than frames: %+v", st.Name, st)
			}
		}
	})
}
