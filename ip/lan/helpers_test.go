package lan

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"spacenet/ip/nic"
	"spacenet/ip/wire"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	macA  = wire.LocalMAC(0xa)
	macB  = wire.LocalMAC(0xb)
	macC  = wire.LocalMAC(0xc)
	macX  = wire.LocalMAC(0x99) // nobody
	bcast = wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast = wire.MAC{0x33, 0x33, 0, 0, 0, 1}
)

// eth builds an Ethernet frame of total length n (at least 14 + len(payload)).
func eth(dst, src wire.MAC, etype uint16, payload []byte, n int) []byte {
	f := make([]byte, max(n, 14+len(payload)))
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], etype)
	copy(f[14:], payload)
	return f
}

func arpPkt(op uint16, sha wire.MAC, spa netip.Addr, tpa netip.Addr) []byte {
	p := make([]byte, 28)
	binary.BigEndian.PutUint16(p[0:], 1)
	binary.BigEndian.PutUint16(p[2:], 0x0800)
	p[4], p[5] = 6, 4
	binary.BigEndian.PutUint16(p[6:], op)
	copy(p[8:], sha[:])
	s4, t4 := spa.As4(), tpa.As4()
	copy(p[14:], s4[:])
	copy(p[24:], t4[:])
	return p
}

func ipv4Pkt(src, dst netip.Addr) []byte {
	p := make([]byte, 28)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], 28)
	p[8], p[9] = 64, 17
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	return p
}

func ipv6Pkt(src, dst netip.Addr, nh byte, payload []byte) []byte {
	p := make([]byte, 40+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6], p[7] = nh, 255
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	copy(p[40:], payload)
	return p
}

// ndp builds a neighbour solicitation (135) or advertisement (136) for
// target with a link-layer option (1 source, 2 target) carrying mac.
func ndp(typ byte, target netip.Addr, opt byte, mac wire.MAC) []byte {
	m := make([]byte, 32)
	m[0] = typ
	t := target.As16()
	copy(m[8:], t[:])
	m[24], m[25] = opt, 1
	copy(m[26:], mac[:])
	return m
}

// memPorts attaches copying in-process ports (AttachMem), one per spec.
func memPorts(t *testing.T, s *Switch, specs ...PortConfig) []*MemNIC {
	t.Helper()
	return attachAll(t, s.AttachMem, specs)
}

// refPorts attaches by-reference in-process ports (AttachRef), one per spec.
func refPorts(t *testing.T, s *Switch, specs ...PortConfig) []*ByRefNIC {
	t.Helper()
	return attachAll(t, s.AttachRef, specs)
}

func attachAll[N any](t testing.TB, attach func(PortConfig) (N, error), specs []PortConfig) []N {
	t.Helper()
	var out []N
	for _, pc := range specs {
		n, err := attach(pc)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func send(t *testing.T, n nic.NIC, frames ...[]byte) {
	t.Helper()
	if k, err := n.Send(frames); k != len(frames) || err != nil {
		t.Fatalf("%s: Send = %d, %v; want %d", n.Name(), k, err, len(frames))
	}
}

// queued returns how many frames wait in each named port's queue.
func queued(t *testing.T, s *Switch, names ...string) []int {
	t.Helper()
	var out []int
	for _, n := range names {
		ps, ok := s.Port(n)
		if !ok {
			t.Fatalf("no port %q", n)
		}
		out = append(out, ps.Queued)
	}
	return out
}

// drain receives exactly want frames from an in-process port (they are
// already queued: Recv does not block).
func drain(t *testing.T, m *MemNIC, want int) [][]byte {
	t.Helper()
	out := recvN(t, m, want)
	if got := m.p.stats().Queued; got != 0 {
		t.Fatalf("%s: %d frames left after draining %d", m.Name(), got, want)
	}
	return out
}

// recvN receives want frames from m (or more, if a batch brings them),
// whatever is still queued after them.
func recvN(t *testing.T, m *MemNIC, want int) [][]byte {
	t.Helper()
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 65535+14)
	}
	sizes := make([]int, 64)
	var out [][]byte
	for len(out) < want {
		n, err := m.Recv(bufs, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			out = append(out, append([]byte(nil), bufs[i][:sizes[i]]...))
		}
	}
	return out
}
