package lan

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

func pc(name, tenant string) PortConfig { return PortConfig{Name: name, Tenant: tenant} }

// dyn is pc without sticky MAC: a port whose MACs are learnt, age and move.
func dyn(name, tenant string) PortConfig {
	return PortConfig{Name: name, Tenant: tenant, NoSticky: true}
}

// TestLearning: unknown unicast floods, a reply is sent only where its
// destination was learned, and the MAC table says where each MAC lives.
func TestLearning(t *testing.T) {
	s := New(Options{Clock: newFakeClock()})
	defer s.Close()
	ps := memPorts(t, s, dyn("a", "t"), dyn("b", "t"), dyn("c", "t"))
	a, b, c := ps[0], ps[1], ps[2]

	f1 := eth(macB, macA, 0x88b5, []byte("hello b"), 60)
	send(t, a, f1) // B unknown: flood to b and c
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{0, 1, 1}) {
		t.Fatalf("after unknown unicast, queued %v; want [0 1 1]", got)
	}
	if got := drain(t, b, 1); !bytes.Equal(got[0], f1) {
		t.Fatalf("b got % x", got[0])
	}
	drain(t, c, 1)

	send(t, b, eth(macA, macB, 0x88b5, nil, 60)) // A learned: to a only
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{1, 0, 0}) {
		t.Fatalf("after reply, queued %v; want [1 0 0]", got)
	}
	drain(t, a, 1)
	send(t, a, eth(macB, macA, 0x88b5, nil, 60), eth(macB, macA, 0x88b5, nil, 1514)) // B learned
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{0, 2, 0}) {
		t.Fatalf("after learning both, queued %v; want [0 2 0]", got)
	}
	drain(t, b, 2)

	macs := s.MACs()
	slices.SortFunc(macs, func(x, y MACEntry) int { return bytes.Compare(x.MAC[:], y.MAC[:]) })
	want := []MACEntry{{MAC: macA, Port: "a"}, {MAC: macB, Port: "b"}}
	if len(macs) != 2 || macs[0].MAC != want[0].MAC || macs[0].Port != "a" || macs[1].MAC != want[1].MAC || macs[1].Port != "b" {
		t.Fatalf("MACs = %+v; want %+v", macs, want)
	}

	// A frame to a MAC behind the port it came from is not sent back.
	send(t, a, eth(macA, macA, 0x88b5, nil, 60))
	sa, _ := s.Port("a")
	if sa.RxDrops[ReasonLocal] != 1 {
		t.Errorf("a RxDrops[local] = %d; want 1", sa.RxDrops[ReasonLocal])
	}
	// A moves from a to c.
	send(t, c, eth(macB, macA, 0x88b5, nil, 60))
	drain(t, b, 1)
	send(t, b, eth(macA, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{0, 0, 1}) {
		t.Fatalf("after A moved, queued %v; want [0 0 1]", got)
	}
	if st := s.Stats(); st.Moves != 1 || st.MACs != 2 {
		t.Errorf("Stats = %+v; want 1 move, 2 MACs", st)
	}
	drain(t, c, 1)

	// Counters: a received 5 frames (60+1514+60+60 bytes... counted exactly).
	sa, _ = s.Port("a")
	if sa.RxFrames != 4 || sa.RxBytes != 60+60+1514+60 || sa.TxFrames != 1 || sa.TxBytes != 60 || sa.Forwarded() != 3 {
		t.Errorf("port a stats %+v", sa)
	}
}

