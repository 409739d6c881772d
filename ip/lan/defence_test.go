package lan

import (
	"testing"
	"time"

	"spacenet/ip/wire"
)

// rxDrop returns a port's ingress drops for r.
func rxDrop(t *testing.T, s *Switch, name string, r Reason) uint64 {
	t.Helper()
	st, ok := s.Port(name)
	if !ok {
		t.Fatalf("no port %q", name)
	}
	return st.RxDrops[r]
}

// TestStickyMAC: a sticky port keeps its first source MAC (it never
// ages), refuses others; a port without sticky MAC cannot take a locked
// or sticky address; a MAC locked by configuration is the port's before
// it speaks; Unstick lets a port lock a new MAC.
func TestStickyMAC(t *testing.T) {
	clk := newFakeClock()
	s := New(Options{Clock: clk})
	defer s.Close()
	ps := memPorts(t, s, pc("a", "t"), dyn("free", "t"), PortConfig{Name: "lock", Tenant: "t", LockMAC: true, MAC: macC}, pc("b", "t"))
	a, free, lock, b := ps[0], ps[1], ps[2], ps[3]

	// Before "lock" has sent anything, its MAC is its own.
	send(t, free, eth(macB, macC, 0x88b5, nil, 60))
	if got := rxDrop(t, s, "free", ReasonMACTaken); got != 1 {
		t.Errorf("free: mac_taken %d; want 1", got)
	}
	send(t, b, eth(macC, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "a", "free", "lock"); got[0] != 0 || got[1] != 0 || got[2] != 1 {
		t.Fatalf("to the locked MAC: queued %v; want only at lock", got)
	}
	drain(t, lock, 1)

	// a sticks to A, in one batch: its second source is refused.
	send(t, a, eth(bcast, macA, 0x88b5, nil, 60), eth(bcast, macX, 0x88b5, nil, 60))
	if got := rxDrop(t, s, "a", ReasonSpoofedMAC); got != 1 {
		t.Errorf("a: spoofed_mac %d; want 1", got)
	}
	for _, m := range []*MemNIC{free, lock, b} {
		drain(t, m, 1)
	}
	// free cannot take A; A never ages.
	send(t, free, eth(bcast, macA, 0x88b5, nil, 60))
	clk.Advance(10 * DefaultAgeing)
	send(t, b, eth(macA, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "a", "free", "lock", "b"); got[0] != 1 || got[1]+got[2]+got[3] != 0 {
		t.Fatalf("to sticky A after 10 ageing times: queued %v; want [1 0 0 0]", got)
	}
	drain(t, a, 1)
	if got := rxDrop(t, s, "free", ReasonMACTaken); got != 2 {
		t.Errorf("free: mac_taken %d; want 2", got)
	}
	locked := map[wire.MAC]string{}
	for _, e := range s.MACs() {
		if e.Locked {
			locked[e.MAC] = e.Port
		}
	}
	if len(locked) != 3 || locked[macA] != "a" || locked[macB] != "b" || locked[macC] != "lock" {
		t.Errorf("locked addresses %v; want A on a, B on b, C on lock", locked)
	}

	// The guest behind a changes its MAC: refused until Unstick.
	send(t, a, eth(bcast, macX, 0x88b5, nil, 60))
	if err := s.Unstick("a"); err != nil {
		t.Fatal(err)
	}
	send(t, a, eth(bcast, macX, 0x88b5, nil, 60), eth(bcast, macA, 0x88b5, nil, 60))
	if got := rxDrop(t, s, "a", ReasonSpoofedMAC); got != 3 {
		t.Errorf("a: spoofed_mac %d; want 3 (X before Unstick, A after)", got)
	}
	for _, m := range []*MemNIC{free, lock, b} {
		drain(t, m, 1)
	}
	if err := s.Unstick("nope"); err == nil {
		t.Error("Unstick of no port succeeded")
	}
	if _, err := s.AttachMem(PortConfig{Name: "lock2", Tenant: "t", LockMAC: true, MAC: macC}); err == nil {
		t.Error("a second port locked to C was attached")
	}
}

// TestMACLimit: a port without sticky MAC learns up to its limit; a
// frame from a further MAC is dropped and counted, its MAC not learnt;
// once its entries expire, the next frame over the limit sweeps them.
func TestMACLimit(t *testing.T) {
	clk := newFakeClock()
	s := New(Options{Clock: clk})
	defer s.Close()
	ps := memPorts(t, s, PortConfig{Name: "many", Tenant: "t", NoSticky: true, MACLimit: 4}, dyn("b", "t"))
	many, b := ps[0], ps[1]
	frames := make([][]byte, 10)
	for i := range frames {
		frames[i] = eth(bcast, wire.LocalMAC(uint32(100+i)), 0x88b5, nil, 60)
	}
	send(t, many, frames...)
	drain(t, b, 4)
	if got := rxDrop(t, s, "many", ReasonMACLimit); got != 6 {
		t.Errorf("mac_limit %d; want 6", got)
	}
	if st := s.Stats(); st.MACs != 4 {
		t.Errorf("%d MACs; want 4", st.MACs)
	}
	// A learnt MAC keeps going.
	send(t, many, frames[2])
	drain(t, b, 1)
	clk.Advance(DefaultAgeing + time.Second)
	send(t, many, frames[9])
	if got := rxDrop(t, s, "many", ReasonMACLimit); got != 7 {
		t.Errorf("mac_limit %d; want 7 (the first frame after expiry sweeps)", got)
	}
	send(t, many, frames[9])
	drain(t, b, 1)
	if st := s.Stats(); st.MACs != 1 {
		t.Errorf("%d MACs; want 1 after the sweep", st.MACs)
	}
	if got := rxDrop(t, s, "many", ReasonMACLimit); got != 7 {
		t.Errorf("mac_limit %d; want 7", got)
	}
}

// TestMACTableReserve: ports without sticky MAC fill the table; sticky
// ports still lock their addresses, and unicast between them is not
// flooded.
func TestMACTableReserve(t *testing.T) {
	clk := newFakeClock()
	s := New(Options{Clock: clk, MACTableSize: 8, Storm: StormControl{Broadcast: -1}})
	defer s.Close()
	ps := memPorts(t, s, dyn("x", "t"), dyn("y", "t"), pc("a", "t"), pc("b", "t"))
	x, y, a, b := ps[0], ps[1], ps[2], ps[3]
	for i, p := range []*MemNIC{x, y} {
		frames := make([][]byte, 6)
		for j := range frames {
			frames[j] = eth(bcast, wire.LocalMAC(uint32(200+10*i+j)), 0x88b5, nil, 60)
		}
		send(t, p, frames...)
	}
	if st := s.Stats(); st.MACs != 8 || st.LearnFull != 4 {
		t.Fatalf("stats %+v; want 8 MACs, 4 not learnt", st)
	}
	send(t, a, eth(bcast, macA, 0x88b5, nil, 60))
	send(t, b, eth(bcast, macB, 0x88b5, nil, 60))
	for _, m := range ps {
		drain(t, m, queued(t, s, m.p.name)[0])
	}
	send(t, a, eth(macB, macA, 0x88b5, nil, 60))
	send(t, b, eth(macA, macB, 0x88b5, nil, 60))
	if got := queued(t, s, "x", "y", "a", "b"); got[0]+got[1] != 0 || got[2] != 1 || got[3] != 1 {
		t.Errorf("a <-> b with a full table: queued %v; want [0 0 1 1]", got)
	}
	if st := s.Stats(); st.MACs != 10 {
		t.Errorf("%d MACs; want 8 dynamic and 2 sticky", st.MACs)
	}
}

// TestStormBuckets: a port's own limits, the refill on the clock, the
// burst bound, and a class without limit.
func TestStormBuckets(t *testing.T) {
	clk := newFakeClock()
	s := New(Options{Clock: clk})
	defer s.Close()
	ps := memPorts(t, s, PortConfig{Name: "a", Tenant: "t", Storm: StormControl{Broadcast: 10, Burst: 5, Multicast: -1}}, dyn("b", "t"))
	a, b := ps[0], ps[1]
	burst := func(dst wire.MAC, n int) {
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = eth(dst, macA, 0x88b5, nil, 60)
		}
		send(t, a, frames...)
	}
	for _, step := range []struct {
		advance time.Duration
		dst     wire.MAC
		send    int
		pass    int
	}{
		{0, bcast, 20, 5},                      // the burst
		{time.Second, bcast, 20, 5},            // 10 tokens, capped at 5
		{100 * time.Millisecond, bcast, 20, 1}, // one token
		{50 * time.Millisecond, bcast, 1, 0},   // half a token
		{50 * time.Millisecond, bcast, 1, 1},
		{0, mcast, 200, 200}, // no limit
		{0, macX, 200, 5},    // the switch's default rate, the port's burst
	} {
		clk.Advance(step.advance)
		before := queued(t, s, "b")[0]
		burst(step.dst, step.send)
		if got := queued(t, s, "b")[0] - before; got != step.pass {
			t.Errorf("after %v, %d frames to %v: %d passed; want %d", step.advance, step.send, step.dst, got, step.pass)
		}
		drain(t, b, queued(t, s, "b")[0])
	}
	sa, _ := s.Port("a")
	if sa.RxDrops[ReasonStormBroadcast] != 15+15+19+1 || sa.RxDrops[ReasonStormUnknown] != 195 || sa.RxDrops[ReasonStormMulticast] != 0 {
		t.Errorf("a: storm drops %d/%d/%d; want 50/0/195", sa.RxDrops[ReasonStormBroadcast], sa.RxDrops[ReasonStormMulticast], sa.RxDrops[ReasonStormUnknown])
	}
	if _, err := s.AttachMem(PortConfig{Name: "c", Tenant: "t", Storm: StormControl{Burst: -1}}); err == nil {
		t.Error("negative storm burst accepted")
	}
}
