package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"unsafe"
)

// layerSeeds returns, for each golden frame, the bytes a parser of the
// named layer sees: "ethernet" (the frame), "l3" (after Ethernet and tags),
// or one of the L4 protocols.
func layerSeeds(t testing.TB, layer string) [][]byte {
	var names []string
	for n := range golden {
		names = append(names, n)
	}
	sort.Strings(names)
	var out [][]byte
	for _, n := range names {
		b := frameOf(t, n)
		var p Packet
		if err := Decode(b, &p); err != nil {
			t.Fatalf("golden %s: %v", n, err)
		}
		var s []byte
		switch layer {
		case "ethernet":
			s = b
		case "arp":
			s = p.ARP
		case "ipv4":
			s = p.IPv4
		case "ipv6":
			s = p.IPv6
		case "tcp":
			s = p.TCP
		case "udp":
			s = p.UDP
		case "icmpv4":
			s = p.ICMPv4
		case "icmpv6":
			s = p.ICMPv6
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

var fuzzLayers = map[string]string{
	"FuzzEthernet": "ethernet", "FuzzDecode": "ethernet", "FuzzARP": "arp",
	"FuzzIPv4": "ipv4", "FuzzIPv6": "ipv6", "FuzzTCP": "tcp", "FuzzUDP": "udp",
	"FuzzICMPv4": "icmpv4", "FuzzICMPv6": "icmpv6", "FuzzPeek": "ethernet",
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/<target>/ from the golden
// frames when WIRE_WRITE_CORPUS=1; otherwise it checks every target has a
// checked-in corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	for target, layer := range fuzzLayers {
		dir := filepath.Join("testdata", "fuzz", target)
		if os.Getenv("WIRE_WRITE_CORPUS") == "1" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, s := range layerSeeds(t, layer) {
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("golden%02d", i)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) == 0 {
			t.Errorf("%s: no seed corpus (%v)", dir, err)
		}
	}
}

func addSeeds(f *testing.F, layer string) {
	for _, s := range layerSeeds(f, layer) {
		f.Add(s)
	}
	f.Add([]byte{})
}

// within reports whether v is a subslice of b (or nil).
func within(v, b []byte) bool {
	if len(v) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	lo, hi := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&b[len(b)-1]))
	return uintptr(unsafe.Pointer(&v[0])) >= lo && uintptr(unsafe.Pointer(&v[len(v)-1])) <= hi
}

func FuzzEthernet(f *testing.F) {
	addSeeds(f, "ethernet")
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEthernet(b)
		if err != nil {
			return
		}
		_ = e.Dst().String() + e.Src().String()
		_ = e.EtherType()
		if v, err := ParseVLAN(e.Payload()); err == nil {
			_, _, _, _ = v.PCP(), v.DEI(), v.VID(), v.EtherType()
		}
	})
}

func FuzzARP(f *testing.F) {
	addSeeds(f, "arp")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseARP(b)
		if err != nil {
			return
		}
		var c [ARPSize]byte
		ARP(c[:]).Encode(&ARPFields{Op: a.Op(), SenderMAC: a.SenderMAC(), SenderIP: a.SenderIP(), TargetMAC: a.TargetMAC(), TargetIP: a.TargetIP()})
		if string(c[:]) != string(a) {
			t.Fatalf("re-encode %x != %x", c, []byte(a))
		}
	})
}

func FuzzIPv4(f *testing.F) {
	addSeeds(f, "ipv4")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseIPv4(b)
		if err != nil {
			return
		}
		if !within(h.Payload(), b) || len(h) != int(h.TotalLength()) {
			t.Fatal("view escapes input or length mismatch")
		}
		_, _, _, _ = h.Src(), h.Dst(), h.FragmentOffset(), h.IsFragment()
		_ = h.ChecksumValid()
		_ = h.PseudoHeaderSum()
		for it := h.OptionIter(); it.Next(); {
			_, _ = it.Type(), it.Data()
		}
		// Re-encoding the parsed fields reproduces the header.
		c := make([]byte, h.HeaderLength())
		IPv4(c).Encode(&IPv4Fields{TOS: h.TOS(), TotalLength: h.TotalLength(), ID: h.ID(), Flags: h.Flags(), FragOffset: h.FragmentOffset(),
			TTL: h.TTL(), Protocol: h.Protocol(), Src: h.Src(), Dst: h.Dst(), Options: h.Options()})
		if h.ChecksumValid() && string(c) != string(h[:h.HeaderLength()]) {
			t.Fatalf("re-encode %x != %x", c, []byte(h[:h.HeaderLength()]))
		}
	})
}