// TestAgeing: an entry expires after the ageing time (fake clock), its
// frames flood again; a full table learns nothing new until entries expire.
func TestAgeing(t *testing.T) {
	clk := newFakeClock()
	s := New(Options{Clock: clk, MACTableSize: 2})
	defer s.Close()
	ps := memPorts(t, s, dyn("a", "t"), dyn("b", "t"), dyn("c", "t"))
	a, b, c := ps[0], ps[1], ps[2]

	send(t, a, eth(bcast, macA, 0x88b5, nil, 60))
	drain(t, b, 1)
	drain(t, c, 1)
	clk.Advance(DefaultAgeing) // exactly 300 s: still live
	send(t, b, eth(macA, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{1, 0, 0}) {
		t.Fatalf("at 300 s, queued %v; want [1 0 0]", got)
	}
	drain(t, a, 1)
	clk.Advance(time.Nanosecond) // A expired, B (learned at 300 s) is live
	send(t, b, eth(macA, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{1, 0, 1}) {
		t.Fatalf("after expiry, queued %v; want [1 0 1] (flood)", got)
	}
	drain(t, a, 1)
	drain(t, c, 1)
	if st := s.Stats(); st.MACs != 1 {
		t.Errorf("live MACs = %d; want 1 (B)", st.MACs)
	}

	// Table bound 2: A (expired, still stored) and B fill it. C arrives:
	// the sweep removes A, C is learned.
	send(t, c, eth(bcast, macC, 0x88b5, nil, 60))
	drain(t, a, 1)
	drain(t, b, 1)
	if st := s.Stats(); st.MACs != 2 || st.LearnFull != 0 {
		t.Fatalf("Stats = %+v; want 2 MACs, LearnFull 0", st)
	}
	// X cannot be learned (B and C live); its frames still flood.
	send(t, a, eth(bcast, macX, 0x88b5, nil, 60))
	drain(t, b, 1)
	drain(t, c, 1)
	send(t, b, eth(macX, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{1, 0, 1}) {
		t.Fatalf("to unlearnt X, queued %v; want [1 0 1]", got)
	}
	drain(t, a, 1)
	drain(t, c, 1)
	if st := s.Stats(); st.LearnFull != 1 {
		t.Errorf("LearnFull = %d; want 1", st.LearnFull)
	}
	clk.Advance(DefaultAgeing + 1)
	if n := s.Sweep(); n != 2 {
		t.Errorf("Sweep = %d; want 2", n)
	}
}

// TestFlood: broadcast and multicast go to every other port; flood-only
// mode sends known unicast everywhere too.
func TestFlood(t *testing.T) {
	for _, floodOnly := range []bool{false, true} {
		s := New(Options{FloodOnly: floodOnly})
		ps := memPorts(t, s, pc("a", "t"), pc("b", "t"), pc("c", "t"), pc("d", "t"))
		send(t, ps[1], eth(bcast, macB, 0x88b5, nil, 60)) // B known to a learning switch
		for _, dst := range []wire.MAC{bcast, mcast, macB} {
			send(t, ps[0], eth(dst, macA, 0x88b5, nil, 60))
		}
		// b's broadcast reached a, c, d; then a's three frames.
		want := []int{1, 3, 4, 4}
		if !floodOnly {
			want = []int{1, 3, 3, 3} // the unicast to B went to b only
		}
		if got := queued(t, s, "a", "b", "c", "d"); !slices.Equal(got, want) {
			t.Errorf("floodOnly=%v: queued %v; want %v", floodOnly, got, want)
		}
		for _, e := range s.MACs() {
			if floodOnly && !e.Locked {
				t.Errorf("flood-only switch learned %v on %s (only sticky addresses are kept)", e.MAC, e.Port)
			}
		}
		s.Close()
	}
	// A lone port's flood has nowhere to go.
	s := New(Options{})
	defer s.Close()
	a := memPorts(t, s, pc("a", "t"))[0]
	send(t, a, eth(bcast, macA, 0x88b5, nil, 60))
	if st, _ := s.Port("a"); st.RxDrops[ReasonNoPort] != 1 {
		t.Errorf("RxDrops[no_port] = %d; want 1", st.RxDrops[ReasonNoPort])
	}
}

// TestMTU: oversized frames are dropped and counted, in and out, never
// truncated.
func TestMTU(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ps := memPorts(t, s, pc("a", "t"), PortConfig{Name: "b", Tenant: "t", MTU: 1000}, pc("c", "t"))
	a, b, c := ps[0], ps[1], ps[2]
	send(t, a, eth(bcast, macA, 0x88b5, nil, 1014), eth(bcast, macA, 0x88b5, nil, 1015), eth(bcast, macA, 0x88b5, nil, 1514))
	if got := queued(t, s, "a", "b", "c"); !slices.Equal(got, []int{0, 1, 3}) {
		t.Fatalf("queued %v; want [0 1 3]", got)
	}
	if got := drain(t, b, 1); len(got[0]) != 1014 {
		t.Errorf("b got %d bytes; want 1014", len(got[0]))
	}
	for i, f := range drain(t, c, 3) {
		if want := []int{1014, 1015, 1514}[i]; len(f) != want {
			t.Errorf("c frame %d: %d bytes; want %d", i, len(f), want)
		}
	}
	if sb, _ := s.Port("b"); sb.TxDrops[ReasonMTU] != 2 || sb.TxFrames != 1 {
		t.Errorf("b: TxDrops[mtu] %d TxFrames %d; want 2, 1", sb.TxDrops[ReasonMTU], sb.TxFrames)
	}
	// b's own NIC refuses a frame over its MTU, with nic.ErrTooBig.
	n, err := b.Send([][]byte{eth(bcast, macB, 0x88b5, nil, 60), eth(bcast, macB, 0x88b5, nil, 1015)})
	if n != 1 || !errors.Is(err, nic.ErrTooBig) {
		t.Errorf("Send over MTU = %d, %v; want 1, ErrTooBig", n, err)
	}
	if sb, _ := s.Port("b"); sb.RxDrops[ReasonMTU] != 1 || sb.RxFrames != 2 {
		t.Errorf("b: RxDrops[mtu] %d RxFrames %d; want 1, 2", sb.RxDrops[ReasonMTU], sb.RxFrames)
	}
	drain(t, a, 1)
	drain(t, c, 1)

	// A NIC-backed port whose MTU is below its NIC's: the reader receives
	// the big frame and the switch drops it.
	far, near := nic.NewPipe(1500, 8)
	defer far.Close()
	if err := s.Attach(near, PortConfig{Name: "p", Tenant: "t", MTU: 1200}); err != nil {
		t.Fatal(err)
	}
	send(t, far, eth(bcast, wire.LocalMAC(7), 0x88b5, nil, 1300), eth(bcast, wire.LocalMAC(7), 0x88b5, nil, 1214))
	got := drain(t, a, 1)
	if len(got[0]) != 1214 {
		t.Errorf("a got %d bytes; want 1214", len(got[0]))
	}
	drain(t, b, 0)
	drain(t, c, 1)
	if sp, _ := s.Port("p"); sp.RxDrops[ReasonMTU] != 1 || sp.RxFrames != 2 {
		t.Errorf("p: RxDrops[mtu] %d RxFrames %d; want 1, 2", sp.RxDrops[ReasonMTU], sp.RxFrames)
	}
	if err := s.Attach(far, PortConfig{Name: "q", Tenant: "t", MTU: 9000}); err == nil {
		t.Error("Attach with MTU above the NIC's succeeded")
	}
}

// TestRunt: frames shorter than a header and group source MACs are refused.
func TestRunt(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ps := memPorts(t, s, pc("a", "t"), pc("b", "t"))
	send(t, ps[0], make([]byte, 13), eth(bcast, bcast, 0x88b5, nil, 60), []byte{})
	sa, _ := s.Port("a")
	if sa.RxDrops[ReasonRunt] != 2 || sa.RxDrops[ReasonBadSrc] != 1 || sa.Forwarded() != 0 {
		t.Errorf("a: %+v", sa)
	}
}

// TestSpoofing: a port locked to its MAC and IPs refuses frames claiming
// another identity, and accepts its own.
func TestSpoofing(t *testing.T) {
	ip4 := netip.MustParseAddr("10.0.0.2")
	other4 := netip.MustParseAddr("10.0.0.3")
	ip6 := netip.MustParseAddr("fd00::2")
	other6 := netip.MustParseAddr("fd00::3")
	zero4, zero6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	vlan := func(inner uint16, payload []byte) []byte {
		p := append([]byte{0, 5, byte(inner >> 8), byte(inner)}, payload...)
		return eth(bcast, macA, 0x8100, p, 60)
	}
	tests := []struct {
		name  string
		frame []byte
		want  Reason
	}{
		{"ipv4 own", eth(bcast, macA, 0x0800, ipv4Pkt(ip4, other4), 60), NumReasons},
		{"ipv4 dhcp", eth(bcast, macA, 0x0800, ipv4Pkt(zero4, netip.MustParseAddr("255.255.255.255")), 60), NumReasons},
		{"src mac", eth(bcast, macB, 0x0800, ipv4Pkt(ip4, other4), 60), ReasonSpoofedMAC},
		{"ipv4 src", eth(bcast, macA, 0x0800, ipv4Pkt(other4, ip4), 60), ReasonSpoofedIP},
		{"ipv4 short", eth(bcast, macA, 0x0800, []byte{0x45}, 14+1), ReasonSpoofedIP},
		{"arp own", eth(bcast, macA, 0x0806, arpPkt(1, macA, ip4, other4), 60), NumReasons},
		{"arp probe", eth(bcast, macA, 0x0806, arpPkt(1, macA, zero4, ip4), 60), NumReasons},
		{"arp sender mac", eth(bcast, macA, 0x0806, arpPkt(2, macB, ip4, other4), 60), ReasonSpoofedMAC},
		{"arp sender ip", eth(bcast, macA, 0x0806, arpPkt(2, macA, other4, ip4), 60), ReasonSpoofedIP},
		{"arp short", eth(bcast, macA, 0x0806, nil, 14+20), ReasonSpoofedIP},
		{"ipv6 own", eth(mcast, macA, 0x86dd, ipv6Pkt(ip6, other6, 17, make([]byte, 8)), 60), NumReasons},
		{"ipv6 src", eth(mcast, macA, 0x86dd, ipv6Pkt(other6, ip6, 17, make([]byte, 8)), 60), ReasonSpoofedIP},
		{"ipv6 dad", eth(mcast, macA, 0x86dd, ipv6Pkt(zero6, other6, 58, ndp(135, ip6, 1, macA)), 0), NumReasons},
		{"na own", eth(mcast, macA, 0x86dd, ipv6Pkt(ip6, other6, 58, ndp(136, ip6, 2, macA)), 0), NumReasons},
		{"na target", eth(mcast, macA, 0x86dd, ipv6Pkt(ip6, other6, 58, ndp(136, other6, 2, macA)), 0), ReasonSpoofedIP},
		{"na option mac", eth(mcast, macA, 0x86dd, ipv6Pkt(ip6, other6, 58, ndp(136, ip6, 2, macB)), 0), ReasonSpoofedMAC},
		{"ns option mac", eth(mcast, macA, 0x86dd, ipv6Pkt(ip6, other6, 58, ndp(135, other6, 1, macB)), 0), ReasonSpoofedMAC},
		{"vlan inner ip", vlan(0x0800, ipv4Pkt(other4, ip4)), ReasonSpoofedIP},
		{"vlan own", vlan(0x0800, ipv4Pkt(ip4, other4)), NumReasons},
		{"other ethertype", eth(bcast, macA, 0x88b5, nil, 60), NumReasons},
	}
	s := New(Options{})
	defer s.Close()
	ps := memPorts(t, s,
		PortConfig{Name: "locked", Tenant: "t", LockMAC: true, MAC: macA, IPs: []netip.Addr{ip4, ip6}},
		PortConfig{Name: "maconly", Tenant: "t", LockMAC: true, MAC: macC}, // one MAC is locked to one port
		pc("peer", "t"))
	locked, maconly, peer := ps[0], ps[1], ps[2]
	for _, tt := range tests {
		before, _ := s.Port("locked")
		send(t, locked, tt.frame)
		after, _ := s.Port("locked")
		var got Reason = NumReasons
		for r := range NumReasons {
			if after.RxDrops[r] != before.RxDrops[r] {
				got = r
			}
		}
		if got != tt.want {
			t.Errorf("%s: verdict %v; want %v", tt.name, got, tt.want)
		}
		if q := queued(t, s, "peer")[0]; (q == 1) != (tt.want == NumReasons) {
			t.Errorf("%s: peer has %d frames queued", tt.name, q)
		}
		drain(t, peer, queued(t, s, "peer")[0])
		drain(t, maconly, queued(t, s, "maconly")[0])
	}
	// A MAC-only lock does not look at IPs, only at MACs.
	send(t, maconly, eth(bcast, macC, 0x0800, ipv4Pkt(other4, ip4), 60), eth(bcast, macB, 0x0800, ipv4Pkt(ip4, other4), 60))
	if sm, _ := s.Port("maconly"); sm.RxDrops[ReasonSpoofedMAC] != 1 || sm.Forwarded() != 1 {
		t.Errorf("maconly: spoofed_mac %d forwarded %d; want 1, 1", sm.RxDrops[ReasonSpoofedMAC], sm.Forwarded())
	}
	drain(t, peer, 1)
	drain(t, locked, 1)
	// Spoofed frames teach the switch nothing: B is unknown.
	for _, e := range s.MACs() {
		if e.MAC == macB {
			t.Errorf("switch learned spoofed MAC %v on %s", e.MAC, e.Port)
		}
	}
}

// TestIsolation: tenants reach only whom Reach allows, both for floods and
// for known unicast; a policy change applies at once.
func TestIsolation(t *testing.T) {
	s := New(Options{Reach: NewReach(map[string][]string{"cam": {"proc"}, "proc": {"cam"}})})
	defer s.Close()
	ps := memPorts(t, s, pc("cam", "cam"), pc("cam2", "cam"), pc("proc", "proc"), pc("os", "spaceos"))
	cam, cam2, proc, os := ps[0], ps[1], ps[2], ps[3]
	send(t, os, eth(bcast, macC, 0x88b5, nil, 60)) // reaches nobody
	send(t, cam, eth(bcast, macA, 0x88b5, nil, 60))
	if got := queued(t, s, "cam", "cam2", "os", "proc"); !slices.Equal(got, []int{0, 1, 0, 1}) {
		t.Fatalf("queued %v; want [0 1 0 1]", got)
	}
	send(t, cam, eth(macC, macA, 0x88b5, nil, 60)) // known, other tenant
	if so, _ := s.Port("os"); so.RxDrops[ReasonIsolated] != 1 {
		t.Errorf("os RxDrops[isolated] = %d; want 1", so.RxDrops[ReasonIsolated])
	}
	if sc, _ := s.Port("cam"); sc.RxDrops[ReasonIsolated] != 1 || sc.Forwarded() != 1 {
		t.Errorf("cam isolated %d forwarded %d; want 1, 1", sc.RxDrops[ReasonIsolated], sc.Forwarded())
	}
	drain(t, cam2, 1)
	drain(t, proc, 1)
	s.SetReach(NewReach(map[string][]string{"cam": {"spaceos"}}))
	send(t, cam, eth(macC, macA, 0x88b5, nil, 60))
	if got := queued(t, s, "cam", "cam2", "os", "proc"); !slices.Equal(got, []int{0, 0, 1, 0}) {
		t.Fatalf("after SetReach, queued %v; want [0 0 1 0]", got)
	}
	drain(t, os, 1)
	if r := (*Reach)(nil); !r.Allows("x", "y") {
		t.Error("nil Reach refuses")
	}
}

// TestQueueFull: a port nobody reads drops and counts, the others go on.
func TestQueueFull(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ps := memPorts(t, s, pc("a", "t"), PortConfig{Name: "slow", Tenant: "t", QueueDepth: 4}, pc("fast", "t"))
	frames := make([][]byte, 10)
	for i := range frames {
		frames[i] = eth(bcast, macA, 0x88b5, []byte{byte(i)}, 60)
	}
	send(t, ps[0], frames...)
	ss, _ := s.Port("slow")
	if ss.Queued != 4 || ss.TxDrops[ReasonQueueFull] != 6 {
		t.Errorf("slow: queued %d queue_full %d; want 4, 6", ss.Queued, ss.TxDrops[ReasonQueueFull])
	}
	got := drain(t, ps[2], 10)
	for i, f := range got {
		if f[14] != byte(i) {
			t.Fatalf("fast frame %d carries %d: order lost", i, f[14])
		}
	}
	for i, f := range drain(t, ps[1], 4) {
		if f[14] != byte(i) {
			t.Fatalf("slow frame %d carries %d", i, f[14])
		}
	}
}

// TestNICPorts: ports backed by nic.Pipe (reader and writer goroutines)
// forward both ways, detach cleanly and count frames to a gone port.
func TestNICPorts(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	var far []nic.NIC
	for _, name := range []string{"p0", "p1"} {
		a, b := nic.NewPipe(1500, 16)
		if err := s.Attach(b, pc(name, "t")); err != nil {
			t.Fatal(err)
		}
		far = append(far, a)
	}
	bufs, sizes := [][]byte{make([]byte, 1514)}, []int{0}
	f := eth(bcast, macA, 0x88b5, []byte("over a pipe"), 60)
	send(t, far[0], f)
	if n, err := far[1].Recv(bufs, sizes); n != 1 || err != nil || !bytes.Equal(bufs[0][:sizes[0]], f) {
		t.Fatalf("Recv = %d, %v, % x", n, err, bufs[0][:sizes[0]])
	}
	g := eth(macA, macB, 0x88b5, []byte("back"), 60)
	send(t, far[1], g)
	if n, err := far[0].Recv(bufs, sizes); n != 1 || err != nil || !bytes.Equal(bufs[0][:sizes[0]], g) {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	if err := s.Detach("p1"); err != nil {
		t.Fatal(err)
	}
	if _, err := far[1].Recv(bufs, sizes); !errors.Is(err, nic.ErrClosed) {
		t.Errorf("far end after Detach: %v; want ErrClosed", err)
	}
	if err := s.Detach("p1"); err == nil {
		t.Error("second Detach succeeded")
	}
	if got := len(s.Ports()); got != 1 {
		t.Errorf("%d ports after Detach; want 1", got)
	}
	for _, e := range s.MACs() {
		if e.Port == "p1" {
			t.Errorf("MAC %v still points at detached port", e.MAC)
		}
	}
	far[0].Close()
	far[1].Close()
}

// TestAttachErrors checks the port configuration rules.
func TestAttachErrors(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	memPorts(t, s, pc("a", "t"))
	for _, c := range []PortConfig{
		{Name: "", Tenant: "t"},
		{Name: "a", Tenant: "t"},
		{Name: "b", Tenant: "Bad"},
		{Name: "b", Tenant: "t", MTU: -1},
		{Name: "b", Tenant: "t", LockMAC: true, MAC: bcast},
		{Name: "b", Tenant: "t", IPs: []netip.Addr{{}}},
	} {
		if _, err := s.AttachMem(c); err == nil {
			t.Errorf("AttachMem(%+v) succeeded", c)
		}
	}
	s.Close()
	if _, err := s.AttachPipe("z", "t"); !errors.Is(err, ErrSwitchClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestMemClose: closing an in-process NIC detaches its port and unblocks
// a waiting Recv.
func TestMemClose(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	n, err := s.AttachPipe("a", "t")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := n.Recv([][]byte{make([]byte, 1514)}, []int{0})
		done <- err
	}()
	n.Close()
	if err := <-done; !errors.Is(err, nic.ErrClosed) {
		t.Errorf("Recv after Close = %v", err)
	}
	if _, err := n.Send([][]byte{make([]byte, 60)}); !errors.Is(err, nic.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
	if len(s.Ports()) != 0 {
		t.Error("port still attached")
	}
}

// TestMonitor: the hook sees frames in and out.
func TestMonitor(t *testing.T) {
	type seen struct {
		port string
		dir  Direction
		n    int
	}
	var got []seen
	s := New(Options{Monitor: func(port string, dir Direction, f []byte) { got = append(got, seen{port, dir, len(f)}) }})
	defer s.Close()
	ps := memPorts(t, s, pc("a", "t"), pc("b", "t"))
	send(t, ps[0], eth(bcast, macA, 0x88b5, nil, 77))
	drain(t, ps[1], 1)
	want := []seen{{"a", In, 77}, {"b", Out, 77}}
	if !slices.Equal(got, want) {
		t.Errorf("monitor saw %v; want %v", got, want)
	}
}

// TestSlowNICPort: a NIC that stops taking frames (a pipe nobody reads)
// blocks only its own writer; its queue fills and drops while the other
// ports go on receiving everything.
func TestSlowNICPort(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	stuck, near := nic.NewPipe(1500, 2)
	defer stuck.Close()
	if err := s.Attach(near, PortConfig{Name: "stuck", Tenant: "t", QueueDepth: 8}); err != nil {
		t.Fatal(err)
	}
	ps := memPorts(t, s, pc("a", "t"), pc("b", "t"))
	for i := range 100 {
		send(t, ps[0], eth(bcast, macA, 0x88b5, []byte{byte(i)}, 60))
		got := drain(t, ps[1], 1)
		if got[0][14] != byte(i) {
			t.Fatalf("b frame %d carries %d", i, got[0][14])
		}
	}
	// The stuck port's pipe took 2 frames, its writer holds a batch
	// blocked in Send (not yet counted), its queue is full, the rest was
	// dropped.
	waitFor(t, "stuck port's queue to fill", func() bool { st, _ := s.Port("stuck"); return st.Queued == 8 })
	st, _ := s.Port("stuck")
	inFlight := 100 - int(st.TxFrames) - st.Queued - int(st.TxDrops[ReasonQueueFull])
	if st.NICStats.TxFrames != 2 || inFlight < 1 || st.TxDrops[ReasonQueueFull] == 0 {
		t.Errorf("stuck: tx %d queued %d queue_full %d in flight %d; want 2 in the pipe, something in flight, drops", st.TxFrames, st.Queued, st.TxDrops[ReasonQueueFull], inFlight)
	}
}
