package lan

import (
	"net/netip"
	"testing"

	"spacenet/nic"
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
	macP, macQ := LocalMAC(0x70), LocalMAC(0x71)
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