func FuzzIPv6(f *testing.F) {
	addSeeds(f, "ipv6")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseIPv6(b)
		if err != nil {
			return
		}
		_, _, _, _ = h.Src(), h.Dst(), h.FlowLabel(), h.TrafficClass()
		var c IPv6Chain
		if err := c.Parse(h); err != nil {
			return
		}
		if !within(c.Payload, h) || c.N > MaxIPv6Ext {
			t.Fatal("chain payload escapes the packet")
		}
		for i := 0; i < c.N; i++ {
			x := c.Headers[i]
			_ = x.NextHeader()
			switch c.Types[i] {
			case ProtoHopByHop, ProtoDestOpts:
				for it := x.OptionIter(); it.Next(); {
					_, _ = it.Type(), it.Data()
				}
			case ProtoRouting:
				_, _, _ = x.RoutingType(), x.SegmentsLeft(), x.RoutingData()
			}
		}
		if c.Fragment != nil {
			_, _, _ = c.Fragment.FragmentOffset(), c.Fragment.MoreFragments(), c.Fragment.ID()
		}
	})
}

func FuzzTCP(f *testing.F) {
	addSeeds(f, "tcp")
	f.Fuzz(func(t *testing.T, b []byte) {
		tc, err := ParseTCP(b)
		if err != nil {
			return
		}
		var o TCPOptions
		if err := tc.ParseOptions(&o); err != nil {
			t.Fatalf("ParseTCP accepted options ParseOptions refuses: %v", err)
		}
		if o.NumSACK > 4 {
			t.Fatalf("NumSACK %d", o.NumSACK)
		}
		_ = tc.CalculateChecksum(0)
		_ = tc.Payload()
		// Encoding the decoded options decodes to the same options.
		var ob [40]byte
		if n := o.Encode(ob[:]); n > 0 {
			var o2 TCPOptions
			if err := (&o2).parseBytes(ob[:n]); err != nil || o2 != o {
				t.Fatalf("options round trip: %+v -> %+v (%v)", o, o2, err)
			}
		}
	})
}

// parseBytes is parse for tests.
func (o *TCPOptions) parseBytes(b []byte) error {
	var fe FieldError
	if !o.parse(b, &fe) {
		return &fe
	}
	return nil
}

func FuzzUDP(f *testing.F) {
	addSeeds(f, "udp")
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseUDP(b)
		if err != nil {
			return
		}
		if int(u.Length()) != len(u) || !within(u.Payload(), b) {
			t.Fatal("length mismatch")
		}
		c := u.CalculateChecksum(0x1234)
		u.SetChecksum(c)
		if !u.ChecksumValid(0x1234, false) {
			t.Fatal("computed checksum does not verify")
		}
	})
}

func FuzzICMPv4(f *testing.F) {
	addSeeds(f, "icmpv4")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseICMPv4(b)
		if err != nil {
			return
		}
		_, _, _, _, _ = m.Type(), m.Code(), m.Ident(), m.Seq(), m.MTU()
		m.UpdateChecksum()
		if !m.ChecksumValid() {
			t.Fatal("computed checksum does not verify")
		}
	})
}

func FuzzICMPv6(f *testing.F) {
	addSeeds(f, "icmpv6")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseICMPv6(b)
		if err != nil {
			return
		}
		_, _, _, _ = m.Type(), m.Code(), m.MTU(), m.Payload()
		if m.Type() == ICMPv6NeighborSolicitation || m.Type() == ICMPv6NeighborAdvertisement {
			_ = m.Target()
			_, _ = m.LinkLayerOption(NDPOptionSourceLinkLayer)
			_, _ = m.LinkLayerOption(NDPOptionTargetLinkLayer)
			_ = m.NDPFlags()
		}
		m.SetChecksum(m.CalculateChecksum(0x4321))
		if !m.ChecksumValid(0x4321) {
			t.Fatal("computed checksum does not verify")
		}
	})
}

func FuzzDecode(f *testing.F) {
	addSeeds(f, "ethernet")
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := Decode(b, &p)
		if err != nil {
			if err != error(&p.Err) || p.Err.Layer == "" || p.Err.Kind == 0 {
				t.Fatalf("error %v is not the Packet's named FieldError", err)
			}
			return
		}
		for _, v := range [][]byte{p.L3, p.L4, p.Payload, p.IPv4, p.IPv6, p.TCP, p.UDP, p.ICMPv4, p.ICMPv6, p.ARP} {
			if !within(v, b) {
				t.Fatal("view escapes the frame")
			}
		}
		if p.TCP != nil {
			var o TCPOptions
			if err := p.TCP.ParseOptions(&o); err != nil {
				t.Fatalf("Decode accepted TCP options ParseOptions refuses: %v", err)
			}
		}
		if p.ICMPv6 != nil && (p.ICMPv6.Type() == ICMPv6NeighborSolicitation || p.ICMPv6.Type() == ICMPv6NeighborAdvertisement) {
			_ = p.ICMPv6.Target()
			_, _ = p.ICMPv6.LinkLayerOption(NDPOptionSourceLinkLayer)
		}
	})
}
