package lan

import (
	"net/netip"
	"testing"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// lockstep sends batch frames from a to b's MAC and receives them on b,
// in the calling goroutine.
type lockstep struct {
	a, b   *MemNIC
	frames [][]byte
	bufs   [][]byte
	sizes  []int
}

func newLockstep(tb testing.TB, s *Switch, size, batch int, pcs ...PortConfig) *lockstep {
	if len(pcs) == 0 {
		pcs = []PortConfig{pc("a", "t"), pc("b", "t")}
	}
	a, err := s.AttachMem(pcs[0])
	if err != nil {
		tb.Fatal(err)
	}
	b, err := s.AttachMem(pcs[1])
	if err != nil {
		tb.Fatal(err)
	}
	l := &lockstep{a: a, b: b, sizes: make([]int, batch)}
	ip := netip.MustParseAddr("10.0.0.1")
	for range batch {
		f := eth(macB, macA, 0x0800, ipv4Pkt(ip, ip), size)
		l.frames = append(l.frames, f)
		l.bufs = append(l.bufs, make([]byte, 1514))
	}
	// Teach the switch where B is.
	if _, err := b.Send([][]byte{eth(bcast, macB, 0x88b5, nil, 60)}); err != nil {
		tb.Fatal(err)
	}
	if _, err := a.Recv(l.bufs, l.sizes); err != nil {
		tb.Fatal(err)
	}
	return l
}

func (l *lockstep) step(tb testing.TB) {
	if _, err := l.a.Send(l.frames); err != nil {
		tb.Fatal(err)
	}
	for got := 0; got < len(l.frames); {
		n, err := l.b.Recv(l.bufs, l.sizes)
		if err != nil {
			tb.Fatal(err)
		}
		got += n
	}
}

// TestForwardAllocs: the forwarding path (learning refresh, security
// checks, lookup, queue copy in and out) allocates nothing per frame, for
// in-process ports and for NIC-backed ports with their goroutines.
func TestForwardAllocs(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	ip := netip.MustParseAddr("10.0.0.1")
	l := newLockstep(t, s, 64, 64,
		PortConfig{Name: "a", Tenant: "t", LockMAC: true, MAC: macA, IPs: []netip.Addr{ip}},
		PortConfig{Name: "b", Tenant: "u"})
	s.SetReach(NewReach(map[string][]string{"t": {"u"}}))
	l.step(t)
	if avg := testing.AllocsPerRun(100, func() { l.step(t) }); avg != 0 {
		t.Errorf("in-process ports: %v allocations per 64 frames; want 0", avg)
	}
	if st, _ := s.Port("b"); st.TxFrames != 102*64 {
		t.Errorf("b sent %d frames; want %d", st.TxFrames, 102*64)
	}

	// NIC-backed: pipe -> port -> switch -> port -> pipe.
	var far []nic.NIC
	for _, name := range []string{"p", "q"} {
		x, y := nic.NewPipe(1500, 256)
		if err := s.Attach(y, pc(name, "t")); err != nil {
			t.Fatal(err)
		}
		far = append(far, x)
	}
	defer far[0].Close()
	defer far[1].Close()
	macP, macQ := wire.LocalMAC(0x70), wire.LocalMAC(0x71)
	send(t, far[1], eth(bcast, macQ, 0x88b5, nil, 60))
	for _, m := range []*MemNIC{l.a, l.b} {
		drain(t, m, 1)
	}
	bufs, sizes := make([][]byte, 64), make([]int, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1514)
	}
	if _, err := far[0].Recv(bufs, sizes); err != nil {
		t.Fatal(err)
	}
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = eth(macQ, macP, 0x88b5, nil, 64)
	}
	step := func() {
		send(t, far[0], frames...)
		for got := 0; got < 64; {
			n, err := far[1].Recv(bufs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	step()
	if avg := testing.AllocsPerRun(100, step); avg != 0 {
		t.Errorf("NIC-backed ports: %v allocations per 64 frames; want 0", avg)
	}
}

// TestDefenceAllocs: refusing frames allocates nothing: a sticky port's
// other sources (spoofed_mac), a locked MAC claimed by another port
// (mac_taken), a port at its MAC limit (mac_limit), storm control
// (storm_broadcast); nor does a sender that waits for a full port
// (when_full wait) while another goroutine receives.
func TestDefenceAllocs(t *testing.T) {
	s := New(Options{Clock: newFakeClock()})
	defer s.Close()
	ps := memPorts(t, s, PortConfig{Name: "sticky", Tenant: "t", Storm: StormControl{Broadcast: 1, Burst: 1}},
		PortConfig{Name: "free", Tenant: "t", NoSticky: true, MACLimit: 1},
		PortConfig{Name: "b", Tenant: "t", QueueDepth: 8, WhenFull: WhenFullWait, Hold: time.Minute})
	sticky, free, b := ps[0], ps[1], ps[2]
	send(t, sticky, eth(macB, macA, 0x88b5, nil, 60))
	send(t, free, eth(macB, macC, 0x88b5, nil, 60))
	send(t, b, eth(macA, macB, 0x88b5, nil, 60))
	drain(t, b, 2)
	drain(t, sticky, 1)
	var refused [][]byte
	for range 16 {
		refused = append(refused, eth(macB, macX, 0x88b5, nil, 60), eth(bcast, macA, 0x88b5, nil, 60))
	}
	var claims [][]byte
	for i := range 32 {
		claims = append(claims, eth(macB, macA, 0x88b5, nil, 60), eth(macB, wire.LocalMAC(uint32(300+i)), 0x88b5, nil, 60))
	}
	step := func() {
		send(t, sticky, refused...) // spoofed_mac, storm_broadcast
		send(t, free, claims...)    // mac_taken, mac_limit
	}
	step() // one broadcast passes (burst 1), to free and b
	for _, m := range []*MemNIC{free, b} {
		drain(t, m, 1)
	}
	if avg := testing.AllocsPerRun(100, step); avg != 0 {
		t.Errorf("refusing 96 frames: %v allocations; want 0", avg)
	}
	st, _ := s.Port("sticky")
	sf, _ := s.Port("free")
	if st.RxDrops[ReasonSpoofedMAC] == 0 || st.RxDrops[ReasonStormBroadcast] == 0 || sf.RxDrops[ReasonMACTaken] == 0 || sf.RxDrops[ReasonMACLimit] == 0 || queued(t, s, "b")[0] != 0 {
		t.Fatalf("not the refusals measured: sticky %v free %v", st.RxDrops, sf.RxDrops)
	}

	// sticky sends 64 frames to b, whose queue holds 8: the sender waits
	// for the receiver whenever it is full (PortStats.Held).
	frames := make([][]byte, 64)
	for i := range frames {
		frames[i] = eth(macB, macA, 0x88b5, nil, 60)
	}
	got := make(chan int)
	go func() {
		bufs, sizes := make([][]byte, 8), make([]int, 8)
		for i := range bufs {
			bufs[i] = make([]byte, 1514)
		}
		n := 0
		for {
			k, err := b.Recv(bufs, sizes)
			if err != nil {
				return
			}
			if n += k; n >= 64 {
				got <- n
				n -= 64
			}
		}
	}()
	wait := func() {
		send(t, sticky, frames...)
		<-got
	}
	wait()
	if avg := testing.AllocsPerRun(100, wait); avg != 0 {
		t.Errorf("64 frames into an 8-frame waiting port: %v allocations; want 0", avg)
	}
	if sb, _ := s.Port("b"); sb.TxDrops[ReasonHoldExpired] != 0 || sb.TxDrops[ReasonQueueFull] != 0 || sb.Held == 0 {
		t.Errorf("b dropped %v, held %d; want no drops, some holds", sb.TxDrops, sb.Held)
	}
	b.Close()
}
